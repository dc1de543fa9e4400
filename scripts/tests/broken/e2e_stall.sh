#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# harness self-test: a genuinely stalled migration must fail within its stall time, naming the stalled side.
# Runs tools/e2e/qemu_mig_two_devices (built by the harness) with E2E_STALL=$STALL; once the destination QEMU has
# written 16 MiB of device state into its device (the source is in stop-copy, holding its big lock: QMP answers
# nothing), stops the destination with SIGSTOP. The e2e program must then give up within STALL + MARGIN seconds with
# a message naming the stopped destination, and must leave no QEMU behind. MARGIN leaves room for a loaded host (CI
# runs this beside other guests); the overall limit the program would otherwise hit is minutes away. Result 2 fails on purpose: it carries
# the e2e program's message (the harness self-test checks it).
set -u
STALL=20 MARGIN=45 START_LIMIT=600
PROG=${IVM_SHARE:-/mnt/share}/src/tools/e2e/qemu_mig_two_devices
OUT=$(mktemp /tmp/e2e_stall.XXXXXX)
E2E_PID='' DPID='' SPID=''
# shellcheck disable=SC2317  # (run by the trap)
cleanup() {
	# never leave a stopped QEMU behind, whatever happened
	[ -n "$DPID" ] && kill -CONT "$DPID" 2> /dev/null
	[ -n "$E2E_PID" ] && kill "$E2E_PID" 2> /dev/null
	rm -f "$OUT"
}
trap cleanup EXIT
echo "TAP version 13"
echo "1..4"
if [ ! -x "$PROG" ]; then
	echo "# $PROG is not built (run with IVM_NO_E2E unset)"
	n=0
	for t in destination_stopped_while_device_state_moves stalled_migration_fails gave_up_within_stall_time \
		qemus_cleaned_up; do
		n=$((n + 1)); echo "not ok $n $t # $PROG is missing"
	done
	exit 1
fi
# the destination's written bytes (its VFIO data fd: write())
wchar() { sed -n 's/^wchar: //p' "/proc/$1/io" 2> /dev/null; }

E2E_STALL=$STALL "$PROG" > "$OUT" 2>&1 &
E2E_PID=$!
t0=$(date +%s)
stopped_at='' why='' reported=''
while kill -0 "$E2E_PID" 2> /dev/null; do
	if [ -z "$DPID" ]; then
		DPID=$(sed -n 's/^# \[dst\] up in [0-9]* ms (pid \([0-9]*\)).*/\1/p' "$OUT" | head -1)
		SPID=$(sed -n 's/^# \[src\] up in [0-9]* ms (pid \([0-9]*\)).*/\1/p' "$OUT" | head -1)
		[ -n "$DPID" ] && w0=$(wchar "$DPID")
	elif [ -z "$stopped_at" ]; then
		w=$(wchar "$DPID")
		if [ -n "$w" ] && [ $((w - ${w0:-0})) -ge $((16 << 20)) ]; then
			kill -STOP "$DPID" && stopped_at=$(date +%s)
			why="destination QEMU (pid $DPID) stopped after writing $(((w - w0) >> 20)) MiB of device state"
		fi
	fi
	if [ -z "$stopped_at" ] && [ $(($(date +%s) - t0)) -ge $START_LIMIT ]; then
		why="the destination wrote no 16 MiB of device state within $START_LIMIT s"
		break
	fi
	# when the e2e program reports the failed migration, relative to the SIGSTOP
	if [ -n "$stopped_at" ] && [ -z "$reported" ] && grep -q '^not ok [0-9]* migrate_completed' "$OUT"; then
		reported=$(($(date +%s) - stopped_at))
	fi
	if [ -n "$stopped_at" ] && [ $(($(date +%s) - stopped_at)) -ge $((STALL + 120)) ]; then
		why="$why; the e2e program did not end within $((STALL + 120)) s after it"
		break
	fi
	sleep 0.2
done
if [ -n "$stopped_at" ] && [ -z "$reported" ] && grep -q '^not ok [0-9]* migrate_completed' "$OUT"; then
	reported=$(($(date +%s) - stopped_at))
fi
kill -0 "$E2E_PID" 2> /dev/null && kill -TERM "$E2E_PID"    # (gave up on it above)
wait "$E2E_PID"
rc=$?
E2E_PID=''
sed 's/^/# | /' "$OUT"

if [ -n "$stopped_at" ]; then echo "ok 1 destination_stopped_while_device_state_moves # $why"
else echo "not ok 1 destination_stopped_while_device_state_moves # $why"; fi
msg=$(grep -m1 'gave up after' "$OUT" | sed 's/^# //')
if [ -n "$reported" ] && [ -n "$msg" ]; then
	echo "not ok 2 stalled_migration_fails # $msg"     # the expected failure
else
	echo "ok 2 stalled_migration_fails # the e2e program did not report a stalled migration (exit $rc)"
fi
if [ -n "$reported" ] && [ "$reported" -le $((STALL + MARGIN)) ]; then
	echo "ok 3 gave_up_within_stall_time # reported $reported s after the SIGSTOP (E2E_STALL=$STALL, margin $MARGIN s)"
else
	echo "not ok 3 gave_up_within_stall_time # reported ${reported:-never} s after the SIGSTOP, limit $((STALL + MARGIN)) s"
fi
left=''
for p in $DPID $SPID; do kill -0 "$p" 2> /dev/null && left="$left $p"; done
if [ "$rc" = 1 ] && [ -z "$left" ]; then
	echo "ok 4 qemus_cleaned_up # exit 1, destination (pid ${DPID:-?}) and source (pid ${SPID:-?}) gone"
else
	echo "not ok 4 qemus_cleaned_up # exit $rc, QEMUs left:${left:- none}"
fi
exit 1
