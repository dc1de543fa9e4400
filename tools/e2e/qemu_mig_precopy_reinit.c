// SPDX-License-Identifier: GPL-2.0
/*
 * Pre-copy that has to start again: while QEMU sends BIG_A's pre-copy data
 * (switchover-ack on, as libvirt runs it), another user of the device arms a
 * VFIO_DEVICE_IOEVENTFD on BAR2 and fires it.  Such writes go from the
 * vfio-pci core straight to the BAR, past the mmap fault path that tracks
 * dirty pages, so the data already sent can no longer be trusted.
 *
 * Where QEMU opted in to VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (QEMU 11.1
 * on Linux 7.1+: sid) the driver arms it and tells QEMU, in the next
 * VFIO_MIG_GET_PRECOPY_INFO, VFIO_PRECOPY_INFO_REINIT: QEMU must see that
 * flag (its trace event vfio_query_precopy_size), and the device data sent
 * after the trigger must be at least BAR2 again (the driver restarts from the
 * first page).  Elsewhere (trixie: QEMU 10.0, Linux 6.12) the documented
 * fallback: arming it is refused with EBUSY while the save tracks, and the
 * same write goes through the guest instead.  Either way the destination
 * must end up with every byte (case_final_checks()).
 *
 * The other user is this program: it takes a duplicate of QEMU's device fd
 * with pidfd_getfd(), which is what any process allowed to ptrace QEMU can do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <linux/vfio.h>

#include "e2e.h"
#include "vmt_util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* where the ioeventfd writes: a page sent at the very start of pre-copy */
#define REINIT_OFF 0x2000ULL

/* "A.B..." at least @maj.@min? */
static bool version_at_least(const char *v, int maj, int min)
{
	int a = 0, b = 0;

	if (sscanf(v, "%d.%d", &a, &b) < 1)
		return false;
	return a > maj || (a == maj && b >= min);
}

/*
 * Does QEMU use VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 on this kernel?  Told
 * by the versions (QEMU 11.1 opts in, Linux 7.1 has it), never by the driver:
 * a driver that stopped honouring the opt-in must fail here, not take the
 * other branch.
 */
static bool expect_v2(void)
{
	struct utsname u;

	if (uname(&u))
		return false;
	diag("Linux %s, QEMU %s", u.release, e2e_qemu_version());
	return version_at_least(u.release, 7, 1) && version_at_least(e2e_qemu_version(), 11, 1);
}

/* A duplicate of QEMU's (only) VFIO device fd, or -1 (diagnosed). */
static int steal_device_fd(pid_t pid)
{
	char dir[64], path[320], link[256];
	int pidfd, fd = -1, n = 0, num = -1;
	struct dirent *de;
	ssize_t len;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d) {
		diag("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (!strcmp(link, "anon_inode:[vfio-device]") || !strncmp(link, "/dev/vfio/devices/", 18)) {
			num = atoi(de->d_name);
			n++;
		}
	}
	closedir(d);
	if (n != 1) {
		diag("QEMU (pid %d) has %d VFIO device fds, expected 1", (int)pid, n);
		return -1;
	}
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0)
		fd = syscall(SYS_pidfd_getfd, pidfd, num, 0);
	if (fd < 0)
		diag("pidfd_getfd of QEMU's fd %d: %s", num, strerror(errno));
	else
		diag("took a duplicate of QEMU's device fd %d (pid %d)", num, (int)pid);
	if (pidfd >= 0)
		close(pidfd);
	return fd;
}

struct ioev {
	int dev, efd;
	struct vfio_device_ioeventfd arg;
};

/*
 * VFIO_DEVICE_IOEVENTFD writing the 32 bits @v at BAR2 + @off (vfio-pci on
 * 7.2 refuses 64-bit ones on this BAR with EINVAL): 0, or -1 with errno.
 */
static int ioev_arm(struct ioev *e, uint64_t off, uint32_t v)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = VFIO_PCI_BAR2_REGION_INDEX };

	if (ioctl(e->dev, VFIO_DEVICE_GET_REGION_INFO, &reg)) {
		diag("VFIO_DEVICE_GET_REGION_INFO(BAR2): %s", strerror(errno));
		return -1;
	}
	memset(&e->arg, 0, sizeof(e->arg));
	e->arg.argsz = sizeof(e->arg);
	e->arg.flags = VFIO_DEVICE_IOEVENTFD_32;
	e->arg.offset = reg.offset + off;
	e->arg.data = v;
	e->arg.fd = e->efd;
	return ioctl(e->dev, VFIO_DEVICE_IOEVENTFD, &e->arg);
}

/* Removes it again (fd -1): 0 or -1 (diagnosed). */
static int ioev_disarm(struct ioev *e)
{
	e->arg.fd = -1;
	if (!ioctl(e->dev, VFIO_DEVICE_IOEVENTFD, &e->arg))
		return 0;
	diag("removing the ioeventfd: %s", strerror(errno));
	return -1;
}

