// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: user access to the BARs while the migration FSM runs.
 *
 * In STOP, STOP_COPY and ERROR the BARs are frozen: region read/write fails
 * with -EIO and the user's BAR mappings are zapped and refuse their faults
 * (SIGBUS).  In RUNNING, RUNNING_P2P and RESUMING they work as under
 * vfio-pci; QEMU's destination maps BAR2 into the IOMMU for P2P DMA while the
 * device is RESUMING, which faults the mapping in.
 *
 * Where the vfio device has an inode of its own (6.10+) the BAR mappings are
 * the driver's: ivm_mig_mmap() sets them up like vfio_pci_core_mmap() but
 * with our own vm_operations_struct, and the fault handler inserts the PFNs
 * itself.  The vfio-pci core still zaps them whenever it must (reset, memory
 * decoding turned off), because it zaps through the device inode's
 * address_space, which every mapping of the device fd belongs to, whoever
 * installed it.  Before 6.10 the core zaps only the VMAs on its own list, so
 * mappings stay the core's and are not frozen.
 *
 * Lock rules of this file:
 *  - The fault handler takes vdev->memory_lock for reading and nothing else:
 *    never state_mutex, a data file's lock or access_lock.  Faults nest in
 *    mmap_lock, and data files copy to user memory under their own lock, so
 *    taking either of those here would close a cycle with
 *    state_mutex -> file lock -> mmap_lock.
 *  - A fault checks mig->frozen and inserts under memory_lock held for
 *    reading; ivm_bar_freeze() sets frozen first and then zaps under
 *    memory_lock held for writing.  So a fault either finished before the
 *    zap, which removes what it inserted, or sees frozen.
 *  - Region read/write cannot hold memory_lock (the core takes it inside),
 *    so it counts itself in access_count under access_lock instead, which
 *    the freeze waits for.
 *  - While a save tracks device memory (PRE_COPY, ivm_dirty.c) a fault maps
 *    4 KiB only and marks the page dirty under the same read lock it
 *    inserts under; a region write marks what it wrote before it leaves
 *    access_count.  So a present PTE implies a set bit, and nothing written
 *    before the freeze goes unmarked.
 */
#include <linux/debugfs.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>
#include <linux/wait.h>

#include "ivm_bar.h"
#include "ivm_compat.h"
#include "ivm_dirty.h"
#include "ivm_mig.h"

/*
 * Read-only in debugfs so that tests know what to expect of this kernel:
 * whether BAR mappings are the driver's and freeze (mmap_freeze), and
 * whether the fault handler maps aligned runs with huge entries (mmap_huge).
 */
#ifdef IVM_OWN_BAR_MMAP
static bool ivm_mmap_freeze = true;
#else
static bool ivm_mmap_freeze;
#endif
#if defined(IVM_OWN_BAR_MMAP) && defined(CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP)
static bool ivm_mmap_huge = true;
#else
static bool ivm_mmap_huge;
#endif

/**
 * ivm_bar_debugfs_init - create mmap_freeze and mmap_huge in @dir
 * @dir: the driver's debugfs directory
 */
void ivm_bar_debugfs_init(struct dentry *dir)
{
	debugfs_create_bool("mmap_freeze", 0400, dir, &ivm_mmap_freeze);
	debugfs_create_bool("mmap_huge", 0400, dir, &ivm_mmap_huge);
}

static struct ivm_mig *to_mig(struct vfio_device *core_vdev)
{
	return container_of(core_vdev, struct ivm_mig, core_device.vdev);
}

/* ---- region read/write ---- */

static bool ivm_access_begin(struct ivm_mig *mig)
{
	bool ok;

	spin_lock(&mig->access_lock);
	ok = !mig->frozen;
	if (ok)
		mig->access_count++;
	spin_unlock(&mig->access_lock);
	return ok;
}

static void ivm_access_end(struct ivm_mig *mig)
{
	spin_lock(&mig->access_lock);
	if (!--mig->access_count)
		wake_up_all(&mig->access_wq);
	spin_unlock(&mig->access_lock);
}

