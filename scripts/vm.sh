#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The VM test harness: vm.sh check|demo|bench|shell|build|clean  (the Makefile's check, demo, bench, vm-shell,
# vm-clean targets call this). Each run:
#   1. host packages (scripts/host-deps.sh) and the cached guest image of $SUITE (scripts/image.sh)
#   2. a run directory $IVM_CACHE/runs/<suite>-<time>-XXXX/ whose share/ is the guest's 9p share: a copy of the
#      repo, built in a chroot of the image's rootfs (module, tools/selftests, tools/demo|bench)
#   3. QEMU q35 + intel-iommu guests with five ivshmem-plain devices, each behind its own pcie-root-port,
#      booted from the image's own kernel with a tiny init (scripts/guest/init.sh) and a host-side timeout;
#      in check mode IVM_GUESTS of them side by side, each running its share of the test programs
#   4. the verdict from the results, the serial console and the guest's dmesg (scripts/verdict.sh)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

MODE=${1:-check}
case $MODE in check|demo|bench|shell|build|clean) ;; *) die "usage: vm.sh check|demo|bench|shell|build|clean" ;; esac

# ---- vm-clean -----------------------------------------------------------------------------------------------------
if [ "$MODE" = clean ]; then
	# a suite's images and its debug kernels (<suite>-debug/), or the whole cache
	if [ -n "${IVM_CLEAN_SUITE:-}" ]; then targets=("$IVM_CACHE/$IVM_CLEAN_SUITE" "$IVM_CACHE/$IVM_CLEAN_SUITE-debug")
	else targets=("$IVM_CACHE"); fi
	for target in "${targets[@]}"; do
		case $target in /|/var|/var/tmp|/tmp|"") die "refusing to remove '$target'" ;; esac
		if [ -e "$target" ]; then
			step "removing $target ($(du -sh "$target" 2>/dev/null | cut -f1))"
			rm -rf "$target"
		else
			step "nothing to remove: $target does not exist"
		fi
	done
	for f in /dev/shm/ivm-*; do       # backing files of runs that were killed hard (not of live runs)
		[ -e "$f" ] || continue
		pid=${f#/dev/shm/ivm-}; pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null || rm -f "$f"
	done
	exit 0
fi

[ "$(id -u)" = 0 ] || die "the VM harness needs root (mmdebstrap, chroot, mount namespaces)"
[ "$MODE" = build ] && IVM_BUILD_ONLY=1
IVM_BUILD_ONLY=${IVM_BUILD_ONLY:-}

step "$MODE: suite $SUITE${IVM_BUILD_ONLY:+ (build only)}, cache $IVM_CACHE"
"$IVM_SCRIPTS/host-deps.sh" || die "host packages missing"
"$IVM_SCRIPTS/image.sh" || die "no guest image for $SUITE"
IMG=$(ivm_image_dir)
ROOT=$IMG/rootfs
KVER=$(cat "$IMG/kver")
# KERNEL=debug: boot the debug/IOMMUFD kernel built from the suite's linux-source (scripts/kernel.sh) instead of
# the image's own; modules and tests are built against it in the image's chroot with its overlay on top
KERNEL=${KERNEL:-stock}
LANE=$SUITE
VMLINUZ=$IMG/vmlinuz INITRD=$IMG/initrd.img KD=
case $KERNEL in
stock) ;;
debug)
	"$IVM_SCRIPTS/kernel.sh" || die "no debug kernel for $SUITE"
	KD=$(ivm_kernel_dir)
	KVER=$(cat "$KD/kver") VMLINUZ=$KD/vmlinuz INITRD='' LANE=$SUITE-debug
	export IVM_CHROOT_OVER=$KD/upper
	;;
*) die "KERNEL=$KERNEL: want stock (the image's kernel) or debug (scripts/kernel.sh)" ;;
esac

