#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs as PID 1 in the test VM (exec'd by /sbin/ivm-init of the image, from the 9p share /mnt/share).
# Loads vfio + the module, binds the ivshmem devices, exports their addresses, then does what ivm.conf's
# IVM_MODE says (check: run the test plan; demo/bench: run one program; shell: interactive bash) and powers off.
# Every result goes to /mnt/share/results/ (the host judges them): test output as <idx>.out/<idx>.rc, this guest's
# own files (steps.tsv, dmesg.txt, tainted, env.txt, started, done) under guest-K/, K being the guest's number
# (ivm.guest=K on the kernel command line; make check boots several guests that share one plan). Progress lines
# start with "ivm:".
# Never exits: PID 1 exiting would panic the guest.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
S=/mnt/share
R=$S/results
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "ivm: [$(up)s] $*"; }
# step STATUS NAME DETAIL: one harness result line for the host (STATUS ok|fail|skip)
step() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >> "$G/steps.tsv"; log "$1: $2${3:+ ($3)}"; }

poweroff_now() {
	log "powering off"
	sync
	umount /mnt/share 2>/dev/null
	mount -o remount,ro / 2>/dev/null
	# sysrq o powers off asynchronously: PID 1 must stay alive meanwhile without touching any file system
	# (its devices are being shut down; an exiting PID 1 would panic the kernel)
	exec 3<> /dev/ptmx          # a pty master nobody writes to: read -t blocks on it, all in bash builtins
	echo o > /proc/sysrq-trigger
	while :; do read -r -t 3600 -u 3 _ 2>/dev/null || sleep 1 2>/dev/null || :; done
}

finish() {
	# kmemleak (debug kernels): two scans after the last program (an object is reported once it is old enough and
	# no scan found a reference to it); every suspect goes to the host, which judges them (scripts/verdict.sh)
	if [ -w /sys/kernel/debug/kmemleak ]; then
		log "kmemleak: scanning for leaks"
		echo scan > /sys/kernel/debug/kmemleak; sleep 6; echo scan > /sys/kernel/debug/kmemleak
		cat /sys/kernel/debug/kmemleak > "$G/kmemleak.txt" 2>&1
		log "kmemleak: $(grep -c '^unreferenced object' "$G/kmemleak.txt") suspect(s)"
	fi
	dmesg > "$G/dmesg.txt" 2>&1
	dmesg -r > "$G/dmesg-raw.txt" 2>&1     # with the log levels (the verdict looks for the driver's warnings)
	cat /proc/sys/kernel/tainted > "$G/tainted"
	log "finished, kernel tainted=$(cat /proc/sys/kernel/tainted)"
	echo "$(up)" > "$G/done"
	poweroff_now
}

# The links an initramfs would have made in /dev (a kernel booted without one, KERNEL=debug, has none): bash's
# process substitution needs /dev/fd
for l in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
	[ -e "/dev/${l%%:*}" ] || ln -s "${l#*:}" "/dev/${l%%:*}" 2>/dev/null
done

# Run from tmpfs, not from the 9p share: the share goes away while the guest powers off.
if [ "$0" != /run/ivm-init.sh ]; then
	mount -t tmpfs tmpfs /run && cp "$0" /run/ivm-init.sh && exec /bin/bash /run/ivm-init.sh
fi
mount -t tmpfs tmpfs /tmp; mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
K=$(sed -n 's/.*\bivm\.guest=\([0-9]*\).*/\1/p' /proc/cmdline); K=${K:-1}
G=$R/guest-$K
hostname "ivm-guest$K"
mkdir -p "$R" "$G"
# shellcheck source=/dev/null
. "$S/ivm.conf"
log "guest $K of ${IVM_GUESTS:-1}: userspace up, mode $IVM_MODE, kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
echo "$(up)" > "$G/started"

# A kernel that is not the image's own (make check KERNEL=debug) brings its modules on the share
if [ -d "$S/kmods/$(uname -r)" ] && [ ! -e "/lib/modules/$(uname -r)/modules.dep" ]; then
	mkdir -p "/lib/modules/$(uname -r)" && mount --bind "$S/kmods/$(uname -r)" "/lib/modules/$(uname -r)" ||
		step fail "mount the modules of $(uname -r)" "from $S/kmods"
fi
# debugfs: kmemleak, fault injection and DMA-API debugging live there on kernels that have them. What kmemleak
# suspects from the boot is forgotten here: the scan at the end reports what the run leaked.
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
[ -w /sys/kernel/debug/kmemleak ] && echo clear > /sys/kernel/debug/kmemleak

# ---- vfio + our module ----------------------------------------------------------------------------------------
for m in vfio_pci_core vfio_iommu_type1; do
	if out=$(modprobe "$m" 2>&1); then :; else step fail "modprobe $m" "$out"; fi
