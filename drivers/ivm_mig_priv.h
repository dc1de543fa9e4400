/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: what the files of the migration core share among
 * themselves.  Internal to the migration core: a device driver sees only
 * ivm_mig.h.
 */
#ifndef IVM_MIG_PRIV_H
#define IVM_MIG_PRIV_H

#include <linux/atomic.h>
#include <linux/types.h>

/* ---- ivm_debugfs.c: test knobs ---- */

bool ivm_should_fail(const char *point);

/*
 * DMA-logging calls the vfio core passed on to the driver, all devices
 * together (<debugfs>/<name>/dma_log_calls): shows that a VMM's start,
 * report and stop really reach it.
 */
enum { IVM_LOG_START, IVM_LOG_REPORT, IVM_LOG_STOP, IVM_LOG_NCALLS };
extern atomic64_t ivm_log_calls[IVM_LOG_NCALLS];

#endif /* IVM_MIG_PRIV_H */
