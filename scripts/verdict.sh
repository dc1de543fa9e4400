#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# verdict.sh RUN_DIR: judge one harness run (made by vm.sh) and print every result, then the last line
#   N passed, N failed, N skipped
# Exit status: 0 only if nothing failed. Counted as failures besides failing tests: a build or load step that
# failed, a test program that crashed / timed out / exited non-zero without reporting a failure / is missing
# results, a guest that panicked, hung (host-side timeout) or did not finish, a kernel report in the serial
# console or the final dmesg (WARNING, BUG, Oops, lockdep, KFENCE, Call Trace, hung task, ...), and a kernel taint
# other than O (out-of-tree module) and E (unsigned module).
set -uo pipefail
RUN=${1:?usage: verdict.sh RUN_DIR}
SH=$RUN/share
R=$SH/results
meta() { sed -n "s/^$1=//p" "$RUN/meta" | tail -1; }
MODE=$(meta mode)
TEST_TIMEOUT=$(meta test_timeout)
BUILD_ONLY=$(meta build_only)

PASS=0 FAIL=0 SKIP=0
FAILS=()
res() { # STATUS NAME [DETAIL]
	local s=$1 n=$2 d=${3:-}
	case $s in
	ok|pass) PASS=$((PASS + 1)); printf 'PASS  %s%s\n' "$n" "${d:+  ($d)}" ;;
	skip) SKIP=$((SKIP + 1)); printf 'SKIP  %s%s\n' "$n" "${d:+  ($d)}" ;;
	*) FAIL=$((FAIL + 1)); FAILS+=("$n${d:+: $d}"); printf 'FAIL  %s%s\n' "$n" "${d:+  -- $d}" ;;
	esac
}

echo "---- results ($(meta suite), kernel $(meta kver), run $RUN)"
# harness steps: host side (builds) then guest side (module load, binding)
for f in "$RUN/host-steps.tsv" "$R/steps.tsv"; do
	[ -f "$f" ] || continue
	while IFS=$'\t' read -r s n d; do [ -n "$s" ] && res "$s" "harness: $n" "$d"; done < "$f"
done

CON=$RUN/console.log
guest_status() {
	# ---- the guest as a whole ------------------------------------------------------------------------------
	local qrc panic
	qrc=$(meta qemu_rc)
	panic=$(tr -d '\r' < "$CON" 2>/dev/null | grep -m1 -E 'Kernel panic - not syncing|Kernel Offset:|---\[ end Kernel panic' | head -1)
	if [ -f "$R/done" ]; then
		res ok "harness: guest ran to the end" "$(meta guest_seconds) s"
	elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		res fail "harness: guest ran to the end" "guest HUNG: no end within IVM_TIMEOUT=$(meta timeout) s (host-side timeout); last console line: $(tr -d '\r' < "$CON" | grep -v '^$' | tail -1 | cut -c1-160)"
	elif [ -n "$panic" ]; then
		res fail "harness: guest ran to the end" "guest kernel PANIC: $(echo "$panic" | cut -c1-200)"
	elif [ ! -f "$R/started" ]; then
		res fail "harness: guest ran to the end" "guest never reached userspace (qemu exit $qrc): see $CON and $RUN/qemu.stderr"
	else
		res fail "harness: guest ran to the end" "guest stopped early (qemu exit $qrc); last console line: $(tr -d '\r' < "$CON" | grep -v '^$' | tail -1 | cut -c1-160)"
	fi
}

