/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: user access to the BARs (region read/write, the user's
 * BAR mappings and their fault handler) and the freeze that refuses it while
 * the device is stopped.  Internal to the migration core.
 */
#ifndef IVM_BAR_H
#define IVM_BAR_H

struct dentry;
struct ivm_mig;

#include <linux/types.h>

int ivm_bar_freeze(struct ivm_mig *mig);
void ivm_bar_zap_all(struct ivm_mig *mig);
void ivm_bar_zap_range(struct ivm_mig *mig, unsigned int bar, u64 off,
		       u64 len);
void ivm_bar_thaw(struct ivm_mig *mig);
void ivm_bar_debugfs_init(struct dentry *dir);

#endif /* IVM_BAR_H */
