// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "vfio_dev.h"
#include "vmt_util.h"

/* "DDDD:BB:DD.F" or "BB:DD.F" (the whole string); the canonical form in @out. */
static bool parse_bdf(const char *bdf, char *out, size_t len)
{
	unsigned int dom, bus, dev, fn;
	int end = -1;

	if (sscanf(bdf, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &end) == 4 &&
	    !bdf[end]) {
		snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
		return true;
	}
	end = -1;
	if (sscanf(bdf, "%x:%x.%x%n", &bus, &dev, &fn, &end) == 3 && !bdf[end]) {
		snprintf(out, len, "0000:%02x:%02x.%x", bus, dev, fn);
		return true;
	}
	return false;
}

/* 8-4-4-4-12 hex digits, as mdev_bus/.../create takes them */
static bool is_uuid(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return !s[36];
}

/* The last component of a path, ignoring trailing slashes. */
static void path_base(const char *path, char *out, size_t len)
{
	size_t n = strlen(path);
	const char *b;

	while (n > 1 && path[n - 1] == '/')
		n--;
	b = path + n;
	while (b > path && b[-1] != '/')
		b--;
	snprintf(out, len, "%.*s", (int)(path + n - b), b);
}

void vdev_norm_bdf(char *out, size_t len, const char *bdf)
{
	if (strchr(bdf, '/'))
		path_base(bdf, out, len);
	else if (!parse_bdf(bdf, out, len))
		snprintf(out, len, "%s", bdf);
}

int vdev_resolve(const char *spec, char *name, size_t nlen, char *sysfs,
		 size_t slen)
{
	char n[64];

	if (strchr(spec, '/')) {
		path_base(spec, n, sizeof(n));
		snprintf(sysfs, slen, "%s", spec);
	} else if (parse_bdf(spec, n, sizeof(n))) {
		snprintf(sysfs, slen, "/sys/bus/pci/devices/%s", n);
	} else if (is_uuid(spec)) {
		snprintf(n, sizeof(n), "%s", spec);
		snprintf(sysfs, slen, "/sys/bus/mdev/devices/%s", n);
	} else {
		vmt_seterr("'%s' is neither a PCI address, an mdev UUID nor a sysfs device path",
			   spec);
		return -EINVAL;
	}
	if (!n[0] || !strcmp(n, "..") || !strcmp(n, ".")) {
		vmt_seterr("'%s' names no device", spec);
		return -EINVAL;
	}
	snprintf(name, nlen, "%s", n);
	return 0;
}

void vdev_init(struct vdev *d)
{
	memset(d, 0, sizeof(*d));
	d->container = -1;
	d->group = -1;
	d->fd = -1;
	d->groupno = -1;
	d->iommufd = -1;
}

bool vdev_is_open(const struct vdev *d)
{
	return d->fd >= 0;
}

/* The basename of the target of the symlink <sysfs>/<link>, or -errno. */
static int sysfs_link_base(const char *sysfs, const char *link, char *out,
			   size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", sysfs, link);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	path_base(target, out, len);
	return 0;
}

static int group_of(const struct vdev *d, int *groupno)
{
	char group[64];
	int ret;

	if (access(d->sysfs, F_OK)) {
		ret = -errno;
		vmt_seterr("%s: %s (no such device)", d->sysfs, strerror(-ret));
		return ret;
	}
	ret = sysfs_link_base(d->sysfs, "iommu_group", group, sizeof(group));
	if (ret) {
		vmt_seterr("%s/iommu_group: %s (the device has no IOMMU group)",
			   d->sysfs, strerror(-ret));
		return ret;
	}
	*groupno = atoi(group);
	return 0;
}

static int fail_errno(const char *what, const char *bdf)
{
	int err = errno;

	vmt_seterr("%s: %s failed: %s", bdf, what, strerror(err));
	return -err;
}

