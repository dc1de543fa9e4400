// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci specific migration tests: exact stream contents, memory
 * and register round trips, rejection of bad streams at the right moment,
 * STOP enforcement and ivshmem-specific errnos.
 *
 * Devices come from the environment set up by the VM harness:
 *   IVSHMEM_BDF_A, IVSHMEM_BDF_B          equal BAR2 size (1 MiB)
 *   IVSHMEM_BDF_C                         different BAR2 size (2 MiB)
 *   IVSHMEM_BDF_BIG_A, IVSHMEM_BDF_BIG_B  equal BAR2 size (256 MiB)
 * -d / -D override A / B.  Tests whose device is missing are skipped.
 *
 * $VMT_SEED replays the random data of a failed run (the seed is logged).
 */
#include <linux/pci_regs.h>

#include "lib/vmt_test.h"

#define STATE(x) VFIO_DEVICE_STATE_##x

static const char *bdf_env(const char *name)
{
	if (!strcmp(name, "IVSHMEM_BDF_A") && vmt_arg_bdf)
		return vmt_arg_bdf;
	if (!strcmp(name, "IVSHMEM_BDF_B") && vmt_arg_bdf2)
		return vmt_arg_bdf2;
	return vmt_env(name);
}

#define OPEN_IVSH(s, env) do {						\
	const char *__b = bdf_env(env);					\
	if (!__b)							\
		SKIP(return, "%s not set", env);			\
	ASSERT_OK(ivsh_open((s), __b));					\
} while (0)

/*
 * Random register values.  Both are nonzero so that a stream without the
 * register record or a restore that ignores it cannot go unnoticed (reset
 * clears both registers).  ivshmem-plain has no interrupt pin, so any
 * INTRSTATUS & INTRMASK combination is harmless.
 */
static void random_regs(struct vmt_rng *r, uint32_t *mask, uint32_t *status)
{
	*mask = (uint32_t)vmt_rng_next(r) | 0x00010001;
	*status = (uint32_t)vmt_rng_next(r) | 0x01000100;
}

static void feed_checker(void *opaque, const void *p, size_t n)
{
	ivm_check_feed(opaque, p, n);
}

/* mem_cb for ivm_checker: counts MEM payload bytes that differ from a pattern. */
struct mem_expect {
	uint64_t seed;
	uint64_t bad;
	uint64_t first_bad;
};

