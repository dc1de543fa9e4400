// SPDX-License-Identifier: GPL-2.0
/*
 * Progress, not wall clock: every wait of the e2e programs is judged by
 * whether the L2 QEMUs move, not by how long it takes.  See e2e.h ("waits")
 * and README ("Waits: progress, not wall clock") for the rules and numbers.
 *
 * A watched process makes progress when
 *   - it moved bytes: rchar + wchar + read_bytes + write_bytes of
 *     /proc/<pid>/io grew by PROG_IO_BYTES since its last progress, not
 *     counting its QMP monitor thread ("IO mon_iothread" reads QMP commands a
 *     byte at a time and signals each byte through an eventfd: ~40 bytes of
 *     I/O per command byte) and an upper bound of what our own QMP/qtest
 *     conversation with it costs its other threads (prog_ours());
 *   - its threads (again without the monitor thread) ran for at least
 *     PROG_CPU_PCT % of a sample window (/proc/<pid>/task/<tid>/schedstat).
 *     QEMU moves migration data over the socket with sendmsg() and
 *     recvmsg(), which /proc/<pid>/io does not count (only read()/write()
 *     and their kin: the VFIO data fd, files); a QEMU that moves data over a
 *     socket at full speed, or starts up, or exits, computes.  An idle L2
 *     (vCPU halted) runs ~0.4% of the time, a stopped or blocked one not at
 *     all, and our polling costs it ~0.3%.  (A migration throttled to a few
 *     hundred KiB/s costs less than 2%: it is judged by its counters.)
 *     The run delay (runnable, waiting for a CPU) is no measure: on a busy
 *     machine every timer wake-up of an idle QEMU waits, measured 25% and
 *     more of a window for a QEMU blocked in a migration that went nowhere;
 *   - its migration counters changed (prog_note(), from query-migrate).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

#define PROG_MAX		16
#define PROG_SAMPLE_MS		500
#define PROG_IO_BYTES		4096
#define PROG_CPU_PCT		2

#define STALL_MS_DEFAULT	60000
#define LIMIT_BASE_MS		60000
#define MIN_RATE_BPS		(256 * 1024)	/* bytes per second: 4 s per MiB */
/* the overall watchdog: below the harness's per-program safety limit (IVM_TEST_TIMEOUT, 1800 s) */
#define WATCHDOG_DEFAULT_S	1500
/* an explicit E2E_TIMEOUT scales the stall time and the limits by E2E_TIMEOUT / SCALE_REF_S */
#define SCALE_REF_S		270

struct prog {
	pid_t pid;
	char name[16];
	pid_t mon_tid;			/* its "IO mon_iothread", 0 if not found (yet) */
	long long io;			/* I/O bytes, less the monitor thread and our share */
	long long io_mark;		/* io at the last progress (follows it down) */
	unsigned long long ours;	/* bound of the I/O our conversation caused */
	long long cpu_ns;		/* schedstat: run time of its live threads */
	long long window;		/* when the last sample was taken */
	long long last;			/* time of its last progress */
	const char *last_what;
	char state;			/* from /proc/<pid>/stat at the last sample */
};

static struct prog g_prog[PROG_MAX];
static long long g_sampled;

/* ---- the numbers (environment) ---------------------------------------------------------- */

static double scale(void)
{
	const char *s = getenv("E2E_TIMEOUT");

	if (s && atoi(s) > 0)
		return (double)atoi(s) / SCALE_REF_S;
	return 1.0;
}

unsigned int e2e_watchdog_s(void)
{
	const char *s = getenv("E2E_TIMEOUT");

	return s && atoi(s) > 0 ? (unsigned int)atoi(s) : WATCHDOG_DEFAULT_S;
}

long long e2e_stall_ms(void)
{
	const char *s = getenv("E2E_STALL");

	if (s && atoi(s) > 0)
		return atoi(s) * 1000LL;
	return (long long)(STALL_MS_DEFAULT * scale());
}

long long e2e_limit_ms(uint64_t bytes)
{
	return (long long)((LIMIT_BASE_MS + bytes * 1000.0 / MIN_RATE_BPS) * scale());
}

/* ---- the processes ----------------------------------------------------------------------- */

static struct prog *prog_find(pid_t pid)
{
	int i;

	for (i = 0; pid > 0 && i < PROG_MAX; i++)
		if (g_prog[i].pid == pid)
			return &g_prog[i];
	return NULL;
}

static bool read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return n > 0;
}

/* rchar + wchar + read_bytes + write_bytes of an io file, or -1 */
static long long io_bytes(const char *path)
{
	static const char *const keys[] = { "rchar: ", "wchar: ", "read_bytes: ", "write_bytes: " };
	char buf[1024];
	long long sum = 0;
	unsigned int i;

	if (!read_small(path, buf, sizeof(buf)))
		return -1;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *p = strstr(buf, keys[i]);

		if (p)
			sum += strtoll(p + strlen(keys[i]), NULL, 10);
	}
	return sum;
}

