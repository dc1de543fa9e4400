// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci specific migration tests: exact stream contents, memory
 * and register round trips, the ERROR state, STOP enforcement and
 * ivshmem-specific errnos.  Bad streams are in ivshmem_mig_badstream.c.
 *
 * Devices come from the environment set up by the VM harness:
 *   IVSHMEM_BDF_A, IVSHMEM_BDF_B          equal BAR2 size (1 MiB)
 *   IVSHMEM_BDF_C                         different BAR2 size (2 MiB)
 *   IVSHMEM_BDF_BIG_A, IVSHMEM_BDF_BIG_B  equal BAR2 size (256 MiB)
 * -d / -D override A / B.  Tests whose device is missing are skipped.
 *
 * $VMT_SEED replays the random data of a failed run (the seed is logged).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <linux/pci_regs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include "lib/ivshmem_test.h"

/* ------------------------------------------------------------------------
 * Round trips between two devices of equal size.
 */

/* Everything a two-device test needs. */
struct pairctx {
	struct ivsh a, b;
	struct vmt_kmsg kmsg;
	struct vmt_rng rng;
	uint64_t seed, seed_b;
	uint32_t mask, status;
	struct ivm_checker chk;
};

static void pairctx_setup(struct __test_metadata *_metadata,
			  struct pairctx *self, const char *env_a,
			  const char *env_b)
{
	ivsh_init(&self->a);
	ivsh_init(&self->b);
	ivm_check_init(&self->chk);
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	self->seed_b = self->seed ^ 0xa5a5a5a5deadbeefULL;
	vmt_rng_seed(&self->rng, self->seed);
	OPEN_IVSH(&self->a, env_a);
	OPEN_IVSH(&self->b, env_b);
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

static void pairctx_teardown(struct __test_metadata *_metadata,
			     struct pairctx *self)
{
	ivm_check_free(&self->chk);
	ivsh_close(&self->a);
	ivsh_close(&self->b);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/*
 * vfio: how the device is open.  Through its group in a type1 container, or,
 * with VFIO_DEV_IOMMUFD=1 (ivshmem_mig_test_iommufd), through its cdev bound
 * to an iommufd: checked with the kernel, so that a silent fallback to the
 * group/container cannot pass.
 */
FIXTURE(vfio) {
	struct ivsh s;
};

FIXTURE_SETUP(vfio)
{
	ivsh_init(&self->s);
	OPEN_IVSH(&self->s, "IVSHMEM_BDF_A");
}

FIXTURE_TEARDOWN(vfio)
{
	ivsh_close(&self->s);
}

TEST_F(vfio, open_path)
{
	ASSERT_OPEN_PATH(&self->s.dev);
}

/*
 * pair: the essentials on both the small (1 MiB) and the big (256 MiB) pair;
 * pair1: everything else, on the small pair only (the big one costs seconds
 * per transfer under TCG and adds nothing there).
 */
FIXTURE(pair) {
	struct pairctx c;
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
	pairctx_setup(_metadata, &self->c, variant->env_a, variant->env_b);
}

FIXTURE_TEARDOWN(pair)
{
	pairctx_teardown(_metadata, &self->c);
}

FIXTURE(pair1) {
	struct pairctx c;
};

FIXTURE_SETUP(pair1)
{
	pairctx_setup(_metadata, &self->c, "IVSHMEM_BDF_A", "IVSHMEM_BDF_B");
}

FIXTURE_TEARDOWN(pair1)
{
	pairctx_teardown(_metadata, &self->c);
}

/* A (STOP_COPY) -> B (RESUMING) through one buffer, both back to RUNNING. */
static void pair_transfer(struct __test_metadata *_metadata,
			  struct pairctx *self, size_t rchunk, size_t wchunk,
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
	ASSERT_OK(ivsh_data_size(&self->a, &size));
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

/*
 * bigpair: the 256 MiB pair alone, for what needs calls that take long.
 */
FIXTURE(bigpair) {
	struct pairctx c;
};

FIXTURE_SETUP(bigpair)
{
	pairctx_setup(_metadata, &self->c, "IVSHMEM_BDF_BIG_A",
		      "IVSHMEM_BDF_BIG_B");
}

FIXTURE_TEARDOWN(bigpair)
{
	pairctx_teardown(_metadata, &self->c);
}

static void sig_noop(int sig)
{
	(void)sig;
}

struct sigstorm {
	pthread_t target;
	pthread_t tid;
	atomic_bool stop;
	atomic_ulong sent;
};

/* SIGUSR1 at the target thread every millisecond until told to stop. */
static void *sigstorm_run(void *arg)
{
	struct sigstorm *ss = arg;

	while (!atomic_load(&ss->stop)) {
		pthread_kill(ss->target, SIGUSR1);
		atomic_fetch_add(&ss->sent, 1);
		usleep(1000);
	}
	return NULL;
}

/*
 * Moves @total bytes between @fd and @buf in calls of everything still to
 * move while ordinary signals arrive; returns the number of calls, or -1.
 */
static long sig_move(int fd, uint8_t *buf, uint64_t total, bool wr,
		     struct sigstorm *ss)
{
	uint64_t done = 0;
	long calls = 0;

	ss->target = pthread_self();
	atomic_store(&ss->stop, false);
	if (pthread_create(&ss->tid, NULL, sigstorm_run, ss))
		return -1;
	while (done < total) {
		ssize_t n = wr ? write(fd, buf + done, total - done) :
				 read(fd, buf + done, total - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += n;
		calls++;
	}
	atomic_store(&ss->stop, true);
	pthread_join(ss->tid, NULL);
	return done == total ? calls : -1;
}

/*
 * An ordinary signal ends a long data-fd read() or write() early with the
 * count done so far (a signal must not be held off for a whole 256 MiB
 * transfer); the stream goes on from there and arrives exact.
 */
TEST_F(bigpair, signal_ends_long_read_and_write_early)
{
	struct pairctx *pc = &self->c;
	struct sigaction sa = { .sa_handler = sig_noop }, old;
	struct sigstorm ss = { 0 };
	int sfd = -1, rfd = -1;
	uint64_t size = 0;
	long reads, writes;
	uint8_t *buf;
	char c;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, &old));	/* no SA_RESTART */
	ASSERT_OK(mig_set_state(pc->a.dev.fd, STATE(STOP_COPY), &sfd));
	ASSERT_OK(ivsh_data_size(&pc->a, &size));
	buf = malloc(size);
	ASSERT_NE(NULL, buf);
	reads = sig_move(sfd, buf, size, false, &ss);
	ASSERT_EQ(0, read(sfd, &c, 1));
	ASSERT_OK(mig_set_state(pc->b.dev.fd, STATE(RESUMING), &rfd));
	writes = sig_move(rfd, buf, size, true, &ss);
	TH_LOG("%llu bytes in %ld reads and %ld writes, %lu signals",
	       (unsigned long long)size, reads, writes, atomic_load(&ss.sent));
	sigaction(SIGUSR1, &old, NULL);
	free(buf);
	ASSERT_LT(1, reads);
	ASSERT_LT(1, writes);
	ASSERT_OK(mig_set_state_nofd(pc->b.dev.fd, STATE(STOP)));
	close(rfd);
	close(sfd);
	ASSERT_OK(mig_set_state_nofd(pc->a.dev.fd, STATE(RUNNING)));
	ASSERT_OK(mig_set_state_nofd(pc->b.dev.fd, STATE(RUNNING)));
	ASSERT_PATTERN(&pc->b, pc->seed);
	ASSERT_REGS(&pc->b, pc->mask, pc->status);
}

TEST_F(pair, roundtrip_memory_and_registers)
{
	struct pairctx *pc = &self->c;
	pair_transfer(_metadata, pc, variant->rchunk, variant->wchunk, false);
	ASSERT_EQ(pc->mask, pc->chk.intrmask);
	ASSERT_EQ(pc->status, pc->chk.intrstatus);
	ASSERT_PATTERN(&pc->b, pc->seed);
	ASSERT_REGS(&pc->b, pc->mask, pc->status);
	/* The source is untouched by the save. */
	ASSERT_PATTERN(&pc->a, pc->seed);
	ASSERT_REGS(&pc->a, pc->mask, pc->status);
}

TEST_F(pair1, roundtrip_via_p2p_arcs)
{
	struct pairctx *pc = &self->c;
	pair_transfer(_metadata, pc, VMT_CHUNK_RANDOM, VMT_CHUNK_RANDOM, true);
	ASSERT_PATTERN(&pc->b, pc->seed);
	ASSERT_REGS(&pc->b, pc->mask, pc->status);
	ASSERT_PATTERN(&pc->a, pc->seed);
}

TEST_F(pair, stream_layout)
{
	struct pairctx *pc = &self->c;
	struct ivm_checker *c = &pc->chk;
	struct mem_expect me = { .seed = pc->seed };
	uint64_t size = 0;
	uint32_t crc = 0;
	int sfd = -1;

	ASSERT_OK(mig_set_state(pc->a.dev.fd, STATE(STOP_COPY), &sfd));
	ASSERT_OK(ivsh_data_size(&pc->a, &size));
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
	ASSERT_EQ(pc->a.dev.revision, c->hdr.revision);
	ASSERT_EQ(pc->a.mem_size, c->hdr.bar2_size);
	ASSERT_LE(4096, c->hdr.page_size);
	ASSERT_EQ(0, c->hdr.bar2_size % c->hdr.page_size);
	ASSERT_EQ(pc->mask, c->intrmask);
	ASSERT_EQ(pc->status, c->intrstatus);
	/*
	 * MEM... (BAR2 holds no zero page), REGS, END; every MEM record at
	 * most 1 MiB, in ascending order.
	 */
	ASSERT_EQ(c->nmem + 2, c->nrecs);
	ASSERT_EQ(0, c->nzero);
	ASSERT_TRUE(c->ascending);
	ASSERT_EQ(IVM_REC_MEM, c->recs[0].type);
	ASSERT_EQ(IVM_REC_REGS, c->recs[c->nrecs - 2].type);
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
	ASSERT_OK(mig_set_state_nofd(pc->a.dev.fd, STATE(RUNNING)));
}

/*
 * Exact because BAR2 holds the fill pattern: with zero pages the stream is
 * shorter than MIG_DATA_SIZE (zero_pages_shrink_stream).
 */
TEST_F(pair, data_size_exact_in_each_state)
{
	struct pairctx *pc = &self->c;
	static const uint32_t states[] = { STATE(RUNNING), STATE(RUNNING_P2P),
					   STATE(STOP), STATE(STOP_COPY) };
	uint64_t sizes[ARRAY_SIZE(states) + 1], size = 0;
	int fd = pc->a.dev.fd, sfd = -1;
	unsigned int i;
	ssize_t n, m;

	if (mig_data_size(fd, &size) == -ENOTTY)
		SKIP(return, "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: ENOTTY (Linux < 6.3)");
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

/*
 * Devices the user put into a low-power state (LOW_POWER_ENTRY without a
 * wake-up eventfd) are woken for the data path as for region access: the
 * save and the restore work, and the low-power state stays the user's.
 */
TEST_F(pair1, roundtrip_in_low_power)
{
	struct pairctx *pc = &self->c;
	uint32_t entry = VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	uint32_t leave = VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_LOW_POWER_EXIT;

	ASSERT_OK(vfio_feature(pc->a.dev.fd, entry, NULL, 0));
	ASSERT_OK(vfio_feature(pc->b.dev.fd, entry, NULL, 0));
	pair_transfer(_metadata, pc, VMT_MiB, 32768, false);
	ASSERT_OK(vfio_feature(pc->a.dev.fd, leave, NULL, 0));
	ASSERT_OK(vfio_feature(pc->b.dev.fd, leave, NULL, 0));
	ASSERT_PATTERN(&pc->b, pc->seed);
	ASSERT_REGS(&pc->b, pc->mask, pc->status);
	ASSERT_PATTERN(&pc->a, pc->seed);
}

TEST_F(pair1, save_leaves_source_unchanged)
{
	struct pairctx *pc = &self->c;
	uint32_t crc1 = 0, crc2 = 0;
	int fd = pc->a.dev.fd, sfd = -1;
	ssize_t n1, n2;

	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	n1 = mig_read_all(sfd, NULL, VMT_CHUNK_RANDOM, &pc->rng, 0, &crc1, NULL);
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
	ASSERT_PATTERN(&pc->a, pc->seed);
	ASSERT_REGS(&pc->a, pc->mask, pc->status);
}

TEST_F(pair, abort_after_partial_read)
{
	struct pairctx *pc = &self->c;
	uint32_t crc1 = 0, crc2 = 0;
	int fd = pc->a.dev.fd, sfd = -1;
	ssize_t n1, n2;

	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	n1 = mig_read_all(sfd, NULL, VMT_MiB, NULL, pc->a.mem_size / 2,
			  &crc1, NULL);
	ASSERT_EQ((ssize_t)pc->a.mem_size / 2, n1);
	/* Abort: STOP_COPY -> STOP -> RUNNING, the stream unread. */
	ASSERT_OK(mig_set_state_nofd(fd, STATE(STOP)));
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	close(sfd);
	ASSERT_PATTERN(&pc->a, pc->seed);
	ASSERT_REGS(&pc->a, pc->mask, pc->status);
	/* And a new save starts from the same beginning. */
	ASSERT_OK(ivsh_set_regs(&pc->a, pc->mask, pc->status));
	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	n2 = mig_read_all(sfd, NULL, 4096, NULL, pc->a.mem_size / 2, &crc2,
			  NULL);
	close(sfd);
	ASSERT_EQ(n1, n2);
	ASSERT_EQ(crc1, crc2);
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
}

TEST_F(pair1, abort_without_read)
{
	struct pairctx *pc = &self->c;
	int fd = pc->a.dev.fd, sfd = -1;

	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	ASSERT_LE(0, sfd);
	/* Straight back: the combination arc STOP_COPY -> STOP -> ... -> RUNNING. */
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	close(sfd);
	ASSERT_PATTERN(&pc->a, pc->seed);
	ASSERT_REGS(&pc->a, pc->mask, pc->status);
}

TEST_F(pair1, restored_device_saves_same_stream)
{
	struct pairctx *pc = &self->c;
	uint32_t crc_a = 0, crc_b = 0;
	int sfd = -1;
	ssize_t na, nb;

	pair_transfer(_metadata, pc, VMT_MiB, VMT_MiB, false);
	ASSERT_OK(ivsh_set_regs(&pc->a, pc->mask, pc->status));
	ASSERT_OK(mig_set_state(pc->a.dev.fd, STATE(STOP_COPY), &sfd));
	na = mig_read_all(sfd, NULL, VMT_MiB, NULL, 0, &crc_a, NULL);
	close(sfd);
	ASSERT_OK(mig_set_state(pc->b.dev.fd, STATE(STOP_COPY), &sfd));
	nb = mig_read_all(sfd, NULL, VMT_MiB, NULL, 0, &crc_b, NULL);
	close(sfd);
	ASSERT_LT(0, na);
	ASSERT_EQ(na, nb);
	ASSERT_EQ(crc_a, crc_b) {
		TH_LOG("B's stream differs from A's after the restore");
	}
}

TEST_F(pair1, p2p_writes_are_migrated)
{
	struct pairctx *pc = &self->c;
	uint64_t off = pc->a.mem_size / 2 + 40;
	int fd = pc->a.dev.fd;

	/* RUNNING_P2P still allows the user to change device memory. */
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING_P2P)));
	*(volatile uint64_t *)(pc->a.mem + off) = 0x0123456789abcdefULL;
	ASSERT_OK(ivsh_wr(&pc->a, IVSHMEM_INTRMASK, 0x5a5a0001));
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	pair_transfer(_metadata, pc, VMT_MiB, 32768, false);
	ASSERT_EQ(0x0123456789abcdefULL, *(volatile uint64_t *)(pc->b.mem + off));
	ASSERT_EQ(0x5a5a0001, pc->chk.intrmask);
	ASSERT_REGS(&pc->b, 0x5a5a0001, pc->status);
	*(volatile uint64_t *)(pc->b.mem + off) = vmt_pattern_word(off, pc->seed);
	ASSERT_PATTERN(&pc->b, pc->seed);
}

