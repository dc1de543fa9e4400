// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci pre-copy: dirty tracking of BAR2 while the device runs.
 * Writers through the BAR2 mmap and region write() race the harvests of
 * the pre-copy data, and the restored stream must be the source's final
 * memory; GET_PRECOPY_INFO is exact, read() ends in ENOMSG, poll() wakes.
 * VFIO_DEVICE_IOEVENTFD writes bypass tracking: arming one on BAR2 is
 * refused while tracking, one armed before makes STOP_COPY send all of BAR2,
 * and on Linux 7.1+ one armed after the MIG_PRECOPY_INFOv2 opt-in restarts
 * the pre-copy data with VFIO_PRECOPY_INFO_REINIT.
 * Device-agnostic PRE_COPY rules are in vfio_mig_conformance.c.
 *
 * Devices: IVSHMEM_BDF_A (source) and IVSHMEM_BDF_B (destination), equal
 * BAR2 size.  Skipped where the driver does not offer PRE_COPY (Linux 6.1).
 */
#include <poll.h>
#include <sys/mman.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

/* ------------------------------------------------------------------------
 * Pre-copy with dirty tracking of BAR2: what the user writes while the
 * device runs reaches the destination, through the mmap and region write().
 */

FIXTURE(ivpre) {
	struct selfdev c;
	struct ivsh b;
	int fd;			/* the PRE_COPY session */
	struct vmt_buf data;	/* the stream read so far */
	atomic_bool stop;
	atomic_ulong writes;
};

FIXTURE_SETUP(ivpre)
{
	uint64_t f = 0;
	const char *bb = bdf_env("IVSHMEM_BDF_B");

	self->fd = -1;
	ivsh_init(&self->b);
	memset(&self->data, 0, sizeof(self->data));
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_A");
	ASSERT_OK(mig_get_flags(self->c.d.dev.fd, &f));
	if (!(f & VFIO_MIGRATION_PRE_COPY))
		VMT_SKIP_SETUP("PRE_COPY not offered (flags 0x%llx)",
			       (unsigned long long)f);
	if (!bb)
		VMT_SKIP_SETUP("IVSHMEM_BDF_B not set");
	ASSERT_OK(ivsh_open(&self->b, bb));
	ASSERT_EQ(self->c.d.mem_size, self->b.mem_size);
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(PRE_COPY), &self->fd));
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(ivpre)
{
	vmt_close(&self->fd);
	vmt_buf_free(&self->data);
	ivsh_close(&self->b);
	SELFDEV_TEARDOWN(&self->c);
}

/*
 * Reads what PRE_COPY has now, up to the temporary end (ENOMSG) or, with
 * a non-zero @limit, until @limit bytes were read: writers that keep
 * re-dirtying pages faster than a slow reader harvests them never let a
 * round reach the temporary end.
 */
static int ivpre_drain_max(int fd, struct vmt_buf *out, size_t limit)
{
	size_t start = out->len;

	for (;;) {
		ssize_t n;

		if (limit && out->len - start >= limit)
			return 0;

		if (out->len + VMT_MiB > out->cap &&
		    vmt_buf_reserve(out, 2 * out->cap + VMT_MiB))
			return -ENOMEM;
		n = read(fd, out->p + out->len, VMT_MiB);
		if (n < 0)
			return errno == ENOMSG ? 0 : -errno;
		if (n == 0)
			return -EPROTO;	/* EOF in PRE_COPY */
		out->len += n;
	}
}

static int ivpre_drain(int fd, struct vmt_buf *out)
{
	return ivpre_drain_max(fd, out, 0);
}

struct ivpre_writer {
	FIXTURE_DATA(ivpre) *self;
	pthread_t tid;
	uint64_t seed;
	bool region;		/* write() on the region, else the mmap */
};

/* Random 8-byte stores until told to stop. */
static void *ivpre_write_loop(void *arg)
{
	struct ivpre_writer *w = arg;
	FIXTURE_DATA(ivpre) *self = w->self;
	uint64_t size = self->c.d.mem_size;
	struct vmt_rng rng;

	vmt_rng_seed(&rng, w->seed);
	while (!atomic_load(&self->stop)) {
		uint64_t off = vmt_rng_below(&rng, size / 8) * 8;
		uint64_t v = vmt_rng_next(&rng);

		if (w->region) {
			if (vdev_region_write(&self->c.d.dev, IVSHMEM_MEM_BAR,
					      off, &v, 8) != 8)
				break;
		} else {
			*(volatile uint64_t *)(self->c.d.mem + off) = v;
		}
		atomic_fetch_add(&self->writes, 1);
		if (!vmt_rng_below(&rng, 64))
			usleep(100);
	}
	return NULL;
}