/* Group mode: the group in a container of its own, with the best IOMMU type. */
static int open_group(struct vdev *d)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[64];
	int iommu;

	d->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		return fail_errno("open /dev/vfio/vfio", d->bdf);
	if (ioctl(d->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		vmt_seterr("VFIO API version mismatch");
		return -EINVAL;
	}

	snprintf(path, sizeof(path), "/dev/vfio/%d", d->groupno);
	d->group = open(path, O_RDWR | O_CLOEXEC);
	if (d->group < 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "/dev/vfio/noiommu-%d", d->groupno);
		d->group = open(path, O_RDWR | O_CLOEXEC);
		d->noiommu = d->group >= 0;
	}
	if (d->group < 0)
		return fail_errno("open of its VFIO group", d->bdf);
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &gs))
		return fail_errno("VFIO_GROUP_GET_STATUS", d->bdf);
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		vmt_seterr("%s: group %d not viable (bind all its devices to vfio)",
			   d->bdf, d->groupno);
		return -EBUSY;
	}
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container))
		return fail_errno("VFIO_GROUP_SET_CONTAINER", d->bdf);
	if (d->noiommu)
		iommu = VFIO_NOIOMMU_IOMMU;
	else if (ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0)
		iommu = VFIO_TYPE1v2_IOMMU;
	else
		iommu = VFIO_TYPE1_IOMMU;
	if (ioctl(d->container, VFIO_SET_IOMMU, iommu))
		return fail_errno("VFIO_SET_IOMMU", d->bdf);
	return 0;
}

static int group_get_fd(struct vdev *d)
{
	int fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->bdf);

	if (fd < 0)
		return fail_errno("VFIO_GROUP_GET_DEVICE_FD", d->bdf);
	return fd;
}

enum vdev_mode vdev_default_mode(void)
{
	const char *v = vmt_env(VDEV_MODE_ENV);

	return v && strcmp(v, "0") ? VDEV_MODE_IOMMUFD : VDEV_MODE_GROUP;
}

const char *vdev_mode_name(enum vdev_mode mode)
{
	return mode == VDEV_MODE_IOMMUFD ? "cdev/iommufd" : "group/container";
}

int vdev_mode_supported(enum vdev_mode mode)
{
	if (mode == VDEV_MODE_GROUP)
		return 0;
	if (!VDEV_HAVE_IOMMUFD) {
		vmt_seterr("VFIO cdev/iommufd mode not supported by these headers: built without VFIO_DEVICE_BIND_IOMMUFD and <linux/iommufd.h> (the uAPI of Linux 6.6 and newer)");
		return -EOPNOTSUPP;
	}
	if (access("/dev/iommu", F_OK)) {
		vmt_seterr("VFIO cdev/iommufd mode not supported by this kernel: no /dev/iommu (%s: built without CONFIG_IOMMUFD, or iommufd.ko not loaded)",
			   strerror(errno));
		return -ENODEV;
	}
	if (access("/dev/vfio/devices", F_OK)) {
		vmt_seterr("VFIO cdev/iommufd mode not supported by this kernel: no /dev/vfio/devices (%s: built without CONFIG_VFIO_DEVICE_CDEV, or no device bound to a VFIO driver)",
			   strerror(errno));
		return -ENODEV;
	}
	return 0;
}