# ---- run directory ---------------------------------------------------------------------------------------------------
mkdir -p "$IVM_CACHE/runs"
# keep the newest 12 runs for post-mortems, and never remove the directory of a run that is still going
ls -1dt "$IVM_CACHE"/runs/*/ 2>/dev/null | tail -n +12 | while read -r d; do
	[ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null && continue
	rm -rf "$d"
done
RUN=$(mktemp -d "$IVM_CACHE/runs/$LANE-$MODE-$(date +%Y%m%d-%H%M%S)-XXXX")
echo $$ > "$RUN/pid"
# a caller that wants to find this run's results (scripts/bench.sh) names a file for its path
[ -n "${IVM_RUN_NOTE:-}" ] && echo "$RUN" > "$IVM_RUN_NOTE"
SH=$RUN/share
mkdir -p "$SH/results" "$SH/guest" "$SH/src" "$RUN/kselftest"
HSTEPS=$RUN/host-steps.tsv
: > "$HSTEPS"
hstep() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >> "$HSTEPS"; info "$1: $2${3:+ ($3)}"; }
if [ -n "$KD" ]; then
	# the debug kernel's modules reach the guest on the share (scripts/guest/init.sh mounts them at /lib/modules)
	mkdir -p "$SH/kmods"
	for m in "$KD/upper/usr/lib/modules/$KVER" "$KD/upper/lib/modules/$KVER"; do
		[ -d "$m" ] && cp -al "$m" "$SH/kmods/" && break
	done
	[ -d "$SH/kmods/$KVER" ] || die "the debug kernel $KVER has no modules in $KD/upper"
fi
{ echo "mode=$MODE"; echo "suite=$SUITE"; echo "lane=$LANE"; echo "kernel=$KERNEL"; echo "kver=$KVER"; echo "test_timeout=$IVM_TEST_TIMEOUT"
  echo "timeout=$IVM_TIMEOUT"; echo "stall=$IVM_STALL"; echo "test_stall=$IVM_TEST_STALL"; echo "build_only=$IVM_BUILD_ONLY"; echo "only=${IVM_ONLY:-}"; } > "$RUN/meta"
info "run directory: $RUN"

# ---- copy the work tree (not .git, not host build products) and build it in the image's chroot ------------------------
step "build: module and tests for $KVER in a chroot of the $SUITE image"
# the work tree as git sees it: tracked and new files, without what .gitignore names (host build products)
if git -C "$IVM_REPO" rev-parse --git-dir > /dev/null 2>&1; then
	git -C "$IVM_REPO" ls-files -z --cached --others --exclude-standard |
		(cd "$IVM_REPO" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh) |
		tar -C "$IVM_REPO" --null -T - -cf - | tar -C "$SH/src" -xf -
else
	tar -C "$IVM_REPO" --exclude=./.git --exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude='modules.order' --exclude=Module.symvers -cf - . | tar -C "$SH/src" -xf -
fi
cp "$IMG"/kselftest/kselftest*.h "$RUN/kselftest/"
# IVM_MUTATE=<NAME>: break the run's copy of the driver with tools/mutants/<NAME>.patch (scripts/mutants.sh)
if [ -n "${IVM_MUTATE:-}" ]; then
	mp=tools/mutants/$IVM_MUTATE.patch
	[ -f "$SH/src/$mp" ] || die "IVM_MUTATE=$IVM_MUTATE: no $mp"
	command -v patch > /dev/null || die "IVM_MUTATE needs patch(1) on the host (apt-get install patch)"
	if ! out=$(patch -d "$SH/src" -p1 --batch --forward --no-backup-if-mismatch < "$SH/src/$mp" 2>&1); then
		hstep fail "apply $mp" "$(echo "$out" | tail -3 | tr '\n' ' ' | cut -c1-300)"
		die "IVM_MUTATE=$IVM_MUTATE: $mp does not apply to this tree: $(echo "$out" | tail -3 | tr '\n' ' ')"
	fi
	echo "mutate=$IVM_MUTATE" >> "$RUN/meta"
	hstep ok "apply $mp" "a deliberately broken driver"
fi
KDIR=/lib/modules/$KVER/build
# build LOGNAME COMMAND: run in the chroot (the run dir is /mnt/ivm there), log to $RUN/build-LOGNAME.log
build() {
	ivm_chroot "$ROOT" "$RUN" "$2" > "$RUN/build-$1.log" 2>&1
}
# first error lines of a build log, on one line
build_err() {
	{ grep -E 'error|Error|No rule|not found|undefined' "$RUN/build-$1.log" || tail -3 "$RUN/build-$1.log"; } |
		head -3 | sed 's#/mnt/ivm/share/src/##g' | tr '\n' ' ' | cut -c1-400
}

KO=
if [ -n "${IVM_KO:-}" ]; then
	cp "$IVM_KO" "$SH/override.ko" || die "IVM_KO=$IVM_KO: cannot read it"
	KO=override.ko
	hstep skip "build $IVM_KO_NAME.ko" "using IVM_KO=$IVM_KO instead"
else
	t=$(date +%s)
	# IVM_MAKEFLAGS: more make arguments
	# the module only (tools/vfio-migctl, the rest of the top-level 'all', is built with tools/selftests)
	if build module "make -C /mnt/ivm/share/src KDIR=$KDIR -j$(nproc) ${IVM_MAKEFLAGS:-} modules" && [ -f "$SH/src/$IVM_KO_NAME.ko" ]; then
		KO=src/$IVM_KO_NAME.ko
		hstep ok "build $IVM_KO_NAME.ko" "$(( $(date +%s) - t )) s"
	else
		hstep fail "build $IVM_KO_NAME.ko" "$(build_err module); log: $RUN/build-module.log"
	fi
fi

# test programs, in run order: harness sanity tests, tools/selftests (its 'list'), then EXTRA_TESTS
PLAN=$SH/plan.tsv
: > "$PLAN"
n=0
# plan NAME PATH [WHERE]: one program of the run; IVM_ONLY=<extended regex> keeps only the names it matches
plan() {
	[ -n "${IVM_ONLY:-}" ] && ! [[ $1 =~ $IVM_ONLY ]] && return 1
	n=$((n + 1)); printf '%02d\t%s\t%s\t%s\n' "$n" "$1" "$2" "${3:-guest}" >> "$PLAN"
}
# tools/unit: userspace unit tests of pure driver logic, built and run in the image's chroot (no VM needed)
if [ -f "$SH/src/tools/unit/Makefile" ] && [ "$MODE" = check ]; then
	if build unit "make -C /mnt/ivm/share/src/tools/unit KSFT_INC=/mnt/ivm/kselftest -j$(nproc)" &&
		ivm_chroot "$ROOT" "$RUN" "make -s -C /mnt/ivm/share/src/tools/unit list" > "$RUN/unit.list" 2>> "$RUN/build-unit.log"; then
		hstep ok "build tools/unit"
		while read -r p; do
			[ -n "$p" ] || continue
			plan "unit/$p" "src/tools/unit/$p" chroot || continue
			idx=$(printf %02d "$n")
			info "run unit/$p in the chroot"
			t=$(date +%s%N)
			tmo=$IVM_TEST_TIMEOUT; [ "$tmo" -gt 0 ] 2>/dev/null || tmo=0
			ivm_chroot "$ROOT" "$RUN" "cd /mnt/ivm/share/src/tools/unit && exec timeout -k 10 $tmo ./$p" \
				< /dev/null > "$SH/results/$idx.out" 2>&1
			echo "$? $(( ($(date +%s%N) - t) / 1000000 ))" > "$SH/results/$idx.rc"
		done < "$RUN/unit.list"
	else
		hstep fail "build tools/unit" "$(build_err unit); log: $RUN/build-unit.log"
	fi
fi
for f in "$SH"/src/scripts/tests/*; do
	[ -f "$f" ] && [ -x "$f" ] && { plan "harness/$(basename "$f")" "src/scripts/tests/$(basename "$f")" || :; }
done
if [ "$MODE" = demo ] || [ "$MODE" = bench ]; then
	:   # only the one program runs
else
	# tools/selftests (uAPI-level tests), then tools/e2e (nested QEMU migrations): each lists its programs
	for suite in selftests e2e; do
		d=tools/$suite
		if [ "$suite" = selftests ] && [ -n "${IVM_NO_SELFTESTS:-}" ]; then
			hstep skip "build $d" "IVM_NO_SELFTESTS is set"; continue
		elif [ "$suite" = e2e ] && [ -n "${IVM_NO_E2E:-}" ]; then
			hstep skip "build $d" "IVM_NO_E2E is set"; continue
		elif [ ! -f "$SH/src/$d/Makefile" ]; then
			hstep skip "build $d" "no $d/Makefile"; continue
		fi
		t=$(date +%s)
		if ! build "$suite" "make -C /mnt/ivm/share/src/$d KSFT_INC=/mnt/ivm/kselftest -j$(nproc)"; then
			hstep fail "build $d" "$(build_err "$suite"); log: $RUN/build-$suite.log"; continue
		fi
		hstep ok "build $d" "$(( $(date +%s) - t )) s"
		if ! ivm_chroot "$ROOT" "$RUN" "make -s -C /mnt/ivm/share/src/$d list" > "$RUN/$suite.list" 2> "$RUN/build-list.log"; then
			hstep fail "list $d" "$(head -c 300 "$RUN/build-list.log")"; continue
		fi
		c=0
		while read -r p; do
			[ -n "$p" ] || continue
			c=$((c + 1))
			plan "$suite/$p" "src/$d/$p" || :
		done < "$RUN/$suite.list"
		[ "$c" -gt 0 ] || hstep fail "list $d" "'make -s -C $d list' printed no programs"
	done
fi
if [ -n "${EXTRA_TESTS:-}" ]; then
	[ -d "$EXTRA_TESTS" ] || die "EXTRA_TESTS=$EXTRA_TESTS is not a directory"
	mkdir -p "$SH/extra"
	cp -a "$EXTRA_TESTS"/. "$SH/extra/"
	c=0
	for f in "$SH"/extra/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		c=$((c + 1))
		plan "extra/$(basename "$f")" "extra/$(basename "$f")" || :
	done
	[ "$c" -gt 0 ] || hstep fail "EXTRA_TESTS" "no executable files in $EXTRA_TESTS"
fi

# selftests/ivshmem_package_test's package: `make deb` (Debian's dpkg-buildpackage, debhelper and dh-dkms) in the
# image's chroot, as a user runs it on a build machine; under TCG the same perl took 150-300 s of a guest. The guest
# installs it (its dkms builds the module there) and runs `make deb` itself only when this one is missing.
if grep -q $'\tselftests/ivshmem_package_test\t' "$PLAN"; then
	t=$(date +%s)
	if build deb "rm -rf /mnt/ivm/deb-build && make -C /mnt/ivm/share/src deb DEB_BUILD=/mnt/ivm/deb-build" &&
		mkdir -p "$SH/deb" && cp "$RUN"/deb-build/*.deb "$SH/deb/"; then
		hstep ok "build the Debian package (make deb)" "$(cd "$SH/deb" && echo *.deb), $(( $(date +%s) - t )) s"
	else
		hstep fail "build the Debian package (make deb)" "$(build_err deb); log: $RUN/build-deb.log"
	fi
fi

# the set of test programs is checked against tools/test-programs.txt (IVM_PROGRAMS_LIST: another list), so that a
# program dropped from a Makefile's list fails the run instead of quietly shrinking it; only the parts of the plan
# that were meant to be complete (no IVM_ONLY, IVM_NO_SELFTESTS, IVM_NO_E2E) are compared
if [ "$MODE" = check ] && [ -z "${IVM_ONLY:-}" ]; then
	plist=${IVM_PROGRAMS_LIST:-$SH/src/tools/test-programs.txt}
	if [ ! -f "$plist" ]; then
		hstep fail "test programs as listed" "no list $plist"
	else
		parts='unit|harness|selftests|e2e'
		[ -n "${IVM_NO_SELFTESTS:-}" ] && parts=${parts/|selftests/}
		[ -n "${IVM_NO_E2E:-}" ] && parts=${parts/|e2e/}
		want=$(grep -vE '^[[:space:]]*(#|$)' "$plist" | awk '{ print $1 }' | grep -E "^($parts)/" | sort -u)
		have=$(cut -f2 "$PLAN" | grep -E "^($parts)/" | sort -u)
		gone=$(comm -23 <(echo "$want") <(echo "$have") | grep . | paste -sd ' ')
		new=$(comm -13 <(echo "$want") <(echo "$have") | grep . | paste -sd ' ')
		if [ -z "$gone$new" ]; then
			hstep ok "test programs as listed" "$(echo "$have" | grep -c .) programs, ${plist#"$SH/src/"}"
		else
			hstep fail "test programs as listed" "${gone:+listed but not planned: $gone; }${new:+planned but not listed: $new; }list: ${plist#"$SH/src/"}"
		fi
	fi
fi
# expected skips of this lane (scripts/verdict.sh holds every skip against them), plus IVM_SKIPS files
{ cat "$SH/src/tools/skips/$LANE.txt" 2>/dev/null; for f in ${IVM_SKIPS:-}; do cat "$f" || die "IVM_SKIPS: cannot read $f"; done; } > "$RUN/skips.txt"
echo "skips_from=tools/skips/$LANE.txt${IVM_SKIPS:+ (+ IVM_SKIPS)}" >> "$RUN/meta"
[ -f "$SH/src/tools/skips/$LANE.txt" ] || info "no tools/skips/$LANE.txt: every skip fails the run"

# harness self-test kernel modules (scripts/tests/kmods/<name>), built and loaded after ours
TEST_KMODS=
for k in ${IVM_TEST_KMODS:-}; do
	if build "kmod-$k" "make -C $KDIR M=/mnt/ivm/share/src/scripts/tests/kmods/$k modules" &&
		ko=$(ls "$SH"/src/scripts/tests/kmods/"$k"/*.ko 2>/dev/null | head -1) && [ -n "$ko" ]; then
		TEST_KMODS="$TEST_KMODS ${ko#"$SH"/}"
		hstep ok "build test module $k"
	else
		hstep fail "build test module $k" "$(build_err "kmod-$k")"
	fi
done

# mtty, upstream's migration sample driver (samples/vfio-mdev/mtty.c from the image's linux-source, see
# scripts/image.sh), built for the image's kernel: vfio_mig_conformance runs against it as a second driver
MTTY_KO=
if [ "$MODE" = check ] || [ "$MODE" = build ] || [ "$MODE" = shell ]; then
	if [ ! -f "$IMG/mtty/mtty.c" ]; then
		hstep fail "build mtty.ko" "the image has no mtty/mtty.c: rebuild it (IVM_REBUILD=1)"
	else
		mkdir -p "$SH/mtty"
		cp "$IMG/mtty/mtty.c" "$SH/mtty/"
		echo 'obj-m := mtty.o' > "$SH/mtty/Kbuild"
		t=$(date +%s)
		if build mtty "make -C $KDIR M=/mnt/ivm/share/mtty modules" && [ -f "$SH/mtty/mtty.ko" ]; then
			MTTY_KO=mtty/mtty.ko
			hstep ok "build mtty.ko" "$(( $(date +%s) - t )) s, mtty.c of $(xargs < "$IMG/mtty/SOURCE" | sed "s/Package: //; s/ Version: / /")"
		else
			hstep fail "build mtty.ko" "$(build_err mtty); log: $RUN/build-mtty.log"
		fi
	fi
fi

# demo / bench program (provided under tools/demo, tools/bench by the driver's author)
PROGRAM=
if [ "$MODE" = demo ] || [ "$MODE" = bench ]; then
	d=tools/$MODE
	if [ -f "$SH/src/$d/Makefile" ]; then
		if ! build "$MODE" "make -C /mnt/ivm/share/src/$d KSFT_INC=/mnt/ivm/kselftest"; then
			warn "make $MODE: building $d failed: $(build_err "$MODE")"
			warn "full log: $RUN/build-$MODE.log"
			exit 1
		fi
		hstep ok "build $d"
	fi
	if [ "$MODE" = demo ] && [ -f "$SH/src/tools/e2e/Makefile" ]; then
		if build e2e-demo "make -C /mnt/ivm/share/src/tools/e2e KSFT_INC=/mnt/ivm/kselftest qemu_mig_demo"; then
			hstep ok "build tools/e2e/qemu_mig_demo"
		else
			warn "make demo: building tools/e2e/qemu_mig_demo failed, the demo runs without live migration: $(build_err e2e-demo)"
		fi
	fi
	if [ "$MODE" = bench ] && [ -f "$SH/src/tools/e2e/Makefile" ] && [ "${IVM_BENCH_DOWNTIME:-1}" != 0 ]; then
		if build e2e-bench "make -C /mnt/ivm/share/src/tools/e2e KSFT_INC=/mnt/ivm/kselftest qemu_mig_downtime"; then
			hstep ok "build tools/e2e/qemu_mig_downtime"
		else
			warn "make bench: building tools/e2e/qemu_mig_downtime failed, no downtime part: $(build_err e2e-bench)"
		fi
	fi
	if [ "$MODE" = demo ] && [ -x "$SH/src/$d/$MODE" ]; then
		PROGRAM=guest/demo.sh    # tools/demo/demo, then the live migration of tools/e2e
	elif [ "$MODE" = bench ] && [ -x "$SH/src/$d/$MODE" ]; then
		PROGRAM=guest/bench.sh   # tools/bench/bench, then the downtime side by side of tools/e2e
	elif [ -x "$SH/src/$d/$MODE" ]; then
		PROGRAM=src/$d/$MODE
	else
		warn "make $MODE: $d/$MODE does not exist (yet): it is the driver author's program, built by 'make -C $d'"
		exit 1
	fi
fi

if [ -n "$IVM_BUILD_ONLY" ]; then
	step "build only ($SUITE): no VM boot"
	"$IVM_SCRIPTS/verdict.sh" "$RUN"
	exit $?
fi

# ---- guests: in check mode the guest programs are shared out among IVM_GUESTS VMs that run side by side ------------
# (each TCG guest keeps one host core busy; the programs need nothing from each other and every guest has its own
# devices). Longest first onto the least loaded guest, by the times the programs took in the newest earlier runs of
# this suite; without any history (a new machine, or IVM_HISTORY=0: what CI does), and for the programs no earlier
# run knows, by the estimates that
# tools/test-programs.txt keeps beside each program (seconds on a stock kernel and on the debug lane, measured under
# TCG); round robin in plan order when neither knows any program (IVM_ESTIMATES=0 leaves the estimates out).
# plan.tsv's 5th column names the guest (0: the chroot).
ivm_default_guests() {
	local n avail need
	n=$(nproc); [ "$n" -gt 4 ] && n=4
	# each guest: its RAM, its ivshmem backing files and QEMU itself
	avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
	need=$(( $(ivm_bytes "$IVM_MEM") / 1048576 + 2 * $(ivm_bytes "$IVM_BIG") / 1048576 + 512 ))
	while [ "$n" -gt 1 ] && [ $((n * need)) -gt "$avail" ]; do n=$((n - 1)); done
	echo "$n"
}
GUESTS=1
NPROG=$(awk -F'\t' '$4 == "guest"' "$PLAN" | wc -l)
if [ "$MODE" = check ]; then
	GUESTS=${IVM_GUESTS:-$(ivm_default_guests)}
	[[ $GUESTS =~ ^[1-9][0-9]*$ ]] || die "IVM_GUESTS=$GUESTS: want a number >= 1"
	[ "$GUESTS" -gt "$NPROG" ] && GUESTS=$NPROG
	[ "$GUESTS" -ge 1 ] || GUESTS=1
fi
# NAME<TAB>MS for each program of the newest 8 earlier check runs of this suite, newest first
run_history() {
	local d idx name ms
	for d in $(ls -1dt "$IVM_CACHE/runs/$LANE"-check-*/ 2>/dev/null | head -9); do
		[ "${d%/}" = "$RUN" ] && continue
		[ -f "$d/share/plan.tsv" ] || continue
		while IFS=$'\t' read -r idx name _; do
			[ -f "$d/share/results/$idx.rc" ] && read -r _ ms < "$d/share/results/$idx.rc" &&
				[[ $ms =~ ^[0-9]+$ ]] && printf '%s\t%s\n' "$name" "$ms"
		done < "$d/share/plan.tsv"
	done
}
# NAME<TAB>MS from the estimates of the program list (2nd column: stock kernel, 3rd: debug lane, in seconds; where
# the debug lane has none, 7 times the stock one: about what KASAN + lockdep cost the conformance suite)
estimates() {
	local debug=0
	[ "${KERNEL:-}" = debug ] && debug=1
	grep -vE '^[[:space:]]*(#|$)' "${IVM_PROGRAMS_LIST:-$SH/src/tools/test-programs.txt}" 2>/dev/null |
		awk -v OFS='\t' -v debug="$debug" '$2 ~ /^[0-9]+$/ { s = !debug ? $2 : ($3 ~ /^[0-9]+$/) ? $3 : 7 * $2; print $1, s * 1000 }'
}
if [ "${IVM_HISTORY:-1}" = 0 ]; then : > "$RUN/history.tsv"; else run_history > "$RUN/history.tsv"; fi
WEIGHTS="in earlier runs"
# the estimates come after the history: they weigh only the programs no earlier run knows (the first entry wins)
if [ "${IVM_ESTIMATES:-1}" != 0 ]; then
	[ -s "$RUN/history.tsv" ] || WEIGHTS="estimated (tools/test-programs.txt)"
	estimates >> "$RUN/history.tsv"