static void mem_expect_cb(void *opaque, uint64_t off, const void *p, size_t n)
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
static int read_and_check(int fd, struct ivm_checker *chk, struct mem_expect *me,
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

/* ------------------------------------------------------------------------
 * Round trips between two devices of equal size.
 */

FIXTURE(pair) {
	struct ivsh a, b;
	struct vmt_kmsg kmsg;
	struct vmt_rng rng;
	uint64_t seed, seed_b;
	uint32_t mask, status;
	struct ivm_checker chk;
};

FIXTURE_VARIANT(pair) {
	const char *env_a;
	const char *env_b;
	size_t rchunk;
	size_t wchunk;
};

/* QEMU's own pattern: reads of what the fd offers, writes of <= 32 KiB. */
FIXTURE_VARIANT_ADD(pair, small) {
	.env_a = "IVSHMEM_BDF_A", .env_b = "IVSHMEM_BDF_B",
	.rchunk = VMT_CHUNK_RANDOM, .wchunk = 32768,
};

FIXTURE_VARIANT_ADD(pair, big) {
	.env_a = "IVSHMEM_BDF_BIG_A", .env_b = "IVSHMEM_BDF_BIG_B",
	.rchunk = VMT_MiB, .wchunk = 32768,
};

FIXTURE_SETUP(pair)
{
	ivsh_init(&self->a);
	ivsh_init(&self->b);
	ivm_check_init(&self->chk);
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	self->seed_b = self->seed ^ 0xa5a5a5a5deadbeefULL;
	vmt_rng_seed(&self->rng, self->seed);
	OPEN_IVSH(&self->a, variant->env_a);
	OPEN_IVSH(&self->b, variant->env_b);
	ASSERT_EQ(self->a.mem_size, self->b.mem_size);
	TH_LOG("%s -> %s, BAR2 %llu MiB, seed 0x%llx", self->a.dev.bdf,
	       self->b.dev.bdf, (unsigned long long)(self->a.mem_size >> 20),
	       (unsigned long long)self->seed);
	ivsh_fill(&self->a, self->seed);
	ivsh_fill(&self->b, self->seed_b);
	random_regs(&self->rng, &self->mask, &self->status);
	ASSERT_OK(ivsh_set_regs(&self->a, self->mask, self->status));
	ASSERT_OK(ivsh_set_regs(&self->b, ~self->mask, ~self->status));
}

FIXTURE_TEARDOWN(pair)
{
	ivm_check_free(&self->chk);
	ivsh_close(&self->a);
	ivsh_close(&self->b);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/* A (STOP_COPY) -> B (RESUMING) through one buffer, both back to RUNNING. */
static void pair_transfer(struct __test_metadata *_metadata,
			  FIXTURE_DATA(pair) *self, size_t rchunk, size_t wchunk,
			  bool via_p2p)
{
	int afd = self->a.dev.fd, bfd = self->b.dev.fd;
	int sfd = -1, rfd = -1, where = -1;
	uint64_t size = 0;
	ssize_t n;

	if (via_p2p) {
		/* Every single arc explicitly, as a cautious VMM would. */
		ASSERT_OK(mig_set_state_nofd(afd, STATE(RUNNING_P2P)));
		ASSERT_OK(mig_set_state_nofd(afd, STATE(STOP)));
		ASSERT_OK(mig_set_state_nofd(bfd, STATE(RUNNING_P2P)));
		ASSERT_OK(mig_set_state_nofd(bfd, STATE(STOP)));
	}
	ASSERT_OK(mig_set_state(afd, STATE(STOP_COPY), &sfd));
	ASSERT_LE(0, sfd);
	ASSERT_OK(mig_data_size(afd, &size));
	ASSERT_OK(mig_set_state(bfd, STATE(RESUMING), &rfd));
	ASSERT_LE(0, rfd);
	ivm_check_free(&self->chk);
	ivm_check_init(&self->chk);
	n = mig_pipe(sfd, rfd, rchunk, wchunk, &self->rng, feed_checker,
		     &self->chk, &where);
	ASSERT_EQ((ssize_t)size, n) {
		TH_LOG("transfer: %s (%s side); MIG_DATA_SIZE %llu",
		       vmt_errstr(), where ? "write" : "read",
		       (unsigned long long)size);
	}
	ASSERT_STREAM_OK(&self->chk);
	ASSERT_OK(mig_set_state_nofd(bfd, STATE(STOP)));
	close(rfd);
	close(sfd);
	if (via_p2p) {
		ASSERT_OK(mig_set_state_nofd(afd, STATE(STOP)));
		ASSERT_OK(mig_set_state_nofd(afd, STATE(RUNNING_P2P)));
		ASSERT_OK(mig_set_state_nofd(bfd, STATE(RUNNING_P2P)));
	}
	ASSERT_OK(mig_set_state_nofd(afd, STATE(RUNNING)));
	ASSERT_OK(mig_set_state_nofd(bfd, STATE(RUNNING)));
}

TEST_F_TIMEOUT(pair, roundtrip_memory_and_registers, 300)
{
	pair_transfer(_metadata, self, variant->rchunk, variant->wchunk, false);
	ASSERT_EQ(self->mask, self->chk.intrmask);
	ASSERT_EQ(self->status, self->chk.intrstatus);
	ASSERT_PATTERN(&self->b, self->seed);
	ASSERT_REGS(&self->b, self->mask, self->status);
	/* The source is untouched by the save. */
	ASSERT_PATTERN(&self->a, self->seed);
	ASSERT_REGS(&self->a, self->mask, self->status);
}

TEST_F_TIMEOUT(pair, roundtrip_via_p2p_arcs, 300)
{
	pair_transfer(_metadata, self, VMT_CHUNK_RANDOM, VMT_CHUNK_RANDOM, true);
	ASSERT_PATTERN(&self->b, self->seed);
	ASSERT_REGS(&self->b, self->mask, self->status);
	ASSERT_PATTERN(&self->a, self->seed);
}

TEST_F_TIMEOUT(pair, stream_layout, 300)
{
	struct ivm_checker *c = &self->chk;
	struct mem_expect me = { .seed = self->seed };
	uint64_t size = 0;
	uint32_t crc = 0;
	int sfd = -1;

	ASSERT_OK(mig_set_state(self->a.dev.fd, STATE(STOP_COPY), &sfd));
	ASSERT_OK(mig_data_size(self->a.dev.fd, &size));
	ASSERT_OK(read_and_check(sfd, c, &me, VMT_MiB, NULL, &crc));
	close(sfd);
	ASSERT_STREAM_OK(c);
	ASSERT_EQ(0, me.bad) {
		TH_LOG("%llu payload bytes differ from BAR2, first at 0x%llx",
		       (unsigned long long)me.bad,
		       (unsigned long long)me.first_bad);
	}
	ASSERT_EQ(IVM_STREAM_MAGIC, c->hdr.magic);
	ASSERT_EQ(IVM_STREAM_VERSION, c->hdr.version);
	ASSERT_EQ(IVM_HDR_LEN, c->hdr.header_size);
	ASSERT_EQ(0, c->hdr.flags);
	ASSERT_EQ(IVSHMEM_VENDOR, c->hdr.vendor);
	ASSERT_EQ(IVSHMEM_DEVICE, c->hdr.device);
	ASSERT_EQ(self->a.dev.revision, c->hdr.revision);
	ASSERT_EQ(self->a.mem_size, c->hdr.bar2_size);
	ASSERT_LE(4096, c->hdr.page_size);
	ASSERT_EQ(0, c->hdr.bar2_size % c->hdr.page_size);
	ASSERT_EQ(self->mask, c->intrmask);
	ASSERT_EQ(self->status, c->intrstatus);
	/* REGS, MEM..., END; every MEM record at most 1 MiB. */
	ASSERT_EQ(c->nmem + 2, c->nrecs);
	ASSERT_EQ(IVM_REC_REGS, c->recs[0].type);
	ASSERT_EQ(IVM_REC_END, c->recs[c->nrecs - 1].type);
	ASSERT_LE(c->max_mem_len, IVM_MEM_RECORD_MAX);
	ASSERT_EQ(c->pos, size) {
		TH_LOG("stream %llu bytes, MIG_DATA_SIZE said %llu",
		       (unsigned long long)c->pos, (unsigned long long)size);
	}
	ASSERT_EQ(c->pos, IVM_HDR_LEN + IVM_RECHDR_LEN + IVM_REGS_LEN +
		  c->nmem * IVM_RECHDR_LEN + c->hdr.bar2_size +
		  IVM_RECHDR_LEN + IVM_END_LEN);
	TH_LOG("stream %llu bytes, %lu MEM records, page_size %u, crc 0x%08x",
	       (unsigned long long)c->pos, c->nmem, c->hdr.page_size, crc);
	ASSERT_OK(mig_set_state_nofd(self->a.dev.fd, STATE(RUNNING)));
}

TEST_F_TIMEOUT(pair, data_size_exact_in_each_state, 300)
{
	static const uint32_t states[] = { STATE(RUNNING), STATE(RUNNING_P2P),
					   STATE(STOP), STATE(STOP_COPY) };
	uint64_t sizes[ARRAY_SIZE(states) + 1], size = 0;
	int fd = self->a.dev.fd, sfd = -1;
	unsigned int i;
	ssize_t n, m;

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		ASSERT_OK(mig_set_state(fd, states[i], &sfd));
		sizes[i] = 0;
		ASSERT_OK(mig_data_size(fd, &sizes[i]));
	}
	ASSERT_LE(0, sfd);
	/* Reading part of the stream does not change the answer. */
	n = mig_read_all(sfd, NULL, 4096, NULL, 100000, NULL, NULL);
	ASSERT_EQ(100000, n);
	ASSERT_OK(mig_data_size(fd, &sizes[i]));
	m = mig_read_all(sfd, NULL, VMT_MiB, NULL, 0, NULL, NULL);
	ASSERT_LT(0, m);
	size = n + m;
	for (i = 0; i <= ARRAY_SIZE(states); i++) {
		ASSERT_EQ(size, sizes[i]) {
			TH_LOG("MIG_DATA_SIZE %llu in %s, stream has %llu bytes",
			       (unsigned long long)sizes[i],
			       i < ARRAY_SIZE(states) ?
			       mig_state_name(states[i]) : "STOP_COPY (partly read)",
			       (unsigned long long)size);
		}
	}
	close(sfd);
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
}

TEST_F_TIMEOUT(pair, save_leaves_source_unchanged, 300)
{
	uint32_t crc1 = 0, crc2 = 0;
	int fd = self->a.dev.fd, sfd = -1;
	ssize_t n1, n2;

	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	n1 = mig_read_all(sfd, NULL, VMT_CHUNK_RANDOM, &self->rng, 0, &crc1, NULL);
	close(sfd);
	ASSERT_LT(0, n1);
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	/* A second save gives the very same bytes. */
	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	n2 = mig_read_all(sfd, NULL, VMT_MiB, NULL, 0, &crc2, NULL);
	close(sfd);
	ASSERT_EQ(n1, n2);
	ASSERT_EQ(crc1, crc2);
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	ASSERT_PATTERN(&self->a, self->seed);
	ASSERT_REGS(&self->a, self->mask, self->status);
}

TEST_F_TIMEOUT(pair, abort_after_partial_read, 300)
{
	uint32_t crc1 = 0, crc2 = 0;
	int fd = self->a.dev.fd, sfd = -1;
	ssize_t n1, n2;

	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	n1 = mig_read_all(sfd, NULL, VMT_MiB, NULL, self->a.mem_size / 2,
			  &crc1, NULL);
	ASSERT_EQ((ssize_t)self->a.mem_size / 2, n1);
	/* Abort: STOP_COPY -> STOP -> RUNNING, the stream unread. */
	ASSERT_OK(mig_set_state_nofd(fd, STATE(STOP)));
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	close(sfd);
	ASSERT_PATTERN(&self->a, self->seed);
	ASSERT_REGS(&self->a, self->mask, self->status);
	/* And a new save starts from the same beginning. */
	ASSERT_OK(ivsh_set_regs(&self->a, self->mask, self->status));
	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	n2 = mig_read_all(sfd, NULL, 4096, NULL, self->a.mem_size / 2, &crc2,
			  NULL);
	close(sfd);
	ASSERT_EQ(n1, n2);
	ASSERT_EQ(crc1, crc2);
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
}

TEST_F_TIMEOUT(pair, abort_without_read, 300)
{
	int fd = self->a.dev.fd, sfd = -1;

	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	ASSERT_LE(0, sfd);
	/* Straight back: the combination arc STOP_COPY -> STOP -> ... -> RUNNING. */
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	close(sfd);
	ASSERT_PATTERN(&self->a, self->seed);
	ASSERT_REGS(&self->a, self->mask, self->status);
}

TEST_F_TIMEOUT(pair, restored_device_saves_same_stream, 300)
{
	uint32_t crc_a = 0, crc_b = 0;
	int sfd = -1;
	ssize_t na, nb;

	pair_transfer(_metadata, self, VMT_MiB, VMT_MiB, false);
	ASSERT_OK(ivsh_set_regs(&self->a, self->mask, self->status));
	ASSERT_OK(mig_set_state(self->a.dev.fd, STATE(STOP_COPY), &sfd));
	na = mig_read_all(sfd, NULL, VMT_MiB, NULL, 0, &crc_a, NULL);
	close(sfd);
	ASSERT_OK(mig_set_state(self->b.dev.fd, STATE(STOP_COPY), &sfd));
	nb = mig_read_all(sfd, NULL, VMT_MiB, NULL, 0, &crc_b, NULL);
	close(sfd);
	ASSERT_LT(0, na);
	ASSERT_EQ(na, nb);
	ASSERT_EQ(crc_a, crc_b) {
		TH_LOG("B's stream differs from A's after the restore");
	}
}

TEST_F_TIMEOUT(pair, p2p_writes_are_migrated, 300)
{
	uint64_t off = self->a.mem_size / 2 + 40;
	int fd = self->a.dev.fd;

	/* RUNNING_P2P still allows the user to change device memory. */
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING_P2P)));
	*(volatile uint64_t *)(self->a.mem + off) = 0x0123456789abcdefULL;
	ASSERT_OK(ivsh_wr(&self->a, IVSHMEM_INTRMASK, 0x5a5a0001));
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	pair_transfer(_metadata, self, VMT_MiB, 32768, false);
	ASSERT_EQ(0x0123456789abcdefULL, *(volatile uint64_t *)(self->b.mem + off));
	ASSERT_EQ(0x5a5a0001, self->chk.intrmask);
	ASSERT_REGS(&self->b, 0x5a5a0001, self->status);
	*(volatile uint64_t *)(self->b.mem + off) = vmt_pattern_word(off, self->seed);
	ASSERT_PATTERN(&self->b, self->seed);
}

TEST_F_TIMEOUT(pair, restore_twice, 300)
{
	pair_transfer(_metadata, self, VMT_MiB, VMT_MiB, false);
	/* Scribble over B, then restore the same source again. */
	ivsh_fill(&self->b, self->seed_b);
	ASSERT_OK(ivsh_set_regs(&self->b, 0, 0));
	ASSERT_OK(ivsh_set_regs(&self->a, self->mask, self->status));
	pair_transfer(_metadata, self, 4096, VMT_CHUNK_RANDOM, false);
	ASSERT_PATTERN(&self->b, self->seed);
	ASSERT_REGS(&self->b, self->mask, self->status);
}

