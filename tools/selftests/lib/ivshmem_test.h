/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-side helpers shared by the ivshmem-vfio-pci programs (they use the
 * harness ASSERTs, so they live here rather than in the plain C helpers):
 * device selection from the environment, random registers, stream checking
 * against the fill pattern, and "selfdev", a device that restores (bad
 * versions of) its own stream and is expected to recover afterwards.
 */
#ifndef IVSHMEM_TEST_H
#define IVSHMEM_TEST_H

#include "vmt_test.h"

#define STATE(x) VFIO_DEVICE_STATE_##x

static inline const char *bdf_env(const char *name)
{
	if (!strcmp(name, "IVSHMEM_BDF_A") && vmt_arg_bdf)
		return vmt_arg_bdf;
	if (!strcmp(name, "IVSHMEM_BDF_B") && vmt_arg_bdf2)
		return vmt_arg_bdf2;
	return vmt_env(name);
}

/* In a test body: skip a check of BAR mappings that the driver cannot stop. */
#define NEED_MMAP_FREEZE() do {						\
	if (!ivsh_mmap_freezes())					\
		SKIP(return, "the driver cannot stop BAR mappings "	\
		     "on this kernel (debugfs mmap_freeze: N)");	\
} while (0)

#define OPEN_IVSH(s, env) do {						\
	const char *__b = bdf_env(env);					\
	if (!__b)							\
		VMT_SKIP_SETUP("%s not set", env);			\
	ASSERT_OK(ivsh_open((s), __b));					\
} while (0)

/*
 * Random register values.  Both are nonzero so that a stream without the
 * register record or a restore that ignores it cannot go unnoticed (reset
 * clears both registers).  ivshmem-plain has no interrupt pin, so any
 * INTRSTATUS & INTRMASK combination is harmless.
 */
static inline void random_regs(struct vmt_rng *r, uint32_t *mask, uint32_t *status)
{
	*mask = (uint32_t)vmt_rng_next(r) | 0x00010001;
	*status = (uint32_t)vmt_rng_next(r) | 0x01000100;
}

static inline void feed_checker(void *opaque, const void *p, size_t n)
{
	ivm_check_feed(opaque, p, n);
}

/* mem_cb for ivm_checker: counts MEM payload bytes that differ from a pattern. */
struct mem_expect {
	uint64_t seed;
	uint64_t bad;
	uint64_t first_bad;
};

static inline void mem_expect_cb(void *opaque, uint64_t off, const void *p, size_t n)
{
	struct mem_expect *e = opaque;
	uint64_t head = off & 7, i;

	/* Compare byte-wise at the edges, word-wise in the middle. */
	for (i = 0; i < n; i++) {
		uint64_t o = off + i;

		if (!head && !(o & 7) && n - i >= 8) {
			uint64_t w;

			memcpy(&w, (const uint8_t *)p + i, 8);
			if (w == vmt_pattern_word(o, e->seed)) {
				i += 7;
				continue;
			}
		}
		if (((const uint8_t *)p)[i] !=
		    (uint8_t)(vmt_pattern_word(o & ~7ULL, e->seed) >> (8 * (o & 7)))) {
			if (!e->bad++)
				e->first_bad = o;
		}
		head = 0;
	}
}

/* Reads a save fd to EOF through a checker that verifies BAR2 == pattern. */
static inline int read_and_check(int fd, struct ivm_checker *chk, struct mem_expect *me,
			  size_t chunk, struct vmt_rng *rng, uint32_t *crc)
{
	size_t bufsz = 4 * VMT_MiB;
	uint8_t *buf = malloc(bufsz);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	ivm_check_free(chk);
	ivm_check_init(chk);
	if (me) {
		chk->mem_cb = mem_expect_cb;
		chk->opaque = me;
	}
	for (;;) {
		ssize_t n = read(fd, buf, vmt_chunk(chunk, rng, bufsz));

		if (n < 0) {
			ret = -errno;
			vmt_seterr("read of save fd: %s", strerror(errno));
			break;
		}
		if (!n)
			break;
		if (crc)
			*crc = vmt_crc32c(*crc, buf, n);
		ivm_check_feed(chk, buf, n);
	}
	free(buf);
	return ret;
}

#define ASSERT_STREAM_OK(chk) do {					\
	ASSERT_EQ(0, ivm_check_finish(chk)) {				\
		TH_LOG("bad stream: %s", (chk)->err);			\
	}								\
} while (0)

#define ASSERT_PATTERN(s, seed) do {					\
	uint64_t __bad = ivsh_verify((s), (seed));			\
	ASSERT_EQ(UINT64_MAX, __bad) {					\
		TH_LOG("%s: BAR2 differs from the expected data at 0x%llx", \
		       (s)->dev.bdf, (unsigned long long)__bad);	\
	}								\
} while (0)