fi
awk -F'\t' -v OFS='\t' -v guests="$GUESTS" '
	FILENAME == ARGV[1] { if (!($1 in w)) w[$1] = $2; next }   # (not FNR == NR: the history may be empty)
	{ row[++n] = $0; name[n] = $2; where[n] = $4 }
	END {
		for (i = 1; i <= n; i++) if (where[i] == "guest") {
			if (name[i] in w) { sum += w[name[i]]; kn++ }
			g[++m] = i
		}
		mean = kn ? sum / kn : 1000
		for (j = 1; j <= m; j++) { i = g[j]; wt[i] = (name[i] in w) ? w[name[i]] : mean }
		if (kn) {
			for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++)
				if (wt[g[b]] > wt[g[a]] || (wt[g[b]] == wt[g[a]] && g[b] < g[a])) { t = g[a]; g[a] = g[b]; g[b] = t }
			for (j = 1; j <= m; j++) {
				best = 1
				for (k = 2; k <= guests; k++) if (load[k] < load[best]) best = k
				to[g[j]] = best; load[best] += wt[g[j]]
			}
		} else {
			for (j = 1; j <= m; j++) to[g[j]] = (j - 1) % guests + 1
		}
		for (i = 1; i <= n; i++) {
			split(row[i], f, "\t")
			print f[1], f[2], f[3], f[4], (where[i] == "guest") ? to[i] : 0
		}
	}' "$RUN/history.tsv" "$PLAN" > "$PLAN.new"