TEST_F_TIMEOUT(pair, swap_devices, 300)
{
	struct vmt_buf sa = { 0 }, sb = { 0 };

	if (self->a.mem_size > 64 * VMT_MiB)
		SKIP(return, "keeps two streams in memory; small devices only");
	ASSERT_OK(ivsh_save(&self->a, &sa, VMT_MiB, NULL));
	ASSERT_OK(ivsh_save(&self->b, &sb, VMT_MiB, NULL));
	ASSERT_OK(ivsh_restore(&self->a, sb.p, sb.len, 7, NULL));
	ASSERT_OK(ivsh_restore(&self->b, sa.p, sa.len, VMT_CHUNK_RANDOM, &self->rng));
	ASSERT_PATTERN(&self->a, self->seed_b);
	ASSERT_PATTERN(&self->b, self->seed);
	ASSERT_REGS(&self->a, ~self->mask, ~self->status);
	ASSERT_REGS(&self->b, self->mask, self->status);
	vmt_buf_free(&sa);
	vmt_buf_free(&sb);
}

TEST_F_TIMEOUT(pair, restore_accepts_any_record_size, 300)
{
	static const uint64_t recs[] = { 1, 16, 3, 255 };	/* in pages */
	struct ivm_build_params bp;
	struct vmt_buf s = { 0 };
	unsigned int i;
	int r;

	/*
	 * The format allows any page-multiple MEM record size (only the driver's
	 * own records are capped at 1 MiB); a restore must not depend on how
	 * the producer cut the memory.
	 */
	if (self->a.mem_size > 64 * VMT_MiB)
		SKIP(return, "builds whole streams in memory; small devices only");
	ASSERT_OK(ivsh_save(&self->b, &s, VMT_MiB, NULL));
	ASSERT_EQ(0, ivm_check_buf(&self->chk, s.p, s.len));
	ivsh_build_params(&self->b, &bp);
	bp.page_size = self->chk.hdr.page_size;
	for (i = 0; i < ARRAY_SIZE(recs); i++) {
		bp.rec_len = recs[i] * bp.page_size;
		bp.seed = self->seed + i;
		bp.intrmask = self->mask + i;
		bp.intrstatus = self->status;
		ASSERT_OK(ivm_build(&s, &bp));
		r = ivsh_restore(&self->b, s.p, s.len, VMT_CHUNK_RANDOM,
				 &self->rng);
		ASSERT_EQ(0, r) {
			TH_LOG("records of %llu bytes: %s",
			       (unsigned long long)bp.rec_len, vmt_errstr());
		}
		ASSERT_PATTERN(&self->b, self->seed + i);
		ASSERT_REGS(&self->b, self->mask + i, self->status);
	}
	vmt_buf_free(&s);
}

/* ------------------------------------------------------------------------
 * Bad streams.  The device's own stream S (device C: REGS, two MEM records,
 * END) is mutated so that exactly one rule is broken, with the CRC fixed up
 * unless the CRC is the point.  Each mutation names the first bad byte (at)
 * and the window within which the driver must have noticed (win).
 */

enum mut_kind {
	M_HDR,		/* header field at off */
	M_REC,		/* record header field of record rec at off */
	M_ENDPAY,	/* END payload field at off (CRC fixed before) */
	M_FLIP,		/* flip bit val of payload byte off of record rec */
	M_END_EARLY,	/* END record right after REGS */
	M_DROP_REGS,	/* no REGS record */
	M_DUP_REGS,	/* REGS record twice */
	M_DUP_MEM,	/* first MEM record twice */
	M_TRAIL_BYTE,	/* one byte after END */
	M_TRAIL_STREAM,	/* a second complete stream after END */
	M_NONE,
};

enum { OP_SET, OP_XOR, OP_ADD, OP_MUL, OP_DIV };

struct mutation {
	const char *name;
	int kind;
	int rec;	/* 0 REGS, 1 first MEM, 2 second MEM, 3 END */
	int off;	/* -1: last payload byte (M_FLIP) */
	int size;
	int op;
	uint64_t val;
};

/* name, kind, rec, off, size, op, val */
#define MUTATIONS(X)							\
	X(magic_byte0,		M_HDR, 0, 0, 1, OP_XOR, 0x01)		\
	X(magic_zero,		M_HDR, 0, 0, 4, OP_SET, 0)		\
	X(magic_byteswapped,	M_HDR, 0, 0, 4, OP_SET, 0x49564d53)	\
	X(magic_last_byte,	M_HDR, 0, 3, 1, OP_XOR, 0x80)		\
	X(version_zero,		M_HDR, 0, 4, 2, OP_SET, 0)		\
	X(version_next,		M_HDR, 0, 4, 2, OP_SET, 2)		\
	X(version_max,		M_HDR, 0, 4, 2, OP_SET, 0xffff)		\
	X(header_size_short,	M_HDR, 0, 6, 2, OP_SET, 32)		\
	X(header_size_long,	M_HDR, 0, 6, 2, OP_SET, 48)		\
	X(header_size_zero,	M_HDR, 0, 6, 2, OP_SET, 0)		\
	X(flags_bit0,		M_HDR, 0, 8, 4, OP_SET, 1)		\
	X(flags_bit31,		M_HDR, 0, 8, 4, OP_SET, 0x80000000)	\
	X(vendor,		M_HDR, 0, 12, 2, OP_XOR, 1)		\
	X(device,		M_HDR, 0, 14, 2, OP_XOR, 1)		\
	X(revision,		M_HDR, 0, 16, 1, OP_XOR, 1)		\
	X(reserved0_first,	M_HDR, 0, 17, 1, OP_SET, 1)		\
	X(reserved0_last,	M_HDR, 0, 19, 1, OP_SET, 0x80)		\
	X(page_size_zero,	M_HDR, 0, 20, 4, OP_SET, 0)		\
	X(page_size_half,	M_HDR, 0, 20, 4, OP_DIV, 2)		\
	X(page_size_double,	M_HDR, 0, 20, 4, OP_MUL, 2)		\
	X(page_size_odd,	M_HDR, 0, 20, 4, OP_ADD, 1)		\
	X(bar2_size_zero,	M_HDR, 0, 24, 8, OP_SET, 0)		\
	X(bar2_size_half,	M_HDR, 0, 24, 8, OP_DIV, 2)		\
	X(bar2_size_double,	M_HDR, 0, 24, 8, OP_MUL, 2)		\
	X(bar2_size_plus_page,	M_HDR, 0, 24, 8, OP_ADD, 4096)		\
	X(bar2_size_huge,	M_HDR, 0, 24, 8, OP_SET, 1ULL << 62)	\
	X(reserved1_first,	M_HDR, 0, 32, 1, OP_SET, 1)		\
	X(reserved1_last,	M_HDR, 0, 39, 1, OP_SET, 0x80)		\
	X(regs_type_zero,	M_REC, 0, 0, 4, OP_SET, 0)		\
	X(regs_type_unknown,	M_REC, 0, 0, 4, OP_SET, 4)		\
	X(regs_type_max,	M_REC, 0, 0, 4, OP_SET, 0xffffffff)	\
	X(regs_flags,		M_REC, 0, 4, 4, OP_SET, 1)		\
	X(regs_offset,		M_REC, 0, 8, 8, OP_SET, 8)		\
	X(regs_length_short,	M_REC, 0, 16, 8, OP_SET, 4)		\
	X(regs_length_long,	M_REC, 0, 16, 8, OP_SET, 16)		\
	X(mem_type_unknown,	M_REC, 1, 0, 4, OP_SET, 9)		\
	X(mem_type_end,		M_REC, 1, 0, 4, OP_SET, IVM_REC_END)	\
	X(mem_flags,		M_REC, 1, 4, 4, OP_SET, 1)		\
	X(mem_flags_high,	M_REC, 1, 4, 4, OP_SET, 0x80000000)	\
	X(mem_first_offset,	M_REC, 1, 8, 8, OP_SET, 4096)		\
	X(mem_length_zero,	M_REC, 1, 16, 8, OP_SET, 0)		\
	X(mem_length_beyond_bar, M_REC, 1, 16, 8, OP_SET, 1ULL << 40)	\
	X(mem_length_wrap,	M_REC, 1, 16, 8, OP_SET, 0xfffffffffffff000ULL) \
	X(mem2_offset_wrap,	M_REC, 2, 8, 8, OP_SET, 0xfffffffffffff000ULL) \
	X(mem2_backwards,	M_REC, 2, 8, 8, OP_SET, 0)		\
	X(mem2_gap,		M_REC, 2, 8, 8, OP_ADD, 4096)		\
	X(mem2_overlap,		M_REC, 2, 8, 8, OP_ADD, (uint64_t)-4096) \
	X(mem2_beyond_bar,	M_REC, 2, 8, 8, OP_ADD, 1ULL << 20)	\
	X(mem2_length_long,	M_REC, 2, 16, 8, OP_ADD, 4096)		\
	X(end_type,		M_REC, 3, 0, 4, OP_SET, 5)		\
	X(end_flags,		M_REC, 3, 4, 4, OP_SET, 1)		\
	X(end_offset,		M_REC, 3, 8, 8, OP_SET, 8)		\
	X(end_length_short,	M_REC, 3, 16, 8, OP_SET, 4)		\
	X(end_length_long,	M_REC, 3, 16, 8, OP_SET, 16)		\
	X(end_crc_bit,		M_ENDPAY, 3, 0, 4, OP_XOR, 1)		\
	X(end_crc_zero,		M_ENDPAY, 3, 0, 4, OP_XOR, 0xffffffff)	\
	X(end_reserved,		M_ENDPAY, 3, 4, 4, OP_SET, 1)		\
	X(flip_regs_payload,	M_FLIP, 0, 0, 0, 0, 0)			\
	X(flip_regs_status,	M_FLIP, 0, 7, 0, 0, 7)			\
	X(flip_mem_first_byte,	M_FLIP, 1, 0, 0, 0, 3)			\
	X(flip_mem_middle,	M_FLIP, 1, 300001, 0, 0, 5)		\
	X(flip_mem_last_byte,	M_FLIP, 2, -1, 0, 0, 7)			\
	X(end_early,		M_END_EARLY, 0, 0, 0, 0, 0)		\
	X(drop_regs,		M_DROP_REGS, 0, 0, 0, 0, 0)		\
	X(dup_regs,		M_DUP_REGS, 0, 0, 0, 0, 0)		\
	X(dup_mem,		M_DUP_MEM, 0, 0, 0, 0, 0)		\
	X(trailing_byte,	M_TRAIL_BYTE, 0, 0, 0, 0, 0)		\
	X(trailing_stream,	M_TRAIL_STREAM, 0, 0, 0, 0, 0)