/*
 * Three threads write (two through the mmap, one with region write())
 * while the pre-copy data is read in rounds, each racing the harvests; then
 * they stop, STOP_COPY sends the rest, and the stream restored into B must
 * be exactly A's final memory.
 */
TEST_F(ivpre, final_stream_equals_final_memory)
{
	struct ivpre_writer w[3];
	uint64_t size = self->c.d.mem_size;
	uint8_t *final = malloc(size);
	size_t pre;
	ssize_t n;
	int i, round;

	ASSERT_NE(NULL, final);
	for (i = 0; i < 3; i++) {
		w[i] = (struct ivpre_writer){ .self = self, .region = i == 2,
					      .seed = self->c.seed + i + 1 };
		ASSERT_EQ(0, pthread_create(&w[i].tid, NULL, ivpre_write_loop,
					    &w[i]));
	}
	for (round = 0; round < 20; round++) {
		/* A round reads at most two BAR2s' worth: memory stays bounded. */
		ASSERT_OK(ivpre_drain_max(self->fd, &self->data, 2 * size));
		usleep(20000);
	}
	atomic_store(&self->stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(w[i].tid, NULL);
	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	pre = self->data.len;
	memcpy(final, (const void *)self->c.d.mem, size);

	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP_COPY)));
	n = mig_read_all(self->fd, &self->data, VMT_MiB, NULL, 0, NULL, NULL);
	ASSERT_LT(0, n) {
		TH_LOG("%s", vmt_errstr());
	}
	TH_LOG("%lu writes; stream %zu bytes in PRE_COPY + %zd in STOP_COPY (BAR2 %llu)",
	       atomic_load(&self->writes), pre, n, (unsigned long long)size);
	ASSERT_LT(1000, atomic_load(&self->writes));
	vmt_close(&self->fd);
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(RUNNING)));

	ASSERT_EQ(0, ivsh_restore(&self->b, self->data.p, self->data.len,
				  VMT_MiB, NULL)) {
		TH_LOG("%s", vmt_errstr());
	}
	for (i = 0; i < (int)(size / 4096); i++) {
		ASSERT_EQ(0, memcmp(final + (size_t)i * 4096,
				    (const void *)(self->b.mem + (size_t)i * 4096),
				    4096)) {
			TH_LOG("page %d of the destination differs from the source's final memory",
			       i);
		}
	}
	free(final);
}

/*
 * At the temporary end read() fails with ENOMSG and poll() waits; a store
 * through the mmap and a region write() on two pages far apart make exactly
 * two one-page MEM records dirty and wake poll().
 */
TEST_F(ivpre, dirty_bytes_exact_and_poll_wakes)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
	uint64_t initial = 1, dirty = 1, v = 0x1234;
	size_t before;
	char b[8];

	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	ASSERT_EQ(0, initial);
	ASSERT_EQ(0, dirty);
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b)));
	ASSERT_EQ(ENOMSG, errno);
	ASSERT_EQ(0, poll(&pfd, 1, 0));

	self->c.d.mem[10 * 4096 + 8] = 0x5a;
	ASSERT_EQ(1, poll(&pfd, 1, 10000));
	ASSERT_TRUE(pfd.revents & POLLIN);
	ASSERT_EQ(8, vdev_region_write(&self->c.d.dev, IVSHMEM_MEM_BAR,
				       100 * 4096, &v, 8));
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	ASSERT_EQ(0, initial);
	ASSERT_EQ(2 * (4096 + IVM_RECHDR_LEN), dirty);
	before = self->data.len;
	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	ASSERT_EQ(2 * (4096 + IVM_RECHDR_LEN), self->data.len - before);
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	ASSERT_EQ(0, dirty);
}

/*
 * A region write() whose user buffer faults half way fails with EFAULT
 * after storing the part before the fault: the page it stored must still
 * be sent again, so the driver marks the whole requested range.
 */