static pid_t find_mon_thread(pid_t pid)
{
	char path[128], comm[64];
	struct dirent *de;
	pid_t found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, atoi(de->d_name));
		if (read_small(path, comm, sizeof(comm)) && !strncmp(comm, "IO mon_iothread", 15))
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* state letter from /proc/<pid>/stat */
static bool proc_state(pid_t pid, char *state)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!read_small(path, buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return false;
	*state = p[2];
	return true;
}

/* run time (ns) of every thread but @skip */
static long long run_ns(pid_t pid, pid_t skip)
{
	char path[128], buf[128];
	struct dirent *de;
	long long r, run = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);

		if (tid <= 0 || tid == skip)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, tid);
		if (read_small(path, buf, sizeof(buf)) && sscanf(buf, "%lld", &r) == 1)
			run += r;
	}
	closedir(d);
	return run;
}

static void progress(struct prog *p, const char *what)
{
	static int debug = -1;

	if (debug < 0)
		debug = getenv("E2E_DEBUG_PROGRESS") != NULL;
	if (debug)
		diag("progress: %s (pid %d): %s, %lld ms after the last", p->name, (int)p->pid, what,
		     now_ms() - p->last);
	p->last = now_ms();
	p->last_what = what;
}

static void sample_one(struct prog *p, long long now)
{
	long long io, mon = 0, run, win = now - p->window;
	char path[128];

	if (!proc_state(p->pid, &p->state))
		return;
	if (!p->mon_tid)
		p->mon_tid = find_mon_thread(p->pid);
	snprintf(path, sizeof(path), "/proc/%d/io", (int)p->pid);
	io = io_bytes(path);
	if (io < 0)
		return;
	if (p->mon_tid) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/io", (int)p->pid, (int)p->mon_tid);
		mon = io_bytes(path);
		if (mon < 0)
			mon = 0;
	}
	p->io = io - mon - (long long)p->ours;
	if (p->io >= p->io_mark + PROG_IO_BYTES) {
		p->io_mark = p->io;
		progress(p, "I/O");
	} else if (p->io < p->io_mark) {
		p->io_mark = p->io;	/* our share was overestimated: never borrow from it */
	}
	/* (win * 10^6 ns) * PROG_CPU_PCT / 100 */
	run = run_ns(p->pid, p->mon_tid);
	if (win > 0 && run - p->cpu_ns >= win * 10000LL * PROG_CPU_PCT)
		progress(p, "CPU time");
	p->cpu_ns = run;
	p->window = now;
}

static void sample(bool force)
{
	long long now = now_ms();
	int i;

	if (!force && now - g_sampled < PROG_SAMPLE_MS)
		return;
	g_sampled = now;
	for (i = 0; i < PROG_MAX; i++)
		if (g_prog[i].pid > 0)
			sample_one(&g_prog[i], now);
}

void prog_watch(pid_t pid, const char *name)
{
	struct prog *p = prog_find(pid);
	int i;

	for (i = 0; !p && i < PROG_MAX; i++)
		if (g_prog[i].pid <= 0)
			p = &g_prog[i];
	if (!p)
		return;
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->window = now_ms();
	p->last = now_ms();
	p->last_what = "start";
	sample_one(p, now_ms());
	p->io_mark = p->io;
}

void prog_unwatch(pid_t pid)
{
	struct prog *p = prog_find(pid);

	if (p)
		p->pid = 0;
}

void prog_ours(pid_t pid, size_t sent, size_t received)
{
	struct prog *p = prog_find(pid);

	/*
	 * What a QMP or qtest exchange costs the threads we count, measured with
	 * QEMU 7.2 and 10.0: the bytes it reads (qtest commands, read by the main
	 * thread; QMP commands are read by the monitor thread, not counted), the
	 * bytes it writes back, and a few 8-byte eventfd signals.  Overestimated
	 * on purpose (4x what we sent, 64 bytes per exchange): an underestimate
	 * would look like progress, an overestimate only lowers the mark.
	 */
	if (p)
		p->ours += received + 4 * sent + 64;
}

void prog_note(pid_t pid, const char *what)
{
	struct prog *p = prog_find(pid);

	if (p)
		progress(p, what);
}

/* Newest progress of any watched process (0 if none is watched). */
static long long newest_progress(void)
{
	long long t = 0;
	int i;

	for (i = 0; i < PROG_MAX; i++)
		if (g_prog[i].pid > 0 && g_prog[i].last > t)
			t = g_prog[i].last;
	return t;
}

static const char *who(const struct prog *p, char *buf, size_t len)
{
	const char *state;

	switch (p->state) {
	case 'T': case 't':
		state = ", stopped";
		break;
	case 'D':
		state = ", in uninterruptible sleep";
		break;
	case 'Z':
		state = ", a zombie";
		break;
	default:
		state = "";
	}
	if (!strcmp(p->name, "src"))
		snprintf(buf, len, "source QEMU (pid %d%s)", (int)p->pid, state);
	else if (!strcmp(p->name, "dst"))
		snprintf(buf, len, "destination QEMU (pid %d%s)", (int)p->pid, state);
	else
		snprintf(buf, len, "%s (pid %d%s)", p->name, (int)p->pid, state);
	return buf;
}

