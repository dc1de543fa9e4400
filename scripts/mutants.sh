#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Mutation testing (make mutants): does the test suite catch deliberately broken drivers?
#   scripts/mutants.sh                  every tools/mutants/<NAME>.patch on SUITE (default trixie)
#   MUTANTS="A B" SUITES="trixie sid"   a subset, several suites ("trixie-debug": SUITE=trixie KERNEL=debug)
#   MUTANTS_FULL=1                      run the whole suite per mutation instead of its caught-by programs
#   MUTANTS_README=1                    afterwards rewrite the mutation tables of tools/selftests/README and
#                                       tools/e2e/README from this run
#   scripts/mutants.sh --readme DIR...  rewrite them from earlier runs (their results.tsv; later DIRs win)
# Per suite, one unmutated baseline run of the same program selection comes first: if it fails, a mutant's failure
# would prove nothing, so the script reports that and stops. Then one scripts/vm.sh check per mutation with
# IVM_MUTATE=<NAME> and IVM_ONLY=<the patch's caught-by programs + the harness sanity program>. A mutation is caught
# when its run's verdict has at least one failure. Prints the table (mutation | suite | caught / NOT CAUGHT / n/a |
# by: the first failing tests) and the line "N passed, N failed, N skipped" (passed = caught, skipped = n/a: the
# patch names the suite as one whose kernel lacks the code path); exits non-zero if a mutation was not caught, its
# patch did not apply or the mutated driver did not build. The table, the logs and results.tsv are kept in
# $IVM_CACHE/mutants-<time>/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
MDIR=$IVM_REPO/tools/mutants
SANITY=harness/ivm_sanity.sh

hdr() { sed -n "s/^# $1: //p" "$2" | head -1; }   # FIELD PATCH: a header line of a mutation patch
na_reason() { # PATCH SUITE: the reason if the patch says its code path does not exist there
	local l suites
	while IFS= read -r l; do
		suites=${l%%:*}
		[[ " $suites " == *" $2 "* ]] && { echo "${l#*: }"; return 0; }
	done < <(sed -n 's/^# n\/a: //p' "$1")
	return 1
}
# regex PROGRAM...: an IVM_ONLY regex matching exactly these plan names
regex() { local p r=; for p in "$@"; do r="$r${r:+|}${p//./\\.}"; done; echo "^($r)\$"; }

