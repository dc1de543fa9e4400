// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: dirty tracking of device memory for PRE_COPY.
 *
 * A save keeps one bit per 4 KiB page of device memory that it still has to
 * send: all of them at the start, and every page a user may have written
 * since it was last read.  Tracking is armed by zapping the user's BAR
 * mappings; from then on the fault handler maps single pages only, writable,
 * and marks each page as it inserts it (ivm_bar.c).  Region write() marks
 * what it wrote.  A harvest takes a run of set bits, clears them and zaps
 * those pages, so the next access faults and marks again.
 *
 * Invariant while tracking: a page with a present user PTE has its bit set.
 * Inserting and marking happen together under memory_lock held for reading,
 * clearing and zapping together under it held for writing.  A nested KVM
 * guest sees the zap through the mmu notifier and faults through
 * hva_to_pfn_remapped() -> fixup_user_fault() into our handler again.
 *
 * Reads count as writes (the handler cannot tell them apart without
 * read-only PTEs, which KVM cannot upgrade for PFNMAP), so an idle device
 * converges only if nobody touches it.  What tracking cannot see: P2P DMA
 * into BAR2 by another device, VFIO_DEVICE_IOEVENTFD writes, and other users
 * of the memory behind BAR2 (for ivshmem: other VMs or processes sharing the
 * same memory backend).  Pre-copy is correct only with an exclusive backend.
 * ioeventfds are handled in ivm_mig.c: refused on BAR2 while tracking, and
 * where one exists anyway the save sends all of device memory again
 * (ivm_dirty_restart()).
 *
 * Memory: npages / 8 bytes per save (8 KiB for 256 MiB, 2 MiB for 64 GiB).
 */
#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/poll.h>
#include <linux/slab.h>

#include "ivm_bar.h"
#include "ivm_dirty.h"
#include "ivm_mig.h"

#define IVM_PAGE		IVM_STREAM_PAGE_SIZE
/* Pages per MEM record window: no record crosses IVM_MEM_RECORD_MAX. */
#define IVM_REC_PAGES		(IVM_MEM_RECORD_MAX / IVM_STREAM_PAGE_SIZE)
#define IVM_REC_HDR		sizeof(struct ivm_record_header)

/**
 * ivm_dirty_init - all of device memory still to send
 * @d: filled in
 * @desc: the stream description
 * @mem_bar: the BAR of device memory
 *
 * Return: 0 or -ENOMEM.
 */
int ivm_dirty_init(struct ivm_dirty *d, const struct ivm_stream_desc *desc,
		   unsigned int mem_bar)
{
	d->npages = ivm_stream_pages(desc);
	d->mem_size = desc->mem_size;
	d->mem_bar = mem_bar;
	d->scan = 0;
	d->first_pass = true;
	d->bits = bitmap_zalloc(d->npages, GFP_KERNEL_ACCOUNT);
	if (!d->bits)
		return -ENOMEM;
	bitmap_fill(d->bits, d->npages);
	return 0;
}

/**
 * ivm_dirty_free - free what ivm_dirty_init() allocated
 * @d: no longer tracked (ivm_track_stop())
 */
void ivm_dirty_free(struct ivm_dirty *d)
{
	bitmap_free(d->bits);
	d->bits = NULL;
}

/* Stream bytes of the MEM records that send pages [@first, @end). */
static u64 ivm_run_bytes(const struct ivm_dirty *d, unsigned long first,
			 unsigned long end)
{
	u64 bytes = min_t(u64, (u64)end * IVM_PAGE, d->mem_size) -
		    (u64)first * IVM_PAGE;
	u64 recs = (end - 1) / IVM_REC_PAGES - first / IVM_REC_PAGES + 1;

	return bytes + recs * IVM_REC_HDR;
}

/**
 * ivm_dirty_take - harvest the next run of pages to send
 * @mig: the device
 * @d: the save's pages
 * @off: first byte of the run in device memory
 * @len: bytes of the run, at most one IVM_MEM_RECORD_MAX window
 * @initial: the run belongs to the first pass over device memory
 *
 * Clears the run's bits and, while tracking, zaps the user's mappings of
 * those pages, so that a write after this point faults and marks them
 * again.  The caller reads the run from the device afterwards.
 *
 * Return: false if no page is left to send.
 */
bool ivm_dirty_take(struct ivm_mig *mig, struct ivm_dirty *d, u64 *off,
		    u64 *len, bool *initial)
{
	struct vfio_pci_core_device *vdev = &mig->core_device;
	unsigned long first, end, win_end;

	down_write(&vdev->memory_lock);
	first = find_next_bit(d->bits, d->npages, d->scan);
	if (first >= d->npages) {
		d->first_pass = false;
		first = find_first_bit(d->bits, d->npages);
	}
	if (first >= d->npages) {
		up_write(&vdev->memory_lock);
		return false;
	}
	win_end = min(d->npages, round_down(first, IVM_REC_PAGES) +
				 IVM_REC_PAGES);
	end = find_next_zero_bit(d->bits, win_end, first);
	bitmap_clear(d->bits, first, end - first);
	*off = (u64)first * IVM_PAGE;
	*len = min_t(u64, (u64)end * IVM_PAGE, d->mem_size) - *off;
	if (mig->track_bits == d->bits)
		ivm_bar_zap_range(mig, d->mem_bar, *off, *len);
	*initial = d->first_pass;
	d->scan = end;
	up_write(&vdev->memory_lock);
	return true;
}

