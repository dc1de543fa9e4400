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
TEST_STALL=$(meta test_stall)
BUILD_ONLY=$(meta build_only)
GUESTS=$(meta guests); GUESTS=${GUESTS:-1}
# gname K: how results of guest K are named ("harness: gK: ..." only when there are several guests)
gname() { [ "$GUESTS" -gt 1 ] && printf 'g%s: ' "$1"; }

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
# harness steps: host side (builds) then each guest's (module load, binding)
while IFS=$'\t' read -r s n d; do [ -n "$s" ] && res "$s" "harness: $n" "$d"; done < "$RUN/host-steps.tsv"
guest_steps() { # K
	local s n d
	[ -f "$R/guest-$1/steps.tsv" ] || return 0
	while IFS=$'\t' read -r s n d; do [ -n "$s" ] && res "$s" "harness: $(gname "$1")$n" "$d"; done < "$R/guest-$1/steps.tsv"
}

guest_status() { # K
	# ---- the guest as a whole ------------------------------------------------------------------------------
	local k=$1 qrc panic con=$RUN/console-$1.log gr=$R/guest-$1 n
	n="harness: $(gname "$k")guest ran to the end"
	qrc=$(meta "qemu_rc_$k")
	panic=$(tr -d '\r' < "$con" 2>/dev/null | grep -m1 -E 'Kernel panic - not syncing|Kernel Offset:|---\[ end Kernel panic' | head -1)
	if [ -f "$gr/done" ]; then
		res ok "$n" "$(meta "guest_seconds_$k") s"
	elif [ -f "$RUN/stalled-$k" ]; then
		res fail "$n" "guest HUNG: no progress (serial console, program heartbeat) for $(cat "$RUN/stalled-$k") s$([ -f "$RUN/starved-$k" ] && echo ", $(cat "$RUN/starved-$k") s of them waiting for a host CPU and not counted") (IVM_STALL=$(meta stall)), stopped; last console line: $(tr -d '\r' < "$con" | grep -v '^$' | tail -1 | cut -c1-160)"
	elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		res fail "$n" "guest HUNG: no end within IVM_TIMEOUT=$(meta timeout) s (the overall host-side limit); last console line: $(tr -d '\r' < "$con" | grep -v '^$' | tail -1 | cut -c1-160)"
	elif [ -n "$panic" ]; then
		res fail "$n" "guest kernel PANIC: $(echo "$panic" | cut -c1-200)"
	elif [ ! -f "$gr/started" ]; then
		res fail "$n" "guest never reached userspace (qemu exit $qrc): see $con and $RUN/qemu-$k.stderr"
	else
		res fail "$n" "guest stopped early (qemu exit $qrc); last console line: $(tr -d '\r' < "$con" | grep -v '^$' | tail -1 | cut -c1-160)"
	fi
}

# ---- expected skips: $RUN/skips.txt (vm.sh: tools/skips/<lane>.txt + IVM_SKIPS; lane = suite or <suite>-debug), "PROGRAM TEST-GLOB|- REASON" ----
# A skip that no entry names fails (a feature the driver stopped offering must not turn its tests into quiet skips),
# so does a listed test that passes (the list must not rot) and an entry that matched nothing in a program that ran.
declare -A SKIPPROG=()
SKIPE_PROG=() SKIPE_GLOB=() SKIPE_HIT=() SKIPE_REASON=()
SKIPS_FROM=$(meta skips_from)
if [ -f "$RUN/skips.txt" ]; then
	while read -r sp sg sr; do
		[ -n "$sp" ] && [ "${sp:0:1}" != "#" ] || continue
		if [ -z "$sg" ] || [ -z "$sr" ]; then
			res fail "harness: expected skips" "entry '$sp $sg' has no reason (format: PROGRAM TEST-GLOB|- REASON)"
			continue
		fi
		SKIPE_PROG+=("$sp") SKIPE_GLOB+=("$sg") SKIPE_HIT+=(0) SKIPE_REASON+=("$sr")
		SKIPPROG[$sp]="${SKIPPROG[$sp]:-} $((${#SKIPE_PROG[@]} - 1))"
	done < "$RUN/skips.txt"
