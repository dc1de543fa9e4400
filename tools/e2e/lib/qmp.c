// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: the QMP client: line I/O on QEMU's sockets (judged by progress), QMP
 * commands, replies and events, and whether a QEMU has exited.  See e2e.h.
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

/*
 * Sends all of @s to @fd, waiting while @w allows it (w == NULL: for at most
 * 2 s, for cleanup only); 0 or -1.  @sent counts the bytes.
 */
int write_all(int fd, const char *s, size_t len, struct e2e_wait *w, size_t *sent)
{
	long long end = now_ms() + 2000;

	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n;

		if (w ? wait_check(w) : now_ms() >= end || g_abort)
			return -1;
		if (poll(&p, 1, 200) < 0 && errno != EINTR)
			return -1;
		if (!(p.revents & (POLLOUT | POLLHUP | POLLERR)))
			continue;
		n = write(fd, s, len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= n;
		if (sent)
			*sent += n;
		wait_rx(w);	/* it took some: progress of this exchange */
	}
	return 0;
}

/*
 * Returns a malloc'd line without its line end, or NULL on EOF, abort, or
 * when @w gives up (w == NULL: when @until, a now_ms() time, has passed).
 * @recvd counts the bytes.
 */
char *read_line(int fd, struct e2e_lbuf *lb, struct e2e_wait *w, long long until,
		       size_t *recvd)
{
	for (;;) {
		char *nl = lb->len ? memchr(lb->b, '\n', lb->len) : NULL;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left;
		ssize_t n;

		if (nl) {
			size_t l = nl - lb->b;
			char *line = malloc(l + 1);

			if (!line)
				abort();
			memcpy(line, lb->b, l);
			line[l] = 0;
			if (l && line[l - 1] == '\r')
				line[l - 1] = 0;
			memmove(lb->b, nl + 1, lb->len - l - 1);
			lb->len -= l + 1;
			return line;
		}
		if (g_abort || fd < 0)
			return NULL;
		if (w) {
			if (wait_check(w))
				return NULL;
			left = 200;
		} else {
			left = until - now_ms();
			if (left <= 0)
				return NULL;
			if (left > 200)
				left = 200;
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return NULL;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (lb->cap - lb->len < 65536) {
			lb->cap = lb->cap ? lb->cap * 2 : 131072;
			lb->b = realloc(lb->b, lb->cap);
			if (!lb->b)
				abort();
		}
		n = read(fd, lb->b + lb->len, lb->cap - lb->len);
		if (n == 0)
			return NULL;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return NULL;
		}
		lb->len += n;
		if (recvd)
			*recvd += n;
		wait_rx(w);
	}
}

int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* ---- QEMU ------------------------------------------------------------------------------- */

bool qemu_exited(struct e2e_qemu *q, int wait_ms)
{
	long long end = now_ms() + wait_ms;

	if (q->exited || q->pid <= 0)
		return true;
	for (;;) {
		/* not our child: it is gone when the pid is */
		pid_t r = q->foreign ? (kill(q->pid, 0) && errno == ESRCH ? q->pid : 0) :
			  waitpid(q->pid, &q->wstatus, WNOHANG);

		if (r == q->pid) {
			q->exited = true;
			if (!q->foreign)
				child_del(q->pid);
			prog_unwatch(q->pid);
			return true;
		}
		if (now_ms() >= end)
			return false;
		vmt_sleep_ms(20);
	}
}

static void add_event(struct e2e_qemu *q, const char *line)
{
	size_t l = strlen(line);

	q->events = realloc(q->events, q->events_len + l + 2);
	if (!q->events)
		abort();
	memcpy(q->events + q->events_len, line, l);
	q->events_len += l;
	q->events[q->events_len++] = '\n';
	q->events[q->events_len] = 0;
}

bool qemu_wait_exit(struct e2e_qemu *q, const char *what)
{
	struct e2e_wait w;
	bool ret;

	if (qemu_exited(q, 0))
		return true;
	wait_begin(&w, q, what);
	while (!(ret = qemu_exited(q, 0)) && !wait_check(&w))
		vmt_sleep_ms(50);
	return ret;
}

char *qmp_read(struct e2e_qemu *q, struct e2e_wait *w, long long until)
{
	for (;;) {
		size_t r0 = q->qmp_recvd;
		char *l = read_line(q->qmp, &q->qmp_in, w, until, &q->qmp_recvd);

		prog_ours(q->pid, 0, q->qmp_recvd - r0);

		if (!l)
			return NULL;
		if (strstr(l, "\"event\"") && !strstr(l, "\"return\"")) {
			add_event(q, l);
			free(l);
			continue;
		}
		return l;
	}
}