done
MODULE_LOADED=
# insmod does not resolve dependencies: load what the module's "depends" names first (as modprobe would)
if [ -n "$IVM_KO" ]; then
	for m in $(modinfo -F depends "$S/$IVM_KO" 2>/dev/null | tr ',' ' '); do
		out=$(modprobe "$m" 2>&1) || step fail "modprobe $m (needed by $IVM_DRIVER)" "$out"
	done
fi
if [ -z "$IVM_KO" ]; then
	step fail "load $IVM_KO_NAME.ko" "not built: see the build result above"
elif out=$(insmod "$S/$IVM_KO" 2>&1); then
	MODULE_LOADED=1
	step ok "load $IVM_KO_NAME.ko" "$(basename "$IVM_KO")"
else
	step fail "load $IVM_KO_NAME.ko" "insmod: ${out##*insmod: } ; $(dmesg | tail -3 | tr '\n' ' ')"
fi
# the name the PCI bus knows the driver by: its module's KBUILD_MODNAME, '_' where the file name has '-' (exactly
# that name, so that a driver registered under another one fails the binding below)
DRV=$IVM_DRIVER
for k in $IVM_TEST_KMODS; do            # harness self-test modules (scripts/tests/kmods), loaded after ours
	# shellcheck disable=SC2086
	if out=$(insmod "$S/$k" ${IVM_TEST_KMOD_ARGS:-} 2>&1); then step ok "load test module $(basename "$k")"
	else step fail "load test module $(basename "$k")" "$out"; fi
done

# ---- find the devices: each ivshmem-plain sits behind its own root port, the host told us which is which --------
declare -A BDF
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] || continue
	rp=$(basename "$(dirname "$(readlink -f "$d")")")
	for e in $IVM_DEVICES; do          # NAME@ROOTPORT@BYTES
		IFS=@ read -r name port bytes <<< "$e"
		[ "$rp" = "$port" ] || continue
		read -r s en _ < <(sed -n 3p "$d/resource")
		size=$(( en - s + 1 ))
		if [ "$size" != "$bytes" ]; then
			step fail "identify device $name" "$(basename "$d") behind $rp has BAR2 of $size bytes, expected $bytes"
		fi
		BDF[$name]=$(basename "$d")
	done
done
missing=
for e in $IVM_DEVICES; do n=${e%%@*}; [ -n "${BDF[$n]:-}" ] || missing="$missing $n"; done
# IVSHMEM_BDFS: the migration set; IVSHMEM_BDFS_EXTRA: NORESET and DOORBELL (see scripts/vm.sh)
export IVSHMEM_BDFS='' IVSHMEM_BDFS_EXTRA=''
for e in $IVM_DEVICES; do
	n=${e%%@*}
	export "IVSHMEM_BDF_$n=${BDF[$n]:-}"
	[ -n "${BDF[$n]:-}" ] || continue
	case $n in
	NORESET|DOORBELL) IVSHMEM_BDFS_EXTRA="${IVSHMEM_BDFS_EXTRA:+$IVSHMEM_BDFS_EXTRA }${BDF[$n]}" ;;
	*) IVSHMEM_BDFS="${IVSHMEM_BDFS:+$IVSHMEM_BDFS }${BDF[$n]}" ;;
	esac
done
if [ -n "$missing" ]; then
	step fail "identify ivshmem devices" "missing:$missing (lspci: $(lspci -n -d 1af4: | tr '\n' ' '))"
else
	step ok "identify ivshmem devices" "$(for e in $IVM_DEVICES; do n=${e%%@*}; printf '%s=%s ' "$n" "${BDF[$n]}"; done)"
fi

# ---- bind them with the user-facing helper ----------------------------------------------------------------------
if [ -n "$MODULE_LOADED" ] && [ -n "$IVSHMEM_BDFS" ]; then
	# shellcheck disable=SC2086
	if out=$("$S/guest/bind.sh" bind -d "$DRV" $IVSHMEM_BDFS $IVSHMEM_BDFS_EXTRA 2>&1); then
		step ok "bind devices to $IVM_DRIVER" "$(echo "$out" | wc -l) devices"
	else
		step fail "bind devices to $IVM_DRIVER" "$(echo "$out" | tr '\n' ' ')"
	fi
	[ "$K" = 1 ] && echo "$out" | sed 's/^/ivm:   /'    # the same in every guest: show it once
else
	step fail "bind devices to $IVM_DRIVER" "skipped: module not loaded or no devices"
fi

