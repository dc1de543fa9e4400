#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the debug/IOMMUFD kernel of $SUITE for `make check KERNEL=debug` (scripts/vm.sh calls this):
# the suite's own linux-source-<ver> package (the version of the image's kernel), configured from
# "defconfig kvm_guest.config" + scripts/kernel/trim.config + scripts/kernel/debug.config (KASAN, lockdep, kmemleak,
# UBSAN, KFENCE, fault injection, IOMMUFD, vfio cdev, mtty), with scripts/kernel/patches/<major.minor>/*.patch applied
# (fixes of that version's own bugs that the checkers would report), built in a chroot of the image (its gcc) with the
# build tools added in an overlay. The result, cached by (suite, source version, the image's compiler and binutils,
# config files, patches, KFORMAT; not the whole image: see ivm_kernel_dir in lib.sh):
#   $IVM_CACHE/<suite>-debug/<key>/vmlinuz kver config info build.log
#                                  upper/     overlay over the image's rootfs: build tools, the kernel source and
#                                             object tree (/usr/src/ivm-obj: builds out-of-tree modules) and
#                                             /lib/modules/<kver> (vm.sh hands it to the guest on the 9p share)
# Prints nothing on stdout but progress; the directory is found again with ivm_kernel_dir (lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

IMG=$(ivm_image_dir)
[ -f "$IMG/.complete" ] || die "kernel: no $SUITE image yet (scripts/image.sh builds it)"
dir=$(ivm_kernel_dir)
base=$(dirname "$dir")
ivm_cache_lock "$base" "kernel: the $SUITE debug kernel"
if [ -f "$dir/.complete" ] && [ -z "${IVM_KERNEL_REBUILD:-}" ]; then
	step "kernel: cached debug kernel $(cat "$dir/kver") ($dir, built in $(sed -n 's/^build_seconds=//p' "$dir/info") s)"
	exit 0
fi
src_pkg=$(sed -n 's/^Package: \([^ ]*\) .*/\1/p' "$IMG/kselftest/SOURCE")
src_ver=$(sed -n 's/.* Version: \([^ ]*\).*/\1/p' "$IMG/kselftest/SOURCE")
[ -n "$src_pkg" ] && [ -n "$src_ver" ] || die "kernel: cannot tell the image's linux-source package from $IMG/kselftest/SOURCE"
step "kernel: building the $SUITE debug kernel from $src_pkg $src_ver (cache key $(basename "$dir"))"
find "$base" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +   # other keys: stale or half built
tmp=$dir.tmp
mkdir -p "$tmp/upper" "$tmp/work" "$tmp/root"
cp "$IVM_SCRIPTS/kernel/debug.config" "$IVM_SCRIPTS/kernel/trim.config" "$tmp/upper/"

# kchroot CMD: CMD in a chroot of the image's rootfs with $tmp/upper as a writable overlay on top
kchroot() { ivm_overlay_chroot "$IMG/rootfs" "$tmp" "$1"; }
log=$tmp/build.log
: > "$log"
t0=$(date +%s)
step "kernel: build tools and $src_pkg in the overlay (log: $log)"
o=$(ivm_suite_apt_o)
kchroot "apt-get -q ${o:+-o '$o'} update && apt-get -q -y --no-install-recommends install \
	bc bison flex libelf-dev libssl-dev cpio xz-utils kmod patch $src_pkg=$src_ver" >> "$log" 2>&1 ||
	die "kernel: installing the build tools failed: $(tail -3 "$log" | tr '\n' ' ')"
step "kernel: unpacking $src_pkg"
kchroot "set -e; cd /usr/src; rm -rf linux ivm-obj; mkdir linux ivm-obj
	tar -xf /usr/src/$src_pkg.tar.xz -C linux --strip-components=1; rm -f /usr/src/$src_pkg.tar.xz" >> "$log" 2>&1 ||
	die "kernel: unpacking the source failed: $(tail -3 "$log" | tr '\n' ' ')"