TEST_F(pair1, restore_twice)
{
	struct pairctx *pc = &self->c;
	pair_transfer(_metadata, pc, VMT_MiB, VMT_MiB, false);
	/* Scribble over B, then restore the same source again. */
	ivsh_fill(&pc->b, pc->seed_b);
	ASSERT_OK(ivsh_set_regs(&pc->b, 0, 0));
	ASSERT_OK(ivsh_set_regs(&pc->a, pc->mask, pc->status));
	pair_transfer(_metadata, pc, 4096, VMT_CHUNK_RANDOM, false);
	ASSERT_PATTERN(&pc->b, pc->seed);
	ASSERT_REGS(&pc->b, pc->mask, pc->status);
}

TEST_F(pair1, swap_devices)
{
	struct pairctx *pc = &self->c;
	struct vmt_buf sa = { 0 }, sb = { 0 };

	if (pc->a.mem_size > 64 * VMT_MiB)
		SKIP(return, "keeps two streams in memory; small devices only");
	ASSERT_OK(ivsh_save(&pc->a, &sa, VMT_MiB, NULL));
	ASSERT_OK(ivsh_save(&pc->b, &sb, VMT_MiB, NULL));
	ASSERT_OK(ivsh_restore(&pc->a, sb.p, sb.len, 7, NULL));
	ASSERT_OK(ivsh_restore(&pc->b, sa.p, sa.len, VMT_CHUNK_RANDOM, &pc->rng));
	ASSERT_PATTERN(&pc->a, pc->seed_b);
	ASSERT_PATTERN(&pc->b, pc->seed);
	ASSERT_REGS(&pc->a, ~pc->mask, ~pc->status);
	ASSERT_REGS(&pc->b, pc->mask, pc->status);
	vmt_buf_free(&sa);
	vmt_buf_free(&sb);
}