# ---- mtty (upstream's migration sample driver, built by scripts/vm.sh): two mdevs for vfio_mig_conformance_mtty --
# VFIO_MIG_MDEV and VFIO_MIG_MDEV2 are their UUIDs; both stay empty when something failed (the step says what).
export VFIO_MIG_MDEV='' VFIO_MIG_MDEV2=''
if [ -n "${IVM_MTTY_KO:-}" ]; then
	err=
	for m in $(modinfo -F depends "$S/$IVM_MTTY_KO" 2>/dev/null | tr ',' ' '); do
		out=$(modprobe "$m" 2>&1) || err="${err}modprobe $m (needed by mtty): $out; "
	done
	if [ -z "$err" ] && ! out=$(insmod "$S/$IVM_MTTY_KO" 2>&1); then
		err="insmod mtty.ko: ${out##*insmod: } ; $(dmesg | tail -3 | tr '\n' ' ')"
	fi
	types=/sys/class/mdev_bus/mtty/mdev_supported_types
	mt=
	if [ -z "$err" ]; then
		# the first type that can still take two devices: mtty-1 (one port) while mtty has its 24 ports free
		for t in "$types"/mtty-*; do
			[ "$(cat "$t/available_instances" 2>/dev/null || echo 0)" -ge 2 ] && mt=$t && break
		done
		[ -n "$mt" ] || err="no mtty mdev type in $types can take two devices: $(cd "$types" 2>&1 && echo *)"
	fi
	for v in VFIO_MIG_MDEV VFIO_MIG_MDEV2; do
		[ -z "$err" ] || break
		u=$(cat /proc/sys/kernel/random/uuid)
		if ! out=$( { echo "$u" > "$mt/create"; } 2>&1 ); then
			err="$u > $mt/create: $out"
		elif [ ! -e "/sys/bus/mdev/devices/$u/iommu_group" ]; then
			err="mdev $u has no IOMMU group"
		else
			export "$v=$u"
		fi
	done
	if [ -n "$err" ]; then
		VFIO_MIG_MDEV='' VFIO_MIG_MDEV2=''
		step fail "create mtty mdevs" "$err"
	else
		step ok "create mtty mdevs" "$(basename "$mt") ($(cat "$mt/name" 2>/dev/null)): $VFIO_MIG_MDEV $VFIO_MIG_MDEV2, driver $(basename "$(readlink "/sys/bus/mdev/devices/$VFIO_MIG_MDEV/driver")")"
	fi
fi

export IVSHMEM_DRIVER=$DRV IVSHMEM_SIZE_SMALL IVSHMEM_SIZE_MISMATCH IVSHMEM_SIZE_BIG
export IVSHMEM_MODULE=${IVM_KO:+$S/$IVM_KO} IVM_SUITE IVM_KERNEL=${IVM_KERNEL:-stock} IVM_SHARE=$S IVM_GUEST=1
export IVM_GUEST_INDEX=$K
env | grep -E '^(IVSHMEM_|IVM_|VFIO_MIG_)' | sort > "$G/env.txt"

# ---- run one program: output to results/<idx>.out, exit status to results/<idx>.rc --------------------------------
# A program is judged by progress, not by the clock: it is killed when neither its output nor the CPU time or I/O of
# its process tree (nested QEMUs included) changed for IVM_TEST_STALL seconds (results/<idx>.stalled says so), or when
# it exceeds the overall safety limit IVM_TEST_TIMEOUT (0: none). While it progresses, guest-K/heartbeat is touched:
# the host's watchdog (scripts/vm.sh) judges the guest by it and by the console.

