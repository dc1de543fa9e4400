#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: for each size in IVM_BENCH_SIZES (default "64M 256M 1G") boot a VM whose BIG_A/BIG_B pair has that
# BAR2 size and run there (scripts/guest/bench.sh) tools/bench/bench (data fd throughput, kernel memory) and
# tools/e2e/qemu_mig_downtime (QEMU's migration downtime, an emulated ivshmem-plain of that size against the device
# passed through). The guest kernel runs without slub_debug/KFENCE here so they do not skew the numbers
# (IVM_BENCH_DEBUG=1 keeps them); KERNEL=debug runs it all on the debug/IOMMUFD lane. Then it collects the downtime
# figures of all sizes into a directory of its own, $IVM_CACHE/runs/bench-<lane>-<time>-XXXX/:
#   downtime.tsv     one line per migration
#   summary.tsv      medians (min, max) per size, load and path, and the ratio passthrough / emulated
#   summary.rst      the same as a table for Documentation/qemu-migration.rst
#   downtime.svg/.png  downtime against BAR2 size, both paths, idle and busy (gnuplot; scripts/host-deps.sh bench)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
sizes=${IVM_BENCH_SIZES:-64M 256M 1G}
# a 1 GiB pair needs ~2.2 GiB for tools/bench/bench and 2 GiB of tmpfs for the emulated device's two backing files
export IVM_MEM=${IVM_MEM:-6G}
lane=${SUITE:-trixie}
[ "${KERNEL:-stock}" = debug ] && lane=$lane-debug
mkdir -p "$IVM_CACHE/runs"
OUT=$(mktemp -d "$IVM_CACHE/runs/bench-$lane-$(date +%Y%m%d-%H%M%S)-XXXX")
echo $$ > "$OUT/pid"
info "bench results: $OUT"
rc=0
for s in $sizes; do
	step "bench: BIG_A/BIG_B = $s"
	IVM_BIG=$s IVM_RUN_NOTE=$OUT/run-$s "$IVM_SCRIPTS/vm.sh" bench || rc=1
	run=$(cat "$OUT/run-$s" 2>/dev/null)
	[ -n "$run" ] && [ -f "$run/share/results/program.out" ] && cp "$run/share/results/program.out" "$OUT/bench-$s.out"
	# no program: vm.sh said so before booting; no use trying the next size
	[ -x "$IVM_REPO/tools/bench/bench" ] || [ -f "$IVM_REPO/tools/bench/Makefile" ] || break
done

BENCH_LANE=$lane BENCH_CMD="make bench${KERNEL:+ KERNEL=$KERNEL} SUITE=${SUITE:-trixie} IVM_BENCH_SIZES='$sizes'" \
	"$IVM_SCRIPTS/bench-report.sh" "$OUT" || rc=1
rm -f "$OUT/pid"
exit $rc