/*
 * Zero pages go as ZERO records: A's BAR2, zero but for three pages, gives
 * a stream of little more than those pages, and B, full of other data
 * before, ends byte for byte like A (zero where it was not).
 * MIG_DATA_SIZE counts every page as a MEM page: an upper bound here.
 */
TEST_F(pair1, zero_pages_shrink_stream)
{
	struct pairctx *pc = &self->c;
	uint64_t size = pc->a.mem_size, ds = 0, want_len, i;
	const uint64_t pages[] = { 0, size / 4096 / 2, size / 4096 - 1 };
	uint8_t *want = calloc(1, size), *got = malloc(size);
	struct vmt_buf s = { 0 };
	int sfd = -1;
	ssize_t n;

	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, got);
	for (i = 0; i < ARRAY_SIZE(pages); i++)
		vmt_pattern_fill(want + pages[i] * 4096, pages[i] * 4096, 4096,
				 pc->seed);
	vmt_copy_to_io(pc->a.mem, want, size);

	ASSERT_OK(mig_set_state(pc->a.dev.fd, STATE(STOP_COPY), &sfd));
	ASSERT_LE(0, sfd);
	ASSERT_OK(ivsh_data_size(&pc->a, &ds));
	n = mig_read_all(sfd, &s, VMT_CHUNK_RANDOM, &pc->rng, 0, NULL, NULL);
	close(sfd);
	ASSERT_LT(0, n) {
		TH_LOG("%s", vmt_errstr());
	}
	ASSERT_OK(mig_set_state_nofd(pc->a.dev.fd, STATE(RUNNING)));
	ASSERT_EQ(0, ivm_check_buf(&pc->chk, s.p, s.len)) {
		TH_LOG("bad stream: %s", pc->chk.err);
	}
	/* Three one-page MEM records, ZERO records between, REGS, END. */
	ASSERT_EQ(3, pc->chk.nmem);
	ASSERT_LE(2, pc->chk.nzero);
	want_len = IVM_HDR_LEN + 3 * (IVM_RECHDR_LEN + 4096) +
		   pc->chk.nzero * (IVM_RECHDR_LEN + IVM_ZERO_LEN) +
		   IVM_RECHDR_LEN + IVM_REGS_LEN + IVM_RECHDR_LEN + IVM_END_LEN;
	ASSERT_EQ(want_len, s.len);
	ASSERT_GT(size / 16, s.len);
	ASSERT_EQ(ivm_stream_len(size, 0), ds) {
		TH_LOG("MIG_DATA_SIZE %llu, stream %zu, bound %llu",
		       (unsigned long long)ds, s.len,
		       (unsigned long long)ivm_stream_len(size, 0));
	}
	TH_LOG("BAR2 %llu bytes, stream %zu (%lu ZERO records), MIG_DATA_SIZE %llu",
	       (unsigned long long)size, s.len, pc->chk.nzero,
	       (unsigned long long)ds);

	ASSERT_EQ(0, ivsh_restore(&pc->b, s.p, s.len, VMT_CHUNK_RANDOM, &pc->rng)) {
		TH_LOG("%s", vmt_errstr());
	}
	vmt_copy_from_io(got, pc->b.mem, size);
	for (i = 0; i < size && got[i] == want[i]; i++)
		;
	ASSERT_EQ(size, i) {
		TH_LOG("B differs from A at 0x%llx: 0x%02x, want 0x%02x",
		       (unsigned long long)i, got[i], want[i]);
	}
	ASSERT_REGS(&pc->b, pc->mask, pc->status);
	vmt_buf_free(&s);
	free(got);
	free(want);
}