#define MUT_ENTRY(n, k_, r_, o_, s_, op_, v_) \
	{ .name = #n, .kind = k_, .rec = r_, .off = o_, .size = s_, .op = op_, .val = v_ },

static const struct mutation mutations[] = { MUTATIONS(MUT_ENTRY) };

static uint64_t apply_op(uint64_t v, int op, uint64_t x)
{
	switch (op) {
	case OP_SET: return x;
	case OP_XOR: return v ^ x;
	case OP_ADD: return v + x;
	case OP_MUL: return v * x;
	case OP_DIV: return v / x;
	}
	return v;
}

static void patch_field(uint8_t *p, int size, int op, uint64_t val)
{
	uint64_t v;

	switch (size) {
	case 1:
		*p = (uint8_t)apply_op(*p, op, val);
		break;
	case 2:
		v = apply_op(ivm_get16(p), op, val);
		ivm_put16(p, (uint16_t)v);
		break;
	case 4:
		v = apply_op(ivm_get32(p), op, val);
		ivm_put32(p, (uint32_t)v);
		break;
	case 8:
		v = apply_op(ivm_get64(p), op, val);
		ivm_put64(p, v);
		break;
	}
}

/*
 * Builds the mutated stream.  @idx is the checker that validated S and holds
 * its record positions.  Returns 0 or -1 when S does not have the expected
 * shape (REGS, MEM, MEM, END).
 */
static int mutate(const struct vmt_buf *s, const struct ivm_checker *idx,
		  const struct mutation *m, struct vmt_buf *out, uint64_t *at,
		  uint64_t *win)
{
	const struct ivm_rec_pos *r = idx->recs;
	uint64_t end = idx->end_pos, p;

	if (idx->nrecs != 4 || r[0].type != IVM_REC_REGS ||
	    r[1].type != IVM_REC_MEM || r[2].type != IVM_REC_MEM ||
	    r[3].type != IVM_REC_END)
		return -1;
	out->len = 0;
	switch (m->kind) {
	case M_HDR:
		vmt_buf_set(out, s->p, s->len);
		patch_field(out->p + m->off, m->size, m->op, m->val);
		ivm_fix_crc(out->p, end);
		*at = m->off;
		*win = IVM_HDR_LEN - m->off;
		return 0;
	case M_REC:
		vmt_buf_set(out, s->p, s->len);
		p = r[m->rec].pos + m->off;
		patch_field(out->p + p, m->size, m->op, m->val);
		ivm_fix_crc(out->p, end);
		*at = p;
		*win = IVM_RECHDR_LEN - m->off;
		return 0;
	case M_ENDPAY:
		vmt_buf_set(out, s->p, s->len);
		p = end + IVM_RECHDR_LEN + m->off;
		patch_field(out->p + p, m->size, m->op, m->val);
		*at = p;
		*win = IVM_END_LEN - m->off;
		return 0;
	case M_FLIP: {
		uint64_t start = r[m->rec].pos + IVM_RECHDR_LEN;

		p = m->off >= 0 ? start + m->off : start + r[m->rec].length - 1;
		vmt_buf_set(out, s->p, s->len);
		out->p[p] ^= (uint8_t)(1u << m->val);
		/* Detectable only by the CRC at the END payload. */
		*at = end + IVM_RECHDR_LEN;
		*win = IVM_END_LEN;
		return 0;
	}
	case M_END_EARLY:
		vmt_buf_append(out, s->p, r[1].pos);
		vmt_buf_append(out, s->p + end, s->len - end);
		ivm_fix_crc(out->p, r[1].pos);
		*at = r[1].pos;
		*win = IVM_RECHDR_LEN + IVM_END_LEN;
		return 0;
	case M_DROP_REGS:
		vmt_buf_append(out, s->p, IVM_HDR_LEN);
		vmt_buf_append(out, s->p + r[1].pos, s->len - r[1].pos);
		ivm_fix_crc(out->p, end - (r[1].pos - r[0].pos));
		*at = IVM_HDR_LEN;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_DUP_REGS:
		vmt_buf_append(out, s->p, r[1].pos);
		vmt_buf_append(out, s->p + r[0].pos, r[1].pos - r[0].pos);
		vmt_buf_append(out, s->p + r[1].pos, s->len - r[1].pos);
		ivm_fix_crc(out->p, end + (r[1].pos - r[0].pos));
		*at = r[1].pos;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_DUP_MEM:
		vmt_buf_append(out, s->p, r[2].pos);
		vmt_buf_append(out, s->p + r[1].pos, r[2].pos - r[1].pos);
		vmt_buf_append(out, s->p + r[2].pos, s->len - r[2].pos);
		ivm_fix_crc(out->p, end + (r[2].pos - r[1].pos));
		*at = r[2].pos;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_TRAIL_BYTE:
		vmt_buf_set(out, s->p, s->len);
		vmt_buf_append(out, "\0", 1);
		*at = s->len;
		*win = 1;
		return 0;
	case M_TRAIL_STREAM:
		vmt_buf_set(out, s->p, s->len);
		vmt_buf_append(out, s->p, s->len);
		*at = s->len;
		*win = 1;
		return 0;
	}
	return -1;
}

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

static int selfdev_setup(struct selfdev *c, const char *bdf)
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

static void selfdev_init(struct selfdev *c)
{
	memset(c, 0, sizeof(*c));
	ivsh_init(&c->d);
	c->rfd = -1;
	vmt_kmsg_open(&c->kmsg);
	c->seed = vmt_seed();
	vmt_rng_seed(&c->rng, c->seed);
}

static void selfdev_free(struct selfdev *c)
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
		SKIP(return, "%s not set", env);			\
	ASSERT_OK(selfdev_setup((c), __b));				\
	TH_LOG("%s: stream %zu bytes, seed 0x%llx", (c)->d.dev.bdf,	\
	       (c)->s.len, (unsigned long long)(c)->seed);		\
} while (0)

/* After a rejected stream: STOP fails into ERROR and reset recovers. */
static void expect_failed_resume(struct __test_metadata *_metadata,
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
static void expect_recovery(struct __test_metadata *_metadata,
			    struct selfdev *c)
{
	ivsh_fill(&c->d, c->seed ^ 1);
	ASSERT_OK(ivsh_restore(&c->d, c->s.p, c->s.len, 32768, NULL));
	ASSERT_PATTERN(&c->d, c->seed);
	ASSERT_REGS(&c->d, c->mask, c->status);
}

FIXTURE(bad) {
	struct selfdev c;
	uint64_t at, win;
};

FIXTURE_VARIANT(bad) {
	const struct mutation *mut;
};

#define MUT_INDEX(n, k, r, o, s, op, v) MUT_IDX_##n,
enum { MUTATIONS(MUT_INDEX) MUT_COUNT };

#define MUT_VARIANT(n, k, r, o, s, op, v)				\
	FIXTURE_VARIANT_ADD(bad, n) {					\
		.mut = &mutations[MUT_IDX_##n],				\
	};

MUTATIONS(MUT_VARIANT)

FIXTURE_SETUP(bad)
{
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
	ASSERT_EQ(0, mutate(&self->c.s, &self->c.idx, variant->mut, &self->c.m,
			    &self->at, &self->win)) {
		TH_LOG("%s: own stream does not have 2 MEM records (BAR2 %llu)",
		       self->c.d.dev.bdf,
		       (unsigned long long)self->c.d.mem_size);
	}
	TH_LOG("mutation %s: first bad byte %llu, window %llu",
	       variant->mut->name, (unsigned long long)self->at,
	       (unsigned long long)self->win);
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->c.rfd));
	ASSERT_LE(0, self->c.rfd);
}

FIXTURE_TEARDOWN(bad)
{
	SELFDEV_TEARDOWN(&self->c);
}

