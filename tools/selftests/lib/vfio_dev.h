/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening a VFIO device and accessing its regions.  A device is named by its
 * PCI address, its mdev UUID or its sysfs directory (/sys/bus/pci/devices/<BDF>,
 * /sys/bus/mdev/devices/<UUID>, or any other bus's).  It is opened one of two
 * ways (enum vdev_mode): through its VFIO group in a type1 container, or
 * through its VFIO device cdev bound to an iommufd.  All functions return 0
 * (or a byte count) on success and a negative errno on failure, with
 * vmt_errstr() explaining.
 */
#ifndef VFIO_DEV_H
#define VFIO_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "vfio_uapi.h"

#define VDEV_NUM_REGIONS	(VFIO_PCI_CONFIG_REGION_INDEX + 1)

enum vdev_mode {
	/*
	 * /dev/vfio/<group> set to a /dev/vfio/vfio container (type1 IOMMU,
	 * or no-IOMMU), the device fd from VFIO_GROUP_GET_DEVICE_FD.
	 */
	VDEV_MODE_GROUP,
	/*
	 * /dev/vfio/devices/vfioN (found through <sysfs>/vfio-dev/), bound to
	 * a /dev/iommu with VFIO_DEVICE_BIND_IOMMUFD and attached to an IOAS
	 * of its own with VFIO_DEVICE_ATTACH_IOMMUFD_PT.
	 */
	VDEV_MODE_IOMMUFD,
};

/*
 * The mode vdev_open() uses: VDEV_MODE_IOMMUFD when the environment variable
 * VFIO_DEV_IOMMUFD is set to anything but "" or "0", else VDEV_MODE_GROUP.
 */
#define VDEV_MODE_ENV	"VFIO_DEV_IOMMUFD"

struct vdev {
	/* VFIO device name (sysfs basename): PCI address or mdev UUID */
	char bdf[64];
	char sysfs[256];	/* the device's sysfs directory */
	char driver[64];	/* the driver bound to it, "" if none */
	/*
	 * VFIO_DEVICE_FLAGS_PCI: config space, BAR region indexes and the
	 * vendor/device/revision below exist only then.
	 */
	bool pci;
	enum vdev_mode mode;
	int fd;			/* the device fd */
	int groupno;		/* <sysfs>/iommu_group, in both modes */
	/* VDEV_MODE_GROUP: -1 otherwise */
	int container;
	int group;
	bool noiommu;
	/* VDEV_MODE_IOMMUFD: -1 (fds) or 0 (ids) otherwise */
	int iommufd;		/* /dev/iommu */
	uint32_t ioas_id;	/* the IOAS the device is attached to */
	uint32_t devid;		/* VFIO_DEVICE_BIND_IOMMUFD's out_devid, newest fd */
	uint32_t pt_id;		/* what the attach reported: a HWPT, or the IOAS */
	char cdev[64];		/* /dev/vfio/devices/vfioN */
	dev_t cdev_devt;	/* <sysfs>/vfio-dev/vfioN/dev */
	struct vfio_device_info info;
	struct vfio_region_info region[VDEV_NUM_REGIONS];
	uint16_t vendor;
	uint16_t device;
	uint8_t revision;
};

/*
 * The VFIO device name of a device spelling: "01:00.0" -> "0000:01:00.0", a
 * sysfs path -> its last component, anything else (a UUID) unchanged.
 */
void vdev_norm_bdf(char *out, size_t len, const char *bdf);
/*
 * Resolves a PCI address, an mdev UUID or a sysfs device path into the VFIO
 * device name and the sysfs directory.  -EINVAL for anything else.
 */
int vdev_resolve(const char *spec, char *name, size_t nlen, char *sysfs,
		 size_t slen);

/*
 * The device's VFIO cdev as sysfs names it (@sysfs: the device's sysfs
 * directory): @node gets /dev/vfio/devices/vfioN of <sysfs>/vfio-dev/vfioN,
 * @devt the major:minor in <sysfs>/vfio-dev/vfioN/dev.
 */
int vdev_cdev_of(const char *sysfs, char *node, size_t len, dev_t *devt);

/* Sets d->fd etc. to -1 so that vdev_close() is always safe. */
void vdev_init(struct vdev *d);

/* VFIO_DEV_IOMMUFD (see VDEV_MODE_ENV) */
enum vdev_mode vdev_default_mode(void);
/* "group/container" or "cdev/iommufd" */
const char *vdev_mode_name(enum vdev_mode mode);
/*
 * Can @mode work at all here?  0, or -EOPNOTSUPP when these programs were
 * built with uAPI headers that lack the vfio cdev / iommufd ioctls, -ENODEV
 * when the running kernel lacks the device nodes (no /dev/iommu: no
 * CONFIG_IOMMUFD; no /dev/vfio/devices: no CONFIG_VFIO_DEVICE_CDEV), with
 * vmt_errstr() saying which.  The tests turn this into a whole-program skip.
 */
int vdev_mode_supported(enum vdev_mode mode);

/*
 * @dev: PCI address, mdev UUID or sysfs device path (see vdev_resolve()),
 * opened in vdev_default_mode().
 */
int vdev_open(struct vdev *d, const char *dev);
int vdev_open_mode(struct vdev *d, const char *dev, enum vdev_mode mode);
void vdev_close(struct vdev *d);
bool vdev_is_open(const struct vdev *d);

/*
 * Closes only the device fd: the group and container, or the iommufd and
 * its IOAS, stay.
 */
int vdev_close_fd(struct vdev *d);
/*
 * Gets a new device fd into d->fd.  Group mode: from the group, then the old
 * fd is closed.  Iommufd mode: the old fd is closed first (the kernel binds a
 * device through its cdev only while no other fd has it open: close its data
 * fds' users and unmap its regions first), then the cdev is opened, bound
 * and attached to d->ioas_id again.
 */
int vdev_reopen_fd(struct vdev *d);
/*
 * Returns an additional device fd (>= 0) or -errno.  Iommufd mode: fails
 * (EINVAL from the bind) while d->fd is open, see vdev_reopen_fd().
 */
int vdev_get_extra_fd(struct vdev *d);

/*
 * Checks with the kernel that @d is open the way @want says, independently
 * of how vdev_open() went about it: group mode: a container and a group fd,
 * and a device fd that is not a character device (an anonymous inode).
 * Iommufd mode: no container or group fd; the device fd is the character
 * device <sysfs>/vfio-dev/vfioN/dev names; the iommufd fd is /dev/iommu;
 * the group cannot be opened (EBUSY: the bound cdev blocks it); the IOAS
 * cannot be destroyed (EBUSY: the attached device holds it).  0, or -EPROTO
 * naming the first mismatch.
 */
int vdev_check_mode(const struct vdev *d, enum vdev_mode want);

int vdev_reset(struct vdev *d);
int vdev_reset_fd(int fd);

uint64_t vdev_region_size(const struct vdev *d, unsigned int idx);

ssize_t vdev_region_read(const struct vdev *d, unsigned int idx, uint64_t off,
			 void *buf, size_t len);
ssize_t vdev_region_write(const struct vdev *d, unsigned int idx,
			  uint64_t off, const void *buf, size_t len);
/* Same with an explicit device fd (for stale/extra fds). */
ssize_t vdev_region_read_fd(const struct vdev *d, int fd, unsigned int idx,
			    uint64_t off, void *buf, size_t len);

/*
 * VFIO_DEVICE_IOEVENTFD: a write of @data (@size bytes) to @off of region
 * @idx whenever eventfd @efd is signalled; @efd -1 removes the one that
 * matches @off, @size and @data.
 */
int vdev_ioeventfd(const struct vdev *d, unsigned int idx, uint64_t off,
		   unsigned int size, uint64_t data, int efd);

int vdev_rd32(const struct vdev *d, unsigned int idx, uint64_t off, uint32_t *v);
int vdev_wr32(const struct vdev *d, unsigned int idx, uint64_t off, uint32_t v);
int vdev_cfg_rd16(const struct vdev *d, uint64_t off, uint16_t *v);
int vdev_cfg_wr16(const struct vdev *d, uint64_t off, uint16_t v);

/* Maps a whole region read/write.  Returns NULL and sets errno on failure. */
void *vdev_mmap(const struct vdev *d, unsigned int idx, size_t *len);

/*
 * Makes sure memory decoding is on in the (virtual) command register.
 * vdev_cfg_*() and this fail with -ENODEV on a device that is not VFIO-PCI.
 */
int vdev_enable_memory(const struct vdev *d);

#endif /* VFIO_DEV_H */