TEST_F(pair1, restore_accepts_any_record_size)
{
	struct pairctx *pc = &self->c;
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
	if (pc->a.mem_size > 64 * VMT_MiB)
		SKIP(return, "builds whole streams in memory; small devices only");
	ASSERT_OK(ivsh_save(&pc->b, &s, VMT_MiB, NULL));
	ASSERT_EQ(0, ivm_check_buf(&pc->chk, s.p, s.len));
	ivsh_build_params(&pc->b, &bp);
	bp.page_size = pc->chk.hdr.page_size;
	for (i = 0; i < ARRAY_SIZE(recs); i++) {
		bp.rec_len = recs[i] * bp.page_size;
		bp.seed = pc->seed + i;
		bp.intrmask = pc->mask + i;
		bp.intrstatus = pc->status;
		ASSERT_OK(ivm_build(&s, &bp));
		r = ivsh_restore(&pc->b, s.p, s.len, VMT_CHUNK_RANDOM,
				 &pc->rng);
		ASSERT_EQ(0, r) {
			TH_LOG("records of %llu bytes: %s",
			       (unsigned long long)bp.rec_len, vmt_errstr());
		}
		ASSERT_PATTERN(&pc->b, pc->seed + i);
		ASSERT_REGS(&pc->b, pc->mask + i, pc->status);
	}
	vmt_buf_free(&s);
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

	NEED_MMAP_FREEZE();
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
 * User access in each state: frozen in STOP and STOP_COPY (region I/O ->
 * EIO, mmap access -> SIGBUS, config space fine), live in RUNNING,
 * RUNNING_P2P and RESUMING; nothing the user tries while frozen reaches the
 * device.  In RESUMING the BARs work (QEMU's destination maps BAR2 into the
 * IOMMU for P2P DMA while it loads config space), but the stream that
 * follows overwrites BAR2 and, on RESUMING -> STOP, the registers.
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
	bool restored;	/* leaving the state loads the stream over what was written */
};

FIXTURE_VARIANT_ADD(access, stop) { .state = STATE(STOP), .frozen = true };
FIXTURE_VARIANT_ADD(access, stop_copy) { .state = STATE(STOP_COPY), .frozen = true };
FIXTURE_VARIANT_ADD(access, resuming) { .state = STATE(RESUMING), .restored = true };
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