# tree_progress PID: "<CPU ticks> <I/O bytes>" of PID and all its descendants (exited, waited-for children included)
tree_progress() {
	local pids p
	pids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
		{ pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
		  pp[pid] = f[2]; cpu[pid] = f[12] + f[13] + f[14] + f[15] }
		END { for (p in pp) { q = p; n = 0
			while (q != root && (q in pp) && n++ < 64) q = pp[q]
			if (q == root) { t += cpu[p]; printf "%s ", p } }
		      printf "\n%d\n", t }')
	for p in ${pids%%$'\n'*}; do cat "/proc/$p/io" 2>/dev/null; done |
		awk -v cpu="${pids##*$'\n'}" '/^(rchar|wchar):/ { io += $2 } END { printf "%s %.0f\n", cpu, io }'
}
# watch_program IDX NAME PIDFILE: the progress watchdog of one program (runs next to it)
watch_program() {
	local idx=$1 name=$2 pf=$3 stall=${IVM_TEST_STALL:-0} pid sig last='' since=$SECONDS quiet
	for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.1; done
	pid=$(cat "$pf" 2>/dev/null) || return 0
	while kill -0 "$pid" 2>/dev/null; do
		sig="$(stat -c %s "$R/$idx.out" 2>/dev/null) $(tree_progress "$pid")"
		if [ "$sig" != "$last" ]; then
			last=$sig since=$SECONDS
			touch "$G/heartbeat"
		fi
		quiet=$((SECONDS - since))
		if [ "$stall" -gt 0 ] 2>/dev/null && [ "$quiet" -ge "$stall" ]; then
			echo "$quiet" > "$R/$idx.stalled"
			log "STALLED $name: no output, CPU time or I/O for $quiet s (IVM_TEST_STALL=$stall): killing it"
			kill -TERM "$pid" 2>/dev/null           # timeout passes it on to the program's process group
			sleep 10
			kill -KILL -- "-$pid" 2>/dev/null
			return 0
		fi
		sleep 5
	done
}
run_program() { # idx name path
	local idx=$1 name=$2 path=$S/$3 t0 t1 rc tmo=$IVM_TEST_TIMEOUT wpid ppid_ pf=/tmp/prog-$1.pid
	[ -x "$path" ] || chmod +x "$path" 2>/dev/null
	[ "$tmo" -gt 0 ] 2>/dev/null || tmo=0
	log "RUN  $name"
	rm -f "$pf"
	t0=$(date +%s%N)
	# timeout (also with 0 = no limit) puts the program into a process group of its own, led by timeout's pid
	(cd "$(dirname "$path")" && sh -c 'echo $$ > "$0"; exec timeout -k 10 "$1" "$2"' "$pf" "$tmo" "$path"
	 echo $? > "/tmp/prog-$idx.rc") < /dev/null 2>&1 | tee "$R/$idx.out" | while IFS= read -r l; do
		case $l in not\ ok\ *) echo "ivm:   $l" ;; esac
	done &
	ppid_=$!
	watch_program "$idx" "$name" "$pf" &
	wpid=$!
	wait "$ppid_"
	t1=$(date +%s%N)
	rc=$(cat "/tmp/prog-$idx.rc" 2>/dev/null)
	kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
	echo "${rc:-255} $(( (t1 - t0) / 1000000 ))" > "$R/$idx.rc"
	log "DONE $name: exit ${rc:-?} in $(( (t1 - t0) / 1000000 )) ms; $(grep -cE '^ok [0-9]+' "$R/$idx.out") ok ($(grep -ciE '^ok [0-9]+ .*# *skip' "$R/$idx.out") skipped), $(grep -cE '^not ok [0-9]+' "$R/$idx.out") not ok"
}

case $IVM_MODE in
check)
	# this guest's share of the plan (5th column; a plan without it is all for guest 1)
	while IFS=$'\t' read -r idx name path where guest; do
		[ -n "$idx" ] && [ "$where" = guest ] && [ "${guest:-1}" = "$K" ] && run_program "$idx" "$name" "$path"
	done < "$S/plan.tsv"
	;;
demo|bench)
	log "running $IVM_PROGRAM"
	t0=$(date +%s%N)
	# judged by the same watchdog as the test programs (a stalled demo or bench is killed, a slow one is not)
	(cd "$(dirname "$S/$IVM_PROGRAM")" && sh -c 'echo $$ > "$0"; exec timeout -k 10 0 "$1"' /tmp/program.pid \
		"$S/$IVM_PROGRAM"; echo $? > /tmp/program.rc) < /dev/null 2>&1 | tee "$R/program.out" &
	ppid_=$!
	watch_program program "$IVM_PROGRAM" /tmp/program.pid &
	wpid=$!
	wait "$ppid_"
	rc=$(cat /tmp/program.rc 2>/dev/null); rc=${rc:-255}
	kill "$wpid" 2>/dev/null
	echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))" > "$R/program.rc"
	log "$IVM_PROGRAM exited with status $rc"
	;;
shell)
	[ -n "${IVM_ROWS:-}" ] && stty -F /dev/ttyS0 rows "$IVM_ROWS" cols "$IVM_COLS" 2>/dev/null
	dmesg -n 5   # keep info messages off the interactive console; warnings and worse still show
	cat <<EOF

ivm: ---------------------------------------------------------------------------------------------
ivm: guest shell ($(uname -r)). Module: ${IVSHMEM_MODULE:-not loaded}. Devices:
$(grep '^IVSHMEM_BDF' "$G/env.txt" | sed 's/^/ivm:   /')
ivm: the repo (as built) is at $S/src; bind helper: $S/guest/bind.sh list
ivm: leave with 'exit' (or Ctrl-D); Ctrl-A x kills QEMU
ivm: ---------------------------------------------------------------------------------------------
EOF
	cd "$S/src" 2>/dev/null || cd /
	TERM=${IVM_TERM:-linux} setsid -c bash -l < /dev/ttyS0 > /dev/ttyS0 2>&1
	;;
*)
	step fail "guest mode" "unknown IVM_MODE '$IVM_MODE'"
	;;
esac
finish
