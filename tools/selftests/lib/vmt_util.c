// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmt_util.h"

static __thread char vmt_err[512];

const char *vmt_errstr(void)
{
	return vmt_err;
}

void vmt_seterr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vmt_err, sizeof(vmt_err), fmt, ap);
	va_end(ap);
}

static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void vmt_rng_seed(struct vmt_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t vmt_rng_next(struct vmt_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

uint64_t vmt_rng_below(struct vmt_rng *r, uint64_t n)
{
	return n ? vmt_rng_next(r) % n : 0;
}

void vmt_rng_fill(struct vmt_rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t v = vmt_rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = vmt_rng_next(r);

		memcpy(p, &v, len);
	}
}

uint64_t vmt_seed(void)
{
	const char *s = vmt_env("VMT_SEED");
	struct timespec ts;

	if (s)
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return mix64((uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
		     ((uint64_t)getpid() << 32));
}

uint64_t vmt_pattern_word(uint64_t off, uint64_t seed)
{
	return mix64(seed ^ ((off >> 3) * 0x9e3779b97f4a7c15ULL));
}

void vmt_pattern_fill(void *dst, uint64_t off, size_t len, uint64_t seed)
{
	volatile uint64_t *d = dst;
	size_t i;

	for (i = 0; i < len / 8; i++)
		d[i] = vmt_pattern_word(off + i * 8, seed);
}

uint64_t vmt_pattern_check(const void *src, uint64_t off, size_t len,
			   uint64_t seed)
{
	const volatile uint64_t *s = src;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		uint64_t v = s[i];

		if (v != vmt_pattern_word(off + i * 8, seed)) {
			uint64_t want = vmt_pattern_word(off + i * 8, seed);
			unsigned int b;

			for (b = 0; b < 8; b++)
				if (((v ^ want) >> (8 * b)) & 0xff)
					break;
			return off + i * 8 + b;
		}
	}
	return UINT64_MAX;
}

void vmt_copy_to_io(volatile void *dst, const void *src, size_t len)
{
	volatile uint64_t *d = dst;
	const uint8_t *s = src;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		uint64_t v;

		memcpy(&v, s + i * 8, 8);
		d[i] = v;
	}
	for (i = len & ~7UL; i < len; i++)
		((volatile uint8_t *)dst)[i] = s[i];
}

void vmt_copy_from_io(void *dst, const volatile void *src, size_t len)
{
	const volatile uint64_t *s = src;
	uint8_t *d = dst;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		uint64_t v = s[i];

		memcpy(d + i * 8, &v, 8);
	}
	for (i = len & ~7UL; i < len; i++)
		d[i] = ((const volatile uint8_t *)src)[i];
}

int vmt_buf_reserve(struct vmt_buf *b, size_t cap)
{
	uint8_t *p;

	if (cap <= b->cap)
		return 0;
	p = realloc(b->p, cap);
	if (!p) {
		vmt_seterr("out of memory reserving %zu bytes", cap);
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int vmt_buf_append(struct vmt_buf *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		int ret;

		while (cap < b->len + len)
			cap *= 2;
		ret = vmt_buf_reserve(b, cap);
		if (ret)
			return ret;
	}
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

int vmt_buf_set(struct vmt_buf *b, const void *p, size_t len)
{
	b->len = 0;
	return vmt_buf_append(b, p, len);
}

void vmt_buf_free(struct vmt_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

double vmt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void vmt_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

const char *vmt_env(const char *name)
{
	const char *v = getenv(name);

	return (v && *v) ? v : NULL;
}

ssize_t vmt_read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (!n)
		return -EIO;
	if (n > 0)
		buf[n] = 0;
	return n;
}

int vmt_meminfo_kb(const char *key, long *kb)
{
	size_t klen = strlen(key);
	char line[256];
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f) {
		vmt_seterr("/proc/meminfo: %s", strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			*kb = strtol(line + klen + 1, NULL, 10);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	vmt_seterr("/proc/meminfo has no %s", key);
	return -ENOENT;
}

int vmt_kmsg_open(struct vmt_kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	if (lseek(k->fd, 0, SEEK_END) < 0) {
		int err = -errno;

		close(k->fd);
		k->fd = -1;
		return err;
	}
	return 0;
}

static const char *const vmt_bad_words[] = {
	"WARNING:", "BUG:", "Oops", "general protection fault",
	"Call Trace", "UBSAN:", "KASAN:", "kernel BUG", "refcount_t:",
	"list_add corruption", "list_del corruption", "INFO: task",
	"rcu: INFO", "soft lockup", "hard LOCKUP", "nobody cared",
	"Unable to handle", "possible circular locking", "lockdep",
	"use-after-free", "double free", "kmemleak",
};

int vmt_kmsg_scan(struct vmt_kmsg *k, char *first, size_t len)
{
	char rec[8192];
	int bad = 0;

	if (first && len)
		first[0] = 0;
	if (k->fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(k->fd, rec, sizeof(rec) - 1);
		const char *msg;
		size_t i;

		if (n < 0) {
			if (errno == EPIPE || errno == EINTR)
				continue;	/* overwritten records */
			break;			/* EAGAIN: caught up */
		}
		if (n == 0)
			break;
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		for (i = 0; i < sizeof(vmt_bad_words) / sizeof(vmt_bad_words[0]); i++) {
			if (strstr(msg, vmt_bad_words[i])) {
				if (!bad && first && len) {
					char *nl;

					snprintf(first, len, "%s", msg);
					nl = strchr(first, '\n');
					if (nl)
						*nl = 0;
				}
				bad++;
				break;
			}
		}
	}
	return bad;
}

void vmt_kmsg_close(struct vmt_kmsg *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

size_t vmt_chunk(size_t chunk, struct vmt_rng *r, size_t remaining)
{
	static __thread struct vmt_rng fallback = { 0x5eed };
	size_t c = chunk;

	if (!r)
		r = &fallback;
	if (c == VMT_CHUNK_RANDOM) {
		uint64_t sel = vmt_rng_below(r, 100);

		if (sel < 40)
			c = 1 + vmt_rng_below(r, 64);
		else if (sel < 75)
			c = 1 + vmt_rng_below(r, 8192);
		else if (sel < 95)
			c = 1 + vmt_rng_below(r, 128 * 1024);
		else
			c = 1 + vmt_rng_below(r, 3 * 1024 * 1024);
	}
	if (remaining && c > remaining)
		c = remaining;
	return c;
}