fi
# skip_entry PROGRAM TEST: true if an entry names it; SKIP_E = that entry's index (marked as used)
skip_entry() {
	local i
	for i in ${SKIPPROG[$1]:-}; do
		# shellcheck disable=SC2053
		if [[ $2 == ${SKIPE_GLOB[$i]} ]]; then SKIPE_HIT[i]=1 SKIP_E=$i; return 0; fi
	done
	return 1
}
# judged STATUS PROGRAM TEST DETAIL NFAIL_SO_FAR: a test result held against the expected skips
judged() {
	local s=$1 p=$2 t=$3 d=$4 nf=$5 n="$2: $3"
	[ "$t" = - ] && n=$p
	if [ "$s" = skip ]; then
		# a whole program skips for one declared reason: its own must contain the entry's (a broken QEMU or a
		# missing device must not pass for "this suite's QEMU cannot migrate VFIO devices")
		if [ "$t" = - ] && skip_entry "$p" "$t" && [[ $d != *"${SKIPE_REASON[$SKIP_E]}"* ]]; then
			res fail "$n" "skipped whole ($d), but $SKIPS_FROM expects the reason '${SKIPE_REASON[$SKIP_E]}'"
		elif skip_entry "$p" "$t"; then res skip "$n" "$d"
		elif [ "$nf" -gt 0 ]; then res skip "$n" "$d (after a failure of $p)"
		else res fail "$n" "skipped ($d), but $SKIPS_FROM does not list it as an expected skip"
		fi
	elif [ "$s" = ok ] && skip_entry "$p" "$t"; then
		res fail "$n" "passed, but $SKIPS_FROM lists it as an expected skip ('${SKIPE_GLOB[$SKIP_E]}'): remove the entry"
	else
		res "$s" "$n" "$d"
	fi
}

