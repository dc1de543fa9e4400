#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the cached guest image of $SUITE:
#   $IVM_CACHE/<suite>/<key>/rootfs/         the Debian root filesystem (chroot for builds)
#                            rootfs.ext4     the same, packed with mke2fs -d (booted with snapshot=on)
#                            vmlinuz initrd.img kver   the image's own kernel
#                            kselftest/      kselftest.h + kselftest_harness.h from linux-source-<ver>
#                            mtty/mtty.c     samples/vfio-mdev/mtty.c from the same package (built by vm.sh)
# <key> hashes suite + package list + image format: a different list gives a different image; other keys of
# the same suite are removed as stale. IVM_IMAGE_MAX_AGE=<days> also rebuilds an image older than that
# (useful for sid); IVM_REBUILD=1 forces a rebuild.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# ---- customize hook, run by mmdebstrap as: image.sh --hook <rootfs> <outdir> ---------------------------------
if [ "${1:-}" = --hook ]; then
	root=$2 out=$3
	# Tiny PID 1: mount the basics and the 9p share, hand over to the run's guest script, power off.
	cat > "$root/sbin/ivm-init" <<'EOF'
#!/bin/sh
# PID 1 of the ivshmem-vfio-pci test VM (from scripts/image.sh): no systemd, just hand over to the run's script.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /mnt/share
modprobe 9pnet_virtio 2>/dev/null; modprobe 9p 2>/dev/null
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 ivmshare /mnt/share && [ -x /mnt/share/guest/init.sh ]; then
	exec /mnt/share/guest/init.sh
fi
echo "ivm: FATAL: cannot mount the 9p share or find guest/init.sh on it"
echo o > /proc/sysrq-trigger; sleep 60
EOF
	chmod 755 "$root/sbin/ivm-init"
	mkdir -p "$root/mnt/share" "$root/mnt/ivm"
	echo ivm-guest > "$root/etc/hostname"
	kver=$(ls "$root/lib/modules" | sort -V | tail -1)
	mm=$(echo "$kver" | cut -d. -f1,2)
	echo "I: ivm hook: kernel $kver, fetching linux-source-$mm for the kselftest headers"
	chroot "$root" sh -ec "cd /tmp && apt-get -q -o APT::Sandbox::User=root download linux-source-$mm"
	mv "$root"/tmp/linux-source-"$mm"_*.deb "$out/"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
dir=$(ivm_image_dir)
suitedir=$IVM_CACHE/$SUITE
ivm_cache_lock "$suitedir" "image: the $SUITE image"

if [ -f "$dir/.complete" ] && [ -z "${IVM_REBUILD:-}" ]; then
	age=$(( ($(date +%s) - $(stat -c %Y "$dir/.complete")) / 86400 ))
	if [ "${IVM_IMAGE_MAX_AGE:-0}" -gt 0 ] && [ "$age" -ge "${IVM_IMAGE_MAX_AGE}" ]; then
		step "image: cached $SUITE image is $age days old (IVM_IMAGE_MAX_AGE=$IVM_IMAGE_MAX_AGE): rebuilding"
	else
		step "image: cached $SUITE image, kernel $(cat "$dir/kver") ($dir, $age days old)"
		exit 0
	fi
fi

mirror=$(ivm_mirror) || die "no Debian mirror found in /etc/apt/sources.list{,.d}; set IVM_MIRROR=<url>"
step "image: building the $SUITE guest image from $mirror (cache key $(basename "$dir"))"
# Anything else in the suite's directory is a stale or half-built image.
find "$suitedir" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
tmp=$dir.tmp
mkdir -p "$tmp"