# ---- test programs: top-level KTAP lines of each, plus what its exit status says ------------------------------
programs() {
	local idx name where out rcf parsed nfail nres s t d planned plan_skip rc ms
	if [ "$MODE" = check ] && [ -f "$SH/plan.tsv" ]; then
		while IFS=$'\t' read -r idx name _ where; do
			[ -n "$idx" ] || continue
			[ -n "$BUILD_ONLY" ] && [ "$where" = guest ] && continue
			out=$R/$idx.out rcf=$R/$idx.rc
			if [ ! -f "$out" ]; then
				res fail "$name" "not run: the guest stopped before it"
				continue
			fi
			# top-level KTAP result lines -> STATUS<TAB>TEST<TAB>DETAIL, then one "plan" line
			parsed=$(awk '
				/^1\.\.[0-9]+/ && !plan_seen { plan_seen = 1; split($0, p, /[. \t]+/); plan = p[2]
					if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) { plan_skip = $0; sub(/^[^#]*#[ \t]*/, "", plan_skip) } }
				/^(not )?ok [0-9]+([ \t]|$)/ {
					l = $0; st = (l ~ /^not ok/) ? "fail" : "ok"
					sub(/^(not )?ok [0-9]+[ \t]*(-[ \t]+)?/, "", l)
					nm = l; dir = ""
					if (match(l, /[ \t]*#[ \t]*/)) { nm = substr(l, 1, RSTART - 1); dir = substr(l, RSTART + RLENGTH) }
					if (dir ~ /^[Ss][Kk][Ii][Pp]/) { st = "skip"; sub(/^[Ss][Kk][Ii][Pp][ \t:]*/, "", dir) }
					else if (dir ~ /^[Xx][Ff][Aa][Ii][Ll]/) st = "ok"
					else if (dir ~ /^[Tt][Oo][Dd][Oo]/) st = (st == "fail") ? "skip" : "ok"
					if (nm == "") nm = "test " (n + 1)
					n++; printf "%s\t%s\t%s\n", st, nm, dir
				}
				END { printf "plan\t%s\t%s\t%s\n", plan, n + 0, plan_skip }' "$out")
			nfail=0 nres=0
			while IFS=$'\t' read -r s t d; do
				[ "$s" = plan ] && continue
				nres=$((nres + 1))
				[ "$s" = fail ] && nfail=$((nfail + 1))
				res "$s" "$name: $t" "$d"
			done < <(echo "$parsed")
			IFS=$'\t' read -r _ planned _ plan_skip < <(echo "$parsed" | grep '^plan')
			if [ ! -f "$rcf" ]; then
				res fail "$name" "did not finish: the guest died or hung while it ran (last output: $(grep -v '^$' "$out" | tail -1 | cut -c1-120))"
				continue
			fi
			read -r rc ms < "$rcf"
			if [ "$TEST_TIMEOUT" -gt 0 ] 2>/dev/null && { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ "${ms:-0}" -ge $((TEST_TIMEOUT * 1000)) ]; then
				res fail "$name" "TIMED OUT after ${TEST_TIMEOUT} s (IVM_TEST_TIMEOUT), killed"
			elif [ "$rc" -gt 128 ] 2>/dev/null; then
				res fail "$name" "CRASHED: killed by signal SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))) (exit $rc)"
			elif [ "$rc" = 127 ] && [ "$nres" = 0 ]; then
				res fail "$name" "could not be executed (exit 127): $(tail -1 "$out" | cut -c1-160)"
			elif [ "$nres" = 0 ]; then
				case $rc in
				0) res ok "$name" "no KTAP results, exit 0" ;;
				4) res skip "$name" "${plan_skip:-whole program skipped (exit 4)}" ;;
				*) res fail "$name" "exited with status $rc without any KTAP result: $(grep -v '^$' "$out" | tail -1 | cut -c1-160)" ;;
				esac
			elif [ "$rc" != 0 ] && [ "$rc" != 4 ] && [ "$nfail" = 0 ]; then
				res fail "$name" "exited with status $rc without reporting a failing test"
			elif [ -n "$planned" ] && [ "$nres" -lt "$planned" ]; then
				res fail "$name" "only $nres of $planned planned results (exit $rc)"
			fi
		done < "$SH/plan.tsv"
	fi
}

program_result() {
	if [ "$MODE" = demo ] || [ "$MODE" = bench ]; then
		local prog rc ms
		prog=$(sed -n 's/^IVM_PROGRAM=//p' "$SH/ivm.conf")
		if [ -f "$R/program.rc" ]; then
			read -r rc ms < "$R/program.rc"
			if [ "$rc" = 0 ]; then res ok "$MODE: ${prog#src/}" "$ms ms"; else res fail "$MODE: ${prog#src/}" "exit status $rc"; fi
		else
			res fail "$MODE: ${prog#src/}" "did not finish"
		fi
	fi
}

kernel_checks() {
	local pat reports t bad letters flags i
	# ---- kernel log: serial console (kernel lines only) and the final dmesg ------------------------------------
	pat='WARNING:|BUG:|^BUG |kernel BUG|Oops|Call Trace|possible circular locking|possible recursive locking|INFO: |KFENCE|blocked for more than|general protection fault|Kernel panic|UBSAN:|KASAN:|list_(add|del) corruption|watchdog: BUG|rcu.*stall'
	reports=$( { tr -d '\r' < "$CON" 2>/dev/null | grep -E '^\[ *[0-9]+\.[0-9]+\]'; cat "$R/dmesg.txt" 2>/dev/null; } |
		sed -E 's/^\[ *[0-9]+\.[0-9]+\] ?//' | grep -E "$pat" | awk '!seen[$0]++')
	if [ -n "$reports" ]; then
		res fail "harness: kernel log clean" "$(echo "$reports" | wc -l) report line(s): $(echo "$reports" | head -4 | cut -c1-160 | paste -sd '|' | sed 's/|/ | /g')"
	elif [ -f "$R/dmesg.txt" ]; then
		res ok "harness: kernel log clean" "console + dmesg"
	else
		res fail "harness: kernel log clean" "no final dmesg (guest did not finish); console has no report"
	fi

	# ---- taint: only O (4096, out-of-tree) and E (8192, unsigned) are expected ----------------------------------
	if [ -f "$R/tainted" ]; then
		t=$(cat "$R/tainted")
		bad=$(( t & ~(4096 | 8192) ))
		if [ "$bad" = 0 ]; then
			res ok "harness: kernel taint" "tainted=$t"
		else
			letters=PFSRMBUDAWCIOELKXTNJ flags=
			for i in $(seq 0 19); do (( bad >> i & 1 )) && flags="$flags${letters:i:1}"; done
			res fail "harness: kernel taint" "tainted=$t: unexpected flag(s) $flags (W = a WARN fired, D = oops, ...)"
		fi
	fi
}

if [ -z "$BUILD_ONLY" ]; then guest_status; fi
programs
if [ -z "$BUILD_ONLY" ]; then program_result; kernel_checks; fi

if [ ${#FAILS[@]} -gt 0 ]; then
	echo "---- failures"
	for f in "${FAILS[@]}"; do echo "  $f"; done
	echo "---- logs: $RUN (console.log, share/results/, build-*.log)"
fi
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" = 0 ]
