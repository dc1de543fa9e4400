// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: vfio-pci variant driver for QEMU's ivshmem-plain device
 * with VFIO migration v2.
 *
 * The device state is two registers in BAR0 (INTRMASK, INTRSTATUS) and the
 * shared memory in BAR2.  Everything migration-specific that is not about
 * ivshmem is the core's (ivm_mig.h); this file describes the device to it.
 */
#include <linux/error-injection.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "ivm_compat.h"
#include "ivm_mig.h"

#define IVSHMEM_VENDOR_ID	0x1af4
#define IVSHMEM_DEVICE_ID	0x1110

/* BAR0 registers of ivshmem */
#define IVSHMEM_INTRMASK	0x00
#define IVSHMEM_INTRSTATUS	0x04	/* reading it clears it */
#define IVSHMEM_REGS_BAR	0
#define IVSHMEM_MEM_BAR		2

/**
 * struct ivshmem_vfio - one bound ivshmem device
 * @mig: vfio-pci core device and migration state
 * @migratable: ivshmem-plain; false for ivshmem-doorbell
 * @driver_reset: the PCI core cannot reset the function, the driver does
 * @regs: BAR0 mapping while the device is open
 * @mem: BAR2 mapping while the device is open
 */
struct ivshmem_vfio {
	struct ivm_mig mig;
	bool migratable;
	bool driver_reset;
	void __iomem *regs;
	void __iomem *mem;
};

static struct ivshmem_vfio *to_ivshmem(struct ivm_mig *mig)
{
	return container_of(mig, struct ivshmem_vfio, mig);
}

static struct ivshmem_vfio *vdev_to_ivshmem(struct vfio_device *core_vdev)
{
	return container_of(core_vdev, struct ivshmem_vfio,
			    mig.core_device.vdev);
}

/*
 * ivshmem-doorbell shares the device ID but has an MSI-X table in BAR1 and
 * peers whose doorbells cannot be migrated.
 */
static bool ivshmem_is_plain(struct pci_dev *pdev)
{
	return !pdev->msix_cap && !pci_resource_len(pdev, 1) &&
	       pci_resource_len(pdev, IVSHMEM_REGS_BAR) >= 16 &&
	       pci_resource_len(pdev, IVSHMEM_MEM_BAR);
}

static void ivshmem_describe(struct ivm_mig *mig, struct ivm_stream_desc *desc)
{
	struct pci_dev *pdev = mig->core_device.pdev;

	desc->vendor = pdev->vendor;
	desc->device = pdev->device;
	desc->revision = pdev->revision;
	desc->mem_size = pci_resource_len(pdev, IVSHMEM_MEM_BAR);
	desc->regs_size = sizeof(struct ivm_regs_payload);
}

/*
 * The device-access ops are called through the ops table (never inlined); the
 * kernel's fail_function may make each of them fail (ALLOW_ERROR_INJECTION).
 */
static int ivshmem_save_regs(struct ivm_mig *mig, void *blob)
{
	struct ivshmem_vfio *iv = to_ivshmem(mig);
	struct ivm_regs_payload *r = blob;
	u32 status;

	r->intrmask = cpu_to_le32(ioread32(iv->regs + IVSHMEM_INTRMASK));
	status = ioread32(iv->regs + IVSHMEM_INTRSTATUS);
	/* The read cleared INTRSTATUS: put it back, saving changes nothing. */
	iowrite32(status, iv->regs + IVSHMEM_INTRSTATUS);
	r->intrstatus = cpu_to_le32(status);
	return 0;
}
ALLOW_ERROR_INJECTION(ivshmem_save_regs, ERRNO);

static int ivshmem_load_regs(struct ivm_mig *mig, const void *blob)
{
	struct ivshmem_vfio *iv = to_ivshmem(mig);
	const struct ivm_regs_payload *r = blob;

	iowrite32(le32_to_cpu(r->intrmask), iv->regs + IVSHMEM_INTRMASK);
	iowrite32(le32_to_cpu(r->intrstatus), iv->regs + IVSHMEM_INTRSTATUS);
	return 0;
}
ALLOW_ERROR_INJECTION(ivshmem_load_regs, ERRNO);

static int ivshmem_check_range(struct ivm_mig *mig, u64 off, size_t len)
{
	u64 end;

	if (WARN_ON_ONCE(check_add_overflow(off, (u64)len, &end) ||
			 end > mig->desc.mem_size))
		return -EINVAL;
	return 0;
}

static int ivshmem_mem_read(struct ivm_mig *mig, u64 off, void *buf,
			    size_t len)
{
	int ret = ivshmem_check_range(mig, off, len);

	if (!ret)
		memcpy_fromio(buf, to_ivshmem(mig)->mem + off, len);
	return ret;
}
ALLOW_ERROR_INJECTION(ivshmem_mem_read, ERRNO);

static int ivshmem_mem_write(struct ivm_mig *mig, u64 off, const void *buf,
			     size_t len)
{
	int ret = ivshmem_check_range(mig, off, len);

	if (!ret)
		memcpy_toio(to_ivshmem(mig)->mem + off, buf, len);
	return ret;
}
ALLOW_ERROR_INJECTION(ivshmem_mem_write, ERRNO);