# the same programs in the same order, each with a guest: anything else is a harness bug, never a smaller plan
[ "$(cut -f1-4 "$PLAN.new")" = "$(cat "$PLAN")" ] && ! awk -F'\t' -v g="$GUESTS" \
	'NF != 5 || ($4 == "guest" ? $5 < 1 || $5 > g : $5 != 0) { bad = 1 } END { exit !bad }' "$PLAN.new" ||
	die "sharing the plan among $GUESTS guests went wrong: compare $PLAN and $PLAN.new"
mv "$PLAN.new" "$PLAN"
echo "guests=$GUESTS" >> "$RUN/meta"
if [ "$GUESTS" -gt 1 ]; then
	if [ ! -s "$RUN/history.tsv" ]; then
		info "no earlier run times${IVM_HISTORY:+ (IVM_HISTORY=$IVM_HISTORY)} and no estimates: programs shared round robin"
	elif [ "$WEIGHTS" != "in earlier runs" ]; then
		info "no earlier run times${IVM_HISTORY:+ (IVM_HISTORY=$IVM_HISTORY)}: programs shared by the estimates of tools/test-programs.txt"
	fi
	for k in $(seq "$GUESTS"); do
		info "guest $k of $GUESTS: $(awk -F'\t' -v k="$k" -v how="$WEIGHTS" 'FILENAME == ARGV[1] { if (!($1 in w)) w[$1] = $2; next }
			$5 == k { c++; if ($2 in w) s += w[$2]; else u++ }
			END { printf "%d programs", c; if (s) printf ", ~%d s %s", s / 1000, how
				if (u) printf " (%d %s)", u, (how ~ /^in/) ? "new" : "without an estimate" }' \
			"$RUN/history.tsv" "$PLAN")"
	done
