#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-report.sh DIR: the downtime figures of make bench. Reads the "# dt: ..." lines of DIR/bench-*.out (the
# output of tools/e2e/qemu_mig_downtime, one line per migration) and writes DIR/downtime.tsv (every migration),
# DIR/summary.tsv (medians with min and max per size, load and path, and the ratio passthrough / emulated),
# DIR/summary.rst (that table for the documentation) and the plot DIR/downtime.svg and .png (gnuplot). Lane and
# command line for the table's caption: $BENCH_LANE and $BENCH_CMD. Exits non-zero when there are no figures or
# the plot fails.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
OUT=${1:?usage: bench-report.sh DIR}
lane=${BENCH_LANE:-?}
rc=0
# "# dt: path=... load=... size=... rep=... ok=... downtime_ms=..." lines -> TSV (one line per migration)
cols="size path load rep ok downtime_ms total_ms setup_ms stream_bytes device_bytes ram_bytes ram_after_bytes device_after_bytes writes"
{
	echo "$cols" | tr ' ' '\t'
	cat "$OUT"/bench-*.out 2>/dev/null | sed -n 's/^# dt: //p' | awk -v cols="$cols" '
		{ delete f; for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); f[k] = v }
		  n = split(cols, c, " "); line = f[c[1]]
		  for (i = 2; i <= n; i++) line = line "\t" f[c[i]]
		  print line }' | sort -t "$(printf '\t')" -k1,1n -k3,3r -k2,2 -k4,4n
} > "$OUT/downtime.tsv"
nrun=$(($(wc -l < "$OUT/downtime.tsv") - 1))
if [ "$nrun" -le 0 ]; then
	warn "no downtime figures (no '# dt:' lines in $OUT/bench-*.out)"
	exit 1
fi

# medians per (size, load, path) over the successful runs; mawk has no asort, so a small insertion sort
awk -F'\t' '
function med(key,   n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	lo = a[1]; hi = a[n]; cnt = n
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
NR == 1 { next }
$5 == 1 {
	k = $1 SUBSEP $3 SUBSEP $2
	vals[k] = vals[k] " " $6; tot[k] = tot[k] " " $7; str[k] = str[k] " " $9; ras[k] = ras[k] " " $12
	das[k] = das[k] " " $13
	if (!(($1, $3) in seen)) { seen[$1, $3] = 1; order[++no] = $1 SUBSEP $3 }
}
$5 != 1 { failed++ }
END {
	print "size_mib\tload\tpath\tn\tdowntime_ms\tmin_ms\tmax_ms\ttotal_ms\tstream_mib\tram_at_stop_mib\tdev_at_stop_mib\tratio"
	for (o = 1; o <= no; o++) {
		split(order[o], sl, SUBSEP); de = ""
		for (p = 1; p <= 2; p++) {
			path = p == 1 ? "emulated" : "passthrough"; k = order[o] SUBSEP path
			if (!(k in vals)) continue
			d = med(k); l = lo; h = hi; n = cnt
			vals["t"] = tot[k]; t = med("t"); vals["s"] = str[k]; s = med("s")
			vals["r"] = ras[k]; r = med("r"); vals["v"] = das[k]; v = med("v")
			if (p == 1) de = d
			ratio = (p == 2 && de > 0) ? sprintf("%.2f", d / de) : "-"
			printf "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s\n", sl[1] / 1048576, sl[2], path, n, d, l, h, t,
				s / 1048576, r / 1048576, v / 1048576, ratio
		}
	}
	if (failed) printf "# %d migration(s) failed their checks and are left out\n", failed > "/dev/stderr"
}' "$OUT/downtime.tsv" > "$OUT/summary.tsv" || rc=1

# the table for the documentation (reStructuredText)
{
	echo "Lane: $lane ($(date -u +%Y-%m-%d)); medians over the repetitions of each row; 'RAM/dev at stop' is what"
	echo "moved after the last poll that saw the source run. Produced by: \`\`${BENCH_CMD:-make bench}\`\`."
	echo
	awk -F'\t' 'NR == 1 { next }
	{ r[NR] = sprintf("%8s %5s %12s %3s %13s %11s %9s %10s %11s %11s %8s", $1 " MiB", $2, $3, $4, $5, $6 "-" $7, $8, $9, $10, $11, $12) }
	END {
		sep = "======== ===== ============ === ============= =========== ========= ========== =========== =========== ========"
		print sep
		printf "%8s %5s %12s %3s %13s %11s %9s %10s %11s %11s %8s\n", "BAR2", "load", "path", "n", "downtime ms", "min-max", "total ms",
			"stream MiB", "RAM at stop", "dev at stop", "ratio"
		print sep
		for (i = 2; i <= NR; i++) print r[i]
		print sep
	}' "$OUT/summary.tsv"
} > "$OUT/summary.rst"
cat "$OUT/summary.rst"

# the plot: downtime (median, min-max bars) against BAR2 size, one line per path and load
if "$IVM_SCRIPTS/host-deps.sh" bench; then
	for l in idle busy; do
		for p in emulated passthrough; do
			awk -F'\t' -v l=$l -v p=$p 'NR > 1 && $2 == l && $3 == p { print $1, $5, $6, $7 }' "$OUT/summary.tsv" \
				> "$OUT/plot-$p-$l.dat"
		done
	done
	for term in "svg size 800,500 dynamic font 'sans,11'" "png size 800,500"; do
		ext=${term%% *}
		gnuplot <<GP 2> "$OUT/gnuplot-$ext.log" || { warn "gnuplot ($ext) failed: $(head -c 300 "$OUT/gnuplot-$ext.log")"; rc=1; }
set terminal $term
set output '$OUT/downtime.$ext'
set title "Migration downtime, ivshmem BAR2 as emulated RAM vs. passed through ($lane)"
set xlabel 'BAR2 size (MiB)'
set ylabel 'downtime (ms, median; bars: min-max)'
set logscale x 2
set logscale y 10
set grid
set key top left
set xrange [32:2048]
plot '$OUT/plot-emulated-idle.dat' using 1:2:3:4 with yerrorlines lw 2 title 'emulated, idle', \\
     '$OUT/plot-emulated-busy.dat' using 1:2:3:4 with yerrorlines lw 2 dt 2 title 'emulated, busy', \\
     '$OUT/plot-passthrough-idle.dat' using 1:2:3:4 with yerrorlines lw 2 title 'passthrough, idle', \\
     '$OUT/plot-passthrough-busy.dat' using 1:2:3:4 with yerrorlines lw 2 dt 2 title 'passthrough, busy'
GP
	done
	[ -s "$OUT/downtime.svg" ] && info "plot: $OUT/downtime.svg, $OUT/downtime.png"
else
	warn "no gnuplot (scripts/host-deps.sh bench needs root): no plot"
fi
exit $rc
