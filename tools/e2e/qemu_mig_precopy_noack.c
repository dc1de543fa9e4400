// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration with the device's pre-copy but without switchover-ack: QEMU
 * switches over when what is left seems to fit into downtime-limit at
 * avail-switchover-bandwidth (64 MiB here), so most of BAR2 moves before the
 * VM stops and the rest after.  The scenario: lib/precopy.c.
 */
#include "e2e.h"

int main(void)
{
	return precopy_main("qemu_mig_precopy_noack", false);
}