/* After access_leave(): did the user's writes in the state get lost? */
static bool kept_pattern(const FIXTURE_VARIANT(access) *variant)
{
	return variant->frozen || variant->restored;
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
	int r;

	if (variant->frozen)
		NEED_MMAP_FREEZE();
	r = vmt_probe_read32(p, &v);
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
	int r;

	if (variant->frozen)
		NEED_MMAP_FREEZE();
	r = vmt_probe_write32(p, PROBE_VAL);
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
	ASSERT_EQ(kept_pattern(variant) ? pattern32(self->c.seed, PROBE_OFF) : PROBE_VAL, v);
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
	ASSERT_EQ(kept_pattern(variant) ? pattern32(self->c.seed, PROBE_OFF) : PROBE_VAL, v);
	if (kept_pattern(variant)) {
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
		if (!variant->restored)
			self->c.mask = 0x12340001;
	}
	access_leave(_metadata, self, variant->state);
	/*
	 * INTRSTATUS survived: a frozen read would have cleared it.  After
	 * RESUMING the registers are the stream's.
	 */
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

	if (variant->frozen)
		NEED_MMAP_FREEZE();
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

	if (variant->frozen)
		NEED_MMAP_FREEZE();
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
	if (kept_pattern(variant)) {
		ASSERT_EQ(0, me.bad) {
			TH_LOG("%llu bytes changed while frozen or not restored, first at 0x%llx",
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

/*
 * QEMU maps every BAR into the IOMMU for P2P DMA (type1 MAP_DMA of the BAR
 * mapping), on the destination while the device is in RESUMING.  The type1
 * driver faults the pages in: frozen, that fails with EFAULT, which QEMU
 * reports as "vfio_container_dma_map(...) = -14 (Bad address)".
 */
#define DMA_IOVA	(1ULL << 32)

static int dma_map_bar2(const struct ivsh *s)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)s->mem,
		.iova = DMA_IOVA,
		.size = s->mem_size,
	};
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = DMA_IOVA,
		.size = s->mem_size,
	};

	if (ioctl(s->dev.container, VFIO_IOMMU_MAP_DMA, &map))
		return -errno;
	if (ioctl(s->dev.container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	return unmap.size == s->mem_size ? 0 : -EPROTO;
}

TEST_F(access, dma_map_bar2)
{
	int r;

	if (self->c.d.dev.noiommu)
		SKIP(return, "no IOMMU (noiommu group)");
	/* iommufd pins user pages: IOMMU_IOAS_MAP refuses VM_PFNMAP memory */
	if (self->c.d.dev.mode == VDEV_MODE_IOMMUFD)
		SKIP(return, "a BAR mapping cannot be DMA-mapped through iommufd (VM_PFNMAP)");
	if (variant->frozen)
		NEED_MMAP_FREEZE();
	r = dma_map_bar2(&self->c.d);
	if (variant->frozen) {
		ASSERT_EQ(-EFAULT, r);
	} else {
		ASSERT_EQ(0, r) {
			TH_LOG("MAP_DMA of the BAR2 mapping in %s: %s",
			       mig_state_name(variant->state), strerror(-r));
		}
	}
	access_leave(_metadata, self, variant->state);
	ASSERT_EQ(0, dma_map_bar2(&self->c.d));
	ASSERT_PATTERN(&self->c.d, self->c.seed);
}

/* ------------------------------------------------------------------------
 * The driver's own BAR mappings: huge (PMD) entries where the mapping and
 * the BAR are aligned, 4 KiB entries otherwise, and every kind zapped by the
 * freeze.  Faults are counted with getrusage(): one huge entry covers 512
 * pages with one fault.
 */

#define HUGE_SZ		(2UL << 20)

FIXTURE(barmap) {
	struct ivsh d;
	struct vmt_kmsg kmsg;
	void *map;
	size_t len;
};

FIXTURE_SETUP(barmap)
{
	ivsh_init(&self->d);
	vmt_kmsg_open(&self->kmsg);
	OPEN_IVSH(&self->d, "IVSHMEM_BDF_BIG_A");
	if (self->d.mem_size < 2 * HUGE_SZ)
		VMT_SKIP_SETUP("BAR2 of %s is smaller than 4 MiB", self->d.dev.bdf);
	vmt_sigbus_install();
}

FIXTURE_TEARDOWN(barmap)
{
	if (self->map)
		munmap(self->map, self->len);
	ivsh_close(&self->d);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/* Maps @len bytes of BAR2 at @off, at an address @skew bytes past a 2 MiB boundary. */
static void *map_bar2_at(struct ivsh *s, uint64_t off, size_t len, size_t skew)
{
	size_t rlen = len + 2 * HUGE_SZ;
	uintptr_t a;
	void *r, *p;

	r = mmap(NULL, rlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)r + HUGE_SZ - 1) & ~(HUGE_SZ - 1);
	a += skew;
	p = mmap((void *)a, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 s->dev.fd, s->dev.region[IVSHMEM_MEM_BAR].offset + off);
	if (p == MAP_FAILED) {
		munmap(r, rlen);
		return NULL;
	}
	/* Give back the rest of the reservation. */
	if (a > (uintptr_t)r)
		munmap(r, a - (uintptr_t)r);
	if ((uintptr_t)r + rlen > a + len)
		munmap((void *)(a + len), (uintptr_t)r + rlen - (a + len));
	return p;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/*
 * Reads one word of every page of @p[0, len), the mapping of BAR2 at @off;
 * returns the minor faults that took, -EFAULT on SIGBUS or -EPROTO if a word
 * differs from what a region read of BAR2 returns.
 */
static long touch_pages(struct __test_metadata *_metadata, struct ivsh *s,
			volatile uint8_t *p, uint64_t off, size_t len)
{
	long before = minor_faults(), after;
	size_t i;

	for (i = 0; i < len; i += 4096) {
		uint32_t x = 0;

		if (vmt_probe_read32(p + i + 8, &x))
			return -EFAULT;
	}
	after = minor_faults();
	for (i = 0; i < len; i += len / 4) {
		uint32_t x = 0, want = ~0U;

		if (vdev_region_read(&s->dev, IVSHMEM_MEM_BAR, off + i + 8, &want, 4) != 4 ||
		    vmt_probe_read32(p + i + 8, &x) || x != want) {
			TH_LOG("BAR2 0x%llx: 0x%08x through the mapping, 0x%08x by region read",
			       (unsigned long long)(off + i + 8), x, want);
			return -EPROTO;
		}
	}
	return after - before;
}

/* An aligned 4 MiB mapping: two huge entries, so a handful of faults. */
TEST_F(barmap, huge_when_aligned)
{
	long faults;

	if (!ivsh_debugfs_bool("mmap_huge", false))
		SKIP(return, "no huge BAR mappings on this kernel (debugfs mmap_huge: N)");
	self->len = 2 * HUGE_SZ;
	self->map = map_bar2_at(&self->d, 0, self->len, 0);
	ASSERT_NE(NULL, self->map);
	faults = touch_pages(_metadata, &self->d, self->map, 0, self->len);
	ASSERT_LE(0, faults);
	TH_LOG("%ld faults for %zu pages", faults, self->len / 4096);
	ASSERT_GE(8, faults) {
		TH_LOG("%ld faults: the aligned mapping was not mapped huge", faults);
	}
}

/*
 * Where the driver cannot own BAR mappings (mmap_freeze: N), they are
 * vfio-pci's, which on 6.1 maps a whole mapping at its first fault.
 */
#define NEED_OWN_MAPPINGS() do {					\
	if (!ivsh_mmap_freezes())					\
		SKIP(return, "BAR mappings are vfio-pci's on this kernel "	\
		     "(mmap_freeze: N), mapped whole at the first fault");	\
} while (0)

/* Misaligned by one page: no huge entry fits, every page faults on its own. */
TEST_F(barmap, small_when_misaligned)
{
	long faults;

	NEED_OWN_MAPPINGS();
	self->len = HUGE_SZ;
	self->map = map_bar2_at(&self->d, 0, self->len, 4096);
	ASSERT_NE(NULL, self->map);
	faults = touch_pages(_metadata, &self->d, self->map, 0, self->len);
	ASSERT_LE(self->len / 4096, faults);
}

/* A mapping at a BAR offset that is not 2 MiB aligned either. */
TEST_F(barmap, small_when_bar_offset_misaligned)
{
	long faults;

	NEED_OWN_MAPPINGS();
	self->len = HUGE_SZ;
	self->map = map_bar2_at(&self->d, 4096, self->len, 0);
	ASSERT_NE(NULL, self->map);
	faults = touch_pages(_metadata, &self->d, self->map, 4096, self->len);
	ASSERT_LE(self->len / 4096, faults);
}

/* STOP zaps huge entries too; they come back (huge) in RUNNING. */
TEST_F(barmap, huge_zapped_by_stop)
{
	volatile uint8_t *p;
	uint32_t v;
	long faults;

	NEED_MMAP_FREEZE();
	self->len = 2 * HUGE_SZ;
	self->map = map_bar2_at(&self->d, 0, self->len, 0);
	ASSERT_NE(NULL, self->map);
	p = self->map;
	ASSERT_LE(0, touch_pages(_metadata, &self->d, p, 0, self->len));
	ASSERT_OK(mig_set_state_nofd(self->d.dev.fd, STATE(STOP)));
	ASSERT_EQ(-EFAULT, vmt_probe_read32(p + 8, &v));
	ASSERT_EQ(-EFAULT, vmt_probe_read32(p + HUGE_SZ + 4096, &v));
	ASSERT_OK(mig_set_state_nofd(self->d.dev.fd, STATE(RUNNING)));
	faults = touch_pages(_metadata, &self->d, p, 0, self->len);
	ASSERT_LE(0, faults);
	if (ivsh_debugfs_bool("mmap_huge", false)) {
		ASSERT_GE(8, faults);
	}
}

/* ------------------------------------------------------------------------
 * RESUMING serves BAR access (the destination QEMU maps BAR2 for P2P DMA
 * then); RESUMING -> STOP freezes again, also when it fails into ERROR.
 */

FIXTURE(resume_map) {
	struct selfdev c;
};

FIXTURE_SETUP(resume_map)
{
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_A");
	vmt_sigbus_install();
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->c.rfd));
}

FIXTURE_TEARDOWN(resume_map)
{
	SELFDEV_TEARDOWN(&self->c);
}

