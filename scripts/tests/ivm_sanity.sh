#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Harness sanity test, run in the guest before the driver's tests (KTAP output): is the VM what the tests are
# promised? Devices and their environment variables, BAR2 sizes, one root port + IOMMU group each, bus reset,
# binding to the driver, the VFIO group nodes, and the memory-error detectors of the test kernel (with
# KERNEL=debug: also that KASAN, lockdep, kmemleak, UBSAN, fault injection and iommufd are really there).
n=0 failed=0
ok()   { n=$((n + 1)); echo "ok $n $1${2:+ # $2}"; }
nok()  { n=$((n + 1)); failed=1; echo "# $2"; echo "not ok $n $1"; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
check() { local name=$1 msg=$2; shift 2; if "$@"; then ok "$name"; else nok "$name" "$msg"; fi; }

NAMES="A B C BIG_A BIG_B"
D=/sys/bus/pci/devices
echo "TAP version 13"
echo "1..10"
for v in $NAMES; do eval "echo \"# IVSHMEM_BDF_$v=\${IVSHMEM_BDF_$v:-}\""; done

env_ok() {
	local v b
	for v in $NAMES; do
		eval "b=\${IVSHMEM_BDF_$v:-}"
		[[ $b =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] && [ -d "$D/$b" ] || return 1
	done
	[ "$(echo "$IVSHMEM_BDFS" | wc -w)" = 5 ]
}
check env_and_devices "IVSHMEM_BDF_{A,B,C,BIG_A,BIG_B} / IVSHMEM_BDFS not all set to existing devices" env_ok
if [ "$failed" = 1 ]; then
	for t in bar2_sizes own_root_port iommu_groups bus_reset bound_to_driver vfio_group_nodes; do skip "$t" "no devices"; done
else
	bar2() { local s e; read -r s e _ < <(sed -n 3p "$D/$1/resource"); echo $((e - s + 1)); }
	sizes_ok() {
		[ "$(bar2 "$IVSHMEM_BDF_A")" = "$IVSHMEM_SIZE_SMALL" ] && [ "$(bar2 "$IVSHMEM_BDF_B")" = "$IVSHMEM_SIZE_SMALL" ] &&
		[ "$(bar2 "$IVSHMEM_BDF_C")" = "$IVSHMEM_SIZE_MISMATCH" ] &&
		[ "$(bar2 "$IVSHMEM_BDF_BIG_A")" = "$IVSHMEM_SIZE_BIG" ] && [ "$(bar2 "$IVSHMEM_BDF_BIG_B")" = "$IVSHMEM_SIZE_BIG" ]
	}
	check bar2_sizes "BAR2 sizes differ from IVSHMEM_SIZE_{SMALL,MISMATCH,BIG}" sizes_ok
	own_ports() {
		local b p ports=
		for b in $IVSHMEM_BDFS; do
			p=$(basename "$(dirname "$(readlink -f "$D/$b")")")
			[ "$(cat "$D/$p/class" 2>/dev/null)" = 0x060400 ] || { echo "# $b: parent $p is not a PCI bridge"; return 1; }
			ports="$ports $p"
		done
		[ "$(echo $ports | tr ' ' '\n' | sort -u | wc -l)" = 5 ]
	}
	check own_root_port "each device must sit behind its own pcie-root-port" own_ports
	own_groups() {
		local b groups=
		compgen -G "/sys/class/iommu/*" > /dev/null || { echo "# no IOMMU in /sys/class/iommu"; return 1; }
		for b in $IVSHMEM_BDFS; do
			[ -e "$D/$b/iommu_group" ] || return 1
			groups="$groups $(basename "$(readlink "$D/$b/iommu_group")")"
		done
		[ "$(echo $groups | tr ' ' '\n' | sort -u | wc -l)" = 5 ]
	}
	check iommu_groups "each device needs its own IOMMU group (intel-iommu on)" own_groups
	bus_reset() {
		local b
		for b in $IVSHMEM_BDFS; do
			grep -qw bus "$D/$b/reset_method" 2>/dev/null || { echo "# $b reset_method: $(cat "$D/$b/reset_method" 2>&1)"; return 1; }
		done
	}
	check bus_reset "every device must have reset_method bus (secondary bus reset via its root port)" bus_reset
	if [ -d "/sys/bus/pci/drivers/$IVSHMEM_DRIVER" ]; then
		bound() {
			local b
			for b in $IVSHMEM_BDFS; do
				[ "$(basename "$(readlink "$D/$b/driver" 2>/dev/null)")" = "$IVSHMEM_DRIVER" ] || { echo "# $b not bound"; return 1; }
			done
		}
		check bound_to_driver "all devices must be bound to $IVSHMEM_DRIVER" bound
		groups_nodes() {
			local b
			for b in $IVSHMEM_BDFS; do [ -c "/dev/vfio/$(basename "$(readlink "$D/$b/iommu_group")")" ] || return 1; done
			[ -c /dev/vfio/vfio ]
		}
		check vfio_group_nodes "/dev/vfio/vfio and /dev/vfio/<group> must exist for every bound device" groups_nodes
	else
		skip bound_to_driver "driver $IVSHMEM_DRIVER not registered (module not loaded)"
		skip vfio_group_nodes "driver $IVSHMEM_DRIVER not registered (module not loaded)"
	fi
fi
kfence_on() { [ "$(cat /sys/module/kfence/parameters/sample_interval 2>/dev/null)" -gt 0 ] 2>/dev/null; }
if [ -d /sys/module/kfence ]; then
	check kfence_enabled "KFENCE is off: kfence.sample_interval= was not applied" kfence_on
else
	skip kfence_enabled "this kernel is built without KFENCE (e.g. Debian 12's 6.1)"
fi
slub_on() {
	local c
	for c in /sys/kernel/slab/kmalloc-64 /sys/kernel/slab/kmalloc-128; do
		[ -d "$c" ] || continue
		[ "$(cat "$c/sanity_checks")" = 1 ] && [ "$(cat "$c/red_zone")" = 1 ] && [ "$(cat "$c/poison")" = 1 ] && return 0
		echo "# $c: sanity_checks=$(cat "$c/sanity_checks") red_zone=$(cat "$c/red_zone") poison=$(cat "$c/poison")"
	done
	return 1
}
check slub_debug_fzp "slub_debug=FZP is not in effect" slub_on
debug_on() {
	local bad= o
	dmesg | grep -q 'KernelAddressSanitizer initialized' || bad="$bad KASAN"
	[ -e /proc/lockdep ] && [ "$(cat /proc/sys/kernel/prove_locking 2>/dev/null || echo 1)" = 1 ] || bad="$bad lockdep"
	[ -w /sys/kernel/debug/kmemleak ] || bad="$bad kmemleak"
	for o in UBSAN KFENCE FAILSLAB FAIL_FUNCTION IOMMUFD_DRIVER VFIO_DEVICE_CDEV; do
		zcat /proc/config.gz 2>/dev/null | grep -qx "CONFIG_$o=y" || bad="$bad $o"
	done
	[ -d /sys/kernel/debug/fail_function ] || bad="$bad fail_function(debugfs)"
	[ -c /dev/iommu ] || bad="$bad /dev/iommu"
	[ -z "$bad" ] || { echo "# missing on this debug kernel:$bad"; return 1; }
}
if [ "${IVM_KERNEL:-stock}" = debug ]; then
	check debug_checkers "the debug kernel lacks a checker it was built for" debug_on
else
	skip debug_checkers "the image's own Debian kernel (KERNEL=debug checks its checkers)"
fi
exit $failed