/* Good prefix in one write, then the window in one write: refused. */
TEST_F_TIMEOUT(bad, rejected_at_boundary, 120)
{
	const uint8_t *m = self->c.m.p;
	size_t acc = 0;
	int r;

	r = mig_write_all(self->c.rfd, m, self->at, VMT_MiB, NULL, &acc);
	ASSERT_EQ(0, r) {
		TH_LOG("good prefix refused at %zu: %s", acc, vmt_errstr());
	}
	r = mig_write_all(self->c.rfd, m + self->at, self->win, self->win, NULL,
			  &acc);
	ASSERT_EQ(-EINVAL, r) {
		TH_LOG("write of bytes %llu..%llu: %d (%s)",
		       (unsigned long long)self->at,
		       (unsigned long long)(self->at + self->win), r,
		       r ? vmt_errstr() : "accepted");
	}
	ASSERT_GT(self->win, acc);
	/* Later writes keep failing. */
	ASSERT_EQ(-EINVAL, vmt_write1(self->c.rfd));
	if (self->at + self->win < self->c.m.len) {
		r = mig_write_all(self->c.rfd, m + self->at + self->win,
				  self->c.m.len - self->at - self->win,
				  VMT_MiB, NULL, &acc);
		ASSERT_EQ(-EINVAL, r);
		ASSERT_EQ(0, acc);
	}
	expect_failed_resume(_metadata, &self->c);
	expect_recovery(_metadata, &self->c);
}

/* One byte per write(): the first refused byte lies inside the window. */
TEST_F_TIMEOUT(bad, rejected_bytewise, 120)
{
	uint64_t start = self->at > 64 ? self->at - 64 : 0, i;
	const uint8_t *m = self->c.m.p;
	int err = 0;

	ASSERT_OK(mig_write_all(self->c.rfd, m, start, VMT_MiB, NULL, NULL));
	for (i = start; i < self->at + self->win; i++) {
		if (write(self->c.rfd, m + i, 1) != 1) {
			err = errno;
			break;
		}
	}
	ASSERT_LT(i, self->at + self->win) {
		TH_LOG("bad stream accepted byte by byte up to %llu",
		       (unsigned long long)i);
	}
	ASSERT_LE(self->at, i) {
		TH_LOG("good byte %llu refused (%s)", (unsigned long long)i,
		       strerror(err));
	}
	ASSERT_EQ(EINVAL, err);
	expect_failed_resume(_metadata, &self->c);
}

/* The whole bad stream in one write(). */
TEST_F_TIMEOUT(bad, rejected_in_one_write, 120)
{
	size_t acc = 0;
	int r;

	r = mig_write_all(self->c.rfd, self->c.m.p, self->c.m.len,
			  self->c.m.len, NULL, &acc);
	ASSERT_EQ(-EINVAL, r);
	/* Short writes may accept the good prefix, never the bad bytes. */
	ASSERT_GT(self->at + self->win, acc);
	expect_failed_resume(_metadata, &self->c);
}

/*
 * Truncated streams: every prefix is accepted, RESUMING -> STOP fails into
 * ERROR, reset recovers.
 */

enum cut_base { CUT_ABS, CUT_REC, CUT_LEN };

FIXTURE(trunc) {
	struct selfdev c;
	uint64_t cut;
};

FIXTURE_VARIANT(trunc) {
	int base;	/* CUT_ABS: delta is absolute; CUT_REC: record rec + delta */
	int rec;
	int64_t delta;
};

FIXTURE_VARIANT_ADD(trunc, empty) { .base = CUT_ABS, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, mid_header) { .base = CUT_ABS, .delta = 20 };
FIXTURE_VARIANT_ADD(trunc, header_only) { .base = CUT_ABS, .delta = 40 };
FIXTURE_VARIANT_ADD(trunc, mid_regs_header) { .base = CUT_REC, .rec = 0, .delta = 12 };
FIXTURE_VARIANT_ADD(trunc, regs_header_only) { .base = CUT_REC, .rec = 0, .delta = 24 };
FIXTURE_VARIANT_ADD(trunc, mid_regs_payload) { .base = CUT_REC, .rec = 0, .delta = 28 };
FIXTURE_VARIANT_ADD(trunc, after_regs) { .base = CUT_REC, .rec = 1, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, mid_mem_header) { .base = CUT_REC, .rec = 1, .delta = 12 };
FIXTURE_VARIANT_ADD(trunc, mem_header_only) { .base = CUT_REC, .rec = 1, .delta = 24 };
FIXTURE_VARIANT_ADD(trunc, mid_mem_payload) { .base = CUT_REC, .rec = 1, .delta = 24 + 500001 };
FIXTURE_VARIANT_ADD(trunc, after_first_mem) { .base = CUT_REC, .rec = 2, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, second_mem_one_byte) { .base = CUT_REC, .rec = 2, .delta = 25 };
FIXTURE_VARIANT_ADD(trunc, before_end) { .base = CUT_REC, .rec = 3, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, mid_end_header) { .base = CUT_REC, .rec = 3, .delta = 12 };
FIXTURE_VARIANT_ADD(trunc, end_header_only) { .base = CUT_REC, .rec = 3, .delta = 24 };
FIXTURE_VARIANT_ADD(trunc, mid_end_payload) { .base = CUT_REC, .rec = 3, .delta = 28 };
FIXTURE_VARIANT_ADD(trunc, one_byte_short) { .base = CUT_LEN, .delta = -1 };

FIXTURE_SETUP(trunc)
{
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
	ASSERT_EQ(4, self->c.idx.nrecs);
	switch (variant->base) {
	case CUT_ABS:
		self->cut = variant->delta;
		break;
	case CUT_REC:
		self->cut = self->c.idx.recs[variant->rec].pos + variant->delta;
		break;
	default:
		self->cut = self->c.s.len + variant->delta;
	}
	ASSERT_GT(self->c.s.len, self->cut);
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->c.rfd));
}

FIXTURE_TEARDOWN(trunc)
{
	SELFDEV_TEARDOWN(&self->c);
}

TEST_F_TIMEOUT(trunc, stop_fails_then_reset_recovers, 120)
{
	TH_LOG("stream cut after %llu of %zu bytes",
	       (unsigned long long)self->cut, self->c.s.len);
	ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, self->cut,
				VMT_CHUNK_RANDOM, &self->c.rng, NULL));
	expect_failed_resume(_metadata, &self->c);
	expect_recovery(_metadata, &self->c);
}

/*
 * Loops over every mutation and every record boundary on one device: the
 * random-chunk counterpart of the per-variant tests above.
 */
FIXTURE(badloop) {
	struct selfdev c;
};

FIXTURE_SETUP(badloop)
{
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
}

FIXTURE_TEARDOWN(badloop)
{
	SELFDEV_TEARDOWN(&self->c);
}

TEST_F_TIMEOUT(badloop, every_mutation_random_chunks, 600)
{
	int fd = self->c.d.dev.fd;
	unsigned int i, fails = 0;

	for (i = 0; i < ARRAY_SIZE(mutations); i++) {
		const struct mutation *mu = &mutations[i];
		uint64_t at = 0, win = 0, pos = 0, wend = 0;
		const uint8_t *m;
		int err = 0, r;

		ASSERT_EQ(0, mutate(&self->c.s, &self->c.idx, mu, &self->c.m,
				    &at, &win));
		m = self->c.m.p;
		ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &self->c.rfd));
		while (pos < self->c.m.len) {
			size_t want = vmt_chunk(VMT_CHUNK_RANDOM, &self->c.rng,
						self->c.m.len - pos);
			ssize_t n = write(self->c.rfd, m + pos, want);

			if (n <= 0) {
				err = n < 0 ? errno : EPROTO;
				wend = pos + want;
				break;
			}
			pos += n;
		}
		/* Refused, with EINVAL, by a write that contained bad bytes. */
		if (!err || err != EINVAL || wend <= at || pos >= at + win) {
			fails++;
			TH_LOG("%s: err %d, accepted %llu, failing write ends %llu, bad bytes %llu..%llu",
			       mu->name, err, (unsigned long long)pos,
			       (unsigned long long)wend,
			       (unsigned long long)at,
			       (unsigned long long)(at + win));
		}
		r = mig_set_state_nofd(fd, STATE(STOP));
		if (r == 0) {
			fails++;
			TH_LOG("%s: RESUMING -> STOP succeeded", mu->name);
		}
		ASSERT_OK(vdev_reset(&self->c.d.dev));
		vmt_close(&self->c.rfd);
	}
	ASSERT_EQ(0, fails);
	expect_recovery(_metadata, &self->c);
}

TEST_F_TIMEOUT(badloop, truncated_at_every_record_boundary, 600)
{
	static const int deltas[] = { -1, 0, 1, 23, 24, 25 };
	int fd = self->c.d.dev.fd;
	unsigned int i, j, fails = 0;

	for (i = 0; i < self->c.idx.nrecs; i++) {
		for (j = 0; j < ARRAY_SIZE(deltas); j++) {
			int64_t cut = (int64_t)self->c.idx.recs[i].pos + deltas[j];
			int r;

			if (cut < 0 || cut >= (int64_t)self->c.s.len)
				continue;
			ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &self->c.rfd));
			ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, cut,
						VMT_CHUNK_RANDOM, &self->c.rng,
						NULL));
			r = mig_set_state_nofd(fd, STATE(STOP));
			if (r == 0) {
				fails++;
				TH_LOG("stream cut at %lld accepted", (long long)cut);
			} else {
				ASSERT_STATE(fd, STATE(ERROR));
			}
			ASSERT_OK(vdev_reset(&self->c.d.dev));
			ASSERT_STATE(fd, STATE(RUNNING));
			vmt_close(&self->c.rfd);
		}
	}
	ASSERT_EQ(0, fails);
	expect_recovery(_metadata, &self->c);
}

