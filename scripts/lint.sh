#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make lint: the kernel's own checkers on the driver and the uAPI header, for the kernel of every suite in
# $LINT_SUITES (default "trixie sid": 6.12 and 7.2 take different compatibility paths of drivers/ivm_compat.h):
#   checkpatch   scripts/checkpatch.pl --strict of the suite's linux-source package, on drivers/*.[ch], Kbuild and
#                include/uapi/linux/*.h
#   sparse       the module built with C=2 (every file checked; Debian's sparse)
#   W=1          the module built with W=1 against the suite's kernel headers (-Werror: a warning is a finding)
#   kernel-doc   scripts/kernel-doc -Wall -none of that source on every .c and .h
# Each is one result; a finding of any of them fails it. Ends with "N passed, N failed, 0 skipped"; exit 1 on any
# failure. The tools come from the suite's image (scripts/image.sh builds it) plus an overlay with sparse, perl
# (kernel-doc's modules) and the scripts of linux-source-<ver>, cached as $IVM_CACHE/<suite>-lint/<key>/.
# Usage: scripts/lint.sh [SRC]   SRC: the tree to check (default: this work tree; scripts/tests/lint/ checks that a
#                                tree with one defect per checker fails all four, see scripts/tests/lint/README)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SRC=$(cd "${1:-$IVM_REPO}" && pwd)
LINT_SUITES=${LINT_SUITES:-trixie sid}
# Bump when the overlay gets something different from the same inputs.
IVM_LINT_FORMAT=2

# lint_tools: prints the overlay directory of $SUITE's tools, building it first if needed
lint_tools() {
	local img key dir tmp log src_pkg src_ver o
	img=$(ivm_image_dir)
	key=$( { echo "format=$IVM_LINT_FORMAT"; basename "$img"; cat "$img/kselftest/SOURCE"; } | sha256sum | cut -c1-16)
	dir=$IVM_CACHE/$SUITE-lint/$key
	ivm_cache_lock "$(dirname "$dir")" "lint: the $SUITE lint tools" >&2
	if [ -f "$dir/.complete" ]; then
		echo "$dir"
		return
	fi
	find "$(dirname "$dir")" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +   # other keys: stale
	src_pkg=$(sed -n 's/^Package: \([^ ]*\) .*/\1/p' "$img/kselftest/SOURCE")
	src_ver=$(sed -n 's/.* Version: \([^ ]*\).*/\1/p' "$img/kselftest/SOURCE")
	tmp=$dir.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp/upper" "$tmp/work" "$tmp/root"
	log=$tmp/tools.log
	step "lint: $SUITE: sparse, perl and the scripts of $src_pkg $src_ver in an overlay (log: $log)" >&2
	o=$(ivm_suite_apt_o)
	ivm_overlay_chroot "$img/rootfs" "$tmp" "set -e
		apt-get -q ${o:+-o '$o'} update
		apt-get -q -y --no-install-recommends install sparse perl python3 xz-utils $src_pkg=$src_ver
		mkdir -p /usr/src/lint
		tar -xf /usr/src/$src_pkg.tar.xz -C /usr/src/lint --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch' \
			'*/scripts/kernel-doc*' '*/scripts/lib/*' '*/tools/lib/python/*' '*/tools/docs/*' \
			'*/scripts/checker-valid.sh' 2> /dev/null || true
		# sid's linux-headers-7.2-common lacks the script its Makefile runs to accept sparse (without it C=2
		# only warns \"sparse is not available\" and checks nothing): give it the one of the same source
		for d in /usr/src/linux-headers-*-common; do
			if [ -f /usr/src/lint/scripts/checker-valid.sh ] && ! [ -e \$d/scripts/checker-valid.sh ]; then
				cp /usr/src/lint/scripts/checker-valid.sh \$d/scripts/
			fi
		done
		rm -f /usr/src/$src_pkg.tar.xz
		apt-get -q -y purge $src_pkg; apt-get clean
		test -f /usr/src/lint/scripts/checkpatch.pl && test -e /usr/src/lint/scripts/kernel-doc" >> "$log" 2>&1 ||
		die "lint: preparing the $SUITE tools failed: $(tail -3 "$log" | tr '\n' ' ')"
	rm -rf "$tmp/work" "$tmp/root"
	mkdir -p "$tmp/root"
	touch "$tmp/.complete"
	mv "$tmp" "$dir"
	echo "$dir"
}

N=0 P=0 F=0
result() { # OK NAME FINDINGS-FILE
	N=$((N + 1))
	if [ "$1" = 0 ]; then
		P=$((P + 1))
		echo "ok $N - $2"
	else
		F=$((F + 1))
		echo "not ok $N - $2"
		sed 's/^/# /' "$3" | head -40
		[ "$(wc -l < "$3")" -le 40 ] || echo "# ... $(( $(wc -l < "$3") - 40 )) more lines"
	fi
}

