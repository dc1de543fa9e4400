// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: the kernel log since the program started (or a mark): for warnings
 * and reports of the driver during a scenario.  See e2e.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vfio_uapi.h"

#include "e2e.h"
#include "vfio_dev.h"
#include "vmt_util.h"
#include "e2e_int.h"

static int g_kmsg = -1;
static struct vmt_buf g_kmsg_buf;

static void kmsg_read(void)
{
	char rec[8192];
	ssize_t n;

	if (g_kmsg < 0)
		return;
	for (;;) {
		char *msg;

		n = read(g_kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = 0;
		/* "prio,seq,usec,flags;text\n" + continuation lines */
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		{
			char *nl = strchr(msg, '\n');

			if (nl)
				nl[1] = 0;
		}
		vmt_buf_append(&g_kmsg_buf, msg, strlen(msg));
	}
	vmt_buf_append(&g_kmsg_buf, "", 1);
	g_kmsg_buf.len--;
}

void kmsg_mark(void)
{
	if (g_kmsg < 0) {
		g_kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (g_kmsg < 0)
			return;
	}
	lseek(g_kmsg, 0, SEEK_END);
	g_kmsg_buf.len = 0;
	vmt_buf_append(&g_kmsg_buf, "", 1);
	g_kmsg_buf.len = 0;
}

const char *kmsg_since_mark(void)
{
	kmsg_read();
	return g_kmsg_buf.p ? (const char *)g_kmsg_buf.p : "";
}

bool kmsg_has(const char *needle)
{
	return strstr(kmsg_since_mark(), needle) != NULL;
}

bool kmsg_has_report(void)
{
	static const char *const bad[] = { "WARNING:", "BUG", "Oops", "Call Trace", "KFENCE",
					   "general protection", "INFO: ", NULL };
	const char *s = kmsg_since_mark();
	int i;

	for (i = 0; bad[i]; i++)
		if (strstr(s, bad[i]))
			return true;
	return false;
}

void kmsg_dump(int max)
{
	diag_text("[dmesg] ", kmsg_since_mark(), max);
}
