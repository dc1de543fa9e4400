/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening a VFIO device through the VFIO group/container (type1) API and
 * accessing its regions.  A device is named by its PCI address, its mdev
 * UUID or its sysfs directory (/sys/bus/pci/devices/<BDF>,
 * /sys/bus/mdev/devices/<UUID>, or any other bus's).  All functions return 0
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
	int container;
	int group;
	int fd;
	int groupno;
	bool noiommu;
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

/* Sets d->fd etc. to -1 so that vdev_close() is always safe. */
void vdev_init(struct vdev *d);
/* @dev: PCI address, mdev UUID or sysfs device path (see vdev_resolve()). */
int vdev_open(struct vdev *d, const char *dev);
void vdev_close(struct vdev *d);
bool vdev_is_open(const struct vdev *d);

/* Closes only the device fd (the group and container stay). */
int vdev_close_fd(struct vdev *d);
/* Gets a (new) device fd from the group into d->fd. */
int vdev_reopen_fd(struct vdev *d);
/* Returns an additional device fd (>= 0) or -errno. */
int vdev_get_extra_fd(struct vdev *d);

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