int vdev_cdev_of(const char *sysfs, char *node, size_t len, dev_t *devt)
{
	char path[PATH_MAX], name[32] = "", line[32];
	unsigned int maj, min;
	struct dirent *e;
	DIR *dir;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/vfio-dev", sysfs);
	dir = opendir(path);
	if (!dir) {
		ret = -errno;
		vmt_seterr("%s: %s (no VFIO device cdev: kernel without CONFIG_VFIO_DEVICE_CDEV, or no VFIO driver bound)",
			   path, strerror(-ret));
		return ret;
	}
	while ((e = readdir(dir)))
		if (!strncmp(e->d_name, "vfio", 4) && strlen(e->d_name) < sizeof(name)) {
			strcpy(name, e->d_name);
			break;
		}
	closedir(dir);
	if (!name[0]) {
		vmt_seterr("%s: no vfioN entry", path);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%s/vfio-dev/%s/dev", sysfs, name);
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		vmt_seterr("%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = fgets(line, sizeof(line), f) && sscanf(line, "%u:%u", &maj, &min) == 2;
	fclose(f);
	if (!ret) {
		vmt_seterr("%s: not a major:minor", path);
		return -EINVAL;
	}
	*devt = makedev(maj, min);
	snprintf(node, len, "/dev/vfio/devices/%s", name);
	return 0;
}

#if VDEV_HAVE_IOMMUFD
/* Iommufd mode: find the cdev, open an iommufd of our own, an IOAS in it. */
static int open_iommufd(struct vdev *d)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int ret;

	ret = vdev_mode_supported(VDEV_MODE_IOMMUFD);
	if (ret)
		return ret;
	ret = vdev_cdev_of(d->sysfs, d->cdev, sizeof(d->cdev), &d->cdev_devt);
	if (ret)
		return ret;
	d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (d->iommufd < 0)
		return fail_errno("open /dev/iommu", d->bdf);
	if (ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return fail_errno("IOMMU_IOAS_ALLOC", d->bdf);
	d->ioas_id = alloc.out_ioas_id;
	return 0;
}

/* A new fd of the cdev, bound to d->iommufd and attached to d->ioas_id. */
static int cdev_get_fd(struct vdev *d)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct stat st;
	int fd, ret;

	fd = open(d->cdev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		vmt_seterr("%s: open %s: %s", d->bdf, d->cdev, strerror(-ret));
		return ret;
	}
	/* the node must be the cdev sysfs names, not a stale or foreign one */
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != d->cdev_devt) {
		vmt_seterr("%s: %s is not the character device %u:%u of %s/vfio-dev",
			   d->bdf, d->cdev, major(d->cdev_devt),
			   minor(d->cdev_devt), d->sysfs);
		ret = -ENODEV;
		goto err;
	}
	bind.iommufd = d->iommufd;
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		ret = -errno;
		if (ret == -EINVAL && d->fd >= 0)
			vmt_seterr("%s: VFIO_DEVICE_BIND_IOMMUFD: %s (the kernel binds a device through its cdev only while no other fd has it open)",
				   d->bdf, strerror(-ret));
		else if (ret == -EBUSY)
			vmt_seterr("%s: VFIO_DEVICE_BIND_IOMMUFD: %s (its VFIO group %d is open: a user of the group/container API)",
				   d->bdf, strerror(-ret), d->groupno);
		else
			vmt_seterr("%s: VFIO_DEVICE_BIND_IOMMUFD: %s", d->bdf,
				   strerror(-ret));
		goto err;
	}
	attach.pt_id = d->ioas_id;
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		ret = fail_errno("VFIO_DEVICE_ATTACH_IOMMUFD_PT", d->bdf);
		goto err;
	}
	d->devid = bind.out_devid;
	d->pt_id = attach.pt_id;
	return fd;
err:
	close(fd);
	return ret;
}
#else
static int open_iommufd(struct vdev *d)
{
	(void)d;
	return vdev_mode_supported(VDEV_MODE_IOMMUFD);
}

static int cdev_get_fd(struct vdev *d)
{
	(void)d;
	return vdev_mode_supported(VDEV_MODE_IOMMUFD);
}
#endif

static int get_device_fd(struct vdev *d)
{
	return d->mode == VDEV_MODE_IOMMUFD ? cdev_get_fd(d) : group_get_fd(d);
}