static bool ivm_access_idle(struct ivm_mig *mig)
{
	bool idle;

	spin_lock(&mig->access_lock);
	idle = !mig->access_count;
	spin_unlock(&mig->access_lock);
	return idle;
}

static void ivm_set_frozen(struct ivm_mig *mig, bool frozen)
{
	spin_lock(&mig->access_lock);
	/* The fault handler reads it without access_lock. */
	WRITE_ONCE(mig->frozen, frozen);
	spin_unlock(&mig->access_lock);
}

static bool ivm_is_bar(loff_t pos)
{
	return VFIO_PCI_OFFSET_TO_INDEX(pos) <= VFIO_PCI_BAR5_REGION_INDEX;
}

static ssize_t ivm_mig_rw(struct vfio_device *core_vdev, char __user *buf,
			  size_t count, loff_t *ppos, bool iswrite)
{
	struct ivm_mig *mig = to_mig(core_vdev);
	unsigned int index = VFIO_PCI_OFFSET_TO_INDEX(*ppos);
	u64 off = *ppos & VFIO_PCI_OFFSET_MASK;
	bool bar = ivm_is_bar(*ppos);
	ssize_t ret;

	if (bar && !ivm_access_begin(mig))
		return -EIO;
	if (iswrite)
		ret = vfio_pci_core_write(core_vdev, buf, count, ppos);
	else
		ret = vfio_pci_core_read(core_vdev, buf, count, ppos);
	/*
	 * Before access_end: a freeze must not miss the mark.  A write that
	 * fails (-EFAULT on a bad user buffer) may have stored a prefix
	 * before failing, so all of [off, off + count) is marked then.
	 */
	if (iswrite && count && index == mig->ops->mem_bar)
		ivm_track_mark(mig, off, ret > 0 ? ret : count);
	if (bar)
		ivm_access_end(mig);
	return ret;
}

/**
 * ivm_mig_read - vfio_device_ops.read that refuses BAR access while frozen
 * @core_vdev: the device
 * @buf: user buffer
 * @count: bytes
 * @ppos: region offset
 *
 * Return: as vfio_pci_core_read(), or -EIO for a BAR while the device is
 * stopped.
 */
ssize_t ivm_mig_read(struct vfio_device *core_vdev, char __user *buf,
		     size_t count, loff_t *ppos)
{
	return ivm_mig_rw(core_vdev, buf, count, ppos, false);
}

/**
 * ivm_mig_write - vfio_device_ops.write that refuses BAR access while frozen
 * @core_vdev: the device
 * @buf: user buffer
 * @count: bytes
 * @ppos: region offset
 *
 * Return: as vfio_pci_core_write(), or -EIO for a BAR while the device is
 * stopped.
 */
ssize_t ivm_mig_write(struct vfio_device *core_vdev, const char __user *buf,
		      size_t count, loff_t *ppos)
{
	return ivm_mig_rw(core_vdev, (char __user *)buf, count, ppos, true);
}

/* ---- the user's BAR mappings ---- */

#ifdef IVM_OWN_BAR_MMAP

/* vm_pgoff of a region mapping: region index above, page offset below. */
#define IVM_PGOFF_SHIFT		(VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)
#define IVM_PGOFF_MASK		((1UL << IVM_PGOFF_SHIFT) - 1)

/* The offset in its BAR that @addr of BAR mapping @vma maps. */
static u64 ivm_vma_bar_off(struct vm_area_struct *vma, unsigned long addr)
{
	return ((u64)(vma->vm_pgoff & IVM_PGOFF_MASK) << PAGE_SHIFT) +
	       (addr - vma->vm_start);
}

/* The PFN that @addr of BAR mapping @vma maps. */
static unsigned long ivm_vma_pfn(struct vm_area_struct *vma,
				 unsigned long addr)
{
	struct ivm_mig *mig = vma->vm_private_data;
	unsigned int bar = vma->vm_pgoff >> IVM_PGOFF_SHIFT;
	resource_size_t start = pci_resource_start(mig->core_device.pdev, bar);

	return PHYS_PFN(start) + (vma->vm_pgoff & IVM_PGOFF_MASK) +
	       PHYS_PFN(addr - vma->vm_start);
}

