/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Peak kernel memory during a benchmark phase: a second thread reads
 * /proc/meminfo every few milliseconds while the phase runs and keeps the
 * largest growth of the kernel's own counters (and the largest drop of free
 * memory) against a baseline taken just before the phase.
 */
#ifndef BENCH_MEMWATCH_H
#define BENCH_MEMWATCH_H

#include <pthread.h>
#include <stdbool.h>

enum mw_key {
	MW_SLAB,
	MW_SUNRECLAIM,
	MW_VMALLOC,
	MW_KSTACK,
	MW_PAGETABLES,
	MW_MEMFREE,
	MW_MEMAVAIL,
	MW_NKEYS,
};

/* Column titles, in enum mw_key order. */
extern const char *const mw_title[MW_NKEYS];

struct mw_result {
	/*
	 * kB.  For the kernel counters (MW_SLAB .. MW_PAGETABLES): the largest
	 * value seen minus the baseline.  For MW_MEMFREE / MW_MEMAVAIL: the
	 * baseline minus the smallest value seen (how much free memory the
	 * phase took at worst).
	 */
	long peak[MW_NKEYS];
	unsigned long samples;
	bool valid;
};

struct memwatch {
	pthread_t thread;
	int fd;
	unsigned int interval_us;
	volatile int running;
	long base[MW_NKEYS];
	long hi[MW_NKEYS];
	long lo[MW_NKEYS];
	unsigned long samples;
	bool started;
};

/* 0, or -errno when /proc/meminfo cannot be read. */
int mw_init(struct memwatch *w, unsigned int interval_ms);
void mw_destroy(struct memwatch *w);
/* Baseline now, then sample in the background until mw_stop(). */
int mw_start(struct memwatch *w);
void mw_stop(struct memwatch *w, struct mw_result *r);
/* Folds @r into @acc keeping the worst case of every column. */
void mw_merge(struct mw_result *acc, const struct mw_result *r);

#endif /* BENCH_MEMWATCH_H */