TEST_F_TIMEOUT(badloop, good_stream_after_many_failures, 300)
{
	int fd = self->c.d.dev.fd;
	int i;

	/* Failed sessions leave no residue that breaks a later good one. */
	for (i = 0; i < 5; i++) {
		ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &self->c.rfd));
		ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, 100 + i * 1000,
					7, NULL, NULL));
		ASSERT_GT(0, mig_set_state_nofd(fd, STATE(STOP)));
		ASSERT_OK(vdev_reset(&self->c.d.dev));
		vmt_close(&self->c.rfd);
	}
	expect_recovery(_metadata, &self->c);
}

/* ------------------------------------------------------------------------
 * BAR2 size mismatch: streams of A (1 MiB) and C (2 MiB) cross over.
 */

FIXTURE(mismatch) {
	struct selfdev a, c;
};

FIXTURE_SETUP(mismatch)
{
	SELFDEV_SETUP(&self->a, "IVSHMEM_BDF_A");
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
	ASSERT_NE(self->a.d.mem_size, self->c.d.mem_size);
}

FIXTURE_TEARDOWN(mismatch)
{
	selfdev_free(&self->c);
	vmt_kmsg_close(&self->c.kmsg);
	SELFDEV_TEARDOWN(&self->a);
}

static void cross_restore(struct __test_metadata *_metadata,
			  struct selfdev *src, struct selfdev *dst, size_t chunk)
{
	size_t acc = 0;
	int r;

	ASSERT_OK(mig_set_state(dst->d.dev.fd, STATE(RESUMING), &dst->rfd));
	r = mig_write_all(dst->rfd, src->s.p, src->s.len, chunk, NULL, &acc);
	ASSERT_EQ(-EINVAL, r);
	ASSERT_GT(IVM_HDR_LEN, acc) {
		TH_LOG("header of a %llu byte BAR accepted by a %llu byte BAR",
		       (unsigned long long)src->d.mem_size,
		       (unsigned long long)dst->d.mem_size);
	}
	expect_failed_resume(_metadata, dst);
	/* Nothing of the foreign stream reached the device. */
	ASSERT_PATTERN(&dst->d, dst->seed);
	expect_recovery(_metadata, dst);
}

TEST_F_TIMEOUT(mismatch, small_stream_into_large_device, 120)
{
	cross_restore(_metadata, &self->a, &self->c, 32768);
}

TEST_F_TIMEOUT(mismatch, large_stream_into_small_device, 120)
{
	cross_restore(_metadata, &self->c, &self->a, 32768);
}

TEST_F_TIMEOUT(mismatch, header_bytewise, 120)
{
	cross_restore(_metadata, &self->c, &self->a, 1);
}

/* ------------------------------------------------------------------------
 * ERROR state (reached by a truncated stream) and recovery from it.
 */

FIXTURE(err) {
	struct selfdev c;
};

FIXTURE_SETUP(err)
{
	int fd;

	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_A");
	fd = self->c.d.dev.fd;
	ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &self->c.rfd));
	ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, self->c.s.len / 2,
				VMT_MiB, NULL, NULL));
	ASSERT_GT(0, mig_set_state_nofd(fd, STATE(STOP)));
	ASSERT_STATE(fd, STATE(ERROR));
	vmt_sigbus_install();
}

FIXTURE_TEARDOWN(err)
{
	SELFDEV_TEARDOWN(&self->c);
}

TEST_F(err, every_set_fails)
{
	uint32_t st;
	int fd = self->c.d.dev.fd;

	/*
	 * Only a reset leaves ERROR; no request may WARN either (the teardown
	 * checks the kernel log).  SET ERROR itself may pass as a no-op, as it
	 * does in drivers that loop "while (cur != new)".
	 */
	for (st = 0; st < MIG_NUM_STATES; st++) {
		int dfd = -2, r = mig_set_state(fd, st, &dfd);

		if (st != STATE(ERROR)) {
			ASSERT_GT(0, r) {
				TH_LOG("SET %s accepted in ERROR", mig_state_name(st));
			}
		}
		ASSERT_EQ(-1, dfd);
		ASSERT_STATE(fd, STATE(ERROR));
	}
	ASSERT_GT(0, mig_set_state(fd, 0x1234, NULL));
	ASSERT_STATE(fd, STATE(ERROR));
}

TEST_F(err, data_fd_dead)
{
	ASSERT_GT(0, vmt_write1(self->c.rfd));
	ASSERT_GT(0, mig_write_all(self->c.rfd, self->c.s.p + self->c.s.len / 2,
				   self->c.s.len - self->c.s.len / 2, VMT_MiB,
				   NULL, NULL));
	ASSERT_STATE(self->c.d.dev.fd, STATE(ERROR));
}

TEST_F(err, device_frozen)
{
	uint32_t v;
	uint16_t vendor;

	ASSERT_EQ(-EFAULT, vmt_probe_read32(self->c.d.mem + 64, &v));
	ASSERT_EQ(-EIO, (int)vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR, 0,
					      &v, 4));
	ASSERT_EQ(-EIO, ivsh_rd(&self->c.d, IVSHMEM_INTRMASK, &v));
	ASSERT_OK(vdev_cfg_rd16(&self->c.d.dev, PCI_VENDOR_ID, &vendor));
	ASSERT_EQ(IVSHMEM_VENDOR, vendor);
}

TEST_F(err, reset_recovers)
{
	int fd = self->c.d.dev.fd;
	uint32_t v;

	ASSERT_OK(vdev_reset(&self->c.d.dev));
	ASSERT_STATE(fd, STATE(RUNNING));
	ASSERT_EQ(-ENODEV, vmt_write1(self->c.rfd));
	/* The old mapping faults in again. */
	ASSERT_EQ(0, vmt_probe_read32(self->c.d.mem + 64, &v));
	ASSERT_OK(ivsh_rd(&self->c.d, IVSHMEM_INTRMASK, &v));
	/* Reset clears the registers. */
	ASSERT_EQ(0, v);
	expect_recovery(_metadata, &self->c);
}

TEST_F(err, close_recovers)
{
	uint32_t v;

	ivsh_unmap(&self->c.d);
	ASSERT_OK(vdev_close_fd(&self->c.d.dev));
	ASSERT_EQ(-ENODEV, vmt_write1(self->c.rfd));
	ASSERT_OK(vdev_reopen_fd(&self->c.d.dev));
	ASSERT_STATE(self->c.d.dev.fd, STATE(RUNNING));
	ASSERT_OK(ivsh_map(&self->c.d));
	ASSERT_EQ(0, vmt_probe_read32(self->c.d.mem + 64, &v));
	expect_recovery(_metadata, &self->c);
}

/* ------------------------------------------------------------------------
 * User access in each state: frozen in STOP, STOP_COPY and RESUMING
 * (region I/O -> EIO, mmap access -> SIGBUS, config space fine), live in
 * RUNNING and RUNNING_P2P; nothing the user tries while frozen reaches
 * the device.
 */

#define PROBE_OFF	(3 * 4096 + 8)
#define PROBE_VAL	0xfeedf00dU

FIXTURE(access) {
	struct selfdev c;
	int sfd;
};

FIXTURE_VARIANT(access) {
	uint32_t state;
	bool frozen;
};

FIXTURE_VARIANT_ADD(access, stop) { .state = STATE(STOP), .frozen = true };
FIXTURE_VARIANT_ADD(access, stop_copy) { .state = STATE(STOP_COPY), .frozen = true };
FIXTURE_VARIANT_ADD(access, resuming) { .state = STATE(RESUMING), .frozen = true };
FIXTURE_VARIANT_ADD(access, running_p2p) { .state = STATE(RUNNING_P2P), .frozen = false };
FIXTURE_VARIANT_ADD(access, running) { .state = STATE(RUNNING), .frozen = false };

FIXTURE_SETUP(access)
{
	self->sfd = -1;
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_A");
	vmt_sigbus_install();
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, variant->state, &self->sfd));
	ASSERT_STATE(self->c.d.dev.fd, variant->state);
}

FIXTURE_TEARDOWN(access)
{
	vmt_close(&self->sfd);
	SELFDEV_TEARDOWN(&self->c);
}

static uint32_t pattern32(uint64_t seed, uint64_t off)
{
	return (uint32_t)(vmt_pattern_word(off & ~7ULL, seed) >> (8 * (off & 7)));
}

