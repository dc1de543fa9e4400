# SPDX-License-Identifier: GPL-2.0
# Common settings and helpers of the VM test harness (sourced by the scripts in this directory).
# shellcheck shell=bash

IVM_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IVM_REPO=$(cd "$IVM_SCRIPTS/.." && pwd)   # (used by the scripts that source this file)
export IVM_REPO

# ---- user-facing settings (environment or make variables) -------------------------------------------------
SUITE=${SUITE:-trixie}
IVM_CACHE=${IVM_CACHE:-/var/tmp/ivshmem-vfio-pci}
IVM_SMALL=${IVM_SMALL:-1M}            # BAR2 size of the A/B pair
IVM_MISMATCH=${IVM_MISMATCH:-2M}      # BAR2 size of C
IVM_BIG=${IVM_BIG:-256M}              # BAR2 size of the BIG_A/BIG_B pair
IVM_MEM=${IVM_MEM:-4G}                # guest RAM (>= 4G: the guest runs a nested QEMU)
IVM_SMP=${IVM_SMP:-2}
# Runs are judged by progress, not by the clock (a slow, shared machine is not a failure; standing still is):
IVM_TEST_STALL=${IVM_TEST_STALL:-180} # a test program whose output, CPU time and I/O stand still this long is killed
IVM_STALL=${IVM_STALL:-300}           # a guest whose console and heartbeat stand still this long is stopped (host side)
# ... and the overall safety limits against livelocks (seconds, 0 = none), far above any normal run:
IVM_TIMEOUT=${IVM_TIMEOUT:-3600}      # one guest run, host side
IVM_TEST_TIMEOUT=${IVM_TEST_TIMEOUT:-1800}  # one test program inside the guest
# The PCI driver's name (the module's KBUILD_MODNAME, as /sys/bus/pci/drivers and /sys/module show it) and the
# file the build makes (Kbuild's obj-m): the kernel turns the file name's '-' into '_' for the module's name.
IVM_DRIVER=${IVM_DRIVER:-ivshmem_vfio_pci}
IVM_KO_NAME=${IVM_KO_NAME:-ivshmem-vfio-pci}
# Debian packages of the guest image. Changing the list (or IVM_EXTRA_PACKAGES) makes a new image.
# dkms, debhelper, dh-dkms and build-essential (which dpkg-buildpackage requires of every build):
# selftests/ivshmem_package_test builds and installs the package of `make deb`; xz-utils because trixie's and sid's
# kernels have CONFIG_MODULE_COMPRESS_XZ (dkms and modules_install compress with xz).
IVM_PACKAGES_BASE="linux-image-amd64 linux-headers-amd64 gcc make libc6-dev kmod mount pciutils qemu-system-x86 socat"
IVM_PACKAGES_BASE="$IVM_PACKAGES_BASE dkms debhelper dh-dkms build-essential xz-utils"
# libvirt's daemon, its QEMU and node-device drivers and virsh: e2e/libvirt_hostdev (libvirt 10.0+ picks a variant
# driver through modules.alias; bookworm's 9.0 does not, so bookworm goes without). The test starts the daemon
# itself: systemd is installed (other packages pull it in) but never runs.
case $SUITE in
trixie|sid|unstable) IVM_PACKAGES_BASE="$IVM_PACKAGES_BASE libvirt-daemon libvirt-daemon-driver-qemu"
	IVM_PACKAGES_BASE="$IVM_PACKAGES_BASE libvirt-daemon-driver-nodedev libvirt-clients" ;;
esac
IVM_PACKAGES="$IVM_PACKAGES_BASE${IVM_EXTRA_PACKAGES:+ $IVM_EXTRA_PACKAGES}"
# Bump when the layout or the content of the cached image changes in a way the package list does not show.
IVM_IMAGE_FORMAT=4

