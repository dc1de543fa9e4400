// SPDX-License-Identifier: GPL-2.0
/*
 * Harness self-test only (make harness-selftest): stands in for a driver bug.
 * On load it makes the kernel log reports named by the "report" parameter
 * (default "warn"); the harness must turn each into a failing verdict:
 *   warn      WARN_ON(1): the report and the W taint
 *   dmaapi    a line as CONFIG_DMA_API_DEBUG prints it ("DMA-API: ...")
 *   pagealloc a line as warn_alloc() prints it ("page allocation failure")
 *   drvwarn   a warning with the ivshmem_vfio_pci driver's device prefix
 * The last three are printed, not provoked: what is under test is the
 * harness's log scan, not the allocator or the DMA API.
 */
#include <linux/bug.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/string.h>

static char *report = "warn";
module_param(report, charp, 0444);
MODULE_PARM_DESC(report, "comma-separated: warn, dmaapi, pagealloc, drvwarn");

static bool wanted(const char *what)
{
	const char *p = report;
	size_t len = strlen(what);

	while (p && *p) {
		if (!strncmp(p, what, len) && (p[len] == ',' || !p[len]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

static int __init ivm_warn_init(void)
{
	if (wanted("warn"))
		WARN_ON(1);
	if (wanted("dmaapi"))
		pr_err("DMA-API: ivm_warn: device driver frees DMA memory with wrong function (harness self-test)\n");
	if (wanted("pagealloc"))
		pr_warn("ivm_warn: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL) (harness self-test)\n");
	if (wanted("drvwarn"))
		pr_warn("ivshmem_vfio_pci 0000:00:00.0: ivm_warn: unexpected state (harness self-test)\n");
	return 0;
}

static void __exit ivm_warn_exit(void)
{
}

module_init(ivm_warn_init);
module_exit(ivm_warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VM harness self-test: kernel log reports on load");