/* A mapping made, read and written while resuming. */
static void touch_in_resuming(struct __test_metadata *_metadata,
			      FIXTURE_DATA(resume_map) *self)
{
	volatile uint8_t *p;
	size_t len = 0;
	uint32_t v = 0;

	ASSERT_EQ(0, vmt_probe_read32(self->c.d.mem + PROBE_OFF, &v)) {
		TH_LOG("BAR2 mapping not readable in RESUMING");
	}
	ASSERT_EQ(pattern32(self->c.seed, PROBE_OFF), v);
	ASSERT_EQ(0, vmt_probe_write32(self->c.d.mem + PROBE_OFF, PROBE_VAL));
	p = vdev_mmap(&self->c.d.dev, IVSHMEM_MEM_BAR, &len);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, vmt_probe_read32(p + PROBE_OFF, &v));
	munmap((void *)p, len);
	ASSERT_EQ(PROBE_VAL, v);
}

TEST_F(resume_map, stop_refreezes)
{
	int fd = self->c.d.dev.fd;
	uint32_t v = 0;

	touch_in_resuming(_metadata, self);
	ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, self->c.s.len,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(fd, STATE(STOP)));
	if (ivsh_mmap_freezes()) {
		ASSERT_EQ(-EFAULT, vmt_probe_read32(self->c.d.mem + PROBE_OFF, &v)) {
			TH_LOG("BAR2 mapping still readable in STOP after RESUMING");
		}
	}
	ASSERT_EQ(-EIO, (int)vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR,
					      PROBE_OFF, &v, 4));
	ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	/* The stream wrote all of BAR2 after the write through the mapping. */
	ASSERT_PATTERN(&self->c.d, self->c.seed);
	ASSERT_REGS(&self->c.d, self->c.mask, self->c.status);
}

TEST_F(resume_map, error_refreezes)
{
	int fd = self->c.d.dev.fd;
	uint32_t v = 0;

	touch_in_resuming(_metadata, self);
	ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, self->c.s.len / 2,
				VMT_MiB, NULL, NULL));
	ASSERT_GT(0, mig_set_state_nofd(fd, STATE(STOP)));
	ASSERT_STATE(fd, STATE(ERROR));
	if (ivsh_mmap_freezes()) {
		ASSERT_EQ(-EFAULT, vmt_probe_read32(self->c.d.mem + PROBE_OFF, &v));
	}
	ASSERT_EQ(-EIO, (int)vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR,
					      PROBE_OFF, &v, 4));
	ASSERT_OK(vdev_reset(&self->c.d.dev));
	ASSERT_EQ(0, vmt_probe_read32(self->c.d.mem + PROBE_OFF, &v));
	expect_recovery(_metadata, &self->c);
}

/* ------------------------------------------------------------------------
 * Frozen on the big device: the first, the middle and the last page of a
 * 256 MiB BAR2, mapped at a 2 MiB boundary (so that the kernel may map it
 * with huge pages, whose faults take a path of their own) and touched before
 * the device stops, so that the freeze must remove mappings that exist.
 */

FIXTURE(bigfreeze) {
	struct ivsh d;
	struct vmt_kmsg kmsg;
	uint64_t seed;
	uint64_t off[3];
	int sfd;
};

FIXTURE_VARIANT(bigfreeze) {
	uint32_t state;
};

FIXTURE_VARIANT_ADD(bigfreeze, stop) { .state = STATE(STOP) };
FIXTURE_VARIANT_ADD(bigfreeze, stop_copy) { .state = STATE(STOP_COPY) };

#define BIGFREEZE_ALIGN	(2 * VMT_MiB)

/* Maps BAR2 again, at a BIGFREEZE_ALIGN boundary. */
static int bigfreeze_map(struct ivsh *s)
{
	const struct vfio_region_info *r = &s->dev.region[IVSHMEM_MEM_BAR];
	size_t len = r->size + BIGFREEZE_ALIGN;
	uint8_t *resv, *at, *p;
	int err;

	ivsh_unmap(s);
	resv = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_NORESERVE, -1, 0);
	if (resv == MAP_FAILED)
		return -errno;
	at = (uint8_t *)(((uintptr_t)resv + BIGFREEZE_ALIGN - 1) &
			 ~(uintptr_t)(BIGFREEZE_ALIGN - 1));
	if (at > resv)
		munmap(resv, at - resv);
	munmap(at + r->size, resv + len - (at + r->size));
	p = mmap(at, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 s->dev.fd, r->offset);
	if (p == MAP_FAILED) {
		err = errno;
		munmap(at, r->size);
		return -err;
	}
	/* Huge pages for the mapping where the kernel offers them at all. */
	madvise(p, r->size, MADV_HUGEPAGE);
	s->mem = p;
	s->mem_size = r->size;
	return 0;
}

FIXTURE_SETUP(bigfreeze)
{
	size_t pg = sysconf(_SC_PAGESIZE);
	uint8_t buf[65536];
	unsigned int i;

	ivsh_init(&self->d);
	self->sfd = -1;
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	OPEN_IVSH(&self->d, "IVSHMEM_BDF_BIG_A");
	ASSERT_OK(bigfreeze_map(&self->d));
	ASSERT_LE(pg, sizeof(buf));
	self->off[0] = 0;
	self->off[1] = self->d.mem_size / 2;
	self->off[2] = self->d.mem_size - pg;
	TH_LOG("%s: BAR2 %llu MiB mapped at %p, seed 0x%llx", self->d.dev.bdf,
	       (unsigned long long)(self->d.mem_size >> 20), self->d.mem,
	       (unsigned long long)self->seed);
	for (i = 0; i < 3; i++) {
		vmt_pattern_fill(buf, self->off[i], pg, self->seed);
		vmt_copy_to_io(self->d.mem + self->off[i], buf, pg);
	}
	vmt_sigbus_install();
	ASSERT_OK(mig_set_state(self->d.dev.fd, variant->state, &self->sfd));
	ASSERT_STATE(self->d.dev.fd, variant->state);
}

