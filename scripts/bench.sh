#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: for each size in IVM_BENCH_SIZES (default "64M 1G") boot a VM whose BIG_A/BIG_B pair has that
# BAR2 size and run tools/bench/bench there (the driver author's program, built by 'make -C tools/bench').
# The program gets the usual IVSHMEM_* variables; IVSHMEM_SIZE_BIG is the size under test. The guest kernel
# runs without slub_debug/KFENCE here so they do not skew the numbers (IVM_BENCH_DEBUG=1 keeps them).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
sizes=${IVM_BENCH_SIZES:-64M 1G}
rc=0
for s in $sizes; do
	step "bench: BIG_A/BIG_B = $s"
	IVM_BIG=$s "$IVM_SCRIPTS/vm.sh" bench || rc=1
	# no program: vm.sh said so before booting; no use trying the next size
	[ -x "$IVM_REPO/tools/bench/bench" ] || [ -f "$IVM_REPO/tools/bench/Makefile" ] || break
done
exit $rc
