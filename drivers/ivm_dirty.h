/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: the pages of device memory a save still has to send,
 * and the tracking of user writes to them while the device runs (PRE_COPY).
 * Internal to the migration core.
 */
#ifndef IVM_DIRTY_H
#define IVM_DIRTY_H

#include <linux/types.h>
#include <linux/wait.h>

struct ivm_mig;
struct ivm_stream_desc;

/**
 * struct ivm_dirty - pages of device memory still to send
 * @bits: one bit per IVM_STREAM_PAGE_SIZE page; set: still to send
 * @npages: pages of device memory
 * @mem_size: bytes of device memory
 * @mem_bar: the BAR that holds device memory
 * @scan: page where the next harvest starts looking
 * @first_pass: the first pass over device memory is not finished: every
 *	page from @scan on is still to send for the first time
 *
 * @bits are set with atomic bit operations under memory_lock held for
 * reading (faults, region writes) and cleared under it held for writing
 * (harvest); the other fields belong to the save file and are protected by
 * its lock.
 */
struct ivm_dirty {
	unsigned long *bits;
	unsigned long npages;
	u64 mem_size;
	unsigned int mem_bar;
	unsigned long scan;
	bool first_pass;
};

int ivm_dirty_init(struct ivm_dirty *d, const struct ivm_stream_desc *desc,
		   unsigned int mem_bar);
void ivm_dirty_free(struct ivm_dirty *d);
bool ivm_dirty_take(struct ivm_mig *mig, struct ivm_dirty *d, u64 *off,
		    u64 *len, bool *initial);
u64 ivm_dirty_all_bytes(const struct ivm_dirty *d);
void ivm_dirty_restart(struct ivm_mig *mig, struct ivm_dirty *d);
void ivm_dirty_bytes(struct ivm_mig *mig, struct ivm_dirty *d, u64 *initial,
		     u64 *dirty);
bool ivm_dirty_any(struct ivm_mig *mig, struct ivm_dirty *d);

void ivm_track_start(struct ivm_mig *mig, struct ivm_dirty *d,
		     wait_queue_head_t *wq);
void ivm_track_stop(struct ivm_mig *mig);
void ivm_track_mark_locked(struct ivm_mig *mig, u64 off, u64 len);
void ivm_track_mark(struct ivm_mig *mig, u64 off, u64 len);

#endif /* IVM_DIRTY_H */
