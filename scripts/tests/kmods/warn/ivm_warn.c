// SPDX-License-Identifier: GPL-2.0
/*
 * Harness self-test only (make harness-selftest): stands in for a driver bug
 * that hits WARN_ON. The harness must turn the resulting kernel report and
 * the W taint into a failing verdict.
 */
#include <linux/bug.h>
#include <linux/module.h>

static int __init ivm_warn_init(void)
{
	WARN_ON(1);
	return 0;
}

static void __exit ivm_warn_exit(void)
{
}

module_init(ivm_warn_init);
module_exit(ivm_warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VM harness self-test: WARN_ON on load");
