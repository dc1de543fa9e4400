// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci on devices outside the migration pair:
 *
 *  - IVSHMEM_BDF_NORESET: an ivshmem-plain directly on the root complex.  The
 *    PCI core has no reset method for it, so the driver resets it itself;
 *    VFIO_DEVICE_RESET must still work and do what a reset does.
 *  - IVSHMEM_BDF_DOORBELL: an ivshmem-doorbell (MSI-X, BAR1).  Same IDs, but
 *    not migratable: bound without the migration feature, kernel log says why,
 *    and otherwise a plain vfio-pci device.
 *
 * Each fixture skips when its variable is unset.
 */
#include "vmt_test.h"

#define MIG_STOP	VFIO_DEVICE_STATE_STOP
#define MIG_RUNNING	VFIO_DEVICE_STATE_RUNNING

FIXTURE(noreset) {
	struct ivsh s;
};

FIXTURE_SETUP(noreset)
{
	const char *bdf = getenv("IVSHMEM_BDF_NORESET");

	ivsh_init(&self->s);
	if (!bdf || !*bdf)
		VMT_SKIP_SETUP("IVSHMEM_BDF_NORESET not set");
	ASSERT_EQ(0, ivsh_open(&self->s, bdf));
	ASSERT_EQ(0, ivsh_map(&self->s));
}

FIXTURE_TEARDOWN(noreset)
{
	ivsh_close(&self->s);
}

/* The PCI core really cannot reset it: otherwise this tests nothing. */
TEST_F(noreset, no_pci_reset_method)
{
	char path[128], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 self->s.dev.bdf);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	EXPECT_EQ(0, strlen(buf)) TH_LOG("reset_method: %s", buf);
}

TEST_F(noreset, reports_reset_flag)
{
	EXPECT_TRUE(self->s.dev.info.flags & VFIO_DEVICE_FLAGS_RESET);
}

TEST_F(noreset, reset_clears_registers_keeps_memory)
{
	uint32_t mask, status;

	ASSERT_EQ(0, ivsh_set_regs(&self->s, 0xffffffff, 0x5));
	ASSERT_EQ(0, ivsh_get_regs(&self->s, &mask, &status));
	ASSERT_EQ(0xffffffff, mask);
	ivsh_fill(&self->s, 0x1234);
	ASSERT_EQ(0, vdev_reset(&self->s.dev));
	ASSERT_EQ(0, ivsh_rd(&self->s, IVSHMEM_INTRMASK, &mask));
	ASSERT_EQ(0, ivsh_rd(&self->s, IVSHMEM_INTRSTATUS, &status));
	EXPECT_EQ(0, mask);
	EXPECT_EQ(0, status);
	EXPECT_EQ(UINT64_MAX, ivsh_verify(&self->s, 0x1234));
}

TEST_F(noreset, reset_kills_save_session)
{
	uint32_t state = ~0U;
	int data_fd = -1;
	char c;

	ASSERT_EQ(0, mig_set_state(self->s.dev.fd,
				   VFIO_DEVICE_STATE_STOP_COPY, &data_fd));
	ASSERT_LE(0, data_fd);
	ASSERT_EQ(1, read(data_fd, &c, 1));
	ASSERT_EQ(0, vdev_reset(&self->s.dev));
	ASSERT_EQ(0, mig_get_state(self->s.dev.fd, &state));
	EXPECT_EQ(MIG_RUNNING, state);
	EXPECT_EQ(-1, read(data_fd, &c, 1));
	EXPECT_EQ(ENODEV, errno);
	close(data_fd);
	/* running again: BAR access works */
	EXPECT_EQ(0, ivsh_rd(&self->s, IVSHMEM_INTRMASK, &state));
}

TEST_F(noreset, reset_leaves_error)
{
	static const char junk[64];
	uint32_t state = ~0U;
	int data_fd = -1;

	ASSERT_EQ(0, mig_set_state(self->s.dev.fd,
				   VFIO_DEVICE_STATE_RESUMING, &data_fd));
	ASSERT_LE(0, data_fd);
	EXPECT_EQ(-1, write(data_fd, junk, sizeof(junk)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, mig_set_state_nofd(self->s.dev.fd, MIG_STOP));
	ASSERT_EQ(0, mig_get_state(self->s.dev.fd, &state));
	ASSERT_EQ(VFIO_DEVICE_STATE_ERROR, state);
	ASSERT_EQ(0, vdev_reset(&self->s.dev));
	ASSERT_EQ(0, mig_get_state(self->s.dev.fd, &state));
	EXPECT_EQ(MIG_RUNNING, state);
	close(data_fd);
}

FIXTURE(doorbell) {
	struct vdev d;
	const char *bdf;
};

FIXTURE_SETUP(doorbell)
{
	self->bdf = getenv("IVSHMEM_BDF_DOORBELL");
	vdev_init(&self->d);
	if (!self->bdf || !*self->bdf)
		VMT_SKIP_SETUP("IVSHMEM_BDF_DOORBELL not set");
	ASSERT_EQ(0, vdev_open(&self->d, self->bdf));
}

FIXTURE_TEARDOWN(doorbell)
{
	vdev_close(&self->d);
}

TEST_F(doorbell, bound_to_our_driver)
{
	char path[128], link[256] = "";
	const char *drv = getenv("IVSHMEM_DRIVER");
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver",
		 self->d.bdf);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	EXPECT_EQ(0, strcmp(strrchr(link, '/') + 1,
			    drv ? drv : "ivshmem-vfio-pci")) TH_LOG("%s", link);
}

TEST_F(doorbell, has_msix_and_bar1)
{
	EXPECT_LT(0, vdev_region_size(&self->d, VFIO_PCI_BAR1_REGION_INDEX));
}

TEST_F(doorbell, no_migration_feature)
{
	uint64_t flags;

	EXPECT_EQ(-ENOTTY, mig_get_flags(self->d.fd, &flags));
	EXPECT_EQ(-ENOTTY, mig_set_state_nofd(self->d.fd, MIG_STOP));
}

TEST_F(doorbell, kernel_log_says_why)
{
	char cmd[256], line[512];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "dmesg 2>/dev/null | grep '%s'",
		 self->d.bdf);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "without migration support"))
			found = true;
	pclose(p);
	EXPECT_TRUE(found);
}

/* Not frozen by anything: a plain vfio-pci device. */
TEST_F(doorbell, memory_and_reset_work)
{
	uint32_t v = 0;

	ASSERT_EQ(0, vdev_enable_memory(&self->d));
	ASSERT_EQ(4, vdev_region_write(&self->d, IVSHMEM_MEM_BAR, 64,
				       &(uint32_t){ 0xfeedf00d }, 4));
	ASSERT_EQ(4, vdev_region_read(&self->d, IVSHMEM_MEM_BAR, 64, &v, 4));
	EXPECT_EQ(0xfeedf00d, v);
	if (self->d.info.flags & VFIO_DEVICE_FLAGS_RESET)
		EXPECT_EQ(0, vdev_reset(&self->d));
}

TEST_HARNESS_MAIN