#define ASSERT_REGS(s, m, st) do {					\
	uint32_t __m = 0, __s = 0;					\
	ASSERT_OK(ivsh_get_regs((s), &__m, &__s));			\
	ASSERT_EQ((uint32_t)(m), __m) {					\
		TH_LOG("%s: INTRMASK 0x%08x, want 0x%08x", (s)->dev.bdf, __m, \
		       (uint32_t)(m));					\
	}								\
	ASSERT_EQ((uint32_t)(st), __s) {				\
		TH_LOG("%s: INTRSTATUS 0x%08x, want 0x%08x", (s)->dev.bdf, \
		       __s, (uint32_t)(st));				\
	}								\
} while (0)


/* Device C restoring (mutations of) its own stream. */
struct selfdev {
	struct ivsh d;
	struct vmt_kmsg kmsg;
	struct vmt_rng rng;
	uint64_t seed;
	uint32_t mask, status;
	struct vmt_buf s;		/* the device's own valid stream */
	struct ivm_checker idx;		/* S validated, with record positions */
	struct vmt_buf m;		/* mutated stream */
	int rfd;
};

static inline int selfdev_setup(struct selfdev *c, const char *bdf)
{
	int ret;

	ret = ivsh_open(&c->d, bdf);
	if (ret)
		return ret;
	ivsh_fill(&c->d, c->seed);
	random_regs(&c->rng, &c->mask, &c->status);
	ret = ivsh_set_regs(&c->d, c->mask, c->status);
	if (ret)
		return ret;
	ret = ivsh_save(&c->d, &c->s, VMT_MiB, NULL);
	if (ret)
		return ret;
	if (ivm_check_buf(&c->idx, c->s.p, c->s.len)) {
		vmt_seterr("own stream invalid: %s", c->idx.err);
		return -EPROTO;
	}
	return 0;
}

static inline void selfdev_init(struct selfdev *c)
{
	memset(c, 0, sizeof(*c));
	ivsh_init(&c->d);
	c->rfd = -1;
	vmt_kmsg_open(&c->kmsg);
	c->seed = vmt_seed();
	vmt_rng_seed(&c->rng, c->seed);
}

static inline void selfdev_free(struct selfdev *c)
{
	vmt_close(&c->rfd);
	ivsh_close(&c->d);
	vmt_buf_free(&c->s);
	vmt_buf_free(&c->m);
	ivm_check_free(&c->idx);
}

/* Devices are closed before the log is checked: close paths count too. */
#define SELFDEV_TEARDOWN(c) do {					\
	selfdev_free(c);						\
	EXPECT_NO_KERNEL_WARNING(&(c)->kmsg);				\
	vmt_kmsg_close(&(c)->kmsg);					\
} while (0)

#define SELFDEV_SETUP(c, env) do {					\
	const char *__b = bdf_env(env);					\
	selfdev_init(c);						\
	if (!__b)							\
		VMT_SKIP_SETUP("%s not set", env);			\
	ASSERT_OK(selfdev_setup((c), __b));				\
	TH_LOG("%s: stream %zu bytes, seed 0x%llx", (c)->d.dev.bdf,	\
	       (c)->s.len, (unsigned long long)(c)->seed);		\
} while (0)

/* After a rejected stream: STOP fails into ERROR and reset recovers. */
static inline void expect_failed_resume(struct __test_metadata *_metadata,
				 struct selfdev *c)
{
	int fd = c->d.dev.fd;
	int r;

	r = mig_set_state_nofd(fd, STATE(STOP));
	ASSERT_GT(0, r) {
		TH_LOG("RESUMING -> STOP accepted a bad or incomplete stream");
	}
	ASSERT_STATE(fd, STATE(ERROR));
	ASSERT_OK(vdev_reset(&c->d.dev));
	ASSERT_STATE(fd, STATE(RUNNING));
	ASSERT_GT(0, vmt_write1(c->rfd));
	vmt_close(&c->rfd);
}

/* The device takes its good stream again and has the original contents. */
static inline void expect_recovery(struct __test_metadata *_metadata,
			    struct selfdev *c)
{
	ivsh_fill(&c->d, c->seed ^ 1);
	ASSERT_OK(ivsh_restore(&c->d, c->s.p, c->s.len, 32768, NULL));
	ASSERT_PATTERN(&c->d, c->seed);
	ASSERT_REGS(&c->d, c->mask, c->status);
}


#endif /* IVSHMEM_TEST_H */