TEST_F(ivpre, failed_region_write_still_marks)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t initial = 1, dirty = 1, off = 20 * 4096;
	uint8_t *buf, want[4096];
	size_t before;
	ssize_t n;

	ASSERT_EQ(4096, pg);
	buf = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, mprotect(buf + pg, pg, PROT_NONE));
	memset(buf, 0xa5, pg);
	memset(want, 0xa5, sizeof(want));

	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	ASSERT_EQ(0, dirty);
	n = vdev_region_write(&self->c.d.dev, IVSHMEM_MEM_BAR, off, buf, 2 * pg);
	TH_LOG("write of one good and one unmapped page: %zd", n);
	ASSERT_GT(2 * pg, n);	/* it failed or stopped short */
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	ASSERT_LE(4096 + IVM_RECHDR_LEN, dirty);
	before = self->data.len;
	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	/* The stored page is in what pre-copy sent after the write. */
	ASSERT_NE(NULL, memmem(self->data.p + before, self->data.len - before,
			       want, sizeof(want)));
	munmap(buf, 2 * pg);
}

/*
 * Zero pages in PRE_COPY: A's BAR2 zeroed through the mmap but for one
 * page; GET_PRECOPY_INFO counts the pages not read yet as MEM pages (an
 * upper bound), the first pass sends them as ZERO records in a fraction of
 * that, and B, full of other data before, ends exactly like A.
 */
TEST_F_TIMEOUT(ivpre, zero_pages_shrink_precopy, 120)
{
	uint64_t size = self->c.d.mem_size, initial = 0, dirty = 0, i;
	uint8_t *want = calloc(1, size), *got = malloc(size);
	ssize_t n;

	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, got);
	vmt_pattern_fill(want + 4096, 4096, 4096, self->c.seed);
	vmt_copy_to_io(self->c.d.mem, want, size);
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	/* nothing read yet: the header and a MEM record per MiB */
	ASSERT_EQ(ivm_stream_len(size, 0) - IVM_RECHDR_LEN - IVM_REGS_LEN -
		  IVM_RECHDR_LEN - IVM_END_LEN, initial + dirty);
	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	TH_LOG("BAR2 %llu bytes: PRECOPY_INFO said %llu, pre-copy sent %zu",
	       (unsigned long long)size, (unsigned long long)(initial + dirty),
	       self->data.len);
	ASSERT_GT(size / 16, self->data.len);
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	ASSERT_EQ(0, initial);
	ASSERT_EQ(0, dirty);

	ivsh_fill(&self->b, self->c.seed ^ 1);
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP_COPY)));
	n = mig_read_all(self->fd, &self->data, VMT_MiB, NULL, 0, NULL, NULL);
	ASSERT_LT(0, n) {
		TH_LOG("%s", vmt_errstr());
	}
	/* nothing dirty: REGS and END only */
	ASSERT_EQ(IVM_RECHDR_LEN + IVM_REGS_LEN + IVM_RECHDR_LEN + IVM_END_LEN, n);
	vmt_close(&self->fd);
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(RUNNING)));
	ASSERT_EQ(0, ivsh_restore(&self->b, self->data.p, self->data.len,
				  VMT_MiB, NULL)) {
		TH_LOG("%s", vmt_errstr());
	}
	vmt_copy_from_io(got, self->b.mem, size);
	for (i = 0; i < size && got[i] == want[i]; i++)
		;
	ASSERT_EQ(size, i) {
		TH_LOG("B differs from A at 0x%llx: 0x%02x, want 0x%02x",
		       (unsigned long long)i, got[i], want[i]);
	}
	free(got);
	free(want);
}

/* ------------------------------------------------------------------------
 * VFIO_DEVICE_IOEVENTFD on BAR2: its writes go from the vfio-pci core
 * straight to the BAR, past the fault path that tracks.
 */

#define IVPRE_EVT_OFF	(7 * 4096 + 16)	/* where the ioeventfd writes */

/*
 * BAR2 of A, read with region read(), which (unlike the mmap) does not make
 * pages dirty: a test that looked through the mmap would mark every page
 * and hide what tracking missed.
 */
static int ivpre_snapshot(FIXTURE_DATA(ivpre) *self, uint8_t *out)
{
	uint64_t size = self->c.d.mem_size, off;

	for (off = 0; off < size; off += VMT_MiB) {
		size_t len = size - off < VMT_MiB ? size - off : VMT_MiB;
		ssize_t n = vdev_region_read(&self->c.d.dev, IVSHMEM_MEM_BAR,
					     off, out + off, len);

		if (n != (ssize_t)len)
			return n < 0 ? (int)n : -EIO;
	}
	return 0;
}

/* A value for the ioeventfd that BAR2 does not hold at IVPRE_EVT_OFF now. */
static int ivpre_evt_value(FIXTURE_DATA(ivpre) *self, uint32_t *v)
{
	uint32_t cur;
	int ret = vdev_rd32(&self->c.d.dev, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF, &cur);

	*v = ~cur ^ (uint32_t)self->c.seed;
	if (*v == cur)
		*v = ~cur;
	return ret;
}