/* Device and region info; identity and memory decoding of a VFIO-PCI device. */
static int read_info(struct vdev *d)
{
	unsigned int i;
	uint32_t id;
	int ret;

	d->info.argsz = sizeof(d->info);
	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &d->info))
		return fail_errno("VFIO_DEVICE_GET_INFO", d->bdf);
	for (i = 0; i < VDEV_NUM_REGIONS && i < d->info.num_regions; i++) {
		d->region[i].argsz = sizeof(d->region[i]);
		d->region[i].index = i;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &d->region[i]))
			return fail_errno("VFIO_DEVICE_GET_REGION_INFO", d->bdf);
	}
	/* Config space only where the device offers the VFIO-PCI API. */
	d->pci = d->info.flags & VFIO_DEVICE_FLAGS_PCI;
	if (!d->pci)
		return 0;
	ret = vdev_rd32(d, VFIO_PCI_CONFIG_REGION_INDEX, PCI_VENDOR_ID, &id);
	if (ret)
		return ret;
	d->vendor = id & 0xffff;
	d->device = id >> 16;
	ret = vdev_rd32(d, VFIO_PCI_CONFIG_REGION_INDEX, PCI_CLASS_REVISION, &id);
	if (ret)
		return ret;
	d->revision = id & 0xff;
	return vdev_enable_memory(d);
}

int vdev_open_mode(struct vdev *d, const char *dev, enum vdev_mode mode)
{
	int ret;

	vdev_init(d);
	if (mode != VDEV_MODE_GROUP && mode != VDEV_MODE_IOMMUFD) {
		vmt_seterr("unknown VFIO open mode %d", mode);
		return -EINVAL;
	}
	d->mode = mode;
	ret = vdev_resolve(dev, d->bdf, sizeof(d->bdf), d->sysfs, sizeof(d->sysfs));
	if (ret)
		return ret;
	ret = group_of(d, &d->groupno);
	if (ret)
		return ret;
	if (sysfs_link_base(d->sysfs, "driver", d->driver, sizeof(d->driver)))
		d->driver[0] = 0;

	ret = mode == VDEV_MODE_IOMMUFD ? open_iommufd(d) : open_group(d);
	if (!ret)
		ret = vdev_reopen_fd(d);
	if (!ret)
		ret = read_info(d);
	if (ret)
		vdev_close(d);
	return ret;
}

int vdev_open(struct vdev *d, const char *dev)
{
	return vdev_open_mode(d, dev, vdev_default_mode());
}

void vdev_close(struct vdev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	/* the IOAS goes with the iommufd */
	if (d->iommufd >= 0)
		close(d->iommufd);
	d->fd = d->group = d->container = d->iommufd = -1;
	d->ioas_id = d->devid = d->pt_id = 0;
}

int vdev_close_fd(struct vdev *d)
{
	int ret = 0;

	if (d->fd >= 0 && close(d->fd))
		ret = -errno;
	d->fd = -1;
	return ret;
}

int vdev_get_extra_fd(struct vdev *d)
{
	return get_device_fd(d);
}

int vdev_reopen_fd(struct vdev *d)
{
	int fd;

	/* a cdev binds only while the device has no other open fd */
	if (d->mode == VDEV_MODE_IOMMUFD)
		vdev_close_fd(d);
	fd = get_device_fd(d);
	if (fd < 0)
		return fd;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = fd;
	return 0;
}

static int mode_mismatch(const struct vdev *d, enum vdev_mode want,
			 const char *what)
{
	char why[512];

	/* @what may be vmt_errstr() itself */
	snprintf(why, sizeof(why), "%s", what);
	vmt_seterr("%s: not open through %s: %s", d->bdf, vdev_mode_name(want),
		   why);
	return -EPROTO;
}