# our fixes to this version's source (scripts/kernel/patches/<major.minor>/*.patch, each saying why), in name order
pdir=$IVM_SCRIPTS/kernel/patches/${src_pkg#linux-source-}
for p in "$pdir"/*.patch; do
	[ -f "$p" ] || continue
	step "kernel: applying $(basename "$p")"
	mkdir -p "$tmp/upper/ivm-patches"
	cp "$p" "$tmp/upper/ivm-patches/"
	kchroot "cd /usr/src/linux && patch -p1 --forward --batch < '/ivm-patches/$(basename "$p")'" >> "$log" 2>&1 ||
		die "kernel: $(basename "$p") does not apply to $src_pkg $src_ver: $(tail -3 "$log" | tr '\n' ' ')"
done

step "kernel: config: defconfig kvm_guest.config + trim.config + debug.config"
kchroot "set -e; cd /usr/src/linux; make -s O=/usr/src/ivm-obj defconfig kvm_guest.config
	scripts/kconfig/merge_config.sh -m -O /usr/src/ivm-obj /usr/src/ivm-obj/.config /trim.config /debug.config
	make -s O=/usr/src/ivm-obj olddefconfig" >> "$log" 2>&1 || die "kernel: configuring failed: $(tail -5 "$log" | tr '\n' ' ')"
cfg=$tmp/upper/usr/src/ivm-obj/.config
bad=
while IFS= read -r l; do
	case $l in ''|'#'*) continue ;; esac
	opt=${l%%=*} val=${l#*=}
	if [ "$val" = n ]; then
		grep -qx "$opt=.*" "$cfg" && bad="$bad $opt(wanted n, got $(sed -n "s/^$opt=//p" "$cfg"))"
	else
		grep -qxF "$l" "$cfg" || bad="$bad $opt(wanted $val, got $(sed -n "s/^$opt=//p" "$cfg" | grep . || echo unset))"
	fi
done < "$IVM_SCRIPTS/kernel/debug.config"
[ -z "$bad" ] || die "kernel: options of scripts/kernel/debug.config did not come out as written:$bad"
cp "$cfg" "$tmp/config"

step "kernel: make -j$(( $(nproc) + 1 )) bzImage modules (progress every 60 s)"
tb=$(date +%s)
kchroot "cd /usr/src/linux && exec make O=/usr/src/ivm-obj -j$(( $(nproc) + 1 )) bzImage modules" >> "$log" 2>&1 &
mk=$!
while kill -0 "$mk" 2>/dev/null; do
	for _ in $(seq 60); do kill -0 "$mk" 2>/dev/null || break; sleep 1; done
	kill -0 "$mk" 2>/dev/null && info "kernel: $(grep -c '^  CC' "$log") objects compiled, $(( $(date +%s) - tb )) s"
done
wait "$mk" || die "kernel: make failed: $(grep -E 'error|Error' "$log" | head -3 | tr '\n' ' ') (log: $log)"
tm=$(( $(date +%s) - tb ))

step "kernel: modules_install and the tree for out-of-tree modules"
kchroot "set -e; cd /usr/src/ivm-obj; kver=\$(make -s -C /usr/src/linux O=/usr/src/ivm-obj kernelrelease)
	make -s -C /usr/src/linux O=/usr/src/ivm-obj INSTALL_MOD_STRIP=1 modules_install
	ln -sfn /usr/src/ivm-obj /lib/modules/\$kver/build
	cp arch/x86/boot/bzImage /boot/vmlinuz-\$kver; echo \$kver > /boot/ivm-kver
	# objects are not needed to build modules against the tree: drop them (GiBs under KASAN)
	find . -name '*.o' -delete; rm -f vmlinux vmlinux.a vmlinux.o arch/x86/boot/compressed/vmlinux" >> "$log" 2>&1 ||
	die "kernel: installing failed: $(tail -3 "$log" | tr '\n' ' ')"
kver=$(cat "$tmp/upper/boot/ivm-kver")
echo "$kver" > "$tmp/kver"
cp "$tmp/upper/boot/vmlinuz-$kver" "$tmp/vmlinuz"
rm -rf "$tmp/work" "$tmp/root"
mkdir -p "$tmp/root"
printf 'suite=%s\nsource=%s %s\nkver=%s\nobjects=%s\nmake_seconds=%s\nbuild_seconds=%s\nnproc=%s\nbuilt=%s\n' \
	"$SUITE" "$src_pkg" "$src_ver" "$kver" "$(grep -c '^  CC' "$log")" "$tm" "$(( $(date +%s) - t0 ))" \
	"$(nproc)" "$(date -u +%FT%TZ)" > "$tmp/info"
touch "$tmp/.complete"
mv "$tmp" "$dir"
step "kernel: ready: $kver, make took $tm s, $(( $(date +%s) - t0 )) s in all ($dir)"
