// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration with the device's pre-copy, as libvirt runs it (capabilities
 * return-path and switchover-ack): QEMU switches over only once the
 * destination has all of the device's initial data, so the whole of BAR2
 * moves before the VM stops.  The scenario: lib/precopy.c.
 */
#include "e2e.h"

int main(void)
{
	return precopy_main("qemu_mig_precopy", true);
}
