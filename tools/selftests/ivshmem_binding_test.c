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
 *  - IVSHMEM_BDF_C: unbound from the driver while the user holds the device
 *    and a data fd, then bound again.
 *
 * Each fixture skips when its variable is unset.
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

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
			    drv ? drv : IVSH_DRIVER_NAME)) TH_LOG("%s", link);
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

/* ------------------------------------------------------------------------
 * Unbinding the driver from a device in use.  The unbind blocks until the
 * user closes the device; vfio asks the user to do so through the request
 * eventfd (VFIO_PCI_REQ_IRQ_INDEX), as QEMU expects.  A data fd the user
 * keeps must then fail without touching the freed device.
 */

FIXTURE(unbind) {
	struct ivsh s;
	struct vmt_kmsg kmsg;
	char bdf[64];
	char drv[64];
	int dfd;
	int efd;
	int guard_fd;
	pid_t guard;
	pid_t unbinder;
	long refs;
};

FIXTURE_VARIANT(unbind) {
	uint32_t state;
};

FIXTURE_VARIANT_ADD(unbind, stop_copy) { .state = VFIO_DEVICE_STATE_STOP_COPY };
FIXTURE_VARIANT_ADD(unbind, resuming) { .state = VFIO_DEVICE_STATE_RESUMING };

/* The name of the driver bound to @bdf into @out, or "" if none. */
static void bound_driver(const char *bdf, char *out, size_t len)
{
	char path[128], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		n = 0;
	link[n] = 0;
	snprintf(out, len, "%s", n ? strrchr(link, '/') + 1 : "");
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Whether @pid ended within @ms milliseconds; its wait status in @status.
 * The child is reaped only then.
 */
static bool wait_child(pid_t pid, unsigned int ms, int *status)
{
	for (;;) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return true;
		if (!ms--)
			return false;
		vmt_sleep_ms(1);
	}
}

/*
 * A child that binds @bdf to @drv again once the pipe whose write end it
 * returns in @wfd is closed by everybody: by the test (teardown), by the
 * unbinding child (which holds a copy) when its unbind is over, or by the
 * kernel when either dies.  So the device is bound again whatever happens
 * to the test, and never while an unbind of it is still in progress.  Forked
 * before the device is opened, so it holds no reference to it.
 */