# ---- output -------------------------------------------------------------------------------------------------
# One clock for a whole make target: scripts started by scripts inherit IVM_T0.
: "${IVM_T0:=$(date +%s%N)}"
export IVM_T0
ivm_elapsed() { local d=$(( ($(date +%s%N) - IVM_T0) / 100000000 )); printf '%d.%d' $((d / 10)) $((d % 10)); }
step() { printf '### [%6ss] %s\n' "$(ivm_elapsed)" "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '!!! %s\n' "$*" >&2; }
die()  { printf '!!! ERROR: %s\n' "$*" >&2; exit 2; }

# ---- host facts ---------------------------------------------------------------------------------------------
# The Debian mirror this machine's apt already uses (first non-security "deb" source), unless IVM_MIRROR is set.
ivm_mirror() {
	if [ -n "${IVM_MIRROR:-}" ]; then echo "$IVM_MIRROR"; return; fi
	local f m
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		# deb822: paragraphs separated by blank lines; want Types: deb, a http(s) URI, suites not *-security.
		m=$(awk 'BEGIN { RS = ""; FS = "\n" }
			{ t = u = s = ""; en = 1
			  for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/) t = $i
				else if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); u = a[2] }
				else if ($i ~ /^Suites:/) s = $i
				else if ($i ~ /^Enabled:[ \t]*no/) en = 0
			  }
			  if (en && t ~ /[ \t]deb([ \t]|$)/ && u ~ /^https?:\/\// && s !~ /-security/ && u !~ /-security/) { print u; exit }
			}' "$f")
		[ -n "$m" ] && { echo "$m"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		m=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($i ~ /^https?:\/\// && $(i+1) !~ /-security/ && $i !~ /-security/) { print $i; exit } }' "$f")
		[ -n "$m" ] && { echo "$m"; return; }
	done
	return 1
}

# KVM only where a real hardware-assisted KVM module is loaded (the /dev/kvm of some hosts cannot boot a stock kernel).
ivm_accel_args() {
	if [ -z "${IVM_ACCEL:-}" ]; then
		if [ -e /sys/module/kvm_intel ] || [ -e /sys/module/kvm_amd ]; then IVM_ACCEL=kvm; else IVM_ACCEL=tcg; fi
	fi
	case $IVM_ACCEL in
	kvm) echo "-accel kvm -cpu host -machine q35,kernel-irqchip=split" ;;
	# Single-threaded TCG by default: Debian 12's QEMU 7.2 crashes under multi-threaded TCG
	# (NULL MemoryRegion in memory_region_dispatch_write) when the guest remaps a BAR while another vCPU does
	# MMIO, which opening, closing and resetting devices in the tests does all the time.
	*)   echo "-accel tcg,thread=${IVM_TCG_THREAD:-single} -cpu max -machine q35" ;;
	esac
}

# "1M" / "256M" / "1G" / plain bytes -> bytes
ivm_bytes() {
	local v=$1 n u
	n=${v%[KkMmGg]}; u=${v#"$n"}
	[[ $n =~ ^[0-9]+$ ]] || die "bad size '$v' (use e.g. 1M, 256M, 1G)"
	case $u in
	"") echo "$n" ;; [Kk]) echo $((n << 10)) ;; [Mm]) echo $((n << 20)) ;; [Gg]) echo $((n << 30)) ;;
	esac
}

