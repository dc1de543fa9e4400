/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <linux/vfio.h> plus the parts of the VFIO migration uAPI that older
 * installed headers lack, so that the tests build with the headers of any
 * distribution and run against whatever kernel is booted.  Debian 12's
 * linux-libc-dev (6.1) predates PRE_COPY with VFIO_MIG_GET_PRECOPY_INFO
 * (Linux 6.2) and VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (Linux 6.3).  The
 * values below are those ABI numbers; a kernel without the feature answers
 * them with an error the tests already treat as "not offered" (PRE_COPY is
 * only used when VFIO_DEVICE_FEATURE_MIGRATION reports it).
 */
#ifndef VFIO_UAPI_H
#define VFIO_UAPI_H

#include <sys/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#ifndef VFIO_MIG_GET_PRECOPY_INFO
#define VFIO_MIGRATION_PRE_COPY		(1 << 2)
/* enum vfio_device_mig_state values after RUNNING_P2P (5) */
#define VFIO_DEVICE_STATE_PRE_COPY	6
#define VFIO_DEVICE_STATE_PRE_COPY_P2P	7

struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};

#define VFIO_MIG_GET_PRECOPY_INFO	_IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

/*
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 and VFIO_PRECOPY_INFO_REINIT: Linux
 * 7.1.  Older kernels answer the feature with ENOTTY (the vfio-pci core's
 * device_feature does not know it).
 */
#ifndef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2	12
#endif
#ifndef VFIO_PRECOPY_INFO_REINIT
#define VFIO_PRECOPY_INFO_REINIT	(1 << 0)
#endif

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};

#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE	9
#endif

/*
 * The VFIO device cdev and iommufd (VFIO_DEVICE_BIND_IOMMUFD and
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT: Linux 6.6; <linux/iommufd.h>: 6.2) are not
 * in Debian 12's headers.  Nothing stands in for them: built without them,
 * the cdev/iommufd mode of vfio_dev.c says it is not supported by these
 * headers (the group/container mode needs nothing new).
 */
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#if defined(VFIO_DEVICE_BIND_IOMMUFD) && \
	defined(VFIO_DEVICE_ATTACH_IOMMUFD_PT) && \
	defined(IOMMU_IOAS_ALLOC) && defined(IOMMU_DESTROY)
#define VDEV_HAVE_IOMMUFD	1
#else
#define VDEV_HAVE_IOMMUFD	0
#endif

#endif /* VFIO_UAPI_H */
