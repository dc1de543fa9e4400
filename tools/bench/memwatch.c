// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memwatch.h"

const char *const mw_title[MW_NKEYS] = {
	[MW_SLAB] = "Slab",
	[MW_SUNRECLAIM] = "SUnreclaim",
	[MW_VMALLOC] = "VmallocUsed",
	[MW_KSTACK] = "KernelStack",
	[MW_PAGETABLES] = "PageTables",
	[MW_MEMFREE] = "MemFree",
	[MW_MEMAVAIL] = "MemAvailable",
};

/* One pread() of /proc/meminfo, parsed into v[] (kB). */
static int mw_sample(int fd, long *v)
{
	char buf[8192], *p, *end;
	unsigned int found = 0;
	ssize_t n;
	int k;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	for (p = buf; p && *p; p = end ? end + 1 : NULL) {
		char *colon;

		end = strchr(p, '\n');
		colon = strchr(p, ':');
		if (!colon || (end && colon > end))
			continue;
		for (k = 0; k < MW_NKEYS; k++) {
			size_t len = strlen(mw_title[k]);

			if ((size_t)(colon - p) == len && !strncmp(p, mw_title[k], len)) {
				v[k] = strtol(colon + 1, NULL, 10);
				found |= 1U << k;
				break;
			}
		}
	}
	return found == (1U << MW_NKEYS) - 1 ? 0 : -ENOENT;
}

int mw_init(struct memwatch *w, unsigned int interval_ms)
{
	long v[MW_NKEYS];
	int ret;

	memset(w, 0, sizeof(*w));
	w->interval_us = (interval_ms ? interval_ms : 1) * 1000;
	w->fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	ret = mw_sample(w->fd, v);
	if (ret) {
		close(w->fd);
		w->fd = -1;
	}
	return ret;
}

void mw_destroy(struct memwatch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

static void mw_account(struct memwatch *w, const long *v)
{
	int k;

	for (k = 0; k < MW_NKEYS; k++) {
		if (v[k] > w->hi[k])
			w->hi[k] = v[k];
		if (v[k] < w->lo[k])
			w->lo[k] = v[k];
	}
	w->samples++;
}

static void *mw_thread(void *arg)
{
	struct memwatch *w = arg;
	struct timespec ts = { 0, (long)w->interval_us * 1000 };
	long v[MW_NKEYS];

	while (__atomic_load_n(&w->running, __ATOMIC_ACQUIRE)) {
		if (!mw_sample(w->fd, v))
			mw_account(w, v);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int mw_start(struct memwatch *w)
{
	int ret, k;

	w->started = false;
	if (w->fd < 0)
		return -EBADF;
	ret = mw_sample(w->fd, w->base);
	if (ret)
		return ret;
	for (k = 0; k < MW_NKEYS; k++)
		w->hi[k] = w->lo[k] = w->base[k];
	w->samples = 0;
	__atomic_store_n(&w->running, 1, __ATOMIC_RELEASE);
	ret = pthread_create(&w->thread, NULL, mw_thread, w);
	if (ret)
		return -ret;
	w->started = true;
	return 0;
}

void mw_stop(struct memwatch *w, struct mw_result *r)
{
	long v[MW_NKEYS];
	int k;

	memset(r, 0, sizeof(*r));
	if (!w->started)
		return;
	__atomic_store_n(&w->running, 0, __ATOMIC_RELEASE);
	pthread_join(w->thread, NULL);
	w->started = false;
	/* one last sample: the end of the phase counts too */
	if (!mw_sample(w->fd, v))
		mw_account(w, v);
	for (k = 0; k < MW_NKEYS; k++) {
		if (k == MW_MEMFREE || k == MW_MEMAVAIL)
			r->peak[k] = w->base[k] - w->lo[k];
		else
			r->peak[k] = w->hi[k] - w->base[k];
	}
	r->samples = w->samples;
	r->valid = true;
}

void mw_merge(struct mw_result *acc, const struct mw_result *r)
{
	int k;

	if (!r->valid)
		return;
	if (!acc->valid) {
		*acc = *r;
		return;
	}
	for (k = 0; k < MW_NKEYS; k++)
		if (r->peak[k] > acc->peak[k])
			acc->peak[k] = r->peak[k];
	acc->samples += r->samples;
}