fi

# ---- devices (the same set in every guest) --------------------------------------------------------------------------
pow2() { local b; b=$(ivm_bytes "$1"); [ $((b & (b - 1))) = 0 ] && [ "$b" -ge 4096 ] || die "size $1 must be a power of two >= 4K"; echo "$b"; }
S_SMALL=$(pow2 "$IVM_SMALL") || exit 2
S_MIS=$(pow2 "$IVM_MISMATCH") || exit 2
S_BIG=$(pow2 "$IVM_BIG") || exit 2
NAMES=(A B C BIG_A BIG_B)
SIZES=("$S_SMALL" "$S_SMALL" "$S_MIS" "$S_BIG" "$S_BIG")
RUNID="$$-$(basename "$RUN" | tr -dc 'A-Za-z0-9' | tail -c 4)"
DEVLIST=
for i in "${!NAMES[@]}"; do DEVLIST="$DEVLIST ${NAMES[$i]}@0000:00:$(printf %02x $((0x10 + i))).0@${SIZES[$i]}"; done
DEVLIST="$DEVLIST NORESET@pci0000:00@$S_SMALL DOORBELL@0000:00:17.0@$S_SMALL"
SHMS=()
STUB_PIDS=()
gcc -O2 -Wall -o "$RUN/ivshmem-stub-server" "$IVM_SCRIPTS/ivshmem-stub-server.c" > "$RUN/build-stub.log" 2>&1 ||
	die "building scripts/ivshmem-stub-server.c failed: $(tail -3 "$RUN/build-stub.log")"