/* Fires it and waits, judged by QEMU's progress, until the guest reads @v at @off. */
static int ioev_fire(struct mig_ctx *x, struct ioev *e, uint64_t off, uint32_t v)
{
	uint32_t got = ~v;
	uint64_t one = 1;
	struct e2e_wait w;

	if (write(e->efd, &one, sizeof(one)) != sizeof(one)) {
		diag("eventfd write: %s", strerror(errno));
		return -1;
	}
	wait_begin(&w, &x->src, "the ioeventfd's write to show in BAR2");
	while (!wait_check(&w)) {
		if (qt_readl(&x->src, L2_BAR2(0) + off, &got))
			return -1;
		if (got == v) {
			diag("[src] BAR2+0x%llx = 0x%08x: written by the ioeventfd", (unsigned long long)off, v);
			img_record(&x->img[0], off, &v, 4);
			return 0;
		}
		vmt_sleep_ms(100);
	}
	diag("[src] BAR2+0x%llx still 0x%08x, not the ioeventfd's 0x%08x", (unsigned long long)off, got, v);
	return -1;
}

/* Lines of QEMU's log reporting VFIO_PRECOPY_INFO_REINIT (trace event vfio_query_precopy_size). */
static int count_reinit(const struct e2e_qemu *q)
{
	FILE *f = fopen(q->log, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0, all = 0;

	if (!f) {
		diag("%s: %s", q->log, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		if (!strstr(line, "vfio_query_precopy_size"))
			continue;
		all++;
		if (strstr(line, "reinit 1"))
			n++;
	}
	free(line);
	fclose(f);
	diag("[src] %d of %d vfio_query_precopy_size trace lines report reinit 1", n, all);
	return n;
}

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16, .caps = PC_ACK_CAPS };
	struct ioev e = { .dev = -1, .efd = -1 };
	long long before_switch = -1, at_trigger = -1;
	uint64_t size;
	uint32_t v;
	struct mig_ctx x;
	bool v2, ok;
	int r;

	pc_begin(&x, &c, "qemu_mig_precopy_reinit", 11);
	v2 = expect_v2();
	if (v2) {
		c.src_extra[0] = "-trace";
		c.src_extra[1] = "vfio_query_precopy_size";
	}
	pc_step_offers(&c);
	if (t_begin("setup"))
		t_end(c.dst_bdf[0] && !case_setup(&x, &c), true);
	size = x.img[0].size;
	if (t_begin("precopy_in_flight"))
		t_end(!pc_start(&x), true);
	if (t_begin(v2 ? "ioeventfd_on_bar2_armed_and_fired" : "ioeventfd_on_bar2_refused_while_tracking")) {
		v = (uint32_t)(e2e_seed() ^ 0x7e1417ULL);
		e.dev = steal_device_fd(x.src.pid);
		e.efd = eventfd(0, EFD_CLOEXEC);
		ok = e.dev >= 0 && e.efd >= 0;
		at_trigger = x.res.vfio_bytes;
		r = ok ? ioev_arm(&e, REINIT_OFF, v) : -1;
		if (!ok) {
			/* diagnosed */
		} else if (v2) {
			if (r)
				diag("VFIO_DEVICE_IOEVENTFD on BAR2 during pre-copy: %s (QEMU opted in to PRECOPY_INFOv2: expected it armed)",
				     strerror(errno));
			ok = !r && !ioev_fire(&x, &e, REINIT_OFF, v) && !ioev_disarm(&e);
		} else {
			if (!r) {
				diag("VFIO_DEVICE_IOEVENTFD on BAR2 armed during pre-copy without PRECOPY_INFOv2: expected EBUSY");
				ioev_disarm(&e);
			} else if (errno != EBUSY) {
				diag("VFIO_DEVICE_IOEVENTFD on BAR2 during pre-copy: %s, expected EBUSY", strerror(errno));
			} else {
				diag("VFIO_DEVICE_IOEVENTFD on BAR2 during pre-copy: EBUSY, as documented; the guest writes instead");
			}
			ok = r && errno == EBUSY && !l2_write(&x.src, 0, &x.img[0], REINIT_OFF, &v, 4);
		}
		/* the other user is gone: QEMU's own fd is all that is left */
		if (e.dev >= 0)
			close(e.dev);
		if (e.efd >= 0)
			close(e.efd);
		if (!ok)
			case_dump(&x, "the ioeventfd step failed");
		t_end(ok, true);
	}
	if (t_begin("guest_writes_after_trigger"))
		t_end(!pc_write_around(&x, (uint64_t)x.res.vfio_bytes, 1), true);
	if (t_begin("migrate_completed"))
		t_end(!pc_wait_end(&x, &before_switch), true);
	if (!v2) {
		t_skip("qemu_saw_reinit_and_resent",
		       "no VFIO_PRECOPY_INFO_REINIT before QEMU 11.1 on Linux 7.1: the ioeventfd was refused instead");
	} else if (t_begin("qemu_saw_reinit_and_resent")) {
		/* after REINIT every page is initial data again: at least BAR2 once more */
		diag("[src] %lld bytes of device data when the ioeventfd fired, %lld in all, BAR2 %llu bytes",
		     at_trigger, x.res.vfio_bytes, (unsigned long long)size);
		t_end(count_reinit(&x.src) >= 1 && at_trigger >= (long long)(16 * E2E_MiB) &&
		      x.res.vfio_bytes >= at_trigger + (long long)size, false);
	}
	case_final_checks(&x);
	case_teardown(&x);
	return t_exit();
}
