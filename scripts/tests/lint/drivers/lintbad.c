// SPDX-License-Identifier: GPL-2.0
/*
 * A module with exactly one defect for each checker of scripts/lint.sh (see ../README); it is never loaded.
 */
#include <linux/module.h>
#include "lintbad.h"

/* W=1: -Wunused-const-variable (not reported without W=1) */
static const int lintbad_unused = 1;

static int lintbad_fail;

/**
 * lintbad_read() - read a value through a user pointer
 * @p: where the value is
 * @off: its index
 *
 * Return: the value
 */
int lintbad_read(const int __user *p, size_t off)
{
	/* sparse: dereference of a __user pointer */
	return p[off];
}
EXPORT_SYMBOL_GPL(lintbad_read);

static int __init lintbad_init(void)
{
	/* checkpatch: space required before the open parenthesis */
	if(lintbad_fail)
		return -EINVAL;
	return 0;
}
module_init(lintbad_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("scripts/lint.sh self-test: one defect per checker");