/* What a bus reset does to ivshmem: clear both registers, keep memory. */
static int ivshmem_reset(struct ivm_mig *mig)
{
	struct ivshmem_vfio *iv = to_ivshmem(mig);

	iowrite32(0, iv->regs + IVSHMEM_INTRMASK);
	iowrite32(0, iv->regs + IVSHMEM_INTRSTATUS);
	return 0;
}

static const struct ivm_dev_ops ivshmem_dev_ops = {
	.mem_bar = IVSHMEM_MEM_BAR,
	.describe = ivshmem_describe,
	.save_regs = ivshmem_save_regs,
	.load_regs = ivshmem_load_regs,
	.mem_read = ivshmem_mem_read,
	.mem_write = ivshmem_mem_write,
	.reset = ivshmem_reset,
};

static int ivshmem_vfio_init_dev(struct vfio_device *core_vdev)
{
	struct ivshmem_vfio *iv = vdev_to_ivshmem(core_vdev);
	int ret;

	ret = vfio_pci_core_init_dev(core_vdev);
	if (ret)
		return ret;
	iv->migratable = ivshmem_is_plain(iv->mig.core_device.pdev);
	if (!iv->migratable)
		return 0;
	return ivm_mig_init(&iv->mig, &ivshmem_dev_ops);
}

static void ivshmem_vfio_release_dev(struct vfio_device *core_vdev)
{
	struct ivshmem_vfio *iv = vdev_to_ivshmem(core_vdev);

	if (iv->migratable)
		ivm_mig_destroy(&iv->mig);
	vfio_pci_core_release_dev(core_vdev);
}

static int ivshmem_vfio_open_device(struct vfio_device *core_vdev)
{
	struct ivshmem_vfio *iv = vdev_to_ivshmem(core_vdev);
	struct vfio_pci_core_device *vdev = &iv->mig.core_device;
	int ret;

	ret = vfio_pci_core_enable(vdev);
	if (ret)
		return ret;

	if (iv->migratable) {
		iv->regs = ivm_bar_iomap(vdev, IVSHMEM_REGS_BAR);
		iv->mem = ivm_bar_iomap(vdev, IVSHMEM_MEM_BAR);
		if (IS_ERR(iv->regs) || IS_ERR(iv->mem)) {
			ret = IS_ERR(iv->regs) ? PTR_ERR(iv->regs) :
						 PTR_ERR(iv->mem);
			goto err_unmap;
		}
		/*
		 * Without a PCI reset method VFIO_DEVICE_RESET would fail, and
		 * with it QEMU's recovery from a failed migration step.  Reset
		 * what a bus reset would reset ourselves instead.
		 */
		iv->driver_reset = !vdev->reset_works;
		if (iv->driver_reset)
			vdev->reset_works = true;
		ivm_mig_open(&iv->mig);
	}

	vfio_pci_core_finish_enable(vdev);
	return 0;

err_unmap:
	ivm_bar_iounmap(vdev, iv->mem);
	ivm_bar_iounmap(vdev, iv->regs);
	vfio_pci_core_disable(vdev);
	return ret;
}

static void ivshmem_vfio_close_device(struct vfio_device *core_vdev)
{
	struct ivshmem_vfio *iv = vdev_to_ivshmem(core_vdev);

	if (iv->migratable) {
		ivm_mig_close(&iv->mig);
		ivm_bar_iounmap(&iv->mig.core_device, iv->mem);
		ivm_bar_iounmap(&iv->mig.core_device, iv->regs);
	}
	vfio_pci_core_close_device(core_vdev);
}

static long ivshmem_vfio_ioctl(struct vfio_device *core_vdev,
			       unsigned int cmd, unsigned long arg)
{
	struct ivshmem_vfio *iv = vdev_to_ivshmem(core_vdev);

	if (cmd == VFIO_DEVICE_RESET && iv->migratable && iv->driver_reset)
		return ivm_mig_device_reset(&iv->mig);
	if (cmd == VFIO_DEVICE_IOEVENTFD && iv->migratable)
		return ivm_mig_ioeventfd(&iv->mig, arg);
	return vfio_pci_core_ioctl(core_vdev, cmd, arg);
}

#ifdef IVM_HAVE_GET_REGION_INFO_CAPS
#define IVSHMEM_OPS_REGION_INFO \
	.get_region_info_caps = vfio_pci_ioctl_get_region_info,
#else
#define IVSHMEM_OPS_REGION_INFO
#endif

#ifdef IVM_HAVE_MATCH_TOKEN_UUID
#define IVSHMEM_OPS_MATCH_TOKEN	.match_token_uuid = vfio_pci_core_match_token_uuid,
#else
#define IVSHMEM_OPS_MATCH_TOKEN
#endif

#ifdef IVM_HAVE_PASID_IOAS
#define IVSHMEM_OPS_PASID \
	.pasid_attach_ioas = vfio_iommufd_physical_pasid_attach_ioas, \
	.pasid_detach_ioas = vfio_iommufd_physical_pasid_detach_ioas,