static pid_t start_rebind_guard(const char *bdf, const char *drv, int *wfd)
{
	char cur[64];
	int p[2], i;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (!pid) {
		close(p[1]);
		while (read(p[0], &c, 1) > 0 || errno == EINTR)
			;
		for (i = 0; i < 50; i++) {
			bound_driver(bdf, cur, sizeof(cur));
			if (!strcmp(cur, drv))
				_exit(0);
			if (!cur[0])
				sysfs_write("/sys/bus/pci/drivers_probe", bdf);
			vmt_sleep_ms(100);
		}
		_exit(1);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

/*
 * Unbinds @bdf from @drv in a new process, which blocks until the device is
 * released.  It is a shell, exec'ed: a forked copy of this process would
 * hold the device fd and the BAR mapping itself, and the unbind would wait
 * for it forever.  It keeps the guard's pipe open (as fd 3) while it runs.
 */
static pid_t start_unbind(const char *bdf, const char *drv, int guard_fd)
{
	char path[128];
	pid_t pid;

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		if (dup2(guard_fd, 3) != 3)
			_exit(126);
		execl("/bin/sh", "sh", "-c", "printf %s \"$0\" > \"$1\"", bdf,
		      path, (char *)NULL);
		_exit(127);
	}
	return pid;
}

FIXTURE_SETUP(unbind)
{
	const char *drv = getenv("IVSHMEM_DRIVER");
	const char *bdf = getenv("IVSHMEM_BDF_C");

	ivsh_init(&self->s);
	self->dfd = -1;
	self->efd = -1;
	self->guard_fd = -1;
	self->guard = -1;
	self->unbinder = -1;
	vmt_kmsg_open(&self->kmsg);
	if (!bdf || !*bdf)
		VMT_SKIP_SETUP("IVSHMEM_BDF_C not set");
	vdev_norm_bdf(self->bdf, sizeof(self->bdf), bdf);
	snprintf(self->drv, sizeof(self->drv), "%s",
		 drv && *drv ? drv : IVSH_DRIVER_NAME);
	ASSERT_EQ(0, ivsh_module_refs(&self->refs));
	self->guard = start_rebind_guard(self->bdf, self->drv, &self->guard_fd);
	ASSERT_LT(0, self->guard);
	ASSERT_EQ(0, ivsh_open(&self->s, self->bdf)) {
		TH_LOG("%s", vmt_errstr());
	}
	ivsh_fill(&self->s, 0x0b1dULL);
}

FIXTURE_TEARDOWN(unbind)
{
	int st;

	ivsh_close(&self->s);
	if (self->unbinder > 0 && !wait_child(self->unbinder, 60000, &st))
		TH_LOG("the unbind of %s has not ended", self->bdf);
	vmt_close(&self->dfd);
	vmt_close(&self->efd);
	vmt_close(&self->guard_fd);
	if (self->guard > 0 && !wait_child(self->guard, 60000, &st))
		TH_LOG("%s: the rebinding guard has not ended", self->bdf);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/* Listens to vfio's requests to release the device on @efd. */
static int set_req_eventfd(const struct vdev *d, int efd)
{
	uint64_t buf[4] = { 0 };
	struct vfio_irq_set *irq = (void *)buf;

	irq->argsz = sizeof(*irq) + sizeof(int32_t);
	irq->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq->index = VFIO_PCI_REQ_IRQ_INDEX;
	irq->count = 1;
	memcpy(irq->data, &efd, sizeof(efd));
	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, irq) ? -errno : 0;
}

TEST_F(unbind, while_data_fd_open)
{
	struct pollfd pfd = { .events = POLLIN };
	bool resuming = variant->state == VFIO_DEVICE_STATE_RESUMING;
	struct vmt_buf stream = { 0 };
	char cur[64], b[4096];
	uint64_t len = 0;
	long refs = 0;
	int st = 0;

	ASSERT_EQ(0, ivsh_save(&self->s, &stream, VMT_MiB, NULL));
	self->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->efd);
	ASSERT_EQ(0, set_req_eventfd(&self->s.dev, self->efd)) {
		TH_LOG("VFIO_DEVICE_SET_IRQS (request): %s", strerror(errno));
	}
	ASSERT_EQ(0, mig_set_state(self->s.dev.fd, variant->state, &self->dfd));
	if (resuming) {
		ASSERT_EQ(sizeof(b), write(self->dfd, stream.p, sizeof(b)));
	} else {
		ASSERT_EQ(sizeof(b), read(self->dfd, b, sizeof(b)));
	}

	self->unbinder = start_unbind(self->bdf, self->drv, self->guard_fd);
	ASSERT_LT(0, self->unbinder);
	pfd.fd = self->efd;
	ASSERT_EQ(1, poll(&pfd, 1, 30000)) {
		TH_LOG("no request to release the device within 30 s of the unbind");
	}
	/*
	 * The unbind waits for the user (the driver link is gone already:
	 * the driver core removes it before it calls the driver's remove).
	 */
	ASSERT_FALSE(wait_child(self->unbinder, 0, &st)) {
		TH_LOG("the unbind ended while the device was open");
	}

	ivsh_close(&self->s);
	ASSERT_TRUE(wait_child(self->unbinder, 60000, &st)) {
		TH_LOG("the unbind did not end within 60 s of closing the device");
	}
	self->unbinder = -1;
	ASSERT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st)) {
		TH_LOG("the unbind failed: wait status 0x%x", st);
	}
	bound_driver(self->bdf, cur, sizeof(cur));
	ASSERT_STREQ("", cur);

	/* The device is gone; the data fd fails and frees itself on close. */
	if (resuming) {
		ASSERT_EQ(-ENODEV, vmt_write1(self->dfd));
	} else {
		ASSERT_EQ(-ENODEV, vmt_read1(self->dfd));
	}
	vmt_close(&self->dfd);
	ASSERT_EQ(0, ivsh_module_refs(&refs));
	ASSERT_EQ(self->refs, refs) {
		TH_LOG("%ld module references more than before: something of the device outlived it",
		       refs - self->refs);
	}

	/* Bound again (driver_override still names the driver), it works. */
	ASSERT_EQ(0, sysfs_write("/sys/bus/pci/drivers_probe", self->bdf));
	bound_driver(self->bdf, cur, sizeof(cur));
	ASSERT_STREQ(self->drv, cur);
	ASSERT_EQ(0, ivsh_open(&self->s, self->bdf)) {
		TH_LOG("%s", vmt_errstr());
	}
	ASSERT_EQ(UINT64_MAX, ivsh_verify(&self->s, 0x0b1dULL));
	ASSERT_EQ(0, ivsh_data_size(&self->s, &len));
	ASSERT_EQ(stream.len, len);
	stream.len = 0;
	ASSERT_EQ(0, ivsh_save(&self->s, &stream, VMT_MiB, NULL));
	ASSERT_EQ(len, stream.len);
	free(stream.p);
}

TEST_HARNESS_MAIN
