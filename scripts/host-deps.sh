#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install the host packages the VM harness needs (Debian): only when one is missing, with apt-get update first.
#   host-deps.sh          the harness's (make check, demo, ...; .ci/run)
#   host-deps.sh docs     graphviz, for make docs (Documentation/*.dot -> .svg)
#   host-deps.sh bench    gnuplot, for make bench's plot of downtime against BAR2 size
set -euo pipefail
. "$(dirname "$0")/lib.sh"
case ${1:-harness} in
harness)
	# everything the harness runs on the host: QEMU; mmdebstrap + keyring (images); mke2fs; unshare/flock
	# (util-linux); timeout/sha256sum (coreutils); gcc + libc6-dev (the ivshmem stub server); make; git (the work
	# tree's file list); xz-utils (the linux-source tarball); patch (mutation builds)
	pkgs="qemu-system-x86 mmdebstrap e2fsprogs debian-archive-keyring util-linux coreutils gcc libc6-dev make git xz-utils patch"
	tools="qemu-system-x86_64 mmdebstrap mke2fs unshare flock timeout gcc make git xz patch" ;;
docs)
	pkgs=graphviz
	tools="dot" ;;
bench)
	pkgs=gnuplot-nox
	tools="gnuplot" ;;
*)
	die "usage: $0 [harness|docs|bench]" ;;
esac
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ] || [ -n "${IVM_FORCE_HOST_DEPS:-}" ]; then
	[ "$(id -u)" = 0 ] || die "need root to install host packages:$missing"
	step "host: apt-get update + install${missing:- $pkgs}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || warn "apt-get update failed: installing from the package lists at hand"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends ${missing:-$pkgs} > /dev/null
fi
for t in $tools; do
	command -v "$t" > /dev/null || die "host tool $t is missing after installing packages"
done
