/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: what differs between the kernels the driver builds for
 * (6.1, 6.12, 7.x), in one place.  Kbuild defines the IVM_HAVE_* macros by
 * probing the target kernel's headers, never by version number.
 */
#ifndef IVM_COMPAT_H
#define IVM_COMPAT_H

#include <linux/huge_mm.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

/*
 * The driver owns the user's BAR mappings where it can zap them through the
 * vfio device's own inode (6.10+) and the core tells it how the BARs are
 * reserved.  Before that the vfio-pci core keeps a list of its own VMAs and
 * zaps only those, so the mappings have to stay the core's.
 */
#if defined(IVM_HAVE_VFIO_DEVICE_INODE) && \
	(defined(IVM_HAVE_SETUP_BARMAP) || defined(IVM_HAVE_GET_IOMAP))
#define IVM_OWN_BAR_MMAP 1
#endif

#ifndef VM_ALLOW_ANY_UNCACHED
#define VM_ALLOW_ANY_UNCACHED VM_NONE
#endif

/*
 * Reserve and map a BAR the way the vfio-pci core does for its own region
 * access, so that the core releases it at close.  Where the core exports
 * nothing for that (6.1) the BAR is mapped privately; ivm_bar_iounmap()
 * undoes only that case.
 */
static inline void __iomem *ivm_bar_iomap(struct vfio_pci_core_device *vdev,
					  int bar)
{
#if defined(IVM_HAVE_SETUP_BARMAP)
	int ret = vfio_pci_core_setup_barmap(vdev, bar);

	if (ret)
		return IOMEM_ERR_PTR(ret);
	return vdev->barmap[bar];
#elif defined(IVM_HAVE_GET_IOMAP)
	return vfio_pci_core_get_iomap(vdev, bar);
#else
	void __iomem *io = pci_iomap(vdev->pdev, bar, 0);

	return io ? io : IOMEM_ERR_PTR(-ENOMEM);
#endif
}

static inline void ivm_bar_iounmap(struct vfio_pci_core_device *vdev,
				   void __iomem *io)
{
#if !defined(IVM_HAVE_SETUP_BARMAP) && !defined(IVM_HAVE_GET_IOMAP)
	if (!IS_ERR_OR_NULL(io))
		pci_iounmap(vdev->pdev, io);
#endif
}

/*
 * 7.1+: the user opts in to VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (the vfio
 * core handles the feature and records it in the device until close); only
 * then is vfio_precopy_info.flags an output, and VFIO_PRECOPY_INFO_REINIT
 * may be reported.  Before, no user can opt in.
 */
static inline bool ivm_precopy_info_v2(struct vfio_device *vdev)
{
#ifdef IVM_HAVE_PRECOPY_INFO_V2
	return READ_ONCE(vdev->precopy_info_v2);
#else
	return false;
#endif
}

#ifndef VFIO_PRECOPY_INFO_REINIT
#define VFIO_PRECOPY_INFO_REINIT	BIT(0)
#endif

#ifdef IVM_OWN_BAR_MMAP
/*
 * Copy in and check the argument of VFIO_MIG_GET_PRECOPY_INFO.  The core's
 * checker (7.1+) leaves the user's flags alone unless the user opted in to
 * v2; before it, flags are reserved and the driver returns them zeroed.
 * Only where PRE_COPY can be offered: 6.1 has no struct vfio_precopy_info.
 */
static inline int ivm_check_precopy_ioctl(struct vfio_device *vdev,
					  unsigned int cmd, unsigned long arg,
					  struct vfio_precopy_info *info)
{
#ifdef IVM_HAVE_CHECK_PRECOPY_IOCTL
	return vfio_check_precopy_ioctl(vdev, cmd, arg, info);
#else
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info->argsz < minsz)
		return -EINVAL;
	info->flags = 0;
	return 0;
#endif
}

#ifdef IVM_HAVE_VFIO_VMF_INSERT_PFN
/* 6.19+: the core exports the body of its own fault handler. */
static inline vm_fault_t ivm_vmf_insert_pfn(struct vfio_pci_core_device *vdev,
					    struct vm_fault *vmf,
					    unsigned long pfn,
					    unsigned int order)
{
	return vfio_pci_vmf_insert_pfn(vdev, vmf, pfn, order);
}
#else
/*
 * Whether the user may access the BARs now: the user's (virtual) command
 * register enables memory decoding, or the function has none (VFs), and the
 * function is powered.  The same rule as the core's, which it does not
 * export before 6.19.
 */
static inline bool ivm_memory_enabled(struct vfio_pci_core_device *vdev)
{
	u16 cmd = le16_to_cpu(*(__le16 *)&vdev->vconfig[PCI_COMMAND]);

	/* pci_power_t is __bitwise, but its values are ordered by depth */
	if ((__force int)vdev->pdev->current_state >= (__force int)PCI_D3hot)
		return false;
	return vdev->pdev->no_command_memory || (cmd & PCI_COMMAND_MEMORY);
}

#ifdef IVM_HAVE_PFN_T
#include <linux/pfn_t.h>
#define IVM_HUGE_PFN(pfn)	__pfn_to_pfn_t(pfn, PFN_DEV)
#else
#define IVM_HUGE_PFN(pfn)	(pfn)
#endif

/*
 * Insert @pfn for @vmf at @order, or refuse it while the user cannot access
 * memory.  memory_lock is held for reading: the core zaps all BAR mappings
 * under it held for writing whenever access becomes impossible.
 */
static inline vm_fault_t ivm_vmf_insert_pfn(struct vfio_pci_core_device *vdev,
					    struct vm_fault *vmf,
					    unsigned long pfn,
					    unsigned int order)
{
	lockdep_assert_held_read(&vdev->memory_lock);

	if (vdev->pm_runtime_engaged || !ivm_memory_enabled(vdev))
		return VM_FAULT_SIGBUS;
	switch (order) {
	case 0:
		return vmf_insert_pfn(vmf->vma, vmf->address, pfn);
#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
	case PMD_ORDER:
		return vmf_insert_pfn_pmd(vmf, IVM_HUGE_PFN(pfn), false);
#endif
#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
	case PUD_ORDER:
		return vmf_insert_pfn_pud(vmf, IVM_HUGE_PFN(pfn), false);
#endif
	default:
		return VM_FAULT_FALLBACK;
	}
}
#endif /* IVM_HAVE_VFIO_VMF_INSERT_PFN */
#endif /* IVM_OWN_BAR_MMAP */

#endif /* IVM_COMPAT_H */