# guest_devargs K: fills DEVARGS with guest K's devices (its own backing files and doorbell server)
guest_devargs() {
	local k=$1 i slot shm sock
	DEVARGS=()
	for i in "${!NAMES[@]}"; do
		slot=$((0x10 + i))
		shm=/dev/shm/ivm-$RUNID-g$k-${NAMES[$i]}
		SHMS+=("$shm")
		DEVARGS+=(-device "pcie-root-port,id=rp$i,bus=pcie.0,addr=$(printf 0x%x $slot),chassis=$((i + 1)),slot=$((i + 1))"
			-object "memory-backend-file,id=ivmem$i,size=${SIZES[$i]},mem-path=$shm,share=on"
			-device "ivshmem-plain,id=ivshmem_${NAMES[$i]},memdev=ivmem$i,bus=rp$i")
	done
	# Outside the migration set: NORESET, an ivshmem-plain directly on the root complex, where the PCI core has
	# no reset method (the driver resets it itself), and DOORBELL, an ivshmem-doorbell (MSI-X, BAR1) that the
	# driver binds without migration support. Debian's QEMU ships no ivshmem-server, so a stub serves its memory.
	shm=/dev/shm/ivm-$RUNID-g$k-NORESET
	SHMS+=("$shm")
	DEVARGS+=(-object "memory-backend-file,id=ivmemnr,size=$S_SMALL,mem-path=$shm,share=on"
		-device "ivshmem-plain,id=ivshmem_NORESET,memdev=ivmemnr,bus=pcie.0,addr=0x18")
	sock=$RUN/doorbell-$k.sock
	"$RUN/ivshmem-stub-server" "$sock" "$S_SMALL" 1 2>> "$RUN/build-stub.log" &
	STUB_PIDS+=($!)
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	[ -S "$sock" ] || die "the ivshmem stub server did not start: $(cat "$RUN/build-stub.log")"
	DEVARGS+=(-device "pcie-root-port,id=rpdb,bus=pcie.0,addr=0x17,chassis=9,slot=9"
		-chardev "socket,id=ivdb,path=$sock"
		-device "ivshmem-doorbell,id=ivshmem_DOORBELL,chardev=ivdb,vectors=1,bus=rpdb")
}
cleanup() {
	local f
	for f in "$RUN"/guest-*.pid; do [ -f "$f" ] && kill -TERM "$(cat "$f")" 2> /dev/null; done
	rm -f "${SHMS[@]}"
	[ ${#STUB_PIDS[@]} -gt 0 ] && kill "${STUB_PIDS[@]}" 2> /dev/null
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# ---- guest configuration (one for all guests; each learns its number K from ivm.guest=K on its command line) -----
cp "$IVM_SCRIPTS/guest/init.sh" "$IVM_SCRIPTS/guest/demo.sh" "$IVM_SCRIPTS/guest/bench.sh" "$IVM_SCRIPTS/bind.sh" "$SH/guest/"
chmod +x "$SH/guest/"*
rows='' cols=''
if [ "$MODE" = shell ] && [ -t 0 ]; then read -r rows cols < <(stty size 2>/dev/null) || true; fi
cat > "$SH/ivm.conf" <<CONF
IVM_MODE=$MODE
IVM_SUITE=$SUITE
IVM_KERNEL=$KERNEL
IVM_DRIVER=$IVM_DRIVER
IVM_KO_NAME=$IVM_KO_NAME
IVM_KO=$KO
IVM_TEST_KMODS="$TEST_KMODS"
IVM_TEST_KMOD_ARGS="${IVM_TEST_KMOD_ARGS:-}"
IVM_MTTY_KO=$MTTY_KO
IVM_TEST_TIMEOUT=$IVM_TEST_TIMEOUT
IVM_TEST_STALL=$IVM_TEST_STALL
IVM_DEVICES="${DEVLIST# }"
IVM_GUESTS=$GUESTS
IVSHMEM_SIZE_SMALL=$S_SMALL
IVSHMEM_SIZE_MISMATCH=$S_MIS
IVSHMEM_SIZE_BIG=$S_BIG
IVM_PROGRAM=$PROGRAM
IVM_ROWS=$rows
IVM_COLS=$cols
IVM_TERM=${TERM:-linux}
CONF
# settings for the demo / bench programs, and for the test programs (E2E_*, VMT_SEED), pass through to the guest
env | grep -E '^(IVM_(BENCH|DEMO)_[A-Z0-9_]+|E2E_[A-Z0-9_]+|VMT_SEED)=' | sed -E "s/^([^=]+)=(.*)$/export \1='\2'/" >> "$SH/ivm.conf"

# ---- boot ------------------------------------------------------------------------------------------------------------
# no_timer_check: on a loaded host TCG can miss the boot-time IO-APIC timer check, which then panics.
# panic=-1 + -no-reboot: a panic ends QEMU at once; oops/soft lockup/hung task become panics; KFENCE and SLUB
# debugging (F: sanity checks, Z: red zones, P: poisoning) catch memory errors; printk.time marks kernel lines.
DEBUG="kfence.sample_interval=100 slub_debug=FZP"
[ "$MODE" = bench ] && [ -z "${IVM_BENCH_DEBUG:-}" ] && DEBUG=
# The debug kernel under TCG's -cpu max (which has LA57) reported, in one of two boots, a KASAN wild-memory-access
# in handle_edge_irq() during identify_cpu(), long before any vfio code runs (2026-12-02, 6.12.117): until that is
# understood, the lane boots with 4-level paging, which no test depends on.
[ "$KERNEL" = debug ] && DEBUG="$DEBUG no5lvl"
# watchdog_thresh=60 (soft lockup after 120 s, the kernel's longest): under TCG on a loaded host a vCPU thread can
# be off the host CPU for tens of seconds while guest time runs on, which the default 20 s calls a soft lockup (seen
# 2026-12-02 next to a CI run and a kernel build); a CPU really stuck in the kernel still is one after 120 s.
APPEND="console=ttyS0,115200 root=/dev/vda rw rootfstype=ext4 init=/sbin/ivm-init fsck.mode=skip \
intel_iommu=on panic=-1 oops=panic softlockup_panic=1 watchdog_thresh=60 hung_task_panic=1 no_timer_check $DEBUG \
printk.time=1 loglevel=7 net.ifnames=0 ${IVM_APPEND:-}"
# shellcheck disable=SC2207
ACCEL=($(ivm_accel_args))
# guest_qemu K: fills QEMU with guest K's command line
guest_qemu() {
	local k=$1
	guest_devargs "$k"
	QEMU=(qemu-system-x86_64 "${ACCEL[@]}" -m "$IVM_MEM" -smp "$IVM_SMP" -nodefaults -display none -no-reboot
		-device "intel-iommu,intremap=on,caching-mode=on"
		-kernel "$VMLINUZ" ${INITRD:+-initrd "$INITRD"} -append "$APPEND ivm.guest=$k"
		-drive "file=$IMG/rootfs.ext4,if=virtio,format=raw,snapshot=on,cache=unsafe"
		-virtfs "local,path=$SH,mount_tag=ivmshare,security_model=none,id=ivmshare"
		"${DEVARGS[@]}")
	echo "${QEMU[*]}" > "$RUN/qemu-cmdline-$k"
}
if [ "$GUESTS" -gt 1 ]; then what="$GUESTS guests side by side"; else what="the guest"; fi
step "boot: $what, $SUITE ($KVER, ${ACCEL[1]%%,*}, ${IVM_MEM} RAM, $IVM_SMP cpus each), devices A/B=$IVM_SMALL C=$IVM_MISMATCH BIG_A/BIG_B=$IVM_BIG"

if [ "$MODE" = shell ]; then
	[ -t 0 ] || die "make vm-shell needs a terminal"
	guest_qemu 1
	info "serial console on this terminal; Ctrl-A x quits QEMU, Ctrl-A h for help; log: $RUN/console-1.log"
	"${QEMU[@]}" -chardev "stdio,id=con,mux=on,signal=off,logfile=$RUN/console-1.log" -serial chardev:con -mon chardev=con
	echo "qemu_rc_1=$?" >> "$RUN/meta"
	exit 0
fi

# Show "ivm:" progress lines (and any kernel report) with host time, tagged with the guest's number when there are
# several; V=1 shows the whole console; in demo/bench mode the program's own output is shown as well.
show() {
	local k=$1 l t0=$((IVM_T0 / 1000)) d tag='' kre='^\[ *[0-9]+\.[0-9]+\]'
	local bad='WARNING:|BUG:|kernel BUG|\] BUG |Oops|Call Trace|circular locking|INFO: |KFENCE|blocked for more than|Kernel panic|general protection'
	[ "$GUESTS" -gt 1 ] && tag="g$k "
	while IFS= read -r l; do
		l=${l%$'\r'}
		d=$(( (${EPOCHREALTIME/./} - t0) / 100000 ))
		if [ -n "${V:-}" ] && [ "${V:-0}" != 0 ]; then printf '    [%4d.%ds] %s%s\n' $((d / 10)) $((d % 10)) "$tag" "$l"; continue; fi
		if [[ $l =~ $kre ]]; then
			[[ $l =~ $bad ]] && printf '    [%4d.%ds] %sguest kernel: %s\n' $((d / 10)) $((d % 10)) "$tag" "$l"
		elif [[ $l == ivm:* ]] || [ "$MODE" != check ]; then
			printf '    [%4d.%ds] %s%s\n' $((d / 10)) $((d % 10)) "$tag" "$l"
		fi
	done
}
# starved_ms QPID: how long (ms) the busiest thread of process QPID waited on a host run queue, runnable but not
# running, since the last call for the same process (per-thread schedstat; 0 where the kernel has none). A guest whose
# QEMU waits for a CPU is slow, not hung: the watchdog does not count that time.
declare -A WAIT_NS=()
starved_ms() {
	local qpid=$1 t w max=0 d
	for t in /proc/"$qpid"/task/*/schedstat; do
		read -r _ w _ < "$t" 2> /dev/null || continue
		d=$((w - ${WAIT_NS[$t]:-$w}))
		WAIT_NS[$t]=$w
		[ "$d" -gt "$max" ] && max=$d
	done
	echo $((max / 1000000))
}
# watch_guest K: the host's progress watchdog of guest K. The guest progresses while its serial console grows or its
# heartbeat file changes (touched by the guest's per-program watchdog whenever a program's output, CPU time or I/O
# moves, see scripts/guest/init.sh); IVM_STALL seconds without either end it ($RUN/stalled-K says so). Seconds in
# which the guest's QEMU waited for a host CPU (a shared, overloaded machine, a run at nice 19 beside others) do not
# count: only a guest that had the CPU and still did nothing is hung. IVM_TIMEOUT stays as an overall safety limit.
watch_guest() {
	local k=$1 sig last='' since=$SECONDS pid qpid starved=0
	for _ in $(seq 100); do [ -s "$RUN/guest-$k.pid" ] && break; sleep 0.1; done
	while pid=$(cat "$RUN/guest-$k.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; do
		sig="$(stat -c %s "$RUN/console-$k.log" 2>/dev/null) $(stat -c %Y "$SH/results/guest-$k/heartbeat" 2>/dev/null)"
		qpid=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null) qpid=${qpid%% *}
		[ -n "$qpid" ] && starved=$((starved + $(starved_ms "$qpid")))
		[ "$sig" != "$last" ] && last=$sig since=$SECONDS starved=0
		if [ "$IVM_STALL" -gt 0 ] && [ $((SECONDS - since - starved / 1000)) -ge "$IVM_STALL" ]; then
			echo "$((SECONDS - since))" > "$RUN/stalled-$k"
			[ "$starved" -ge 1000 ] && echo "$((starved / 1000))" > "$RUN/starved-$k"
			kill -TERM "$pid" 2>/dev/null
			return 0
		fi
		sleep 5
	done
}
t0=$(date +%s)
GPIDS=()
WPIDS=()
for k in $(seq "$GUESTS"); do
	guest_qemu "$k"
	# the timeout process writes its pid first so that cleanup can end the guest; the pipeline's status -> meta
	{
		sh -c 'echo $$ > "$0"; exec "$@"' "$RUN/guest-$k.pid" timeout -k 10 "$IVM_TIMEOUT" "${QEMU[@]}" \
			-chardev "stdio,id=con,signal=off,logfile=$RUN/console-$k.log" -serial chardev:con \
			< /dev/null 2> "$RUN/qemu-$k.stderr" | show "$k"
		qrc=${PIPESTATUS[0]}
		rm -f "$RUN/guest-$k.pid"
		printf 'qemu_rc_%s=%s\nguest_seconds_%s=%s\n' "$k" "$qrc" "$k" "$(( $(date +%s) - t0 ))" >> "$RUN/meta"
	} &
	GPIDS+=($!)
	watch_guest "$k" &
	WPIDS+=($!)
done
wait "${GPIDS[@]}"
kill "${WPIDS[@]}" 2> /dev/null
for k in $(seq "$GUESTS"); do
	[ -s "$RUN/qemu-$k.stderr" ] && sed "s/^/    qemu $k: /" "$RUN/qemu-$k.stderr" | head -5
	step "guest $k stopped after $(sed -n "s/^guest_seconds_$k=//p" "$RUN/meta") s (qemu exit $(sed -n "s/^qemu_rc_$k=//p" "$RUN/meta"))"
done
cleanup
"$IVM_SCRIPTS/verdict.sh" "$RUN"
