// SPDX-License-Identifier: GPL-2.0
/*
 * The live migration A -> B of qemu_mig_live with both QEMUs on QEMU's
 * iommufd backend: "-object iommufd,id=iommufd0" and "-device vfio-pci,
 * host=<BDF>,...,iommufd=iommufd0".  QEMU then opens the device through its
 * VFIO cdev (/dev/vfio/devices/vfioN, which it finds in <sysfs>/vfio-dev/ of
 * host=), binds it to the /dev/iommu it opened for the object and maps guest
 * RAM into an IOAS, with no VFIO group and no type1 container.  What this
 * program itself does from L1 (filling and checking BAR2, the DMA logging
 * probe) goes through the cdev and an iommufd too (VFIO_DEV_IOMMUFD=1).
 *
 * That each QEMU really took that path is checked from outside it: among its
 * open files must be /dev/iommu and the cdev of its device (both compared by
 * major:minor, the cdev's from sysfs), and none may be /dev/vfio/vfio or a
 * VFIO group.
 *
 * Skips as a whole where the kernel has no /dev/iommu or no VFIO cdev, or
 * where QEMU has no iommufd object.
 */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "e2e.h"
#include "vfio_dev.h"
#include "vmt_util.h"

#define IOMMUFD_ID	"iommufd0"

/* Is @target (a /proc/<pid>/fd link) the VFIO container or a VFIO group? */
static bool is_group_api(const char *target)
{
	if (!strcmp(target, "/dev/vfio/vfio"))
		return true;
	if (!strncmp(target, "/dev/vfio/noiommu-", 18))
		return true;
	return !strncmp(target, "/dev/vfio/", 10) && isdigit((unsigned char)target[10]);
}

/*
 * @q holds /dev/iommu and the cdev of each of its devices, and neither the
 * container nor a group.  0 or -1 (diagnosed).
 */
static int check_uses_iommufd(struct e2e_qemu *q)
{
	bool has_cdev[E2E_MAX_DEVS] = { false }, has_iommu = false;
	char dir[64], path[PATH_MAX], target[PATH_MAX];
	char node[E2E_MAX_DEVS][64];
	dev_t devt[E2E_MAX_DEVS];
	struct stat st, iommu;
	struct dirent *e;
	int i, ret = 0;
	DIR *d;

	if (stat("/dev/iommu", &iommu)) {
		diag("stat /dev/iommu: %m");
		return -1;
	}
	for (i = 0; i < q->ndev; i++) {
		char sysfs[PATH_MAX];

		snprintf(sysfs, sizeof(sysfs), "/sys/bus/pci/devices/%s", q->bdf[i]);
		if (vdev_cdev_of(sysfs, node[i], sizeof(node[i]), &devt[i])) {
			diag("%s", vmt_errstr());
			return -1;
		}
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)q->pid);
	d = opendir(dir);
	if (!d) {
		diag("[%s] %s: %m", q->name, dir);
		return -1;
	}
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		/* an fd closed meanwhile */
		if (n < 0 || stat(path, &st))
			continue;
		target[n] = 0;
		if (is_group_api(target)) {
			diag("[%s] fd %s is %s: the VFIO group/container API", q->name,
			     e->d_name, target);
			ret = -1;
		}
		if (!S_ISCHR(st.st_mode))
			continue;
		if (st.st_rdev == iommu.st_rdev) {
			has_iommu = true;
			diag("[%s] fd %s: %s (%u:%u)", q->name, e->d_name, target,
			     major(st.st_rdev), minor(st.st_rdev));
		}
		for (i = 0; i < q->ndev; i++) {
			if (st.st_rdev != devt[i])
				continue;
			has_cdev[i] = true;
			diag("[%s] fd %s: %s (%u:%u), the cdev of ivs%d (%s)", q->name,
			     e->d_name, target, major(st.st_rdev), minor(st.st_rdev),
			     i, q->bdf[i]);
		}
	}
	closedir(d);
	if (!has_iommu) {
		diag("[%s] has no /dev/iommu open: not on the iommufd backend", q->name);
		ret = -1;
	}
	for (i = 0; i < q->ndev; i++) {
		if (has_cdev[i])
			continue;
		diag("[%s] does not hold %s (%u:%u), the cdev of ivs%d (%s)", q->name,
		     node[i], major(devt[i]), minor(devt[i]), i, q->bdf[i]);
		ret = -1;
	}
	return ret;
}

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16 };
	char opts[256];
	struct mig_ctx x;
	bool ok;

	memset(&x, 0, sizeof(x));
	e2e_init("qemu_mig_iommufd", -1);
	if (vdev_mode_supported(VDEV_MODE_IOMMUFD)) {
		ktap_skip_all("%s", vmt_errstr());
	}
	if (!e2e_qemu_has_object("iommufd")) {
		ktap_skip_all("QEMU %s has no iommufd backend (no 'iommufd' in -object help)",
			      e2e_qemu_version());
	}
	ktap_plan(9);
	/* L1's own accesses through the cdev as well: nothing uses a group */
	setenv(VDEV_MODE_ENV, "1", 1);
	c.src_bdf[0] = e2e_env_bdf("A");
	c.dst_bdf[0] = e2e_env_bdf("B");
	c.src_extra[0] = c.dst_extra[0] = "-object";
	c.src_extra[1] = c.dst_extra[1] = "iommufd,id=" IOMMUFD_ID;
	if (t_begin("setup")) {
		ok = c.src_bdf[0] && c.dst_bdf[0];
		if (!ok)
			diag("IVSHMEM_BDF_A and IVSHMEM_BDF_B must be set");
		if (ok) {
			diag("QEMU %s", e2e_qemu_version());
			snprintf(opts, sizeof(opts), "%s,iommufd=" IOMMUFD_ID,
				 e2e_vfio_opts(c.src_bdf[0]));
			c.vfio_opts = opts;
			ok = !case_setup(&x, &c);
		}
		t_end(ok, true);
	}
	if (t_begin("source_on_iommufd"))
		t_end(!check_uses_iommufd(&x.src), true);
	if (t_begin("destination_on_iommufd"))
		t_end(!check_uses_iommufd(&x.dst), true);
	if (t_begin("migrate_completed"))
		t_end(!case_migrate(&x), true);
	if (t_begin("destination_running"))
		t_end(!case_dst_running(&x), false);
	if (t_begin("source_stopped"))
		t_end(!case_src_stopped(&x), false);
	if (t_begin("destination_registers"))
		t_end(!case_check_regs(&x, &x.dst, true), false);
	if (t_begin("destination_bar2_via_qtest"))
		t_end(!case_check_mem(&x, &x.dst), false);
	if (t_begin("destination_bar2_via_l1_cdev"))
		t_end(!case_check_l1(&x, c.dst_bdf), false);
	case_teardown(&x);
	return t_exit();
}