#if VDEV_HAVE_IOMMUFD
static int check_iommufd(const struct vdev *d, const struct stat *st)
{
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	struct stat ist, node;
	char path[64], cdev[64];
	dev_t devt;
	int fd, ret;

	if (d->container >= 0 || d->group >= 0)
		return mode_mismatch(d, VDEV_MODE_IOMMUFD, "it has a container or group fd");
	ret = vdev_cdev_of(d->sysfs, cdev, sizeof(cdev), &devt);
	if (ret)
		return mode_mismatch(d, VDEV_MODE_IOMMUFD, vmt_errstr());
	if (!S_ISCHR(st->st_mode) || st->st_rdev != devt)
		return mode_mismatch(d, VDEV_MODE_IOMMUFD,
				     "the device fd is not the character device <sysfs>/vfio-dev names");
	if (d->iommufd < 0 || fstat(d->iommufd, &ist) || stat("/dev/iommu", &node) ||
	    !S_ISCHR(ist.st_mode) || ist.st_rdev != node.st_rdev)
		return mode_mismatch(d, VDEV_MODE_IOMMUFD, "its iommufd fd is not /dev/iommu");
	/* the bound cdev blocks the group (vfio_device_block_group()) */
	snprintf(path, sizeof(path), "/dev/vfio/%d", d->groupno);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return mode_mismatch(d, VDEV_MODE_IOMMUFD,
				     "its VFIO group opens: no cdev of it is bound");
	}
	if (errno != EBUSY) {
		vmt_seterr("%s: open %s: %s, not EBUSY: no cdev of it is bound",
			   d->bdf, path, strerror(errno));
		return -EPROTO;
	}
	/* the attached device holds a reference on the IOAS */
	destroy.id = d->ioas_id;
	if (!ioctl(d->iommufd, IOMMU_DESTROY, &destroy))
		return mode_mismatch(d, VDEV_MODE_IOMMUFD,
				     "IOMMU_DESTROY of its IOAS succeeded: nothing was attached to it");
	if (errno != EBUSY) {
		vmt_seterr("%s: IOMMU_DESTROY of IOAS %u: %s, not EBUSY: the device is not attached to it",
			   d->bdf, d->ioas_id, strerror(errno));
		return -EPROTO;
	}
	return 0;
}
#else
static int check_iommufd(const struct vdev *d, const struct stat *st)
{
	(void)st;
	vdev_mode_supported(VDEV_MODE_IOMMUFD);
	return mode_mismatch(d, VDEV_MODE_IOMMUFD, vmt_errstr());
}
#endif

int vdev_check_mode(const struct vdev *d, enum vdev_mode want)
{
	struct stat st;

	if (d->fd < 0 || fstat(d->fd, &st)) {
		vmt_seterr("%s: the device is not open", d->bdf);
		return -EBADF;
	}
	if (want == VDEV_MODE_IOMMUFD)
		return check_iommufd(d, &st);
	/* a group's device fd is an anonymous inode ("[vfio-device]") */
	if (S_ISCHR(st.st_mode))
		return mode_mismatch(d, want, "the device fd is a character device (a cdev)");
	if (d->container < 0 || d->group < 0)
		return mode_mismatch(d, want, "it has no container or no group fd");
	return 0;
}

int vdev_reset_fd(int fd)
{
	if (ioctl(fd, VFIO_DEVICE_RESET)) {
		int err = errno;

		vmt_seterr("VFIO_DEVICE_RESET: %s", strerror(err));
		return -err;
	}
	return 0;
}

int vdev_reset(struct vdev *d)
{
	return vdev_reset_fd(d->fd);
}

uint64_t vdev_region_size(const struct vdev *d, unsigned int idx)
{
	return idx < VDEV_NUM_REGIONS ? d->region[idx].size : 0;
}

ssize_t vdev_region_read_fd(const struct vdev *d, int fd, unsigned int idx,
			    uint64_t off, void *buf, size_t len)
{
	ssize_t n;

	if (idx >= VDEV_NUM_REGIONS)
		return -EINVAL;
	n = pread(fd, buf, len, d->region[idx].offset + off);
	if (n < 0) {
		int err = errno;

		vmt_seterr("%s: read of region %u at 0x%llx: %s", d->bdf, idx,
			   (unsigned long long)off, strerror(err));
		return -err;
	}
	return n;
}

ssize_t vdev_region_read(const struct vdev *d, unsigned int idx, uint64_t off,
			 void *buf, size_t len)
{
	return vdev_region_read_fd(d, d->fd, idx, off, buf, len);
}