static int rank(const struct prog *p)
{
	return p->state == 'T' || p->state == 't' ? 0 : p->state == 'D' ? 1 : 2;
}

/* "destination QEMU (pid N): no I/O and no migration progress for 60 s; source ...: last progress 58 s ago" */
static void explain(char *buf, size_t len)
{
	const struct prog *order[PROG_MAX];
	long long now = now_ms();
	int n = 0, i, j;
	size_t o = 0;

	for (i = 0; i < PROG_MAX; i++)
		if (g_prog[i].pid > 0)
			order[n++] = &g_prog[i];
	/*
	 * The likely culprit first: a stopped process, then one in uninterruptible
	 * sleep (in the kernel: the driver?), then the one that stalled first.
	 * (Which of two QEMUs stalled first cannot be told from the samples when
	 * one blocks on the other: the source's writes stop the moment the
	 * destination stops reading.)
	 */
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (rank(order[j]) < rank(order[i]) ||
			    (rank(order[j]) == rank(order[i]) && order[j]->last < order[i]->last)) {
				const struct prog *t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
	buf[0] = 0;
	for (i = 0; i < n && o < len; i++) {
		char name[96];
		long long idle = (now - order[i]->last) / 1000;

		if (i == 0 && now - order[i]->last >= e2e_stall_ms())
			o += snprintf(buf + o, len - o, "%s: no I/O, no CPU time and no migration progress for %lld s",
				      who(order[i], name, sizeof(name)), idle);
		else if (i == 0)
			o += snprintf(buf + o, len - o, "%s: last progress (%s) %lld s ago",
				      who(order[i], name, sizeof(name)), order[i]->last_what, idle);
		else
			o += snprintf(buf + o, len - o, "; %s: last progress (%s) %lld s ago",
				      who(order[i], name, sizeof(name)), order[i]->last_what, idle);
	}
	if (!n)
		snprintf(buf, len, "no QEMU is running");
}

/* ---- waits ------------------------------------------------------------------------------- */

void wait_begin(struct e2e_wait *w, struct e2e_qemu *q, const char *what)
{
	memset(w, 0, sizeof(*w));
	w->q = q;
	w->t0 = w->rx = now_ms();
	wait_set_stake(w, q ? q->state_bytes : 0);
	snprintf(w->what, sizeof(w->what), "%s", what);
}

void wait_set_stake(struct e2e_wait *w, uint64_t bytes)
{
	w->stake = bytes;
	w->limit_ms = e2e_limit_ms(bytes);
}

void wait_rx(struct e2e_wait *w)
{
	if (w)
		w->rx = now_ms();
}

int wait_check(struct e2e_wait *w)
{
	long long now, since, stall = e2e_stall_ms();
	char why[1024], tag[32] = "";

	if (w->gave_up)
		return -1;
	if (e2e_aborting()) {
		static bool told;

		/* the watchdog is a backstop: say whether the QEMUs were still moving */
		if (e2e_aborting() == 2 && !told) {
			told = true;
			snprintf(why, sizeof(why), "%s: the watchdog (E2E_TIMEOUT=%u s) ended this wait",
				 w->what, e2e_watchdog_s());
			prog_report(why);
		}
		w->gave_up = true;
		return -1;
	}
	sample(false);
	now = now_ms();
	/* this wait's own view: nothing before it started counts as a stall */
	since = newest_progress();
	if (since < w->t0)
		since = w->t0;
	if (since < w->rx)
		since = w->rx;
	if (w->q)
		snprintf(tag, sizeof(tag), "[%s] ", w->q->name);
	if (now - since >= stall) {
		sample(true);
		explain(why, sizeof(why));
		diag("%s%s: gave up after %lld s without progress: %s (stall time %lld s%s)", tag, w->what,
		     (now - w->t0) / 1000, why, stall / 1000,
		     getenv("E2E_STALL") ? ", E2E_STALL" : "");
		w->gave_up = true;
		return -1;
	}
	if (now - w->t0 >= w->limit_ms) {
		explain(why, sizeof(why));
		diag("%s%s: gave up after %lld s, the limit for %llu MiB of state (%lld s + %lld ms per MiB%s), although QEMU progressed: %s",
		     tag, w->what, (now - w->t0) / 1000,
		     (unsigned long long)(w->stake >> 20),
		     e2e_limit_ms(0) / 1000, e2e_limit_ms(E2E_MiB) - e2e_limit_ms(0),
		     getenv("E2E_TIMEOUT") ? ", scaled by E2E_TIMEOUT" : "", why);
		w->gave_up = true;
		return -1;
	}
	return 0;
}

void prog_report(const char *why)
{
	char buf[1024];

	explain(buf, sizeof(buf));
	diag("%s: %s", why, buf);
}
