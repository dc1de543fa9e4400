#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# "make demo" in the guest: the driver's migration interface step by step (tools/demo/demo), then, when it was
# built, a live migration by a nested QEMU of a VM with the device passed through (tools/e2e/qemu_mig_demo).
set -u
S=$(cd "$(dirname "$0")/.." && pwd)
(cd "$S/src/tools/demo" && exec ./demo) || exit $?
if [ -x "$S/src/tools/e2e/qemu_mig_demo" ]; then
	echo
	echo "=== Part 2: QEMU live-migrates a VM with the device passed through (-device vfio-pci) ==="
	cd "$S/src/tools/e2e" && exec ./qemu_mig_demo
fi
echo "(tools/e2e/qemu_mig_demo was not built: no live migration part)"
