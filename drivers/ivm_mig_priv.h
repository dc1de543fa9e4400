/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: what the files of the migration core share among
 * themselves.  Internal to the migration core: a device driver sees only
 * ivm_mig.h.
 */
#ifndef IVM_MIG_PRIV_H
#define IVM_MIG_PRIV_H

#include <linux/atomic.h>
#include <linux/container_of.h>
#include <linux/types.h>

#include "ivm_mig.h"

/* The device of a vfio_device callback. */
static inline struct ivm_mig *to_mig(struct vfio_device *core_vdev)
{
	return container_of(core_vdev, struct ivm_mig, core_device.vdev);
}

/* ---- ivm_mig.c: the FSM ---- */

void ivm_state_unlock(struct ivm_mig *mig);

/* ---- ivm_debugfs.c: test knobs ---- */

bool ivm_should_fail(const char *point);

/*
 * DMA-logging calls the vfio core passed on to the driver, all devices
 * together (<debugfs>/<name>/dma_log_calls): shows that a VMM's start,
 * report and stop really reach it.
 */
enum { IVM_LOG_START, IVM_LOG_REPORT, IVM_LOG_STOP, IVM_LOG_NCALLS };
extern atomic64_t ivm_log_calls[IVM_LOG_NCALLS];

/* ---- ivm_dmalog.c: DMA logging ---- */

void ivm_log_clear(struct ivm_mig *mig);
#ifdef IVM_HAVE_LOG_OPS
bool ivm_core_can_report(void);
#endif

#endif /* IVM_MIG_PRIV_H */