/*
 * Signals @efd and waits until the ioeventfd's write of @v arrived (the
 * core makes it at once, or from a workqueue when memory_lock is busy).
 * The bound only keeps a broken kernel from hanging the run.
 */
static int ivpre_fire(FIXTURE_DATA(ivpre) *self, int efd, uint32_t v)
{
	uint64_t one = 1;
	uint32_t cur = 0;
	int i, ret;

	if (write(efd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	for (i = 0; i < 100000; i++) {
		ret = vdev_rd32(&self->c.d.dev, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF,
				&cur);
		if (ret)
			return ret;
		if (cur == v)
			return 0;
		usleep(1000);
	}
	vmt_seterr("the ioeventfd's write of 0x%08x never reached BAR2 (0x%08x there)",
		   v, cur);
	return -ETIMEDOUT;
}

/*
 * STOP_COPY on the session, the rest of the stream, back to RUNNING, and a
 * restore into B that must equal @final page by page.  Returns the bytes of
 * STOP_COPY in *@stop.
 */
static void ivpre_finish(struct __test_metadata *_metadata,
			 FIXTURE_DATA(ivpre) *self, const uint8_t *final,
			 ssize_t *stop)
{
	uint64_t size = self->c.d.mem_size;
	uint8_t *got;
	size_t i;

	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(STOP_COPY)));
	*stop = mig_read_all(self->fd, &self->data, VMT_MiB, NULL, 0, NULL,
			     NULL);
	ASSERT_LT(0, *stop) {
		TH_LOG("%s", vmt_errstr());
	}
	vmt_close(&self->fd);
	ASSERT_OK(mig_set_state_nofd(self->c.d.dev.fd, STATE(RUNNING)));
	ASSERT_EQ(0, ivsh_restore(&self->b, self->data.p, self->data.len,
				  VMT_MiB, NULL)) {
		TH_LOG("%s", vmt_errstr());
	}
	got = malloc(size);
	ASSERT_NE(NULL, got);
	vmt_copy_from_io(got, self->b.mem, size);
	for (i = 0; i < size / 4096; i++) {
		ASSERT_EQ(0, memcmp(final + i * 4096, got + i * 4096, 4096)) {
			TH_LOG("page %zu of the destination differs from the source's final memory",
			       i);
			free(got);
		}
	}
	free(got);
}

/*
 * While PRE_COPY tracks, arming an ioeventfd on BAR2 fails with EBUSY (the
 * user did not opt in to MIG_PRECOPY_INFOv2); one on BAR0 is not refused,
 * and once the session is left BAR2 takes one again.
 */
TEST_F(ivpre, ioeventfd_refused_while_tracking)
{
	struct vdev *d = &self->c.d.dev;
	int efd = eventfd(0, EFD_CLOEXEC);

	ASSERT_LE(0, efd);
	ASSERT_ERRNO(EBUSY, vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF,
					   4, 0x1234, efd));
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_REG_BAR, IVSHMEM_INTRMASK, 4, 0,
				 efd));
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_REG_BAR, IVSHMEM_INTRMASK, 4, 0,
				 -1));
	/* The session goes on. */
	ASSERT_OK(mig_precopy_info(self->fd, NULL, NULL));
	ASSERT_STATE(d->fd, STATE(PRE_COPY));

	ASSERT_OK(mig_set_state_nofd(d->fd, STATE(RUNNING)));
	vmt_close(&self->fd);
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF, 4, 0x1234,
				 efd));
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF, 4, 0x1234,
				 -1));
	ASSERT_ERRNO(ENODEV, vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF,
					    4, 0x1234, -1));
	close(efd);
}

/*
 * An ioeventfd armed on BAR2 before PRE_COPY writes a page after pre-copy
 * sent it, unseen by tracking: STOP_COPY sends all of BAR2 again, and the
 * destination gets the write.
 */