/*
 * Map the page (@order 0) or the aligned run of 2^@order pages around the
 * faulting address, unless the device is frozen.  A huge entry must lie
 * inside the VMA and map a naturally aligned run of the BAR; otherwise the
 * mm falls back to the next smaller order, down to 4 KiB.  While device
 * memory is tracked, every page is mapped alone and marked dirty as it is
 * inserted (writable: KVM cannot upgrade a read-only PFNMAP entry, so
 * tracking cannot wait for the first write).
 */
static vm_fault_t ivm_bar_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivm_mig *mig = vma->vm_private_data;
	struct vfio_pci_core_device *vdev = &mig->core_device;
	unsigned int bar = vma->vm_pgoff >> IVM_PGOFF_SHIFT;
	unsigned long size = PAGE_SIZE << order;
	unsigned long addr = ALIGN_DOWN(vmf->address, size);
	unsigned long pfn = ivm_vma_pfn(vma, addr);
	vm_fault_t ret;

	if (order && (addr < vma->vm_start || addr + size > vma->vm_end ||
		      !IS_ALIGNED(pfn, 1UL << order)))
		return VM_FAULT_FALLBACK;

	down_read(&vdev->memory_lock);
	if (READ_ONCE(mig->frozen)) {
		ret = VM_FAULT_SIGBUS;
	} else if (order && mig->track_bits) {
		ret = VM_FAULT_FALLBACK;
	} else {
		ret = ivm_vmf_insert_pfn(vdev, vmf, pfn, order);
		if (ret == VM_FAULT_NOPAGE && bar == mig->ops->mem_bar)
			ivm_track_mark_locked(mig, ivm_vma_bar_off(vma, addr),
					      PAGE_SIZE);
	}
	up_read(&vdev->memory_lock);
	return ret;
}

static vm_fault_t ivm_bar_fault(struct vm_fault *vmf)
{
	return ivm_bar_huge_fault(vmf, 0);
}

static const struct vm_operations_struct ivm_bar_vm_ops = {
	.fault = ivm_bar_fault,
#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
	.huge_fault = ivm_bar_huge_fault,
#endif
};

/*
 * Set up a mapping of a BAR as vfio_pci_core_mmap() does (same checks, the
 * BAR reserved, uncached and decrypted, VM_PFNMAP | VM_IO, no expansion, no
 * core dumps), except that its faults come to ivm_bar_huge_fault().
 */
static int ivm_bar_mmap(struct ivm_mig *mig, unsigned int bar,
			struct vm_area_struct *vma)
{
	struct vfio_pci_core_device *vdev = &mig->core_device;
	u64 start = (u64)(vma->vm_pgoff & IVM_PGOFF_MASK) << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;
	void __iomem *io;

	if (!(vma->vm_flags & VM_SHARED) || !vdev->bar_mmap_supported[bar])
		return -EINVAL;
	if (start + len > PAGE_ALIGN(pci_resource_len(vdev->pdev, bar)))
		return -EINVAL;
	/* Reserves the BAR's resource until the device is closed. */
	io = ivm_bar_iomap(vdev, bar);
	if (IS_ERR(io))
		return PTR_ERR(io);

	vma->vm_private_data = mig;
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	vma->vm_page_prot = pgprot_decrypted(vma->vm_page_prot);
	vm_flags_set(vma, VM_ALLOW_ANY_UNCACHED | VM_IO | VM_PFNMAP |
			  VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &ivm_bar_vm_ops;
	return 0;
}

/*
 * Remove every user mapping of BAR0-5, so that the next access faults into
 * ivm_bar_huge_fault().  memory_lock held for writing keeps faults out.
 */
static void ivm_bar_zap(struct ivm_mig *mig)
{
	struct vfio_pci_core_device *vdev = &mig->core_device;
	loff_t start = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_BAR0_REGION_INDEX);
	loff_t end = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_ROM_REGION_INDEX);

	lockdep_assert_held_write(&vdev->memory_lock);
	unmap_mapping_range(vdev->vdev.inode->i_mapping, start, end - start,
			    true);
}
#endif /* IVM_OWN_BAR_MMAP */

