#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# "make bench" in the guest: the data fds' throughput and kernel memory (tools/bench/bench), then QEMU's live
# migration downtime side by side, an emulated ivshmem-plain against the device passed through
# (tools/e2e/qemu_mig_downtime). IVM_BENCH_THROUGHPUT=0 or IVM_BENCH_DOWNTIME=0 leaves a part out; the downtime
# part takes IVM_BENCH_DT_REPS (3), IVM_BENCH_DT_LOADS, IVM_BENCH_DT_PATHS and IVM_BENCH_DT_WRITE_KIBS (see
# tools/e2e/qemu_mig_downtime.c). The exit status is the first failing part's.
set -u
S=$(cd "$(dirname "$0")/.." && pwd)
rc=0
if [ "${IVM_BENCH_THROUGHPUT:-1}" != 0 ]; then
	echo "=== Part 1: throughput and kernel memory of the data fds (tools/bench/bench) ==="
	(cd "$S/src/tools/bench" && exec ./bench) || rc=$?
fi
[ "${IVM_BENCH_DOWNTIME:-1}" = 0 ] && exit "$rc"
echo
echo "=== Part 2: migration downtime, emulated ivshmem-plain vs. passed through (tools/e2e/qemu_mig_downtime) ==="
if [ ! -x "$S/src/tools/e2e/qemu_mig_downtime" ]; then
	echo "(tools/e2e/qemu_mig_downtime was not built: no downtime part)"
	exit 1
fi
reps=${IVM_BENCH_DT_REPS:-3}
# the watchdog grows with the work (up to 4 migrations of BAR2 per repetition at >= 1 MiB/s, plus set-up);
# a stall is still a stall after 60 s
mib=$(( ${IVSHMEM_SIZE_BIG:-268435456} / 1048576 ))
r=0
(cd "$S/src/tools/e2e" &&
	E2E_DT_REPS=$reps E2E_DT_LOADS=${IVM_BENCH_DT_LOADS:-idle busy} \
	E2E_DT_PATHS=${IVM_BENCH_DT_PATHS:-emulated passthrough} E2E_DT_WRITE_KIBS=${IVM_BENCH_DT_WRITE_KIBS:-512} \
	E2E_TIMEOUT=$(( 600 + reps * 4 * (120 + mib) )) E2E_STALL=${E2E_STALL:-60} exec ./qemu_mig_downtime) || r=$?
[ "$rc" = 0 ] && rc=$r
exit "$rc"