ssize_t vdev_region_write(const struct vdev *d, unsigned int idx,
			  uint64_t off, const void *buf, size_t len)
{
	ssize_t n;

	if (idx >= VDEV_NUM_REGIONS)
		return -EINVAL;
	n = pwrite(d->fd, buf, len, d->region[idx].offset + off);
	if (n < 0) {
		int err = errno;

		vmt_seterr("%s: write of region %u at 0x%llx: %s", d->bdf, idx,
			   (unsigned long long)off, strerror(err));
		return -err;
	}
	return n;
}

int vdev_ioeventfd(const struct vdev *d, unsigned int idx, uint64_t off,
		   unsigned int size, uint64_t data, int efd)
{
	struct vfio_device_ioeventfd ev = {
		.argsz = sizeof(ev),
		.flags = size,	/* VFIO_DEVICE_IOEVENTFD_{8,16,32,64} = size */
		.data = data,
		.fd = efd,
	};

	if (idx >= VDEV_NUM_REGIONS)
		return -EINVAL;
	ev.offset = d->region[idx].offset + off;
	if (ioctl(d->fd, VFIO_DEVICE_IOEVENTFD, &ev)) {
		int err = errno;

		vmt_seterr("%s: VFIO_DEVICE_IOEVENTFD on region %u at 0x%llx (fd %d): %s",
			   d->bdf, idx, (unsigned long long)off, efd,
			   strerror(err));
		return -err;
	}
	return 0;
}

int vdev_rd32(const struct vdev *d, unsigned int idx, uint64_t off, uint32_t *v)
{
	ssize_t n = vdev_region_read(d, idx, off, v, 4);

	if (n < 0)
		return (int)n;
	if (n != 4) {
		vmt_seterr("%s: short region read (%zd)", d->bdf, n);
		return -EIO;
	}
	return 0;
}

int vdev_wr32(const struct vdev *d, unsigned int idx, uint64_t off, uint32_t v)
{
	ssize_t n = vdev_region_write(d, idx, off, &v, 4);

	if (n < 0)
		return (int)n;
	if (n != 4) {
		vmt_seterr("%s: short region write (%zd)", d->bdf, n);
		return -EIO;
	}
	return 0;
}

static int need_pci(const struct vdev *d)
{
	if (d->pci)
		return 0;
	vmt_seterr("%s: not a VFIO-PCI device: no config space", d->bdf);
	return -ENODEV;
}

int vdev_cfg_rd16(const struct vdev *d, uint64_t off, uint16_t *v)
{
	ssize_t n;

	if (need_pci(d))
		return -ENODEV;
	n = vdev_region_read(d, VFIO_PCI_CONFIG_REGION_INDEX, off, v, 2);

	return n == 2 ? 0 : (n < 0 ? (int)n : -EIO);
}

int vdev_cfg_wr16(const struct vdev *d, uint64_t off, uint16_t v)
{
	ssize_t n;

	if (need_pci(d))
		return -ENODEV;
	n = vdev_region_write(d, VFIO_PCI_CONFIG_REGION_INDEX, off, &v, 2);

	return n == 2 ? 0 : (n < 0 ? (int)n : -EIO);
}

int vdev_enable_memory(const struct vdev *d)
{
	uint16_t cmd;
	int ret;

	ret = vdev_cfg_rd16(d, PCI_COMMAND, &cmd);
	if (ret)
		return ret;
	if (cmd & PCI_COMMAND_MEMORY)
		return 0;
	return vdev_cfg_wr16(d, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY);
}

void *vdev_mmap(const struct vdev *d, unsigned int idx, size_t *len)
{
	const struct vfio_region_info *r;
	void *p;

	if (idx >= VDEV_NUM_REGIONS) {
		errno = EINVAL;
		return NULL;
	}
	r = &d->region[idx];
	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP) || !r->size) {
		vmt_seterr("%s: region %u is not mappable", d->bdf, idx);
		errno = ENODEV;
		return NULL;
	}
	p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		 r->offset);
	if (p == MAP_FAILED) {
		vmt_seterr("%s: mmap of region %u: %s", d->bdf, idx,
			   strerror(errno));
		return NULL;
	}
	if (len)
		*len = r->size;
	return p;
}