FIXTURE_TEARDOWN(bigfreeze)
{
	vmt_close(&self->sfd);
	ivsh_close(&self->d);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/*
 * Back in RUNNING, the probed pages hold what was written before the stop,
 * through the mapping and through region reads, and take writes again.
 */
static void bigfreeze_check_running(struct __test_metadata *_metadata,
				    FIXTURE_DATA(bigfreeze) *self)
{
	size_t pg = sysconf(_SC_PAGESIZE);
	uint8_t buf[65536];
	uint64_t bad;
	uint32_t v = 0;
	unsigned int i;

	vmt_close(&self->sfd);
	ASSERT_OK(mig_set_state_nofd(self->d.dev.fd, STATE(RUNNING)));
	ASSERT_STATE(self->d.dev.fd, STATE(RUNNING));
	for (i = 0; i < 3; i++) {
		uint64_t off = self->off[i];

		ASSERT_EQ(0, vmt_probe_read32(self->d.mem + off, &v)) {
			TH_LOG("page at 0x%llx: SIGBUS in RUNNING",
			       (unsigned long long)off);
		}
		vmt_copy_from_io(buf, self->d.mem + off, pg);
		bad = vmt_pattern_check(buf, off, pg, self->seed);
		ASSERT_EQ(UINT64_MAX, bad) {
			TH_LOG("mapping: BAR2 changed at 0x%llx",
			       (unsigned long long)bad);
		}
		ASSERT_EQ((ssize_t)pg, vdev_region_read(&self->d.dev,
							IVSHMEM_MEM_BAR, off,
							buf, pg));
		bad = vmt_pattern_check(buf, off, pg, self->seed);
		ASSERT_EQ(UINT64_MAX, bad) {
			TH_LOG("region read: BAR2 changed at 0x%llx",
			       (unsigned long long)bad);
		}
		v = ~pattern32(self->seed, off + 8);
		ASSERT_EQ(0, vmt_probe_write32(self->d.mem + off + 8, v));
		ASSERT_EQ(4, vdev_region_write(&self->d.dev, IVSHMEM_MEM_BAR,
					       off + 16, &v, 4));
		ASSERT_EQ(v, *(volatile uint32_t *)(self->d.mem + off + 16));
	}
}

/* The mapped pages fault with SIGBUS, reading and writing. */
TEST_F(bigfreeze, mmap_sigbus)
{
	uint32_t v = 0;
	unsigned int i;

	NEED_MMAP_FREEZE();
	for (i = 0; i < 3; i++) {
		volatile uint8_t *p = self->d.mem + self->off[i] + 8;

		ASSERT_EQ(-EFAULT, vmt_probe_read32(p, &v)) {
			TH_LOG("page at 0x%llx readable in %s (0x%08x)",
			       (unsigned long long)self->off[i],
			       mig_state_name(variant->state), v);
		}
		ASSERT_EQ(-EFAULT, vmt_probe_write32(p, ~v)) {
			TH_LOG("page at 0x%llx writable in %s",
			       (unsigned long long)self->off[i],
			       mig_state_name(variant->state));
		}
	}
	bigfreeze_check_running(_metadata, self);
}

/* Region reads and writes of the same pages fail with EIO. */
TEST_F(bigfreeze, region_eio)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		uint64_t off = self->off[i] + 8;

		ASSERT_EQ(-EIO, vdev_region_read(&self->d.dev, IVSHMEM_MEM_BAR,
						 off, &v, 4)) {
			TH_LOG("region read at 0x%llx in %s",
			       (unsigned long long)off,
			       mig_state_name(variant->state));
		}
		v = ~pattern32(self->seed, off);
		ASSERT_EQ(-EIO, vdev_region_write(&self->d.dev, IVSHMEM_MEM_BAR,
						  off, &v, 4)) {
			TH_LOG("region write at 0x%llx in %s",
			       (unsigned long long)off,
			       mig_state_name(variant->state));
		}
	}
	bigfreeze_check_running(_metadata, self);
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
	/* PRE_COPY wherever BAR mappings are the driver's (tracking). */
	if (ivsh_mmap_freezes()) {
		ASSERT_EQ(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			  VFIO_MIGRATION_PRE_COPY, f);
	} else {
		ASSERT_EQ(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P, f);
	}
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

TEST_F(ivfd, any_read_size_same_stream)
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

/*
 * A bad user buffer fails a read or write with EFAULT, or ends it short,
 * and loses nothing: the next call goes on right after the bytes that were
 * reported, and the stream (and the restore) come out whole.
 */
TEST_F(ivfd, efault_loses_nothing)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct vmt_buf got = { 0 };
	uint8_t *two, *edge;
	ssize_t n;

	/* A usable page followed by an inaccessible one. */
	two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, mprotect(two + pg, pg, PROT_NONE));
	edge = two + pg - 100;

	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(STOP_COPY), &self->fd));
	ASSERT_EQ(-1, read(self->fd, two + pg, 100));
	ASSERT_EQ(EFAULT, errno);
	/* Only the first 100 bytes of this buffer are usable. */
	n = read(self->fd, edge, 4096);
	ASSERT_LE(0, n);
	ASSERT_GE(100, n);
	ASSERT_OK(vmt_buf_append(&got, edge, n));
	ASSERT_LT(0, mig_read_all(self->fd, &got, VMT_MiB, NULL, 0, NULL, NULL));
	ASSERT_EQ(self->c.s.len, got.len);
	ASSERT_EQ(0, memcmp(self->c.s.p, got.p, got.len)) {
		TH_LOG("the stream read around EFAULTs differs from the device's stream");
	}
	vmt_close(&self->fd);
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(RUNNING)));

	ivsh_fill(&self->c.d, self->c.seed ^ 1);
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->fd));
	ASSERT_EQ(-1, write(self->fd, two + pg, 100));
	ASSERT_EQ(EFAULT, errno);
	memcpy(edge, self->c.s.p, 100);
	n = write(self->fd, edge, 4096);
	if (n < 0) {
		ASSERT_EQ(EFAULT, errno);
		n = 0;
	}
	ASSERT_GE(100, n);
	ASSERT_OK(mig_write_all(self->fd, self->c.s.p + n, self->c.s.len - n,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP)));
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(RUNNING)));
	ASSERT_PATTERN(&self->c.d, self->c.seed);
	ASSERT_REGS(&self->c.d, self->c.mask, self->c.status);
	vmt_buf_free(&got);
	munmap(two, 2 * pg);
}

/* A reset through sysfs ends the session and returns to RUNNING, unfrozen. */
TEST_F(ivfd, sysfs_reset_ends_session)
{
	struct vmt_buf s = { 0 };
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset",
		 self->c.d.dev.bdf);
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(STOP_COPY), &self->fd));
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd) {
		TH_LOG("%s: %s", path, strerror(errno));
	}
	ASSERT_EQ(1, write(fd, "1", 1)) {
		TH_LOG("reset through %s: %s", path, strerror(errno));
	}
	close(fd);
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd));
	ASSERT_STATE(self->c.d.dev.fd, STATE(RUNNING));
	/* BAR2 is accessible again and kept its contents; saving works. */
	ASSERT_PATTERN(&self->c.d, self->c.seed);
	ASSERT_OK(ivsh_save(&self->c.d, &s, VMT_MiB, NULL));
	ASSERT_EQ(self->c.s.len, s.len);
	vmt_buf_free(&s);
}

/*
 * VFIO_DEVICE_PCI_HOT_RESET in the middle of reading the saving data fd: the
 * secondary bus reset of the device's own root port ends the session like
 * any other reset (ENODEV, nothing stale), and the device saves again.
 */
