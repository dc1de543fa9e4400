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

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};

#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE	9
#endif

#endif /* VFIO_UAPI_H */