/* Back to RUNNING by the regular path for the variant's state. */
static void access_leave(struct __test_metadata *_metadata,
			 FIXTURE_DATA(access) *self, uint32_t state)
{
	int fd = self->c.d.dev.fd;

	if (state == STATE(RESUMING))
		ASSERT_OK(mig_write_all(self->sfd, self->c.s.p, self->c.s.len,
					VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	vmt_close(&self->sfd);
	ASSERT_STATE(fd, STATE(RUNNING));
}

TEST_F(access, mmap_read)
{
	volatile uint8_t *p = self->c.d.mem + PROBE_OFF;
	uint32_t v = 0;
	int r = vmt_probe_read32(p, &v);

	if (variant->frozen) {
		ASSERT_EQ(-EFAULT, r) {
			TH_LOG("BAR2 mapping readable in %s (0x%08x)",
			       mig_state_name(variant->state), v);
		}
	} else {
		ASSERT_EQ(0, r);
		ASSERT_EQ(pattern32(self->c.seed, PROBE_OFF), v);
	}
	access_leave(_metadata, self, variant->state);
	ASSERT_EQ(0, vmt_probe_read32(p, &v));
	ASSERT_EQ(pattern32(self->c.seed, PROBE_OFF), v);
}

TEST_F(access, mmap_write)
{
	volatile uint8_t *p = self->c.d.mem + PROBE_OFF;
	uint32_t v = 0;
	int r = vmt_probe_write32(p, PROBE_VAL);

	if (variant->frozen) {
		ASSERT_EQ(-EFAULT, r) {
			TH_LOG("BAR2 mapping writable in %s",
			       mig_state_name(variant->state));
		}
	} else {
		ASSERT_EQ(0, r);
	}
	access_leave(_metadata, self, variant->state);
	ASSERT_EQ(0, vmt_probe_read32(p, &v));
	ASSERT_EQ(variant->frozen ? pattern32(self->c.seed, PROBE_OFF) : PROBE_VAL, v);
	/* Writable again. */
	ASSERT_EQ(0, vmt_probe_write32(p, ~PROBE_VAL));
	ASSERT_EQ(0, vmt_probe_read32(p, &v));
	ASSERT_EQ(~PROBE_VAL, v);
}

TEST_F(access, region_read)
{
	uint32_t v = 0;
	ssize_t n = vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR, PROBE_OFF,
				     &v, 4);

	if (variant->frozen) {
		ASSERT_EQ(-EIO, n);
	} else {
		ASSERT_EQ(4, n);
		ASSERT_EQ(pattern32(self->c.seed, PROBE_OFF), v);
	}
	access_leave(_metadata, self, variant->state);
	ASSERT_EQ(4, vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR, PROBE_OFF,
				      &v, 4));
	ASSERT_EQ(pattern32(self->c.seed, PROBE_OFF), v);
}

TEST_F(access, region_write)
{
	uint32_t v = PROBE_VAL;
	ssize_t n = vdev_region_write(&self->c.d.dev, IVSHMEM_MEM_BAR, PROBE_OFF,
				      &v, 4);
	uint8_t big[8192];

	if (variant->frozen) {
		ASSERT_EQ(-EIO, n);
	} else {
		ASSERT_EQ(4, n);
	}
	/* A larger write crossing pages is refused as a whole too. */
	memset(big, 0x77, sizeof(big));
	n = vdev_region_write(&self->c.d.dev, IVSHMEM_MEM_BAR, 65536 - 100, big,
			      sizeof(big));
	if (variant->frozen) {
		ASSERT_EQ(-EIO, n);
	}
	access_leave(_metadata, self, variant->state);
	v = 0;
	ASSERT_EQ(4, vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR, PROBE_OFF,
				      &v, 4));
	ASSERT_EQ(variant->frozen ? pattern32(self->c.seed, PROBE_OFF) : PROBE_VAL, v);
	if (variant->frozen) {
		*(volatile uint64_t *)(self->c.d.mem + PROBE_OFF) =
			vmt_pattern_word(PROBE_OFF, self->c.seed);
		ASSERT_PATTERN(&self->c.d, self->c.seed);
	}
}

TEST_F(access, registers)
{
	uint32_t v = 0;
	int r;

	r = ivsh_rd(&self->c.d, IVSHMEM_INTRMASK, &v);
	if (variant->frozen) {
		ASSERT_EQ(-EIO, r);
		ASSERT_EQ(-EIO, ivsh_wr(&self->c.d, IVSHMEM_INTRMASK, 0));
		ASSERT_EQ(-EIO, ivsh_rd(&self->c.d, IVSHMEM_INTRSTATUS, &v));
		ASSERT_EQ(-EIO, ivsh_wr(&self->c.d, IVSHMEM_INTRSTATUS, 0));
	} else {
		ASSERT_EQ(0, r);
		ASSERT_EQ(self->c.mask, v);
		ASSERT_OK(ivsh_wr(&self->c.d, IVSHMEM_INTRMASK, 0x12340001));
		self->c.mask = 0x12340001;
	}
	access_leave(_metadata, self, variant->state);
	/* INTRSTATUS survived: a frozen read would have cleared it. */
	ASSERT_REGS(&self->c.d, self->c.mask, self->c.status);
}

TEST_F(access, doorbell)
{
	int r = ivsh_wr(&self->c.d, IVSHMEM_DOORBELL, 0);

	ASSERT_EQ(variant->frozen ? -EIO : 0, r);
	access_leave(_metadata, self, variant->state);
	ASSERT_OK(ivsh_wr(&self->c.d, IVSHMEM_DOORBELL, 0));
}

TEST_F(access, config_space)
{
	uint16_t vendor = 0, device = 0, cmd = 0;
	uint32_t bar2 = 0;

	/* Config space stays usable in every state (QEMU restores it in RESUMING). */
	ASSERT_OK(vdev_cfg_rd16(&self->c.d.dev, PCI_VENDOR_ID, &vendor));
	ASSERT_OK(vdev_cfg_rd16(&self->c.d.dev, PCI_DEVICE_ID, &device));
	ASSERT_EQ(IVSHMEM_VENDOR, vendor);
	ASSERT_EQ(IVSHMEM_DEVICE, device);
	ASSERT_OK(vdev_cfg_rd16(&self->c.d.dev, PCI_COMMAND, &cmd));
	ASSERT_TRUE(cmd & PCI_COMMAND_MEMORY);
	ASSERT_OK(vdev_cfg_wr16(&self->c.d.dev, PCI_COMMAND, cmd));
	ASSERT_OK(vdev_rd32(&self->c.d.dev, VFIO_PCI_CONFIG_REGION_INDEX,
			    PCI_BASE_ADDRESS_2, &bar2));
	ASSERT_STATE(self->c.d.dev.fd, variant->state);
	access_leave(_metadata, self, variant->state);
	ASSERT_PATTERN(&self->c.d, self->c.seed);
}

TEST_F(access, mmap_created_in_state)
{
	volatile uint8_t *p;
	size_t len = 0;
	uint32_t v = 0;

	p = vdev_mmap(&self->c.d.dev, IVSHMEM_MEM_BAR, &len);
	if (p && variant->frozen) {
		ASSERT_EQ(-EFAULT, vmt_probe_read32(p + PROBE_OFF, &v));
	} else if (p) {
		ASSERT_EQ(0, vmt_probe_read32(p + PROBE_OFF, &v));
		ASSERT_EQ(pattern32(self->c.seed, PROBE_OFF), v);
	} else {
		ASSERT_TRUE(variant->frozen) {
			TH_LOG("mmap refused in %s: %s",
			       mig_state_name(variant->state), vmt_errstr());
		}
	}
	access_leave(_metadata, self, variant->state);
	if (!p)
		p = vdev_mmap(&self->c.d.dev, IVSHMEM_MEM_BAR, &len);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vmt_probe_read32(p + PROBE_OFF, &v));
	ASSERT_EQ(pattern32(self->c.seed, PROBE_OFF), v);
	munmap((void *)p, len);
}

TEST_F(access, stream_reflects_only_allowed_writes)
{
	struct mem_expect me = { .seed = self->c.seed };
	struct ivm_checker chk;
	uint32_t v = ~pattern32(self->c.seed, PROBE_OFF + 4096);
	int fd = self->c.d.dev.fd, sfd = -1;

	/* Try everything (every byte differs); frozen, none of it may land. */
	vmt_probe_write32(self->c.d.mem + PROBE_OFF,
			  ~pattern32(self->c.seed, PROBE_OFF));
	vdev_region_write(&self->c.d.dev, IVSHMEM_MEM_BAR, PROBE_OFF + 4096, &v, 4);
	ivsh_wr(&self->c.d, IVSHMEM_INTRMASK, 0x0f0f0001);

	ivm_check_init(&chk);
	switch (variant->state) {
	case STATE(STOP_COPY):
		sfd = self->sfd;
		self->sfd = -1;
		break;
	case STATE(RESUMING):
		ASSERT_OK(mig_write_all(self->sfd, self->c.s.p, self->c.s.len,
					VMT_MiB, NULL, NULL));
		ASSERT_OK(mig_set_state_nofd(fd, STATE(STOP)));
		/* fall through */
	default:
		ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	}
	ASSERT_LE(0, sfd);
	ASSERT_OK(read_and_check(sfd, &chk, &me, VMT_MiB, NULL, NULL));
	close(sfd);
	ASSERT_STREAM_OK(&chk);
	if (variant->frozen) {
		ASSERT_EQ(0, me.bad) {
			TH_LOG("%llu bytes changed while frozen, first at 0x%llx",
			       (unsigned long long)me.bad,
			       (unsigned long long)me.first_bad);
		}
		ASSERT_EQ(self->c.mask, chk.intrmask);
	} else {
		/* Exactly the two probes (4 bytes each) differ. */
		ASSERT_EQ(8, me.bad);
		ASSERT_EQ(PROBE_OFF, me.first_bad);
		ASSERT_EQ(0x0f0f0001, chk.intrmask);
	}
	ASSERT_EQ(self->c.status, chk.intrstatus);
	ivm_check_free(&chk);
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
}