TEST_F(ivfd, hot_reset_ends_session)
{
	uint64_t ibuf[32] = { 0 }, rbuf[4] = { 0 };
	struct vfio_pci_hot_reset_info *info = (void *)ibuf;
	struct vfio_pci_hot_reset *rst = (void *)rbuf;
	struct vdev *d = &self->c.d.dev;
	struct ivm_checker chk;
	struct vmt_buf s = { 0 };
	char b[4096], bdf[64];
	unsigned int i;
	bool cdev;

	info->argsz = sizeof(ibuf);
	if (ioctl(d->fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info))
		SKIP(return, "%s: VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s (no slot or bus reset)",
		     d->bdf, strerror(errno));
	/*
	 * Opened through its cdev, the device is named by its iommufd device
	 * id (VFIO_PCI_HOT_RESET_FLAG_DEV_ID, the same union as group_id) and
	 * the reset proves ownership by the iommufd: no group fds (count 0).
	 */
	cdev = d->mode == VDEV_MODE_IOMMUFD;
	for (i = 0; i < info->count; i++)
		TH_LOG("hot reset affects %04x:%02x:%02x.%x, %s %u",
		       info->devices[i].segment, info->devices[i].bus,
		       info->devices[i].devfn >> 3, info->devices[i].devfn & 7,
		       cdev ? "device id" : "group", info->devices[i].group_id);
	/* Each ivshmem of the harness sits behind a root port of its own. */
	ASSERT_EQ(1, info->count);
	snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x",
		 info->devices[0].segment, info->devices[0].bus,
		 info->devices[0].devfn >> 3, info->devices[0].devfn & 7);
	ASSERT_STREQ(d->bdf, bdf);
	rst->argsz = sizeof(*rst);
	rst->count = 0;
	if (cdev) {
#ifdef VFIO_PCI_HOT_RESET_FLAG_DEV_ID
		ASSERT_TRUE(info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID);
		ASSERT_EQ(d->devid, info->devices[0].devid);
#endif
	} else {
		ASSERT_EQ(d->groupno, info->devices[0].group_id);
		rst->argsz += sizeof(rst->group_fds[0]);
		rst->count = 1;
		rst->group_fds[0] = d->group;
	}

	ASSERT_OK(mig_set_state(d->fd, STATE(STOP_COPY), &self->fd));
	/* Header and the start of BAR2 read; more to come. */
	ASSERT_EQ(sizeof(b), read(self->fd, b, sizeof(b)));
	ASSERT_EQ(0, ioctl(d->fd, VFIO_DEVICE_PCI_HOT_RESET, rst)) {
		TH_LOG("VFIO_DEVICE_PCI_HOT_RESET: %s", strerror(errno));
	}
	ASSERT_EQ(-ENODEV, vmt_read1(self->fd)) {
		TH_LOG("the save file still reads after a hot reset");
	}
	ASSERT_STATE(d->fd, STATE(RUNNING));
	/* A bus reset clears the registers and keeps the shared memory. */
	ASSERT_PATTERN(&self->c.d, self->c.seed);
	ASSERT_REGS(&self->c.d, 0, 0);
	ASSERT_OK(ivsh_save(&self->c.d, &s, VMT_MiB, NULL));
	ASSERT_EQ(self->c.s.len, s.len);
	ivm_check_init(&chk);
	ASSERT_EQ(0, ivm_check_buf(&chk, s.p, s.len)) {
		TH_LOG("stream after the hot reset: %s", chk.err);
	}
	ivm_check_free(&chk);
	vmt_buf_free(&s);
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
	/* The driver offers DMA logging only where the core can report. */
	if (vfio_feature_probe(self->c.d.dev.fd,
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			       VFIO_DEVICE_FEATURE_SET) == -ENOTTY)
		VMT_SKIP_SETUP("the driver offers no DMA logging on this kernel");
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

/*
 * The driver offers DMA logging only where the vfio core can report
 * (Documentation/ivshmem-vfio-pci.rst): where it is offered, REPORT must
 * reach the driver and work, never fail with EOPNOTSUPP.
 */
TEST_F(ivdma, offered_means_reportable)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = VMT_MiB,
	};
	uint64_t pgsz = 4096;
	int fd = self->c.d.dev.fd;

	ASSERT_TRUE(self->can_report) {
		TH_LOG("DMA logging is offered, but REPORT fails with EOPNOTSUPP");
	}
	ASSERT_OK(dma_log_start(fd, &pgsz, &r, 1));
	ASSERT_OK(dma_log_report(fd, 0, VMT_MiB, 4096, self->bitmap));
	ASSERT_OK(dma_log_stop(fd));
}

/* REPORT must lie within the started ranges, all of it. */
TEST_F(ivdma, report_outside_ranges_einval)
{
	struct vfio_device_feature_dma_logging_range r[2] = {
		{ .iova = 0, .length = VMT_MiB },
		{ .iova = 4 * VMT_MiB, .length = VMT_MiB },
	};
	uint64_t pgsz = 4096;
	int fd = self->c.d.dev.fd;

	NEED_REPORT(self);
	ASSERT_OK(dma_log_start(fd, &pgsz, r, 2));
	ASSERT_OK(dma_log_report(fd, 0, VMT_MiB, 4096, self->bitmap));
	ASSERT_OK(dma_log_report(fd, 4 * VMT_MiB, VMT_MiB, 4096, self->bitmap));
	ASSERT_OK(dma_log_report(fd, 4096, 8192, 4096, self->bitmap));
	/* Starts inside a range, ends outside it. */
	ASSERT_ERRNO(EINVAL, dma_log_report(fd, 0, 2 * VMT_MiB, 4096,
					    self->bitmap));
	ASSERT_ERRNO(EINVAL, dma_log_report(fd, VMT_MiB / 2, 4 * VMT_MiB, 4096,
					    self->bitmap));
	ASSERT_ERRNO(EINVAL, dma_log_report(fd, 4 * VMT_MiB + 4096, VMT_MiB,
					    4096, self->bitmap));
	/* Entirely between the ranges. */
	ASSERT_ERRNO(EINVAL, dma_log_report(fd, 2 * VMT_MiB, 4096, 4096,
					    self->bitmap));
	ASSERT_OK(dma_log_stop(fd));
}

/* Closing the device ends logging: its next user starts from nothing. */
TEST_F(ivdma, close_stops_logging)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = VMT_MiB,
	};
	uint64_t pgsz = 4096;

	ASSERT_OK(dma_log_start(self->c.d.dev.fd, &pgsz, &r, 1));
	/* The mapping holds the device open: drop it, then close for real. */
	ivsh_unmap(&self->c.d);
	ASSERT_OK(vdev_close_fd(&self->c.d.dev));
	ASSERT_OK(vdev_reopen_fd(&self->c.d.dev));
	ASSERT_OK(ivsh_map(&self->c.d));
	if (self->can_report) {
		ASSERT_EQ(-EINVAL, dma_log_report(self->c.d.dev.fd, 0, VMT_MiB,
						  4096, self->bitmap)) {
			TH_LOG("REPORT works after close: logging survived it");
		}
	}
	pgsz = 4096;
	ASSERT_EQ(0, dma_log_start(self->c.d.dev.fd, &pgsz, &r, 1)) {
		TH_LOG("START fails after close: logging survived it");
	}
	ASSERT_OK(dma_log_stop(self->c.d.dev.fd));
}

VMT_TEST_MAIN
