// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci error paths, driven by the driver's own error injection
 * (<debugfs>/ivshmem_vfio_pci/fail_next: the next pass through the named
 * point fails once).  Each test makes one step fail and then checks that the
 * device is in the documented state, that nothing half-made is left behind,
 * and that the next migration works byte for byte.
 *
 * Uses IVSHMEM_BDF_A (source) and IVSHMEM_BDF_B (destination).
 */

#include "vmt_test.h"

#define FAIL_NEXT	IVSH_DEBUGFS "/fail_next"
#define SEED		0x5eedf00dULL

static int fail_next(const char *point)
{
	int fd = ivsh_debugfs_open("fail_next", O_WRONLY), ret = 0;

	if (fd < 0)
		return fd;
	if (write(fd, point, strlen(point)) != (ssize_t)strlen(point))
		ret = -errno;
	close(fd);
	return ret;
}

static uint32_t state_of(struct ivsh *s)
{
	uint32_t st = ~0U;

	if (mig_get_state(s->dev.fd, &st))
		return ~0U;
	return st;
}

FIXTURE(fault) {
	struct ivsh a, b;
	struct vmt_buf stream;
};

FIXTURE_SETUP(fault)
{
	const char *ba = getenv("IVSHMEM_BDF_A"), *bb = getenv("IVSHMEM_BDF_B");

	ivsh_init(&self->a);
	ivsh_init(&self->b);
	memset(&self->stream, 0, sizeof(self->stream));
	if (!ba || !bb)
		VMT_SKIP_SETUP("IVSHMEM_BDF_A / IVSHMEM_BDF_B not set");
	if (fail_next("none"))
		VMT_SKIP_SETUP("no %s (driver without error injection?)",
			       FAIL_NEXT);
	ASSERT_EQ(0, ivsh_open(&self->a, ba));
	ASSERT_EQ(0, ivsh_open(&self->b, bb));
	ASSERT_EQ(0, ivsh_map(&self->a));
	ASSERT_EQ(0, ivsh_map(&self->b));
	ivsh_fill(&self->a, SEED);
	ASSERT_EQ(0, ivsh_set_regs(&self->a, 0x0000ff00, 0x00000011));
}

FIXTURE_TEARDOWN(fault)
{
	fail_next("none");
	free(self->stream.p);
	ivsh_close(&self->a);
	ivsh_close(&self->b);
}

/* The whole migration A -> B works and moves memory and registers. */
static void migrate_ok(struct __test_metadata *_metadata,
		       FIXTURE_DATA(fault) *self)
{
	uint32_t mask, status;

	self->stream.len = 0;
	ASSERT_EQ(0, ivsh_save(&self->a, &self->stream, 65536, NULL));
	ASSERT_EQ(0, ivsh_restore(&self->b, self->stream.p, self->stream.len,
				  65536, NULL));
	EXPECT_EQ(UINT64_MAX, ivsh_verify(&self->b, SEED));
	ASSERT_EQ(0, ivsh_get_regs(&self->b, &mask, &status));
	EXPECT_EQ(0x0000ff00, mask);
	EXPECT_EQ(0x00000011, status);
}

/* A failure creating the save file: SET fails, the device stays in STOP. */
static void save_setup_fails(struct __test_metadata *_metadata,
			     FIXTURE_DATA(fault) *self, const char *point,
			     int err)
{
	int fd = -1;

	ASSERT_EQ(0, mig_set_state_nofd(self->a.dev.fd,
					VFIO_DEVICE_STATE_STOP));
	ASSERT_EQ(0, fail_next(point));
	EXPECT_EQ(-err, mig_set_state(self->a.dev.fd,
				      VFIO_DEVICE_STATE_STOP_COPY, &fd));
	EXPECT_EQ(VFIO_DEVICE_STATE_STOP, state_of(&self->a));
	ASSERT_EQ(0, mig_set_state_nofd(self->a.dev.fd,
					VFIO_DEVICE_STATE_RUNNING));
	migrate_ok(_metadata, self);
}

TEST_F(fault, save_file_alloc)
{
	save_setup_fails(_metadata, self, "file_alloc", ENOMEM);
}

TEST_F(fault, save_bounce_alloc)
{
	save_setup_fails(_metadata, self, "bounce_alloc", ENOMEM);
}

TEST_F(fault, save_anon_file)
{
	save_setup_fails(_metadata, self, "anon_file", ENFILE);
}

TEST_F(fault, save_regs)
{
	uint32_t mask, status;

	save_setup_fails(_metadata, self, "save_regs", EIO);
	ASSERT_EQ(0, ivsh_get_regs(&self->a, &mask, &status));
	EXPECT_EQ(0x0000ff00, mask);
	EXPECT_EQ(0x00000011, status);
}

/* A failed save of the registers frees the new save file, every time. */
TEST_F(fault, save_regs_leaves_no_file)
{
	long before = 0, after = 0;
	int i, fd;

	ASSERT_EQ(0, ivsh_module_refs(&before));
	ASSERT_EQ(0, mig_set_state_nofd(self->a.dev.fd,
					VFIO_DEVICE_STATE_STOP));
	for (i = 0; i < 8; i++) {
		fd = -1;
		ASSERT_EQ(0, fail_next("save_regs"));
		ASSERT_EQ(-EIO, mig_set_state(self->a.dev.fd,
					      VFIO_DEVICE_STATE_STOP_COPY, &fd));
		ASSERT_EQ(-1, fd);
	}
	ASSERT_EQ(0, mig_set_state_nofd(self->a.dev.fd,
					VFIO_DEVICE_STATE_RUNNING));
	ASSERT_EQ(0, ivsh_module_refs(&after));
	ASSERT_EQ(before, after) {
		TH_LOG("%ld more module references after 8 failed saves: data files leaked",
		       after - before);
	}
	migrate_ok(_metadata, self);
}