TEST_F(access, reset_restores_access)
{
	uint32_t v = 0;

	ASSERT_OK(vdev_reset(&self->c.d.dev));
	ASSERT_STATE(self->c.d.dev.fd, STATE(RUNNING));
	if (self->sfd >= 0) {
		ASSERT_EQ(-ENODEV, variant->state == STATE(RESUMING) ?
			  vmt_write1(self->sfd) : vmt_read1(self->sfd));
	}
	ASSERT_EQ(0, vmt_probe_read32(self->c.d.mem + PROBE_OFF, &v));
	ASSERT_EQ(4, vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR, 0, &v, 4));
	/* Reset keeps BAR2 (unless a RESUMING session had begun to write it). */
	ASSERT_PATTERN(&self->c.d, self->c.seed);
	ASSERT_REGS(&self->c.d, 0, 0);
}

/* ------------------------------------------------------------------------
 * ivshmem data fd specifics: exact flags and errnos, read sizes.
 */

FIXTURE(ivfd) {
	struct selfdev c;
	int fd;
};

FIXTURE_SETUP(ivfd)
{
	self->fd = -1;
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_A");
}

FIXTURE_TEARDOWN(ivfd)
{
	vmt_close(&self->fd);
	SELFDEV_TEARDOWN(&self->c);
}

TEST_F(ivfd, migration_flags)
{
	uint64_t f = 0;

	ASSERT_OK(mig_get_flags(self->c.d.dev.fd, &f));
	ASSERT_EQ(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P, f);
}

TEST_F(ivfd, enodev_after_session_end)
{
	char b[64];

	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(STOP_COPY), &self->fd));
	ASSERT_EQ(64, read(self->fd, b, sizeof(b)));
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP)));
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd));
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(RUNNING)));
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd));
}

TEST_F(ivfd, enodev_after_eof_and_stop)
{
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(STOP_COPY), &self->fd));
	ASSERT_EQ((ssize_t)self->c.s.len,
		  mig_read_all(self->fd, NULL, VMT_MiB, NULL, 0, NULL, NULL));
	ASSERT_EQ(0, vmt_read1(self->fd));
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP)));
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd));
}

TEST_F(ivfd, enodev_after_reset)
{
	int rfd = -1;

	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(STOP_COPY), &self->fd));
	ASSERT_OK(vdev_reset(&self->c.d.dev));
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd));
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &rfd));
	ASSERT_OK(mig_write_all(rfd, self->c.s.p, 100, 100, NULL, NULL));
	ASSERT_OK(vdev_reset(&self->c.d.dev));
	ASSERT_EQ(-ENODEV, vmt_write1(rfd));
	close(rfd);
	ASSERT_STATE(self->c.d.dev.fd, STATE(RUNNING));
}

TEST_F(ivfd, enodev_after_close)
{
	int rfd = -1;

	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(STOP_COPY), &self->fd));
	ivsh_unmap(&self->c.d);
	ASSERT_OK(vdev_close_fd(&self->c.d.dev));
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd));
	ASSERT_OK(vdev_reopen_fd(&self->c.d.dev));
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd));
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &rfd));
	ASSERT_OK(vdev_close_fd(&self->c.d.dev));
	ASSERT_EQ(-ENODEV, vmt_write1(rfd));
	close(rfd);
	ASSERT_OK(vdev_reopen_fd(&self->c.d.dev));
	ASSERT_STATE(self->c.d.dev.fd, STATE(RUNNING));
}

TEST_F(ivfd, enodev_after_resume_complete)
{
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->fd));
	ASSERT_OK(mig_write_all(self->fd, self->c.s.p, self->c.s.len, VMT_MiB,
				NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP)));
	ASSERT_EQ(-ENODEV, vmt_write1(self->fd));
}

TEST_F(ivfd, trailing_write_then_stop_errors)
{
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->fd));
	ASSERT_OK(mig_write_all(self->fd, self->c.s.p, self->c.s.len, 4096,
				NULL, NULL));
	ASSERT_EQ(-EINVAL, vmt_write1(self->fd));
	/* A session that saw a failed write cannot complete. */
	ASSERT_GT(0, mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP)));
	ASSERT_STATE(self->c.d.dev.fd, STATE(ERROR));
	ASSERT_OK(vdev_reset(&self->c.d.dev));
	ASSERT_STATE(self->c.d.dev.fd, STATE(RUNNING));
}

TEST_F_TIMEOUT(ivfd, any_read_size_same_stream, 120)
{
	static const size_t sizes[] = { 1, 3, 4095, 4096, 4097, 65537,
					VMT_MiB + 3, 64 * VMT_MiB };
	uint32_t want = vmt_crc32c(0, self->c.s.p, self->c.s.len);
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint32_t crc = 0;
		size_t limit = sizes[i] == 1 ? 65536 : 0;
		ssize_t n, m = 0;

		ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(STOP_COPY),
					&self->fd));
		/* 1-byte reads for the first 64 KiB (all records start there). */
		n = mig_read_all(self->fd, NULL, sizes[i], NULL, limit, &crc, NULL);
		if (limit && n == (ssize_t)limit)
			m = mig_read_all(self->fd, NULL, 4096, NULL, 0, &crc, NULL);
		ASSERT_EQ((ssize_t)self->c.s.len, n + m) {
			TH_LOG("read size %zu", sizes[i]);
		}
		ASSERT_EQ(want, crc) {
			TH_LOG("read size %zu gave different bytes", sizes[i]);
		}
		vmt_close(&self->fd);
		ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(RUNNING)));
	}
}

/* ------------------------------------------------------------------------
 * DMA logging on ivshmem: honest, never anything dirty.
 */

FIXTURE(ivdma) {
	struct selfdev c;
	uint64_t *bitmap;
	bool can_report;
};

/* See vfio_mig_conformance.c: REPORT needs CONFIG_IOMMUFD_DRIVER. */
#define NEED_REPORT(s) do {						\
	if (!(s)->can_report)						\
		SKIP(return, "DMA_LOGGING_REPORT unavailable in this kernel " \
		     "(vfio core without iova_bitmap / CONFIG_IOMMUFD_DRIVER)"); \
} while (0)

FIXTURE_SETUP(ivdma)
{
	self->bitmap = NULL;
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_A");
	self->bitmap = calloc(512, sizeof(uint64_t));	/* 128 MiB at 4 KiB */
	ASSERT_NE(NULL, self->bitmap);
	/* Unstarted REPORT: EOPNOTSUPP from the core, or the driver's EINVAL. */
	self->can_report = dma_log_report(self->c.d.dev.fd, 0, VMT_MiB, 4096,
					  self->bitmap) != -EOPNOTSUPP;
}

FIXTURE_TEARDOWN(ivdma)
{
	if (vdev_is_open(&self->c.d.dev))
		dma_log_stop(self->c.d.dev.fd);
	free(self->bitmap);
	SELFDEV_TEARDOWN(&self->c);
}

TEST_F(ivdma, report_always_clean)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = 128 * VMT_MiB,
	};
	uint64_t pgsz = 4096;
	int fd = self->c.d.dev.fd;
	unsigned int i;

	NEED_REPORT(self);
	ASSERT_OK(dma_log_start(fd, &pgsz, &r, 1));
	ASSERT_EQ(4096, pgsz);
	/* The user changing BAR2 is no DMA by the device. */
	ivsh_fill(&self->c.d, self->c.seed + 1);
	ASSERT_OK(dma_log_report(fd, 0, 128 * VMT_MiB, 4096, self->bitmap));
	for (i = 0; i < 512; i++)
		ASSERT_EQ(0, self->bitmap[i]);
	ASSERT_OK(dma_log_stop(fd));
}

TEST_F(ivdma, double_start_ebusy)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = VMT_MiB,
	};
	uint64_t pgsz = 4096;
	int fd = self->c.d.dev.fd;

	ASSERT_OK(dma_log_start(fd, &pgsz, &r, 1));
	pgsz = 4096;
	ASSERT_ERRNO(EBUSY, dma_log_start(fd, &pgsz, &r, 1));
	ASSERT_OK(dma_log_stop(fd));
	/* STOP always succeeds, also when not started; START works again. */
	ASSERT_OK(dma_log_stop(fd));
	pgsz = 4096;
	ASSERT_OK(dma_log_start(fd, &pgsz, &r, 1));
	ASSERT_OK(dma_log_stop(fd));
}

TEST_F(ivdma, report_unstarted_einval)
{
	NEED_REPORT(self);
	ASSERT_ERRNO(EINVAL, dma_log_report(self->c.d.dev.fd, 0, VMT_MiB, 4096,
					    self->bitmap));
}

VMT_TEST_MAIN