# ---- README tables ----------------------------------------------------------------------------------------------
# replace_block FILE TEXT: TEXT between the lines "<mutants table>" and "</mutants table>" of FILE
replace_block() {
	local f=$1 text=$2
	if ! grep -q '^<mutants table>$' "$f" || ! grep -q '^</mutants table>$' "$f"; then
		warn "$f has no <mutants table> block"; return 1
	fi
	awk -v text="$text" '/^<mutants table>$/ { print; print text; skip = 1; next }
		/^<\/mutants table>$/ { skip = 0 } !skip' "$f" > "$f.new" && mv "$f.new" "$f"
}
# readme_table AREA TSV...: the table for tools/AREA/README (selftests: every mutation; e2e: those it is meant to catch)
readme_table() {
	local area=$1
	shift
	awk -F'\t' -v area="$area" '
		{ key = $1 SUBSEP $2; if (!(key in st)) { if (!($1 in seen)) { seen[$1] = 1; muts[nm++] = $1 }
			if (!($2 in sseen)) { sseen[$2] = 1; suites[ns++] = $2 } }
		  st[key] = $3; why[key] = $4; bysel[key] = $5; bye2e[key] = $6; what[$1] = $7; cby[$1] = $8 }
		END {
			for (i = 0; i < nm; i++) {
				m = muts[i]
				if (area == "e2e" && cby[m] !~ /e2e\//) continue
				printf "%s%s: %s\n", (cnt++ ? "\n" : ""), m, what[m]
				for (j = 0; j < ns; j++) {
					key = m SUBSEP suites[j]
					if (!(key in st)) continue
					r = st[key]
					by = (area == "e2e") ? bye2e[key] : bysel[key]
					if (r != "caught") by = why[key]
					else if (by == "") by = "(only by other programs: " why[key] ")"
					printf "  %-9s %-11s %s\n", suites[j], r, by
				}
			}
		}' "$@" | fold -s -w 116 | sed -E 's/ +$//; /^$/b; /^(  [a-z]+ |[A-Z0-9_]+:)/!s/^/                        /'
}
readme() { # TSV...
	local sel e2e
	sel=$(readme_table selftests "$@") && e2e=$(readme_table e2e "$@") || return 1
	replace_block "$IVM_REPO/tools/selftests/README" "$sel" &&
		replace_block "$IVM_REPO/tools/e2e/README" "$e2e" &&
		step "rewrote the mutation tables of tools/selftests/README and tools/e2e/README from: $*"
}
if [ "${1:-}" = --readme ]; then
	shift
	[ $# -gt 0 ] || die "usage: mutants.sh --readme RUN_DIR..."
	tsvs=()
	for d in "$@"; do [ -f "$d/results.tsv" ] || die "$d/results.tsv: no such file"; tsvs+=("$d/results.tsv"); done
	readme "${tsvs[@]}"
	exit $?
fi

# ---- the runs -----------------------------------------------------------------------------------------------------
if [ -n "${MUTANTS:-}" ]; then read -ra NAMES <<< "$MUTANTS"; else
	NAMES=()
	for p in "$MDIR"/*.patch; do [ -f "$p" ] && NAMES+=("$(basename "$p" .patch)"); done
fi
[ ${#NAMES[@]} -gt 0 ] || die "no mutations (tools/mutants/*.patch)"
for m in "${NAMES[@]}"; do
	p=$MDIR/$m.patch
	[ -f "$p" ] || die "MUTANTS: no $p"
	[ -n "$(hdr caught-by "$p")" ] || die "$p: no '# caught-by:' header line"
	[ -n "$(hdr breaks "$p")" ] || die "$p: no '# breaks:' header line"
done
read -ra SUITE_LIST <<< "${SUITES:-$SUITE}"
OUT=$IVM_CACHE/mutants-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" || die "cannot create $OUT"
TSV=$OUT/results.tsv
: > "$TSV"
step "mutants: ${NAMES[*]} on ${SUITE_LIST[*]}${MUTANTS_FULL:+ (whole suite each)}; results in $OUT"

# vmrun LOG NAME ONLY: one make check; prints nothing, leaves the output in LOG
vmrun() {
	local log=$1 mut=$2 only=$3
	local k=stock
	[[ $suite == *-debug ]] && k=debug   # a lane "<suite>-debug" is make check SUITE=<suite> KERNEL=debug
	IVM_MUTATE=$mut IVM_ONLY=$only SUITE=${suite%-debug} KERNEL=$k "$IVM_SCRIPTS/vm.sh" check < /dev/null > "$log" 2>&1
}
verdict_line() { grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$1" | tail -1; }
# first_fails LOG [PREFIX]: the first three failing tests (names only), "+N more" after them
first_fails() {
	grep -E "^FAIL  ${2:-}" "$1" | sed -E 's/^FAIL  //; /kernel log clean  -- /!s/  -- .*//; s/(kernel log clean)  -- (.{0,100}).*/\1 (\2)/' | awk '
		{ n++; if (n > 3) next
		  p = $0; t = ""; i = index($0, ": "); if (i) { p = substr($0, 1, i - 1); t = substr($0, i + 2) }
		  if (n > 1 && p == last && t != "") s = s ", " t; else s = s (n > 1 ? "; " : "") $0
		  last = p }
		END { if (n > 3) s = s sprintf(" (+%d more)", n - 3); print s }'
}

P=0 F=0 S=0
ROWS=()
row() { ROWS+=("$(printf '%-20s | %-8s | %-11s | %s' "$1" "$2" "$3" "$4")"); printf '    %-20s %-8s %-11s %s\n' "$1" "$2" "$3" "$4"; }
for suite in "${SUITE_LIST[@]}"; do
	# the programs of this suite's mutations (those whose code path exists here)
	progs=("$SANITY")
	for m in "${NAMES[@]}"; do
		na_reason "$MDIR/$m.patch" "$suite" > /dev/null && continue
		read -ra by <<< "$(hdr caught-by "$MDIR/$m.patch")"
		progs+=("${by[@]}")
	done
	mapfile -t progs < <(printf '%s\n' "${progs[@]}" | awk '!seen[$0]++')
	only=$(regex "${progs[@]}")
	[ -n "${MUTANTS_FULL:-}" ] && only=
	step "$suite: baseline (unmutated) run of ${only:-the whole suite}"
	log=$OUT/$suite-baseline.log
	vmrun "$log" "" "$only"
	v=$(verdict_line "$log")
	if [ -z "$v" ] || [[ ! $v =~ \ 0\ failed ]]; then
		grep -E '^FAIL  |^!!! ' "$log" | head -10
		warn "$suite: the unmutated baseline does not pass (${v:-no verdict}; log: $log)"
		warn "a mutant's failure would prove nothing there: stopping"
		exit 1
	fi
	info "baseline: $v"
	for m in "${NAMES[@]}"; do
		p=$MDIR/$m.patch
		what=$(hdr breaks "$p")
		cby=$(hdr caught-by "$p")
		if why=$(na_reason "$p" "$suite"); then
			S=$((S + 1)); row "$m" "$suite" "n/a" "$why"
			printf '%s\t%s\tn/a\t%s\t\t\t%s\t%s\n' "$m" "$suite" "$why" "$what" "$cby" >> "$TSV"
			continue
		fi
		read -ra by <<< "$cby"
		only=$(regex "$SANITY" "${by[@]}")
		[ -n "${MUTANTS_FULL:-}" ] && only=
		log=$OUT/$suite-$m.log
		step "$suite: $m ($what)"
		vmrun "$log" "$m" "$only"
		v=$(verdict_line "$log")
		sel=$(first_fails "$log" 'selftests/') e2e=$(first_fails "$log" 'e2e/') first=$(first_fails "$log")
		if grep -q "does not apply" "$log"; then
			st="PATCH FAILS" first="$(grep -m1 'does not apply' "$log" | cut -c1-200)"
		elif grep -q "^FAIL  harness: build $IVM_KO_NAME.ko" "$log"; then
			st="BUILD FAILS" first="$(grep -m1 "^FAIL  harness: build $IVM_KO_NAME.ko" "$log" | sed 's/^FAIL  //' | cut -c1-200)"
		elif [ -z "$v" ]; then
			st="NO VERDICT" first="see $log"
		elif [[ $v =~ \ 0\ failed ]]; then
			st="NOT CAUGHT" first="($v)"
		else
			st=caught
		fi
		if [ "$st" = caught ]; then P=$((P + 1)); else F=$((F + 1)); fi
		row "$m" "$suite" "$st" "$first"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$suite" "$st" "$first" "$sel" "$e2e" "$what" "$cby" >> "$TSV"
	done
done

{
	printf '%-20s | %-8s | %-11s | %s\n' mutation suite result "by (first failing tests)"
	printf '%s\n' "${ROWS[@]}"
	echo "$P passed, $F failed, $S skipped"
} > "$OUT/table.txt"
{
	echo "| mutation | suite | result | by (first failing tests) |"
	echo "| --- | --- | --- | --- |"
	printf '%s\n' "${ROWS[@]}" | sed -E 's/ +\| +/ | /g; s/^/| /; s/$/ |/'
} > "$OUT/table.md"
echo
echo "---- mutants (table: $OUT/table.txt, logs: $OUT/)"
head -n -1 "$OUT/table.txt"
[ -n "${MUTANTS_README:-}" ] && readme "$TSV"
echo "$P passed, $F failed, $S skipped"
[ "$F" = 0 ]
