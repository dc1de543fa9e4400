// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*).  The
 * device does no DMA, so nothing is ever dirty: the core keeps the logged
 * ranges only to check the reports against them, under state_mutex.
 */
#include <linux/error-injection.h>
#include <linux/interval_tree.h>
#include <linux/overflow.h>
#include <linux/slab.h>

#include "ivm_mig.h"
#include "ivm_mig_priv.h"

/**
 * ivm_log_clear - end DMA logging and free its ranges
 * @mig: the device; state_mutex held, or the device no longer in use
 */
void ivm_log_clear(struct ivm_mig *mig)
{
	kfree(mig->log_ranges);
	mig->log_ranges = NULL;
	mig->log_nranges = 0;
	mig->log_active = false;
}

#ifdef IVM_HAVE_LOG_OPS

static int ivm_log_start(struct vfio_device *core_vdev,
			 struct rb_root_cached *ranges, u32 nnodes,
			 u64 *page_size)
{
	struct ivm_mig *mig = to_mig(core_vdev);
	struct interval_tree_node *node;
	struct ivm_log_range *r;
	u32 n = 0;
	int ret = 0;

	atomic64_inc(&ivm_log_calls[IVM_LOG_START]);
	if (!nnodes || nnodes > IVM_LOG_MAX_RANGES)
		return -E2BIG;
	r = ivm_should_fail("log_alloc") ? NULL :
		kcalloc(nnodes, sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX);
	     node && n < nnodes;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		r[n].start = node->start;
		r[n].last = node->last;
		n++;
	}

	mutex_lock(&mig->state_mutex);
	if (mig->log_active) {
		ret = -EBUSY;
	} else {
		kfree(mig->log_ranges);
		mig->log_ranges = NULL;
		swap(mig->log_ranges, r);
		mig->log_nranges = n;
		mig->log_active = true;
	}
	ivm_state_unlock(mig);
	kfree(r);
	return ret;
}
ALLOW_ERROR_INJECTION(ivm_log_start, ERRNO);

static int ivm_log_stop(struct vfio_device *core_vdev)
{
	struct ivm_mig *mig = to_mig(core_vdev);

	atomic64_inc(&ivm_log_calls[IVM_LOG_STOP]);
	mutex_lock(&mig->state_mutex);
	ivm_log_clear(mig);
	ivm_state_unlock(mig);
	return 0;
}

static int ivm_log_read_and_clear(struct vfio_device *core_vdev,
				  unsigned long iova, unsigned long length,
				  struct iova_bitmap *dirty)
{
	struct ivm_mig *mig = to_mig(core_vdev);
	unsigned long pos = iova, last;
	int ret = -EINVAL;
	u32 i;

	atomic64_inc(&ivm_log_calls[IVM_LOG_REPORT]);
	if (!length || check_add_overflow(iova, length - 1, &last))
		return -EINVAL;

	mutex_lock(&mig->state_mutex);
	/* The ranges are sorted; the request must lie in their union. */
	for (i = 0; mig->log_active && i < mig->log_nranges; i++) {
		const struct ivm_log_range *r = &mig->log_ranges[i];

		if (pos < r->start || pos > r->last)
			continue;
		if (last <= r->last) {
			ret = 0;
			break;
		}
		pos = r->last + 1;
	}
	ivm_state_unlock(mig);
	return ret;
}

const struct vfio_log_ops ivm_log_ops = {
	.log_start = ivm_log_start,
	.log_stop = ivm_log_stop,
	.log_read_and_clear = ivm_log_read_and_clear,
};

/**
 * ivm_core_can_report - whether the vfio core can fill DMA_LOGGING_REPORT
 *	bitmaps
 *
 * Since 6.7 iova_bitmap belongs to CONFIG_IOMMUFD_DRIVER and is a stub
 * without it (then every report fails with EOPNOTSUPP); before, vfio always
 * built it.
 *
 * Return: true if it can.
 */
bool ivm_core_can_report(void)
{
#ifdef IVM_IOVA_BITMAP_NEEDS_IOMMUFD_DRIVER
	return IS_ENABLED(CONFIG_IOMMUFD_DRIVER);
#else
	return true;
#endif
}
#endif