TEST_F_TIMEOUT(ivpre, ioeventfd_before_precopy_sent_in_stop_copy, 120)
{
	struct vdev *d = &self->c.d.dev;
	uint8_t *final = malloc(self->c.d.mem_size);
	int efd = eventfd(0, EFD_CLOEXEC);
	ssize_t stop;
	uint32_t v;

	ASSERT_NE(NULL, final);
	ASSERT_LE(0, efd);
	ASSERT_OK(mig_set_state_nofd(d->fd, STATE(RUNNING)));
	vmt_close(&self->fd);
	ASSERT_OK(ivpre_evt_value(self, &v));
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF, 4, v, efd));
	ASSERT_OK(mig_set_state(d->fd, STATE(PRE_COPY), &self->fd));
	ASSERT_LE(0, self->fd);

	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	ASSERT_OK(ivpre_fire(self, efd, v));
	ASSERT_OK(ivpre_snapshot(self, final));
	ivpre_finish(_metadata, self, final, &stop);
	TH_LOG("stream %zu bytes, %zd of them in STOP_COPY (BAR2 %llu)",
	       self->data.len, stop, (unsigned long long)self->c.d.mem_size);
	ASSERT_LE((ssize_t)self->c.d.mem_size, stop) {
		TH_LOG("STOP_COPY did not send all of BAR2 again");
	}
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF, 4, v, -1));
	close(efd);
	free(final);
}

#define NO_PRECOPY_INFO_V2 \
	"kernel without VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (Linux 7.1+)"

/*
 * Linux 7.1+: after the MIG_PRECOPY_INFOv2 opt-in, an ioeventfd armed on
 * BAR2 while tracking is allowed and loses tracking: the next
 * GET_PRECOPY_INFO reports VFIO_PRECOPY_INFO_REINIT once, with
 * initial_bytes back to the MEM records of all of BAR2 and dirty_bytes 0,
 * and exactly that much follows.  With the ioeventfd gone, tracking is whole again: STOP_COPY
 * sends no page, and the destination still equals the source.
 */
TEST_F_TIMEOUT(ivpre, reinit_after_ioeventfd_resends_all, 120)
{
	struct vdev *d = &self->c.d.dev;
	uint8_t *final = malloc(self->c.d.mem_size);
	uint64_t init0 = 0, initial = 1, dirty = 1;
	int efd = eventfd(0, EFD_CLOEXEC);
	uint32_t v, fl = 0;
	size_t before;
	ssize_t stop;
	int r;

	ASSERT_NE(NULL, final);
	ASSERT_LE(0, efd);
	r = vfio_feature_probe(d->fd, VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
			       VFIO_DEVICE_FEATURE_SET);
	if (r == -ENOTTY) {
		free(final);
		close(efd);
		SKIP(return, NO_PRECOPY_INFO_V2);
	}
	ASSERT_OK(r);
	ASSERT_OK(mig_precopy_v2_enable(d->fd));
	ASSERT_OK(mig_precopy_info_flags(self->fd, 0, &fl, &init0, NULL));
	ASSERT_EQ(0, fl);
	ASSERT_OK(ivpre_drain(self->fd, &self->data));

	ASSERT_OK(ivpre_evt_value(self, &v));
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF, 4, v, efd));
	ASSERT_OK(ivpre_fire(self, efd, v));
	ASSERT_OK(vdev_ioeventfd(d, IVSHMEM_MEM_BAR, IVPRE_EVT_OFF, 4, v, -1));

	ASSERT_OK(mig_precopy_info_flags(self->fd, 0, &fl, &initial, &dirty));
	ASSERT_EQ(VFIO_PRECOPY_INFO_REINIT, fl) {
		TH_LOG("no REINIT after an ioeventfd armed on BAR2 while tracking (flags 0x%x)",
		       fl);
	}
	/* All of BAR2 again: what PRE_COPY began with, but the stream header. */
	ASSERT_EQ(init0 - IVM_HDR_LEN, initial);
	ASSERT_EQ(0, dirty);
	ASSERT_OK(mig_precopy_info_flags(self->fd, 0, &fl, &initial, &dirty));
	ASSERT_EQ(0, fl) {
		TH_LOG("REINIT reported twice for one loss of tracking");
	}
	before = self->data.len;
	ASSERT_OK(ivpre_drain(self->fd, &self->data));
	ASSERT_EQ(init0 - IVM_HDR_LEN, self->data.len - before);

	ASSERT_OK(ivpre_snapshot(self, final));
	ivpre_finish(_metadata, self, final, &stop);
	TH_LOG("stream %zu bytes, %zd of them in STOP_COPY (BAR2 %llu)",
	       self->data.len, stop, (unsigned long long)self->c.d.mem_size);
	ASSERT_GT(4096, stop) {
		TH_LOG("STOP_COPY sent pages although tracking was whole again");
	}
	close(efd);
	free(final);
}

VMT_TEST_MAIN