/* A combination transition stops at the last state it reached. */
TEST_F(fault, combination_stops_in_stop)
{
	int fd = -1;

	ASSERT_EQ(0, fail_next("file_alloc"));
	EXPECT_EQ(-ENOMEM, mig_set_state(self->a.dev.fd,
					 VFIO_DEVICE_STATE_STOP_COPY, &fd));
	EXPECT_EQ(VFIO_DEVICE_STATE_STOP, state_of(&self->a));
	ASSERT_EQ(0, mig_set_state_nofd(self->a.dev.fd,
					VFIO_DEVICE_STATE_RUNNING));
	migrate_ok(_metadata, self);
}

TEST_F(fault, resume_file_alloc)
{
	int fd = -1;

	ASSERT_EQ(0, mig_set_state_nofd(self->b.dev.fd,
					VFIO_DEVICE_STATE_STOP));
	ASSERT_EQ(0, fail_next("file_alloc"));
	EXPECT_EQ(-ENOMEM, mig_set_state(self->b.dev.fd,
					 VFIO_DEVICE_STATE_RESUMING, &fd));
	EXPECT_EQ(VFIO_DEVICE_STATE_STOP, state_of(&self->b));
	ASSERT_EQ(0, mig_set_state_nofd(self->b.dev.fd,
					VFIO_DEVICE_STATE_RUNNING));
	migrate_ok(_metadata, self);
}

/* A device read failure fails that read(); the stream goes on unharmed. */
TEST_F(fault, mem_read_retry)
{
	struct ivm_checker c;
	uint8_t *buf;
	ssize_t n, got = 0;
	uint64_t size;
	int fd = -1;

	ASSERT_EQ(0, ivsh_data_size(&self->a, &size));
	buf = malloc(size + 1);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, mig_set_state(self->a.dev.fd,
				   VFIO_DEVICE_STATE_STOP_COPY, &fd));
	/*
	 * The header alone: the next read loads the first window of BAR2
	 * from the device (a save reads a whole window before its records),
	 * and a failed load must be retried, not lose the window's pages.
	 */
	ASSERT_EQ(IVM_HDR_LEN, read(fd, buf, IVM_HDR_LEN));
	got = IVM_HDR_LEN;
	ASSERT_EQ(0, fail_next("mem_read"));
	EXPECT_EQ(-1, read(fd, buf + got, 4096));
	EXPECT_EQ(EIO, errno);
	while ((n = read(fd, buf + got, size + 1 - got)) > 0)
		got += n;
	EXPECT_EQ(0, n);
	EXPECT_EQ((ssize_t)size, got);
	close(fd);
	ivm_check_init(&c);
	EXPECT_EQ(0, ivm_check_buf(&c, buf, got)) TH_LOG("%s", c.err);
	ivm_check_free(&c);
	free(buf);
	ASSERT_EQ(0, mig_set_state_nofd(self->a.dev.fd,
					VFIO_DEVICE_STATE_RUNNING));
	migrate_ok(_metadata, self);
}

/* A device write failure ends the session: ERROR until reset. */
TEST_F(fault, mem_write_error)
{
	int fd = -1;

	ASSERT_EQ(0, ivsh_save(&self->a, &self->stream, 65536, NULL));
	ASSERT_EQ(0, mig_set_state(self->b.dev.fd,
				   VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_EQ(0, fail_next("mem_write"));
	EXPECT_EQ(-1, write(fd, self->stream.p, self->stream.len));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, write(fd, self->stream.p, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, mig_set_state_nofd(self->b.dev.fd,
					      VFIO_DEVICE_STATE_STOP));
	EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, state_of(&self->b));
	close(fd);
	ASSERT_EQ(0, vdev_reset(&self->b.dev));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state_of(&self->b));
	migrate_ok(_metadata, self);
}

/* Loading the registers fails after a complete stream: ERROR until reset. */
TEST_F(fault, load_regs)
{
	int fd = -1;

	ASSERT_EQ(0, ivsh_save(&self->a, &self->stream, 65536, NULL));
	ASSERT_EQ(0, mig_set_state(self->b.dev.fd,
				   VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_EQ(0, mig_write_all(fd, self->stream.p, self->stream.len,
				   65536, NULL, NULL));
	ASSERT_EQ(0, fail_next("load_regs"));
	EXPECT_EQ(-EIO, mig_set_state_nofd(self->b.dev.fd,
					   VFIO_DEVICE_STATE_STOP));
	EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, state_of(&self->b));
	close(fd);
	ASSERT_EQ(0, vdev_reset(&self->b.dev));
	migrate_ok(_metadata, self);
}

TEST_F(fault, dma_log_alloc)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0x100000, .length = 0x100000,
	};
	uint64_t page_size = 4096;

	if (vfio_feature_probe(self->a.dev.fd, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			       VFIO_DEVICE_FEATURE_SET))
		SKIP(return, "the driver offers no DMA logging on this kernel");
	ASSERT_EQ(0, fail_next("log_alloc"));
	EXPECT_EQ(-ENOMEM, dma_log_start(self->a.dev.fd, &page_size, &r, 1));
	page_size = 4096;
	EXPECT_EQ(0, dma_log_start(self->a.dev.fd, &page_size, &r, 1));
	EXPECT_EQ(0, dma_log_stop(self->a.dev.fd));
}

TEST_F(fault, knob_rejects_unknown_point)
{
	EXPECT_EQ(-EINVAL, fail_next("no_such_point"));
	EXPECT_EQ(0, fail_next("none"));
}

TEST_HARNESS_MAIN
