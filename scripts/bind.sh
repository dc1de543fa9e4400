#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Bind PCI devices to a driver (default ivshmem_vfio_pci) through driver_override, unbind them, or list the
# ivshmem-plain devices (1af4:1110). Works on a real host and in the test VM; run as root.
#
#   bind.sh list                                  show ivshmem devices: driver, BAR2 size, IOMMU group
#   bind.sh bind [-d DRIVER] BDF...|all           bind (unbinding the current driver first)
#   bind.sh unbind BDF...|all                     unbind and clear driver_override
#   bind.sh reset BDF...|all                      unbind, clear driver_override, let the default driver probe
#
# BDF: 0000:01:00.0 or 01:00.0; "all" means every ivshmem-plain device. Prints one line per device; exits
# non-zero (with the reason) if any device could not be handled.
set -u
PCI=/sys/bus/pci
DRIVER=ivshmem_vfio_pci
me=$(basename "$0")

usage() { sed -n '/^#   /s/^#   /  /p' "$0" >&2; exit 2; }
err() { echo "$me: $*" >&2; }

ivshmem_bdfs() {
	local d
	for d in "$PCI"/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] && basename "$d"
	done
}
norm() { case $1 in ????:??:??.?) echo "$1" ;; ??:??.?) echo "0000:$1" ;; *) echo "$1" ;; esac; }
cur_driver() { [ -e "$PCI/devices/$1/driver" ] && basename "$(readlink "$PCI/devices/$1/driver")" || echo none; }
bar2_size() {
	local s e
	read -r s e _ < <(sed -n 3p "$PCI/devices/$1/resource")
	if [ $((e)) -le 0 ]; then echo "-"
	elif [ $((e - s + 1)) -ge $((1 << 20)) ]; then echo $(( (e - s + 1) >> 20 ))M
	else echo $(( (e - s + 1) >> 10 ))K; fi
}
# sysfs writes report errors through the write's errno: keep the shell's message short and clear
wr() { # FILE VALUE
	local out
	if ! out=$( { printf '%s' "$2" > "$1"; } 2>&1 ); then echo "${out##*: }"; return 1; fi
}

expand() {
	local b
	for b in "$@"; do
		if [ "$b" = all ]; then ivshmem_bdfs; else norm "$b"; fi
	done
}

do_list() {
	local b g
	printf '%-13s %-18s %-6s %-5s %s\n' BDF DRIVER BAR2 GROUP OVERRIDE
	for b in $(ivshmem_bdfs); do
		g=$( [ -e "$PCI/devices/$b/iommu_group" ] && basename "$(readlink "$PCI/devices/$b/iommu_group")" || echo -)
		printf '%-13s %-18s %-6s %-5s %s\n' "$b" "$(cur_driver "$b")" "$(bar2_size "$b")" "$g" \
			"$(cat "$PCI/devices/$b/driver_override")"
	done
}

do_bind() { # BDF
	local b=$1 d=$PCI/devices/$1 old msg
	[ -d "$d" ] || { err "$b: no such PCI device"; return 1; }
	old=$(cur_driver "$b")
	if [ "$old" = "$DRIVER" ]; then echo "$b: already bound to $DRIVER"; return 0; fi
	if ! msg=$(wr "$d/driver_override" "$DRIVER"); then err "$b: cannot set driver_override: $msg"; return 1; fi
	if [ "$old" != none ] && ! msg=$(wr "$d/driver/unbind" "$b"); then
		err "$b: cannot unbind from $old: $msg"; wr "$d/driver_override" "" >/dev/null; return 1
	fi
	msg=$(wr "$PCI/drivers_probe" "$b")
	if [ "$(cur_driver "$b")" != "$DRIVER" ]; then
		err "$b: $DRIVER did not bind${msg:+ ($msg)}; last kernel messages:"
		dmesg 2>/dev/null | grep -F "${b#0000:}" | tail -3 | sed 's/^/    /' >&2
		wr "$d/driver_override" "" >/dev/null
		[ "$old" != none ] && wr "$PCI/drivers_probe" "$b" >/dev/null
		return 1
	fi
	echo "$b: bound to $DRIVER (was: $old)"
}

do_unbind() { # BDF [reprobe]
	local b=$1 d=$PCI/devices/$1 old msg
	[ -d "$d" ] || { err "$b: no such PCI device"; return 1; }
	old=$(cur_driver "$b")
	if [ "$old" != none ] && ! msg=$(wr "$d/driver/unbind" "$b"); then err "$b: cannot unbind from $old: $msg"; return 1; fi
	wr "$d/driver_override" "" >/dev/null || { err "$b: cannot clear driver_override"; return 1; }
	if [ "${2:-}" = reprobe ]; then
		wr "$PCI/drivers_probe" "$b" >/dev/null
		echo "$b: unbound from $old, override cleared, now: $(cur_driver "$b")"
	else
		echo "$b: unbound from $old, override cleared"
	fi
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
list) do_list; exit 0 ;;
bind|unbind|reset) ;;
*) usage ;;
esac
if [ "$cmd" = bind ] && [ "${1:-}" = -d ]; then DRIVER=${2:?-d needs a driver name}; shift 2; fi
[ $# -gt 0 ] || usage
[ -w "$PCI/drivers_probe" ] || { err "need root (and sysfs) to change bindings"; exit 1; }
# Module and driver names may differ in '-' vs '_' (KBUILD_MODNAME): use the name the PCI bus knows.
find_driver() {
	local alt
	for alt in "$DRIVER" "${DRIVER//-/_}" "${DRIVER//_/-}"; do
		[ -d "$PCI/drivers/$alt" ] && { DRIVER=$alt; return 0; }
	done
	return 1
}
if [ "$cmd" = bind ] && ! find_driver; then
	# After 'make install' the module can be loaded by name; its vfio dependencies come with it.
	if modprobe "${DRIVER//-/_}" 2>/dev/null && find_driver; then
		echo "loaded module ${DRIVER//-/_}"
	else
		err "driver '$DRIVER' is not registered: load it first (modprobe vfio-pci-core; insmod ${DRIVER//_/-}.ko, or make install)"
		exit 1
	fi
fi
rc=0
for b in $(expand "$@"); do
	case $cmd in
	bind) do_bind "$b" || rc=1 ;;
	unbind) do_unbind "$b" || rc=1 ;;
	reset) do_unbind "$b" reprobe || rc=1 ;;
	esac
done
exit $rc
