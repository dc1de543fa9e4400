/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LINTBAD_H
#define LINTBAD_H

#include <linux/types.h>

/**
 * lintbad_read() - read a value through a user pointer
 * @p: where the value is
 *
 * The kernel-doc defect: @off is not described.
 *
 * Return: the value
 */
int lintbad_read(const int __user *p, size_t off);

#endif