#else
#define IVSHMEM_OPS_PASID
#endif

#ifdef IVM_HAVE_IOMMUFD_OPS
#define IVSHMEM_OPS_IOMMUFD \
	.bind_iommufd = vfio_iommufd_physical_bind, \
	.unbind_iommufd = vfio_iommufd_physical_unbind, \
	.attach_ioas = vfio_iommufd_physical_attach_ioas, \
	.detach_ioas = vfio_iommufd_physical_detach_ioas, \
	IVSHMEM_OPS_PASID
#else
#define IVSHMEM_OPS_IOMMUFD
#endif

/* What both flavours share: everything but region access and mmap. */
#define IVSHMEM_VFIO_COMMON_OPS \
	.init = ivshmem_vfio_init_dev, \
	.release = ivshmem_vfio_release_dev, \
	.open_device = ivshmem_vfio_open_device, \
	.close_device = ivshmem_vfio_close_device, \
	.ioctl = ivshmem_vfio_ioctl, \
	IVSHMEM_OPS_REGION_INFO \
	.device_feature = vfio_pci_core_ioctl_feature, \
	.request = vfio_pci_core_request, \
	.match = vfio_pci_core_match, \
	IVSHMEM_OPS_MATCH_TOKEN \
	IVSHMEM_OPS_IOMMUFD

static const struct vfio_device_ops ivshmem_vfio_mig_ops = {
	.name = "ivshmem-vfio-pci",
	IVSHMEM_VFIO_COMMON_OPS
	.read = ivm_mig_read,
	.write = ivm_mig_write,
	.mmap = ivm_mig_mmap,
};

static const struct vfio_device_ops ivshmem_vfio_plain_ops = {
	.name = "ivshmem-vfio-pci-nomig",
	IVSHMEM_VFIO_COMMON_OPS
	.read = vfio_pci_core_read,
	.write = vfio_pci_core_write,
	.mmap = vfio_pci_core_mmap,
};

static int ivshmem_vfio_probe(struct pci_dev *pdev,
			      const struct pci_device_id *id)
{
	bool plain = ivshmem_is_plain(pdev);
	struct ivshmem_vfio *iv;
	int ret;

	iv = vfio_alloc_device(ivshmem_vfio, mig.core_device.vdev, &pdev->dev,
			       plain ? &ivshmem_vfio_mig_ops :
				       &ivshmem_vfio_plain_ops);
	if (IS_ERR(iv))
		return PTR_ERR(iv);

	dev_set_drvdata(&pdev->dev, &iv->mig.core_device);
	ret = vfio_pci_core_register_device(&iv->mig.core_device);
	if (ret)
		goto err_put;

	if (plain)
		pci_info(pdev, "ivshmem-plain, %llu MiB shared memory: migration supported\n",
			 (unsigned long long)pci_resource_len(pdev, IVSHMEM_MEM_BAR) >> 20);
	else
		pci_info(pdev, "not ivshmem-plain (MSI-X or BAR1 present, e.g. ivshmem-doorbell): bound without migration support\n");
	return 0;

err_put:
	vfio_put_device(&iv->mig.core_device.vdev);
	return ret;
}

static void ivshmem_vfio_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(vdev);
	vfio_put_device(&vdev->vdev);
}

static void ivshmem_vfio_reset_done(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);
	struct ivshmem_vfio *iv = vdev_to_ivshmem(&vdev->vdev);

	if (iv->migratable)
		ivm_mig_reset_done(&iv->mig);
}

static const struct pci_error_handlers ivshmem_vfio_err_handlers = {
	.reset_done = ivshmem_vfio_reset_done,
	.error_detected = vfio_pci_core_aer_err_detected,
};

static const struct pci_device_id ivshmem_vfio_table[] = {
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(IVSHMEM_VENDOR_ID, IVSHMEM_DEVICE_ID) },
	{}
};
MODULE_DEVICE_TABLE(pci, ivshmem_vfio_table);

static struct pci_driver ivshmem_vfio_driver = {
	.name = KBUILD_MODNAME,
	.id_table = ivshmem_vfio_table,
	.probe = ivshmem_vfio_probe,
	.remove = ivshmem_vfio_remove,
	.err_handler = &ivshmem_vfio_err_handlers,
	.driver_managed_dma = true,
};

static int __init ivshmem_vfio_init(void)
{
	int ret;

	ivm_mig_debugfs_init(ivshmem_vfio_driver.name);
	ret = pci_register_driver(&ivshmem_vfio_driver);
	if (ret)
		ivm_mig_debugfs_exit();
	return ret;
}
module_init(ivshmem_vfio_init);

static void __exit ivshmem_vfio_exit(void)
{
	pci_unregister_driver(&ivshmem_vfio_driver);
	ivm_mig_debugfs_exit();
}
module_exit(ivshmem_vfio_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION(IVM_VERSION);
MODULE_DESCRIPTION("vfio-pci variant driver for QEMU ivshmem-plain with VFIO migration v2");