aptopts=(--aptopt='APT::Install-Recommends "false"')
o=$(ivm_suite_aptopts); [ -n "$o" ] && aptopts+=(--aptopt="$o")
step "image: mmdebstrap $SUITE: $IVM_PACKAGES (log: $tmp/mmdebstrap.log)"
set +e
mmdebstrap --mode=root --format=directory --variant=apt "${aptopts[@]}" \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--include="$(echo "$IVM_PACKAGES" | tr -s ' ' ',')" \
	--customize-hook="\"$IVM_SCRIPTS/image.sh\" --hook \"\$1\" \"$tmp\"" \
	"$SUITE" "$tmp/rootfs" "deb $mirror $SUITE main" 2>&1 |
	tee "$tmp/mmdebstrap.log" | while IFS= read -r l; do
		case $l in I:*|E:*|W:*) step "  mmdebstrap: ${l:0:150}" ;; esac
	done
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then
	tail -25 "$tmp/mmdebstrap.log" >&2
	die "mmdebstrap of $SUITE failed (exit $rc); full log: $tmp/mmdebstrap.log"
fi

kver=$(ls "$tmp/rootfs/lib/modules" | sort -V | tail -1)
echo "$kver" > "$tmp/kver"
chroot "$tmp/rootfs" test -e "/lib/modules/$kver/build/Makefile" || die "image has no headers for $kver"
cp "$tmp/rootfs/boot/vmlinuz-$kver" "$tmp/vmlinuz"
cp "$tmp/rootfs/boot/initrd.img-$kver" "$tmp/initrd.img"

step "image: kselftest headers and samples/vfio-mdev/mtty.c from $(basename "$tmp"/linux-source-*.deb)"
mkdir -p "$tmp/kselftest" "$tmp/mtty" "$tmp/ksrc"
# Stop reading the (large) source tarball as soon as all three files have been seen (the writers upstream then
# die of a broken pipe, on purpose: their complaints are dropped; the checks below judge the result).
dpkg-deb --fsys-tarfile "$tmp"/linux-source-*.deb 2>/dev/null | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
	tar -xJ -C "$tmp/ksrc" --strip-components=1 --wildcards --occurrence=1 \
		'linux-source-*/samples/vfio-mdev/mtty.c' \
		'linux-source-*/tools/testing/selftests/kselftest.h' \
		'linux-source-*/tools/testing/selftests/kselftest_harness.h' 2>/dev/null || true
mv "$tmp"/ksrc/tools/testing/selftests/kselftest*.h "$tmp/kselftest/" 2>/dev/null
[ -f "$tmp/kselftest/kselftest.h" ] && [ -f "$tmp/kselftest/kselftest_harness.h" ] ||
	die "could not extract kselftest.h/kselftest_harness.h from the linux-source package"
# mtty, upstream's sample mdev driver with migration (6.7+), is built by scripts/vm.sh for the conformance tests
mv "$tmp/ksrc/samples/vfio-mdev/mtty.c" "$tmp/mtty/" 2>/dev/null ||
	die "could not extract samples/vfio-mdev/mtty.c from the linux-source package"
rm -rf "$tmp/ksrc"
dpkg-deb -f "$tmp"/linux-source-*.deb Package Version | tr '\n' ' ' > "$tmp/kselftest/SOURCE"
cp "$tmp/kselftest/SOURCE" "$tmp/mtty/SOURCE"
rm -f "$tmp"/linux-source-*.deb

# ext4 image with some room for the guest's own writes (it is booted with snapshot=on: the cache stays clean)
mb=$(du -sm "$tmp/rootfs" | cut -f1)
size=$(( mb * 12 / 10 + 512 ))
step "image: mke2fs -d ($mb MiB of files -> ${size} MiB ext4)"
mke2fs -q -t ext4 -O ^has_journal -L ivmroot -d "$tmp/rootfs" "$tmp/rootfs.ext4" "${size}M" > /dev/null

printf 'suite=%s\nkernel=%s\nmirror=%s\npackages=%s\nbuilt=%s\n' "$SUITE" "$kver" "$mirror" "$IVM_PACKAGES" \
	"$(date -u +%FT%TZ)" > "$tmp/info"
touch "$tmp/.complete"
mv "$tmp" "$dir"
step "image: ready: $SUITE, kernel $kver ($dir)"
