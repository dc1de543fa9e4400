// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: KTAP output through the kernel's kselftest.h (from the suite's
 * linux-source, KSFT_INC): the plan, results by step name, diagnostics, and
 * the whole-program skip and bail-out.  Only this file includes kselftest.h,
 * whose counters are static: every result goes through here.  See e2e.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kselftest.h"

#include "e2e_int.h"

static bool t_blocked;
static char t_name[128];
const char *g_prog = "e2e";

/*
 * "ok N name # SKIP reason": kselftest.h has ksft_test_result_code() since
 * Linux 6.9 (ksft_test_result_report comes with it); bookworm's 6.1 header
 * only reports skips without the test's name, so count and print it here.
 */
static void result_skip(const char *name, const char *reason)
{
#ifdef ksft_test_result_report
	ksft_test_result_code(KSFT_SKIP, name, "%s", reason);
#else
	ksft_inc_xskip_cnt();
	printf("ok %u %s # SKIP %s\n", ksft_test_num(), name, reason);
#endif
	fflush(stdout);
}

void ktap_plan(int n)
{
	ksft_print_header();
	ksft_set_plan(n);
}

/* "1..0 # SKIP <why>" (exit 4) or "Bail out! <why>" (exit 1) */
static __attribute__((noreturn)) void ktap_vexit(bool skip, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (skip)
		ksft_exit_skip("%s\n", buf);
	else
		ksft_exit_fail_msg("%s\n", buf);
	exit(skip ? KSFT_SKIP : KSFT_FAIL);	/* not __noreturn before Linux 6.6 */
}

void ktap_skip_all(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktap_vexit(true, fmt, ap);
}

void ktap_bail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktap_vexit(false, fmt, ap);
}

void diag(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	char *s, *nl;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (s = buf; s; s = nl ? nl + 1 : NULL) {
		nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		if (*s || !nl)
			ksft_print_msg("%s\n", s);
	}
}

void diag_text(const char *prefix, const char *text, int max_lines)
{
	const char *p, *start = text;
	int lines = 0;

	if (!text)
		return;
	for (p = text; *p; p++)
		if (*p == '\n')
			lines++;
	if (p > text && p[-1] != '\n')
		lines++;
	/* skip to the last max_lines lines */
	while (lines > max_lines && *start) {
		const char *nl = strchr(start, '\n');

		if (!nl)
			break;
		start = nl + 1;
		lines--;
	}
	while (*start) {
		const char *nl = strchr(start, '\n');
		int n = nl ? (int)(nl - start) : (int)strlen(start);

		if (n > 400)
			ksft_print_msg("%s%.400s...\n", prefix, start);
		else
			ksft_print_msg("%s%.*s\n", prefix, n, start);
		if (!nl)
			break;
		start = nl + 1;
	}
}

bool t_begin(const char *name)
{
	snprintf(t_name, sizeof(t_name), "%s", name);
	if (t_blocked) {
		result_skip(name, "an earlier essential step failed");
		return false;
	}
	return true;
}

void t_end(bool pass, bool essential)
{
	ksft_test_result(pass, "%s\n", t_name);
	if (!pass && essential)
		t_blocked = true;
	fflush(stdout);
}

void t_skip(const char *name, const char *reason)
{
	result_skip(name, reason);
}

int t_exit(void)
{
	if (ksft_test_num() != ksft_plan)
		diag("%s: printed %u results for a plan of %u", g_prog, ksft_test_num(), ksft_plan);
	fflush(stdout);
	return ksft_get_fail_cnt() ? 1 : 0;
}
