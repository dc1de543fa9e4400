#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make harness-selftest: prove that the harness turns each kind of breakage into a failing verdict with a clear
# message. Every scenario is one short `vm.sh check` (the driver's own selftests are left out to keep the boots
# short) whose output must (1) end in "N passed, N failed, N skipped" with N failed > 0, (2) exit non-zero and
# (3) contain the scenario's expected message(s). Prints one PASS/FAIL line per scenario and the usual last line.
# The scenarios run IVM_SELFTEST_JOBS (2) at a time, each in its own run directory (most boot one guest and wait
# for a stall or a limit: side by side they share the cores instead of leaving one idle); the reports come in the
# order of this file. Every expected time below is a lower bound: a loaded machine detects a stall later, never
# sooner.
#   IVM_SELFTEST_ONLY="tests panic ..."  run only these scenarios
#   IVM_SELFTEST_JOBS=1                   one at a time
set -uo pipefail
. "$(dirname "$0")/lib.sh"
B=$IVM_SCRIPTS/tests/broken
WORK=$(mktemp -d /tmp/ivm-harness-selftest.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export IVM_NO_SELFTESTS=1 IVM_NO_E2E=1
unset EXTRA_TESTS IVM_KO IVM_TEST_KMODS

extra() { # NAME FILES... -> a fresh EXTRA_TESTS dir
	local d=$WORK/extra-$1 f
	shift
	mkdir -p "$d"
	for f in "$@"; do cp "$B/$f" "$d/"; done
	echo "$d"
}

JOBS=${IVM_SELFTEST_JOBS:-2}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "IVM_SELFTEST_JOBS=$JOBS: want a number >= 1"
NAMES=()
# scenario NAME "EXPECTED-REGEX|||EXPECTED-REGEX..." ENV-ASSIGNMENTS...: started in the background (at most JOBS at
# once); its report goes to $WORK/NAME.report, first line PASS or FAIL
scenario() {
	local name=$1
	if [ -n "${IVM_SELFTEST_ONLY:-}" ] && ! [[ " $IVM_SELFTEST_ONLY " == *" $name "* ]]; then return; fi
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
	step "harness-selftest: scenario '$name' started (${*:3})"
	run_scenario "$@" > "$WORK/$name.report" 2>&1 &
	NAMES+=("$name")
}
run_scenario() {
	local name=$1 expects=$2 out=$WORK/$1.out rc last why='' e
	shift 2
	env "$@" "$IVM_SCRIPTS/vm.sh" check > "$out" 2>&1
	rc=$?
	last=$(tail -1 "$out")
	if ! [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
		why="last line is not the verdict: '$last'"
	elif [ "${BASH_REMATCH[2]}" = 0 ]; then
		why="verdict has no failure: '$last'"
	elif [ "$rc" = 0 ]; then
		why="exit status 0 despite '$last'"
	else
		IFS=$'\n'
		for e in ${expects//|||/$'\n'}; do
			grep -qE -- "$e" "$out" || why="${why:+$why; }missing expected message /$e/"
		done
		unset IFS
	fi
	if [ -z "$why" ]; then
		echo "PASS  harness-selftest: $name  ($last; exit $rc; $(ivm_elapsed) s)"
		grep -E '^FAIL ' "$out" | sed 's/^/        /' | cut -c1-200
	else
		echo "FAIL  harness-selftest: $name  -- $why (output: /tmp/ivm-harness-selftest-$name.out)"
		tail -25 "$out" | sed 's/^/        /'
		cp "$out" "/tmp/ivm-harness-selftest-$name.out"
	fi
}

# 1. failing / misbehaving test programs, shared among the guests with neither history nor estimates (round robin);
#    judged by progress: one that stands still is killed after IVM_TEST_STALL, one that burns CPU without end only
#    by the overall limit IVM_TEST_TIMEOUT, and one that works silently for longer than the stall time passes
scenario tests \
	'^FAIL  extra/fail_ktap.sh: selftest_must_fail|||^FAIL  extra/exit_nonzero.sh  -- exited with status 3 without reporting a failing test|||^FAIL  extra/crash.sh  -- CRASHED: killed by signal SIGSEGV|||^FAIL  extra/short_plan.sh  -- only 1 of 3 planned results|||^FAIL  extra/stall.sh  -- STALLED: no output, CPU time or I/O for (1[5-9]|[2-9][0-9]|[1-9][0-9]{2,}) s \(IVM_TEST_STALL=15\)|||^FAIL  extra/livelock.sh  -- TIMED OUT after 60 s \(IVM_TEST_TIMEOUT|||^PASS  extra/slow_progress.sh: silent_but_busy|||^PASS  extra/fail_ktap.sh: selftest_passes|||no earlier run times.*programs shared round robin' \
	EXTRA_TESTS="$(extra tests fail_ktap.sh exit_nonzero.sh crash.sh short_plan.sh stall.sh livelock.sh slow_progress.sh)" \
	IVM_TEST_STALL=15 IVM_TEST_TIMEOUT=60 IVM_HISTORY=0 IVM_ESTIMATES=0

# 1b. the verdict holds KTAP and skips to their word: no result, plan 1..0 without a reason, test numbers twice or
#     beyond the plan, TODO/XFAIL, a whole-program skip for another reason than listed, an unlisted skip, a listed test that passes, a list entry that names nothing, a
#     program missing from the program list; listed skips count as skips. Shared by the earlier runs' times.
sed '$a unit/gone_test' "$IVM_REPO/tools/test-programs.txt" > "$WORK/programs-plus-gone.txt"
scenario verdict \
	'^FAIL  extra/no_result.sh  -- no KTAP result \(exit 0\)|||^FAIL  extra/plan0_noreason.sh  -- plan 1\.\.0 without|||^SKIP  extra/plan0_skip.sh  \(no such device in this guest\)|||^FAIL  extra/plan0_wrong_reason.sh  -- skipped whole \(QEMU exited at start-up \(status 1\)\), but .* expects the reason .vfio-pci has no enable-migration property.|||^FAIL  extra/ktap_numbers.sh  -- KTAP: test number 1 reported 2 times; result 4 beyond the plan 1\.\.3|||^FAIL  extra/todo_xfail.sh: flaky  -- # TODO fix later: TODO/XFAIL is not a pass|||^FAIL  extra/todo_xfail.sh: known_bad  -- # XFAIL|||^SKIP  extra/skips.sh: listed_skip|||^FAIL  extra/skips.sh: unlisted_skip  -- skipped \(feature not offered here\), but tools/skips/[a-z]+.txt \(\+ IVM_SKIPS\) does not list it|||^FAIL  extra/skips.sh: listed_but_passes  -- passed, but .* lists it as an expected skip|||^FAIL  harness: expected skips  -- .extra/skips.sh no_such_test. in .* matched no skipped test|||^FAIL  harness: test programs as listed  -- listed but not planned: unit/gone_test|||guest [0-9]+ of [0-9]+: [0-9]+ programs, ~[0-9]+ s in earlier runs' \
	EXTRA_TESTS="$(extra verdict no_result.sh plan0_noreason.sh plan0_skip.sh plan0_wrong_reason.sh ktap_numbers.sh todo_xfail.sh skips.sh)" \
	IVM_SKIPS="$B/skips.list" IVM_PROGRAMS_LIST="$WORK/programs-plus-gone.txt" IVM_HISTORY=1 IVM_GUESTS=2

# 2. a module that does not load (a corrupted .ko)
{ printf '\177ELF\002\001\001'; head -c 16384 /dev/urandom; } > "$WORK/corrupt.ko"
scenario module-load \
	"^FAIL  harness: (g[0-9]+: )?load $IVM_KO_NAME.ko  -- insmod: .*(Invalid module format|Exec format error|invalid)" \
	IVM_KO="$WORK/corrupt.ko" IVM_GUESTS=1

# 3. a guest kernel panic in the middle of the tests; without history the two programs (the sanity test and the
#    panic) are shared by the estimates of the program list, what CI and a new machine do
scenario panic \
	'^FAIL  harness: (g[0-9]+: )?guest ran to the end  -- guest kernel PANIC: .*sysrq|||^FAIL  extra/panic.sh  -- did not finish|||^FAIL  harness: (g[0-9]+: )?kernel log clean|||no earlier run times \(IVM_HISTORY=0\): programs shared by the estimates of tools/test-programs\.txt|||guest 1 of 2: 1 programs, ~10 s estimated \(tools/test-programs\.txt\)|||guest 2 of 2: 1 programs \(1 without an estimate\)' \
	EXTRA_TESTS="$(extra panic panic.sh)" IVM_HISTORY=0 IVM_GUESTS=2

# 4. a guest that stands still (no console output, no program heartbeat): the host's watchdog stops it after
#    IVM_STALL (the guest's own per-program watchdog is off here, IVM_TEST_STALL=0)
scenario guest-hang \
	'^FAIL  harness: (g[0-9]+: )?guest ran to the end  -- guest HUNG: no progress \(serial console, program heartbeat\) for ([6-9][0-9]|[1-9][0-9]{2,}) s \(IVM_STALL=60\)|||^FAIL  extra/guest_hang.sh  -- did not finish' \
	EXTRA_TESTS="$(extra guest-hang guest_hang.sh)" IVM_TEST_STALL=0 IVM_TEST_TIMEOUT=0 IVM_STALL=60 IVM_GUESTS=1

# 5. a WARN_ON in a module (scripts/tests/kmods/warn, loaded after ours)
scenario warn-on \
	'^FAIL  harness: (g[0-9]+: )?kernel log clean  -- .*WARNING: .*ivm_warn|||^FAIL  harness: (g[0-9]+: )?kernel taint  -- .*unexpected flag\(s\) .*W' \
	IVM_TEST_KMODS=warn IVM_GUESTS=1

# 6. reports that are not WARN/BUG: DMA-API debugging, an allocation failure, a warning of our driver
scenario log-scan \
	'^FAIL  harness: (g[0-9]+: )?kernel log clean  -- .*DMA-API: ivm_warn|||^FAIL  harness: (g[0-9]+: )?kernel log clean  -- .*page allocation failure: order:10|||^FAIL  harness: (g[0-9]+: )?kernel log clean  -- .*ivshmem_vfio_pci 0000:00:00\.0: ivm_warn: unexpected state' \
	IVM_TEST_KMODS=warn IVM_TEST_KMOD_ARGS=report=dmaapi,pagealloc,drvwarn IVM_GUESTS=1

# 7. a stalled migration (tools/e2e, so built here; only the extra program runs): the destination QEMU is stopped
#    while the device state moves; the e2e program must give up within its stall time naming it, and clean up
scenario e2e-stall \
	'^FAIL  extra/e2e_stall.sh: stalled_migration_fails  -- \[src\] (QMP query-migrate|migration: waiting for [a-z|]+): gave up after [0-9]+ s without progress: destination QEMU \(pid [0-9]+, stopped\): no I/O, no CPU time and no migration progress for [0-9]+ s; source QEMU \(pid [0-9]+[^)]*\): last progress|||^PASS  extra/e2e_stall.sh: destination_stopped_while_device_state_moves  \(destination QEMU \(pid [0-9]+\) stopped after writing [0-9]+ MiB|||^PASS  extra/e2e_stall.sh: gave_up_within_stall_time  \(reported [0-9]+ s after the SIGSTOP \(E2E_STALL=20|||^PASS  extra/e2e_stall.sh: qemus_cleaned_up' \
	EXTRA_TESTS="$(extra e2e-stall e2e_stall.sh)" IVM_NO_E2E= IVM_ONLY='^extra/'

wait
P=0 F=0
FAILED=()
for name in "${NAMES[@]}"; do
	r=$WORK/$name.report
	[ -s "$r" ] || echo "FAIL  harness-selftest: $name  -- no report (the scenario's shell died)" > "$r"
	cat "$r"
	if head -1 "$r" | grep -q '^PASS '; then
		P=$((P + 1))
	else
		F=$((F + 1))
		FAILED+=("$name: $(head -1 "$r" | sed 's/^FAIL  harness-selftest: [^ ]*  -- //')")
	fi
done
if [ ${#FAILED[@]} -gt 0 ]; then
	echo "---- harness self-test failures"
	for f in "${FAILED[@]}"; do echo "  $f"; done
fi
echo "$P passed, $F failed, 0 skipped"
[ "$F" = 0 ]