# lint_tree SRC: runs the four checkers on SRC for $SUITE, leaving in $OUT/<checker> its findings (what it
# reports about a file of the tree; the whole output when it failed without naming one) and in $OUT/<checker>.rc 0
# when it found nothing. The checkers: checkpatch kerneldoc sparse w1.
lint_tree() {
	local tools img c rc
	tools=$(lint_tools)
	img=$(ivm_image_dir)
	# every checker in one chroot (a read-only overlay of the tools over the image; the tree copied to /tmp, a
	# tmpfs), each writing its output to /mnt/ivm/<checker> and its exit status to /mnt/ivm/<checker>.rc
	rm -rf "${OUT:?}"/*
	cp -a "$1" "$OUT/src"
	IVM_CHROOT_OVER=$tools/upper ivm_chroot "$img/rootfs" "$OUT" '
		set -u
		cp -a /mnt/ivm/src /tmp/src && cd /tmp/src || exit 125
		kver=$(ls /lib/modules | head -1)
		L=/usr/src/lint/scripts
		files=$(ls drivers/*.c drivers/*.h include/uapi/linux/*.h 2> /dev/null)
		run() { # NAME COMMAND...
			n=$1; shift
			"$@" > /mnt/ivm/$n.out 2>&1; echo $? > /mnt/ivm/$n.rc
		}
		# --no-tree: this is not a kernel tree; checkpatch reads spelling.txt and const_structs beside itself
		run checkpatch perl $L/checkpatch.pl --strict --no-tree --terse --show-types --no-summary -f $files Kbuild
		run kerneldoc $L/kernel-doc -Wall -none $files
		# the module built twice, in separate copies, so that each build compiles (and checks) every file
		cp -a /tmp/src /tmp/w1
		run sparse make -C /lib/modules/$kver/build M=/tmp/src C=2 modules
		run w1 make -C /lib/modules/$kver/build M=/tmp/w1 W=1 KCFLAGS=-Werror modules
	' || die "lint: the $SUITE chroot failed"
	for c in checkpatch kerneldoc sparse w1; do
		[ -f "$OUT/$c.rc" ] || { echo "did not run" > "$OUT/$c.out"; echo 1 > "$OUT/$c.rc"; }
		rc=$(cat "$OUT/$c.rc")
		case $c in
		checkpatch|kerneldoc) cp "$OUT/$c.out" "$OUT/$c" ;;   # they print nothing but findings
		# a checker that kbuild turned off (C=2 without a usable sparse) is a finding too
		*) grep -E 'warning:|error:|is not available or not up to date' "$OUT/$c.out" > "$OUT/$c" || true ;;
		esac
		if [ -s "$OUT/$c" ]; then rc=1; elif [ "$rc" != 0 ]; then cp "$OUT/$c.out" "$OUT/$c"; fi
		echo "$rc" > "$OUT/$c.rc"
	done
}
label() { case $1 in w1) echo W=1 ;; *) echo "$1" ;; esac; }

OUT=$(mktemp -d /tmp/ivm-lint.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for SUITE in $LINT_SUITES; do
	export SUITE
	"$IVM_SCRIPTS/image.sh" >&2 || die "lint: no $SUITE image"
	step "lint: $SUITE ($(sed 's/Package: //; s/ Version: / /' "$(ivm_image_dir)/kselftest/SOURCE")): checkpatch, kernel-doc, sparse, W=1 on $SRC" >&2
	lint_tree "$SRC"
	for c in checkpatch kerneldoc sparse w1; do
		result "$(cat "$OUT/$c.rc")" "$SUITE/$(label $c)" "$OUT/$c"
	done
	# The checkers must be able to fail: scripts/tests/lint/ has one defect for each (and nothing else to
	# report), and each must report its own (scripts/tests/lint/README), on every suite (sid's headers once made
	# kbuild turn sparse off without a word on the real tree). LINT_SELFTEST=0 leaves this out.
	[ "${LINT_SELFTEST:-1}" != 0 ] && [ "$SRC" = "$IVM_REPO" ] || continue
	step "lint: $SUITE: the checkers on scripts/tests/lint (one defect each: each must report its own)" >&2
	lint_tree "$IVM_SCRIPTS/tests/lint"
	while read -r c want; do
		case $c in ''|'#'*) continue ;; esac
		if [ "$(cat "$OUT/$c.rc")" != 0 ] && grep -qE "$want" "$OUT/$c"; then rc=0; else
			rc=1; { echo "expected a finding matching /$want/, got:"; cat "$OUT/$c.out"; } > "$OUT/$c.why"; fi
		result "$rc" "$SUITE/$(label "$c") reports the defect of scripts/tests/lint" "$OUT/$c.why"
	done < "$IVM_SCRIPTS/tests/lint/expected"
done
echo "$P passed, $F failed, 0 skipped"
[ "$F" = 0 ]