# ---- test programs: top-level KTAP lines of each, plus what its exit status says ------------------------------
# KTAP is held to its word: a plan line, each test number from 1 to the plan exactly once, "# TODO"/"# XFAIL" are
# not passes, a program without results must declare "1..0 # SKIP <reason>".
RAN_PROGS=" "
programs() {
	local idx name where guest on out rcf parsed nfail nres s t d planned plan_skip rc ms numerr
	if [ "$MODE" = check ] && ! grep -q . "$SH/plan.tsv" 2>/dev/null; then
		res fail "harness: test plan" "no test program was planned (or $SH/plan.tsv is missing)"
	elif [ "$MODE" = check ]; then
		while IFS=$'\t' read -r idx name _ where guest; do
			[ -n "$idx" ] || continue
			[ -n "$BUILD_ONLY" ] && [ "$where" = guest ] && continue
			out=$R/$idx.out rcf=$R/$idx.rc on="the guest"
			[ "$where" = guest ] && [ "$GUESTS" -gt 1 ] && on="guest ${guest:-1}"
			if [ ! -f "$out" ]; then
				res fail "$name" "not run: $on stopped before it"
				continue
			fi
			# top-level KTAP result lines -> STATUS<TAB>TEST<TAB>DETAIL, then "plan" and "numbers" lines
			parsed=$(awk '
				/^1\.\.[0-9]+/ && !plan_seen { plan_seen = 1; split($0, p, /[. \t]+/); plan = p[2]
					if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) { plan_skip = $0; sub(/^[^#]*#[ \t]*[Ss][Kk][Ii][Pp][ \t:]*/, "", plan_skip) } }
				# kselftest harnesses before 6.x print a skip without the test name: take it from "#  RUN"
				/^#[ \t]+RUN[ \t]+[^ \t]+/ { run = $3; next }
				/^(not )?ok [0-9]+([ \t]|$)/ {
					l = $0; st = (l ~ /^not ok/) ? "fail" : "ok"
					split(l, w, /[ \t]+/); num = (st == "fail") ? w[3] : w[2]
					if (seen[num]++) err = err sprintf("test number %d reported %d times; ", num, seen[num])
					if (plan_seen && num + 0 > plan + 0) err = err sprintf("result %d beyond the plan 1..%d; ", num, plan)
					sub(/^(not )?ok [0-9]+[ \t]*(-[ \t]+)?/, "", l)
					nm = l; dir = ""
					if (match(l, /[ \t]*#[ \t]*/)) { nm = substr(l, 1, RSTART - 1); dir = substr(l, RSTART + RLENGTH) }
					if (dir ~ /^[Ss][Kk][Ii][Pp]/) { st = (st == "fail") ? "fail" : "skip"; sub(/^[Ss][Kk][Ii][Pp][ \t:]*/, "", dir) }
					else if (dir ~ /^([Xx][Ff][Aa][Ii][Ll]|[Tt][Oo][Dd][Oo])/) { st = "fail"; dir = "# " dir ": TODO/XFAIL is not a pass" }
					if (nm == "") nm = (run != "") ? run : "test " num
					run = ""
					n++; printf "%s\t%s\t%s\n", st, nm, dir
				}
				END { printf "plan\t%s\t%s\t%s\n", plan_seen ? plan : "-", n + 0, plan_skip
				      if (!plan_seen && n) err = err "results without a KTAP plan line (1..N); "
				      printf "numbers\t%s\n", err }' "$out")
			nfail=0 nres=0
			while IFS=$'\t' read -r s t d; do
				[ "$s" = plan ] || [ "$s" = numbers ] && continue
				nres=$((nres + 1))
				judged "$s" "$name" "$t" "$d" "$nfail"
				[ "$s" = fail ] && nfail=$((nfail + 1))
			done < <(echo "$parsed")
			IFS=$'\t' read -r _ planned _ plan_skip < <(echo "$parsed" | grep '^plan')   # planned: - without a plan line
			numerr=$(echo "$parsed" | sed -n 's/^numbers\t//p')
			[ -n "$numerr" ] && res fail "$name" "KTAP: ${numerr%; }"
			if [ ! -f "$rcf" ]; then
				res fail "$name" "did not finish: $on died or hung while it ran (last output: $(grep -v '^$' "$out" | tail -1 | cut -c1-120))"
				continue
			fi
			RAN_PROGS="$RAN_PROGS$name "
			read -r rc ms < "$rcf"
			if [ -f "$R/$idx.stalled" ]; then
				res fail "$name" "STALLED: no output, CPU time or I/O for $(cat "$R/$idx.stalled") s (IVM_TEST_STALL=$TEST_STALL), killed (last output: $(grep -v '^$' "$out" | tail -1 | cut -c1-120))"
			elif [ "$TEST_TIMEOUT" -gt 0 ] 2>/dev/null && { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ "${ms:-0}" -ge $((TEST_TIMEOUT * 1000)) ]; then
				res fail "$name" "TIMED OUT after ${TEST_TIMEOUT} s (IVM_TEST_TIMEOUT, the overall limit; it was still progressing), killed"
			elif [ "$rc" -gt 128 ] 2>/dev/null; then
				res fail "$name" "CRASHED: killed by signal SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))) (exit $rc)"
			elif [ "$rc" = 127 ] && [ "$nres" = 0 ]; then
				res fail "$name" "could not be executed (exit 127): $(tail -1 "$out" | cut -c1-160)"
			elif [ "$nres" = 0 ]; then
				if [ "$planned" = 0 ] && [ -n "$plan_skip" ] && { [ "$rc" = 0 ] || [ "$rc" = 4 ]; }; then
					judged skip "$name" - "$plan_skip" 0
				elif [ "$planned" = 0 ]; then
					res fail "$name" "plan 1..0 without '# SKIP <reason>' (exit $rc): a program that runs nothing must say why"
				else
					res fail "$name" "no KTAP result (exit $rc): $(grep -v '^$' "$out" | tail -1 | cut -c1-160)"
				fi
			elif [ "$rc" != 0 ] && [ "$rc" != 4 ] && [ "$nfail" = 0 ]; then
				res fail "$name" "exited with status $rc without reporting a failing test"
			elif [ "$planned" != - ] && [ "$nres" -lt "$planned" ]; then
				res fail "$name" "only $nres of $planned planned results (exit $rc)"
			fi
		done < "$SH/plan.tsv"
	fi
	# entries that named nothing, in programs that ran to the end: the test was renamed or removed
	local i
	for i in "${!SKIPE_PROG[@]}"; do
		[ "${SKIPE_HIT[$i]}" = 0 ] && [[ $RAN_PROGS == *" ${SKIPE_PROG[$i]} "* ]] &&
			res fail "harness: expected skips" "'${SKIPE_PROG[$i]} ${SKIPE_GLOB[$i]}' in $SKIPS_FROM matched no skipped test of ${SKIPE_PROG[$i]}: renamed, removed or no longer skipped?"
	done
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

kernel_checks() { # K
	local k=$1 con=$RUN/console-$1.log gr=$R/guest-$1 g pat reports t bad letters flags i
	g=$(gname "$k")
	# ---- kernel log: serial console (kernel lines only) and the final dmesg ------------------------------------
	# (CONFIG_DMA_API_DEBUG announces itself at boot in two "DMA-API:" lines that report nothing)
	pat='WARNING:|BUG:|^BUG |kernel BUG|Oops|Call Trace|possible circular locking|possible recursive locking|INFO: |KFENCE|blocked for more than|general protection fault|Kernel panic|UBSAN:|KASAN:|list_(add|del) corruption|watchdog: BUG|rcu.*stall|DMA-API: |page allocation failure|kmemleak: .*new suspected memory leak'
	reports=$( { tr -d '\r' < "$con" 2>/dev/null | grep -E '^\[ *[0-9]+\.[0-9]+\]'; cat "$gr/dmesg.txt" 2>/dev/null; } |
		sed -E 's/^\[ *[0-9]+\.[0-9]+\] ?//' | grep -E "$pat" |
		grep -vE '^DMA-API: (preallocated [0-9]+ debug entries|debugging enabled by kernel config)$' | awk '!seen[$0]++')
	# the driver's own warnings and errors (kernel log level <= 4 in the final dmesg -r), but for its documented
	# answers to bad user input: a rejected or incomplete migration stream (the bad-stream tests provoke those), and
	# the module loader's taint notices about it, and the PCI core's announcement of each reset (a warning on 7.2,
	# printed with the bound driver's name)
	drv=$(grep -E '^<[0-4]>' "$gr/dmesg-raw.txt" 2>/dev/null | sed -E 's/^<[0-9]+>(\[ *[0-9]+\.[0-9]+\] ?)?//' |
		grep -E '^ivshmem[-_]vfio[-_]pci( [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])?:' |
		grep -vE ': migration stream (rejected|incomplete): |: loading out-of-tree module taints kernel|: module verification failed|: resetting$|: reset done$' |
		awk '!seen[$0]++')
	[ -n "$drv" ] && reports="${reports:+$reports$'\n'}$drv"
	if [ -n "$reports" ]; then
		res fail "harness: ${g}kernel log clean" "$(echo "$reports" | wc -l) report line(s): $(echo "$reports" | head -4 | cut -c1-160 | paste -sd '|' | sed 's/|/ | /g')"
	elif [ -f "$gr/dmesg.txt" ]; then
		res ok "harness: ${g}kernel log clean" "console + dmesg"
	else
		res fail "harness: ${g}kernel log clean" "no final dmesg (guest did not finish); console has no report"
	fi

	# ---- kmemleak (debug kernels): no suspect whose allocation backtrace runs through vfio, iommufd, mdev, mtty or
	# our module; other suspects (the rest of the kernel) are counted, not judged ---------------------------------
	if [ "$(meta kernel)" = debug ] && [ -f "$gr/done" ]; then
		if [ ! -f "$gr/kmemleak.txt" ]; then
			res fail "harness: ${g}kmemleak" "no kmemleak report from the guest (is CONFIG_DEBUG_KMEMLEAK on, debugfs mounted?)"
		else
			local ours all
			all=$(grep -c '^unreferenced object' "$gr/kmemleak.txt")
			# a block: "unreferenced object ...", comm, hex dump, "backtrace ...:", then one frame per line
			ours=$(awk '/^unreferenced object/ { if (blk != "" && hit) print blk; blk = $0; hit = 0; bt = 0; next }
				/^ *backtrace/ { bt = 1; next }
				bt { blk = blk " | " $0; if ($0 ~ /ivshmem_vfio_pci|vfio|iommufd|mdev|mtty/) hit = 1 }
				END { if (blk != "" && hit) print blk }' "$gr/kmemleak.txt" | tr -s ' ')
			if [ -n "$ours" ]; then
				res fail "harness: ${g}kmemleak" "$(echo "$ours" | wc -l) leak(s) through vfio/iommufd/mdev/our module: $(echo "$ours" | head -2 | cut -c1-300 | paste -sd '#' | sed 's/#/ ## /g')"
			else
				res ok "harness: ${g}kmemleak" "none in vfio/iommufd/mdev/our module ($all suspect(s) elsewhere)"
			fi
		fi
	fi

	# ---- taint: only O (4096, out-of-tree) and E (8192, unsigned) are expected ----------------------------------
	if [ -f "$gr/tainted" ]; then
		t=$(cat "$gr/tainted")
		bad=$(( t & ~(4096 | 8192) ))
		if [ "$bad" = 0 ]; then
			res ok "harness: ${g}kernel taint" "tainted=$t"
		else
			letters=PFSRMBUDAWCIOELKXTNJ flags=
			for i in $(seq 0 19); do (( bad >> i & 1 )) && flags="$flags${letters:i:1}"; done
			res fail "harness: ${g}kernel taint" "tainted=$t: unexpected flag(s) $flags (W = a WARN fired, D = oops, ...)"
		fi
	fi
}

if [ -z "$BUILD_ONLY" ]; then
	for k in $(seq "$GUESTS"); do guest_steps "$k"; guest_status "$k"; done
fi
programs
if [ -z "$BUILD_ONLY" ]; then
	program_result
	for k in $(seq "$GUESTS"); do kernel_checks "$k"; done
fi

if [ ${#FAILS[@]} -gt 0 ]; then
	echo "---- failures"
	for f in "${FAILS[@]}"; do echo "  $f"; done
	echo "---- logs: $RUN (console-K.log per guest, share/results/, build-*.log)"
fi
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" = 0 ]