/*
 * One QMP exchange.  An unanswered command keeps waiting while its QEMU lives
 * and some QEMU progresses (the source of a stop-copy holds its big lock and
 * answers nothing until the device state has moved).
 */
static const char *qmp_v(struct e2e_qemu *q, const char *fmt, va_list ap)
{
	size_t s0 = q->qmp_sent;
	struct e2e_wait w;
	char cmd[8192], what[64];
	const char *ex;
	int n;

	free(q->reply);
	q->reply = NULL;
	if (q->qmp < 0 || q->hung)
		return NULL;
	n = vsnprintf(cmd, sizeof(cmd) - 2, fmt, ap);
	cmd[n] = '\n';
	cmd[n + 1] = 0;
	ex = strstr(cmd, "\"execute\":\"");
	snprintf(what, sizeof(what), "QMP %.*s", ex ? (int)strcspn(ex + 11, "\"") : 20,
		 ex ? ex + 11 : cmd);
	wait_begin(&w, q, what);
	if (!write_all(q->qmp, cmd, n + 1, &w, &q->qmp_sent))
		q->reply = qmp_read(q, &w, 0);
	prog_ours(q->pid, q->qmp_sent - s0, 0);	/* (what it answered: qmp_read) */
	if (!q->reply && !qemu_exited(q, 200)) {
		q->hung = true;
		qemu_dump(q, "QMP command unanswered");
	}
	return q->reply;
}

const char *qmp(struct e2e_qemu *q, const char *fmt, ...)
{
	const char *r;
	va_list ap;

	va_start(ap, fmt);
	r = qmp_v(q, fmt, ap);
	va_end(ap);
	return r;
}

int qmp_ok(struct e2e_qemu *q, const char *fmt, ...)
{
	char cmd[512];
	const char *r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	r = qmp_v(q, fmt, ap);
	va_end(ap);
	if (r && strstr(r, "\"return\"") == r + 1)
		return 0;
	diag("[%s] QMP %s => %s", q->name, cmd, r ? r : "(no answer: QEMU gone or hung)");
	return -1;
}

void qmp_events(struct e2e_qemu *q, int ms)
{
	char *l;

	if (q->qmp < 0)
		return;
	for (;;) {
		size_t r0 = q->qmp_recvd;

		l = read_line(q->qmp, &q->qmp_in, NULL, now_ms() + ms, &q->qmp_recvd);
		prog_ours(q->pid, 0, q->qmp_recvd - r0);
		if (!l)
			break;
		if (strstr(l, "\"event\""))
			add_event(q, l);
		free(l);
		ms = 0;
	}
}

/* Copies the string value of "key": "..." found in s (from its start). */
bool json_str(const char *s, const char *key, char *out, size_t len)
{
	char pat[96];
	const char *p;
	size_t i = 0;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = s ? strstr(s, pat) : NULL;
	if (!p)
		return false;
	p += strlen(pat);
	while (*p && *p != '"' && i + 1 < len) {
		if (*p == '\\' && p[1]) {
			p++;
			out[i++] = *p == 'n' ? ' ' : *p;
			p++;
			continue;
		}
		out[i++] = *p++;
	}
	out[i] = 0;
	return true;
}

bool json_int(const char *s, const char *key, long long *v)
{
	char pat[96];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = s ? strstr(s, pat) : NULL;
	if (!p)
		return false;
	*v = strtoll(p + strlen(pat), NULL, 10);
	return true;
}

int qmp_status(struct e2e_qemu *q, char *buf, size_t len)
{
	const char *r = qmp(q, "{\"execute\":\"query-status\"}");

	buf[0] = 0;
	if (!r || !json_str(r, "status", buf, len))
		return -1;
	return 0;
}

int qmp_wait_status(struct e2e_qemu *q, const char *want)
{
	char st[64] = "", what[96];
	struct e2e_wait w;

	snprintf(what, sizeof(what), "waiting for runstate %s", want);
	wait_begin(&w, q, what);
	while (!wait_check(&w)) {
		if (qmp_status(q, st, sizeof(st)))
			break;
		if (!strcmp(st, want))
			return 0;
		vmt_sleep_ms(100);
	}
	diag("[%s] runstate is '%s', expected '%s'", q->name, st[0] ? st : "(no answer)", want);
	return -1;
}

const char *qmp_dev_state(struct e2e_qemu *q, const char *id, char *buf, size_t len)
{
	char pat[64];
	const char *p;

	buf[0] = 0;
	qmp_events(q, 100);
	snprintf(pat, sizeof(pat), "\"device-id\": \"%s\"", id);
	for (p = q->events; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024];

		if (l < sizeof(line)) {
			memcpy(line, p, l);
			line[l] = 0;
			if (strstr(line, "\"VFIO_MIGRATION\"") && strstr(line, pat))
				json_str(line, "device-state", buf, len);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return buf;
}