/**
 * ivm_dirty_all_bytes - stream bytes of the MEM records of all device memory
 * @d: the save's pages
 *
 * Return: what sending every page once takes.
 */
u64 ivm_dirty_all_bytes(const struct ivm_dirty *d)
{
	return ivm_run_bytes(d, 0, d->npages);
}

/**
 * ivm_dirty_restart - send all of device memory again, as a new first pass
 * @mig: the device
 * @d: the save's pages
 *
 * For when writes tracking could not see may have reached device memory:
 * every page is to send again, in order from the start.  Setting every bit
 * keeps the invariant of tracking whatever the user's mappings are.
 */
void ivm_dirty_restart(struct ivm_mig *mig, struct ivm_dirty *d)
{
	down_write(&mig->core_device.memory_lock);
	bitmap_fill(d->bits, d->npages);
	d->scan = 0;
	d->first_pass = true;
	up_write(&mig->core_device.memory_lock);
}

/**
 * ivm_dirty_bytes - stream bytes of the MEM records still to come
 * @mig: the device
 * @d: the save's pages
 * @initial: bytes of pages not sent yet at all
 * @dirty: bytes of pages sent before and written since
 */
void ivm_dirty_bytes(struct ivm_mig *mig, struct ivm_dirty *d, u64 *initial,
		     u64 *dirty)
{
	unsigned long end = d->first_pass ? d->scan : d->npages;
	unsigned long first = 0, stop;

	down_read(&mig->core_device.memory_lock);
	/* In the first pass, every page from scan on is still set. */
	*initial = d->first_pass && d->scan < d->npages ?
		   ivm_run_bytes(d, d->scan, d->npages) : 0;
	*dirty = 0;
	for (;;) {
		first = find_next_bit(d->bits, end, first);
		if (first >= end)
			break;
		stop = find_next_zero_bit(d->bits, end, first);
		*dirty += ivm_run_bytes(d, first, stop);
		first = stop;
	}
	up_read(&mig->core_device.memory_lock);
}

/**
 * ivm_dirty_any - whether any page is still to send
 * @mig: the device
 * @d: the save's pages
 *
 * Return: true if a harvest would find a page now.
 */
bool ivm_dirty_any(struct ivm_mig *mig, struct ivm_dirty *d)
{
	bool any;

	down_read(&mig->core_device.memory_lock);
	any = find_first_bit(d->bits, d->npages) < d->npages;
	up_read(&mig->core_device.memory_lock);
	return any;
}

/**
 * ivm_track_start - mark the user's writes to device memory in @d from now on
 * @mig: the device
 * @d: the save's pages, all set
 * @wq: woken when a page becomes dirty
 *
 * Zaps every BAR mapping, so that every page the user maps afterwards goes
 * through the fault handler, which marks it.
 */
void ivm_track_start(struct ivm_mig *mig, struct ivm_dirty *d,
		     wait_queue_head_t *wq)
{
	struct vfio_pci_core_device *vdev = &mig->core_device;

	down_write(&vdev->memory_lock);
	mig->track_bits = d->bits;
	mig->track_wq = wq;
	ivm_bar_zap_all(mig);
	up_write(&vdev->memory_lock);
}

/**
 * ivm_track_stop - stop tracking
 * @mig: the device
 *
 * Zaps the BAR mappings once more, so that huge mappings come back at the
 * next faults.  Afterwards no fault or region write touches the bitmap.
 */
void ivm_track_stop(struct ivm_mig *mig)
{
	struct vfio_pci_core_device *vdev = &mig->core_device;

	down_write(&vdev->memory_lock);
	mig->track_bits = NULL;
	mig->track_wq = NULL;
	ivm_bar_zap_all(mig);
	up_write(&vdev->memory_lock);
}

/**
 * ivm_track_mark_locked - the user may have written device memory
 * @mig: the device; core_device.memory_lock held (for reading)
 * @off: first byte
 * @len: bytes, at least 1
 *
 * Marks every page of [@off, @off + @len) dirty if a save is tracking, and
 * wakes its poll() when a page was clean.
 */
void ivm_track_mark_locked(struct ivm_mig *mig, u64 off, u64 len)
{
	unsigned long npages = ivm_stream_pages(&mig->desc);
	bool woke = false;
	unsigned long pg;
	u64 end, last;

	lockdep_assert_held(&mig->core_device.memory_lock);
	if (!mig->track_bits || !len || off / IVM_PAGE >= npages)
		return;
	/* A write's length comes from the user: the run ends at BAR2's end. */
	if (check_add_overflow(off, len - 1, &end))
		end = U64_MAX;
	last = min_t(u64, end / IVM_PAGE, npages - 1);
	for (pg = off / IVM_PAGE; pg <= last; pg++)
		if (!test_and_set_bit(pg, mig->track_bits))
			woke = true;
	if (woke)
		wake_up_interruptible_poll(mig->track_wq, EPOLLIN | EPOLLRDNORM);
}

/**
 * ivm_track_mark - ivm_track_mark_locked() for a region write
 * @mig: the device
 * @off: first byte written
 * @len: bytes written, at least 1
 */
void ivm_track_mark(struct ivm_mig *mig, u64 off, u64 len)
{
	down_read(&mig->core_device.memory_lock);
	ivm_track_mark_locked(mig, off, len);
	up_read(&mig->core_device.memory_lock);
}