# ---- image cache --------------------------------------------------------------------------------------------
ivm_suite_aptopts() {
	# sid's Release file on a mirror snapshot may be past its Valid-Until date
	case $SUITE in sid|unstable|experimental) echo 'Acquire::Check-Valid-Until "false"' ;; esac
}
# the same as an apt-get -o option (NAME=VALUE), empty if none
ivm_suite_apt_o() { ivm_suite_aptopts | sed 's/^\([^ ]*\) "\(.*\)"$/\1=\2/'; }
ivm_image_key() {
	printf 'format=%s\nsuite=%s\npackages=%s\naptopts=%s\n' "$IVM_IMAGE_FORMAT" "$SUITE" \
		"$(echo "$IVM_PACKAGES" | tr ' ' '\n' | sort -u | tr '\n' ' ')" "$(ivm_suite_aptopts)" |
		sha256sum | cut -c1-16
}
ivm_image_dir() { echo "$IVM_CACHE/$SUITE/$(ivm_image_key)"; }
# ivm_cache_lock DIR WHAT: creates DIR and holds its build lock (fd 9) for the rest of the script; says so when
# another run is building WHAT there and waits for it
ivm_cache_lock() {
	mkdir -p "$1"
	exec 9> "$1/.lock"
	if ! flock -n 9; then
		step "$2: another run is building it, waiting for it"
		flock 9
	fi
}
# The debug kernel lane (scripts/kernel.sh): keyed by the image, the image's linux-source version and the config.
# Bump IVM_KERNEL_FORMAT when scripts/kernel.sh builds something different from the same inputs.
IVM_KERNEL_FORMAT=1
# The key names what the build depends on: the kernel source package and the image's compiler and binutils (the
# kernel's overlay of build tools sits on whatever image of the suite is current), not the whole image, so that a
# package added to the image (a new image key) does not cost a 45-minute kernel build. ivm_kernel_toolchain prints
# them (empty when the image is not there yet).
ivm_kernel_toolchain() {
	dpkg-query --admindir="$1/rootfs/var/lib/dpkg" -W -f '${db:Status-Abbrev}${Package}=${Version}\n' \
		'gcc-[0-9]*' binutils libc6-dev make 2> /dev/null | sed -n 's/^ii *//p' | grep -v -- '-base=' | sort
}
ivm_kernel_dir() {
	local img; img=$(ivm_image_dir)
	echo "$IVM_CACHE/$SUITE-debug/$( { echo "format=$IVM_KERNEL_FORMAT suite=$SUITE"; ivm_kernel_toolchain "$img"
		cat "$img/kselftest/SOURCE" "$IVM_SCRIPTS/kernel/debug.config" "$IVM_SCRIPTS/kernel/trim.config"
		cat "$IVM_SCRIPTS"/kernel/patches/*/*.patch
	} 2>/dev/null | sha256sum | cut -c1-16)"
}

# Run a shell command as root in a chroot of the cached image's rootfs, with directory $2 bind-mounted at
# /mnt/ivm. A private mount namespace makes the mounts vanish with the command, even if it is killed.
# With IVM_CHROOT_OVER=<dir> (the debug kernel's upper/, see scripts/kernel.sh), the root is a read-only overlay of
# that directory over the rootfs, with a tmpfs on /tmp: any number of runs can use it at once.
ivm_chroot() {
	local root=$1 dir=$2 cmd=$3
	unshare -m --propagation private sh -c '
		if [ -n "$4" ]; then
			mount -t overlay overlay -o "ro,lowerdir=$4:$1" "$4/../root" && mount -t tmpfs tmpfs "$4/../root/tmp" ||
				exit 125
			set -- "$4/../root" "$2" "$3"
		fi
		mount --bind "$2" "$1/mnt/ivm" && mount -t proc proc "$1/proc" || exit 125
		exec chroot "$1" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 /bin/sh -c "$3"' sh "$root" "$dir" "$cmd" "${IVM_CHROOT_OVER:-}"
}

# ivm_overlay_chroot ROOTFS DIR CMD: CMD as root in a chroot of ROOTFS with DIR/upper as a writable overlay on top
# (DIR/work and DIR/root must exist), proc and a tmpfs on /tmp; what CMD installs or writes stays in DIR/upper. A
# private mount namespace makes the mounts vanish with the command (scripts/kernel.sh, scripts/lint.sh).
ivm_overlay_chroot() {
	unshare -m --propagation private sh -c '
		mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/root" &&
			mount -t proc proc "$2/root/proc" && mount -t tmpfs tmpfs "$2/root/tmp" || exit 125
		exec chroot "$2/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
			DEBIAN_FRONTEND=noninteractive /bin/sh -c "$3"' sh "$1" "$2" "$3"
}