/**
 * ivm_bar_zap_all - remove every user mapping of the BARs
 * @mig: the device; core_device.memory_lock held for writing
 *
 * Their next access faults into ivm_bar_huge_fault().  Nothing to do where
 * the mappings are the core's (before 6.10; tracking is never offered there).
 */
void ivm_bar_zap_all(struct ivm_mig *mig)
{
	lockdep_assert_held_write(&mig->core_device.memory_lock);
#ifdef IVM_OWN_BAR_MMAP
	ivm_bar_zap(mig);
#endif
}

/**
 * ivm_bar_zap_range - remove the user mappings of part of a BAR
 * @mig: the device; core_device.memory_lock held for writing
 * @bar: the BAR
 * @off: first byte in the BAR
 * @len: bytes; the range is widened to whole CPU pages
 */
void ivm_bar_zap_range(struct ivm_mig *mig, unsigned int bar, u64 off,
		       u64 len)
{
	lockdep_assert_held_write(&mig->core_device.memory_lock);
#ifdef IVM_OWN_BAR_MMAP
	unmap_mapping_range(mig->core_device.vdev.inode->i_mapping,
			    VFIO_PCI_INDEX_TO_OFFSET(bar) +
			    ALIGN_DOWN(off, PAGE_SIZE),
			    PAGE_ALIGN(off + len) - ALIGN_DOWN(off, PAGE_SIZE),
			    true);
#endif
}

/**
 * ivm_mig_mmap - vfio_device_ops.mmap whose BAR mappings freeze
 * @core_vdev: the device
 * @vma: the new mapping
 *
 * Maps BAR0-5 with the driver's own fault handler, which refuses access
 * (SIGBUS) while the device is frozen; everything else goes to
 * vfio_pci_core_mmap().  On kernels whose vfio devices have no inode of
 * their own (before 6.10) all of it goes there, and BAR mappings stay usable
 * while the device is stopped.
 *
 * Return: 0 or a negative errno.
 */
int ivm_mig_mmap(struct vfio_device *core_vdev, struct vm_area_struct *vma)
{
#ifdef IVM_OWN_BAR_MMAP
	unsigned long bar = vma->vm_pgoff >> IVM_PGOFF_SHIFT;

	if (bar <= VFIO_PCI_BAR5_REGION_INDEX)
		return ivm_bar_mmap(to_mig(core_vdev), bar, vma);
#endif
	return vfio_pci_core_mmap(core_vdev, vma);
}

/* ---- freezing ---- */

/**
 * ivm_bar_freeze - refuse user access to the BARs from now on
 * @mig: the device
 *
 * Refuses new region reads and writes, waits (killable) for those in
 * progress, then waits for faults in progress and zaps the user's BAR
 * mappings, so that nothing the user started before can change the device
 * afterwards and the next access through a mapping raises SIGBUS.
 *
 * Return: 0, or -EINTR (then nothing is frozen).
 */
int ivm_bar_freeze(struct ivm_mig *mig)
{
	int ret;

	ivm_set_frozen(mig, true);
	ret = wait_event_killable(mig->access_wq, ivm_access_idle(mig));
	if (ret) {
		ivm_set_frozen(mig, false);
		return ret;
	}
#ifdef IVM_OWN_BAR_MMAP
	down_write(&mig->core_device.memory_lock);
	ivm_bar_zap(mig);
	up_write(&mig->core_device.memory_lock);
#endif
	return 0;
}

/**
 * ivm_bar_thaw - allow user access to the BARs again
 * @mig: the device
 *
 * Zapped mappings fault back in on their next access.  Takes no lock but
 * access_lock, so that resets can call it with memory_lock held.
 */
void ivm_bar_thaw(struct ivm_mig *mig)
{
	ivm_set_frozen(mig, false);
}
