// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: the qtest client: the L2 guest's memory and PCI config space as the
 * tests drive them (base64 for blocks).  See e2e.h.
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

const char *qt(struct e2e_qemu *q, const char *fmt, ...)
{
	char cmd[256];
	va_list ap;
	int n;

	free(q->qt_reply);
	q->qt_reply = NULL;
	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 2, fmt, ap);
	va_end(ap);
	if (q->qt < 0 || q->hung) {
		diag("[%s] qtest '%.*s' not sent: QEMU %s", q->name, n, cmd,
		     q->hung ? "hung earlier" : "not connected");
		return NULL;
	}
	cmd[n] = '\n';
	{
		size_t s0 = q->qt_sent, r0 = q->qt_recvd;
		struct e2e_wait w;
		char what[64];

		snprintf(what, sizeof(what), "qtest %.*s", (int)strcspn(cmd, " \n"), cmd);
		wait_begin(&w, q, what);
		if (!write_all(q->qt, cmd, n + 1, &w, &q->qt_sent))
			q->qt_reply = read_line(q->qt, &q->qt_in, &w, 0, &q->qt_recvd);
		prog_ours(q->pid, q->qt_sent - s0, q->qt_recvd - r0);
	}
	if (!q->qt_reply && !qemu_exited(q, 200)) {
		diag("[%s] qtest '%.*s': no answer", q->name, n, cmd);
		q->hung = true;
		qemu_dump(q, "qtest command unanswered");
	} else if (!q->qt_reply)
		diag("[%s] qtest '%.*s': no answer, QEMU is gone", q->name, n, cmd);
	else if (strncmp(q->qt_reply, "OK", 2))
		diag("[%s] qtest '%.*s' => %.200s", q->name, n, cmd, q->qt_reply);
	return q->qt_reply;
}

static int qt_ok_val(struct e2e_qemu *q, uint64_t *v)
{
	if (!q->qt_reply || strncmp(q->qt_reply, "OK", 2))
		return -1;
	if (v)
		*v = strtoull(q->qt_reply + 2, NULL, 0);
	return 0;
}

int qt_readl(struct e2e_qemu *q, uint64_t addr, uint32_t *v)
{
	uint64_t x;

	qt(q, "readl 0x%llx", (unsigned long long)addr);
	if (qt_ok_val(q, &x))
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int qt_writel(struct e2e_qemu *q, uint64_t addr, uint32_t v)
{
	qt(q, "writel 0x%llx 0x%x", (unsigned long long)addr, v);
	return qt_ok_val(q, NULL);
}

int qt_readq(struct e2e_qemu *q, uint64_t addr, uint64_t *v)
{
	qt(q, "readq 0x%llx", (unsigned long long)addr);
	return qt_ok_val(q, v);
}

int qt_writeq(struct e2e_qemu *q, uint64_t addr, uint64_t v)
{
	qt(q, "writeq 0x%llx 0x%llx", (unsigned long long)addr, (unsigned long long)v);
	return qt_ok_val(q, NULL);
}

int qt_cfg_read32(struct e2e_qemu *q, int slot, int reg, uint32_t *v)
{
	uint64_t x;

	qt(q, "outl 0xcf8 0x%x", 0x80000000u | (slot << 11) | reg);
	if (qt_ok_val(q, NULL))
		return -1;
	qt(q, "inl 0xcfc");
	if (qt_ok_val(q, &x))
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int qt_cfg_write32(struct e2e_qemu *q, int slot, int reg, uint32_t v)
{
	qt(q, "outl 0xcf8 0x%x", 0x80000000u | (slot << 11) | reg);
	if (qt_ok_val(q, NULL))
		return -1;
	qt(q, "outl 0xcfc 0x%x", v);
	return qt_ok_val(q, NULL);
}

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];

		out[o++] = b64c[v >> 18];
		out[o++] = b64c[(v >> 12) & 63];
		out[o++] = b64c[(v >> 6) & 63];
		out[o++] = b64c[v & 63];
	}
	if (i < len) {
		uint32_t v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0);

		out[o++] = b64c[v >> 18];
		out[o++] = b64c[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64c[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

static long b64_decode(const char *in, uint8_t *out, size_t max)
{
	static int8_t map[256];
	uint32_t v = 0;
	int bits = 0;
	size_t o = 0;

	if (!map['B']) {
		int i;

		memset(map, -1, sizeof(map));
		for (i = 0; i < 64; i++)
			map[(uint8_t)b64c[i]] = i;
	}
	for (; *in && *in != '='; in++) {
		int8_t c = map[(uint8_t)*in];

		if (c < 0)
			return -1;
		v = v << 6 | c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= max)
				return -1;
			out[o++] = (v >> bits) & 0xff;
		}
	}
	return o;
}

#define QT_CHUNK	(256 * 1024)

int qt_read(struct e2e_qemu *q, uint64_t addr, void *buf, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += QT_CHUNK) {
		size_t n = len - off < QT_CHUNK ? len - off : QT_CHUNK;
		long got;

		qt(q, "b64read 0x%llx 0x%zx", (unsigned long long)(addr + off), n);
		if (!q->qt_reply || strncmp(q->qt_reply, "OK ", 3))
			return -1;
		got = b64_decode(q->qt_reply + 3, (uint8_t *)buf + off, n);
		if (got != (long)n) {
			diag("[%s] b64read of %zu bytes returned %ld", q->name, n, got);
			return -1;
		}
	}
	return 0;
}

int qt_write(struct e2e_qemu *q, uint64_t addr, const void *buf, size_t len)
{
	const size_t chunk = 48 * 1024;
	char *cmd = malloc(chunk * 4 / 3 + 128);
	size_t off;
	int ret = 0;

	if (!cmd)
		abort();
	for (off = 0; off < len && !ret; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		int h = sprintf(cmd, "b64write 0x%llx 0x%zx ", (unsigned long long)(addr + off), n);
		size_t l = h + b64_encode((const uint8_t *)buf + off, n, cmd + h);

		size_t s0 = q->qt_sent, r0 = q->qt_recvd;
		struct e2e_wait w;

		cmd[l++] = '\n';
		free(q->qt_reply);
		q->qt_reply = NULL;
		wait_begin(&w, q, "qtest b64write");
		if (q->qt < 0 || q->hung || write_all(q->qt, cmd, l, &w, &q->qt_sent)) {
			prog_ours(q->pid, q->qt_sent - s0, 0);
			ret = -1;
			break;
		}
		q->qt_reply = read_line(q->qt, &q->qt_in, &w, 0, &q->qt_recvd);
		prog_ours(q->pid, q->qt_sent - s0, q->qt_recvd - r0);
		if (!q->qt_reply && !qemu_exited(q, 200)) {
			q->hung = true;
			qemu_dump(q, "qtest command unanswered");
		}
		if (!q->qt_reply || strcmp(q->qt_reply, "OK")) {
			diag("[%s] qtest b64write of %zu bytes at 0x%llx => %s", q->name, n,
			     (unsigned long long)(addr + off), q->qt_reply ? q->qt_reply : "(no answer)");
			ret = -1;
		}
	}
	free(cmd);
	return ret;
}

/* BAR2 size of a PCI device from sysfs, 0 if unknown */
