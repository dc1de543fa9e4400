/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small utilities shared by the VFIO migration selftests and the demo:
 * a deterministic PRNG, an offset-addressable fill pattern, growable buffers,
 * timing, /proc/meminfo and /dev/kmsg helpers.
 *
 * Nothing in lib/ includes kselftest_harness.h: helpers return 0 or a negative
 * errno and leave a human readable explanation in vmt_errstr(), the tests turn
 * that into ASSERTs.
 */
#ifndef VMT_UTIL_H
#define VMT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VMT_KiB (1024UL)
#define VMT_MiB (1024UL * 1024UL)

/* Last error explanation of a lib helper (thread local). */
const char *vmt_errstr(void);
void vmt_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* splitmix64 based PRNG: tiny, fast and good enough for test data. */
struct vmt_rng {
	uint64_t s;
};

void vmt_rng_seed(struct vmt_rng *r, uint64_t seed);
uint64_t vmt_rng_next(struct vmt_rng *r);
/* Uniform in [0, n); n == 0 returns 0. */
uint64_t vmt_rng_below(struct vmt_rng *r, uint64_t n);
void vmt_rng_fill(struct vmt_rng *r, void *buf, size_t len);

/*
 * Seed for a test run: $VMT_SEED if set, otherwise derived from time and pid.
 * Tests log the seed so that a failure can be replayed.
 */
uint64_t vmt_seed(void);

/*
 * Position addressed pattern: the 64-bit word at byte offset o (o % 8 == 0)
 * is a hash of (seed, o).  Any window can be produced or verified on its own,
 * so a 256 MiB BAR can be filled and checked without a reference copy.
 * off and len must be multiples of 8.
 */
void vmt_pattern_fill(void *dst, uint64_t off, size_t len, uint64_t seed);
/* Returns the first mismatching byte offset (absolute) or UINT64_MAX. */
uint64_t vmt_pattern_check(const void *src, uint64_t off, size_t len,
			   uint64_t seed);
uint64_t vmt_pattern_word(uint64_t off, uint64_t seed);

/* Copies to/from device mappings with aligned 64-bit accesses. */
void vmt_copy_to_io(volatile void *dst, const void *src, size_t len);
void vmt_copy_from_io(void *dst, const volatile void *src, size_t len);

/* Growable byte buffer. */
struct vmt_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

int vmt_buf_reserve(struct vmt_buf *b, size_t cap);
int vmt_buf_append(struct vmt_buf *b, const void *p, size_t len);
int vmt_buf_set(struct vmt_buf *b, const void *p, size_t len);
void vmt_buf_free(struct vmt_buf *b);

double vmt_now(void);			/* CLOCK_MONOTONIC seconds */
void vmt_sleep_ms(unsigned int ms);

/* Non-empty environment variable or NULL. */
const char *vmt_env(const char *name);

/*
 * Reads the start of a small file (sysfs, procfs) into @buf, at most
 * @size - 1 bytes, NUL-terminated.  Returns the length, -errno, or -EIO for
 * an empty file.
 */
ssize_t vmt_read_file(const char *path, char *buf, size_t size);

/* Reads one "Key:   N kB" line of /proc/meminfo. */
int vmt_meminfo_kb(const char *key, long *kb);

/*
 * Kernel log watcher.  vmt_kmsg_open() positions at the end of /dev/kmsg;
 * vmt_kmsg_scan() reads everything logged since and counts lines that look
 * like a kernel warning, BUG, oops, lockdep/KASAN/UBSAN report or hung task.
 * The first offending line is copied to @first.  Without /dev/kmsg (not root)
 * scanning is disabled and returns 0.
 */
struct vmt_kmsg {
	int fd;
};

int vmt_kmsg_open(struct vmt_kmsg *k);
int vmt_kmsg_scan(struct vmt_kmsg *k, char *first, size_t len);
void vmt_kmsg_close(struct vmt_kmsg *k);

/*
 * Chunk size generator for data fd I/O.  A fixed size is returned as is;
 * VMT_CHUNK_RANDOM draws sizes from a mix of tiny, page-ish and large values
 * (from @r, or a per-thread generator when @r is NULL).
 */
#define VMT_CHUNK_RANDOM 0
size_t vmt_chunk(size_t chunk, struct vmt_rng *r, size_t remaining);

#endif /* VMT_UTIL_H */
