// SPDX-License-Identifier: GPL-2.0
/*
 * Downtime side by side.  The same L2 (32 MiB of RAM, the capabilities
 * libvirt sets for pre-copy, return-path and switchover-ack, and the same
 * parameters, see dt_params()) migrates once with an emulated
 * ivshmem-plain of BIG_A's BAR2 size, which QEMU moves as guest RAM, and once
 * with BIG_A itself passed through this driver; idle, and busy: a writer
 * stores random 4 KiB blocks of BAR2 and new register values at a steady rate
 * while the migration runs.  Every migration is checked byte for byte like
 * the other scenarios (a step each); the timings are printed, never judged: a
 * "# dt:" line per migration (scripts/bench.sh collects them) and a table of
 * medians with the ratio passthrough / emulated.
 *
 * The writer writes only while the source runs, and a batch counts once a
 * later query-status still says "running": QEMU stops the VM and saves the
 * rest under its big lock, which also serialises qtest, so such a batch
 * preceded the stop and must arrive.  The batch the stop overtook may or may
 * not have arrived; the destination must hold a prefix of it.  The
 * passthrough writer stops when less than DT_MARGIN of the device's initial
 * data is left to send, because with switchover-ack the switchover comes only
 * after that and a write to a stopped device faults (SIGBUS, as the uAPI
 * allows).
 *
 * Settings: E2E_DT_REPS (1), E2E_DT_LOADS ("busy": make check runs the
 * short version; make bench passes "idle busy"), E2E_DT_PATHS
 * ("emulated passthrough"), E2E_DT_WRITE_KIBS (512, the writer's rate),
 * E2E_DT_BANDWIDTH (128 MiB/s), E2E_DT_SWITCHOVER_BW (MiB/s; default: see
 * dt_params()) and E2E_DT_DOWNTIME_LIMIT (300 ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "vmt_util.h"

#define DT_TICK_MS	100		/* the writer writes one batch per tick */
#define DT_POLL_MS	50		/* query-migrate / query-status */
#define DT_MARGIN	(4 * E2E_MiB)
#define DT_MAX_BATCH	64		/* 4 KiB blocks per batch */
#define DT_MAX_RUNS	256

struct dt_block {
	uint64_t off;
	uint8_t data[4096];
};

/* the writer of the current migration */
static struct {
	struct vmt_rng rng;
	unsigned int per_tick;
	struct dt_block pend[DT_MAX_BATCH];	/* the last batch, not yet known to precede the stop */
	int npend;
	bool regs_pending;
	struct e2e_regs regs_new;
	long long next_ms;
	int blocks;				/* confirmed */
	bool stopped;
} g_w;

struct dt_run {
	const char *path, *load;
	int rep;
	bool ok;
	struct mig_result res;
	long long ram_before, vfio_before;	/* counters at the last poll that saw the source run */
	int blocks;
};

static struct dt_run g_runs[DT_MAX_RUNS];
static int g_nruns;
static uint64_t g_size;
static long long g_bw_mib, g_switch_mib, g_limit_ms;

/*
 * Both paths get the same parameters: QEMU's defaults, max-bandwidth
 * 128 MiB/s and downtime-limit 300 ms, and avail-switchover-bandwidth 0 (QEMU
 * switches over once what it believes is left fits into the limit at the
 * bandwidth it measured) where the passthrough device's DMA logging tracks
 * guest RAM.  Without DMA logging the type1 container reports all 32 MiB of
 * guest RAM dirty in every pass, and the 5-10 MB/s QEMU measures while it
 * moves 1 MiB of device data per iteration would never let that fit: there
 * avail-switchover-bandwidth is max-bandwidth, for both paths.
 */
static int dt_params(struct e2e_qemu *q)
{
	return qmp_ok(q, "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
		      "{\"max-bandwidth\":%lld,\"avail-switchover-bandwidth\":%lld,"
		      "\"downtime-limit\":%lld}}",
		      g_bw_mib * (long long)E2E_MiB, g_switch_mib * (long long)E2E_MiB, g_limit_ms);
}

static long long env_num(const char *name, long long def, long long min, long long max)
{
	const char *s = getenv(name);
	char *end;
	long long v;

	if (!s || !*s)
		return def;
	v = strtoll(s, &end, 0);
	if (*end || v < min || v > max)
		ktap_bail("%s=%s: expected a number from %lld to %lld", name, s, min, max);
	return v;
}

/* Splits @s (space separated words, each one of @allowed) into @out; returns the count. */
static int env_words(const char *name, const char *def, const char *const *allowed, const char **out)
{
	static char buf[2][128];
	static int used;
	const char *s = getenv(name);
	char *save = NULL, *tok, *b;
	int n = 0, k;

	b = buf[used++ & 1];
	snprintf(b, sizeof(buf[0]), "%s", s && *s ? s : def);
	for (tok = strtok_r(b, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		for (k = 0; allowed[k] && strcmp(tok, allowed[k]); k++)
			;
		if (!allowed[k])
			ktap_bail("%s: '%s' is not one of %s, %s", name, tok, allowed[0], allowed[1]);
		if (n < 2)
			out[n++] = allowed[k];
	}
	if (!n)
		ktap_bail("%s is empty", name);
	return n;
}

static int dt_batch(struct mig_ctx *x)
{
	uint64_t pages = x->img[0].size / 4096;
	unsigned int k;
	int j;

	regs_random(&g_w.regs_new);
	g_w.regs_pending = true;
	if (l2_set_regs(&x->src, 0, &g_w.regs_new))
		return -1;
	for (k = 0; k < g_w.per_tick; k++) {
		struct dt_block *b = &g_w.pend[g_w.npend];

		/* distinct pages within a batch, so that each write's arrival can be told */
		do {
			b->off = vmt_rng_below(&g_w.rng, pages) * 4096;
			for (j = 0; j < g_w.npend && g_w.pend[j].off != b->off; j++)
				;
		} while (j < g_w.npend);
		vmt_rng_fill(&g_w.rng, b->data, sizeof(b->data));
		g_w.npend++;
		if (qt_write(&x->src, L2_BAR2(0) + b->off, b->data, sizeof(b->data)))
			return -1;
	}
	return 0;
}

/* The source still ran after the last batch: it must arrive. */
static void dt_confirm(struct mig_ctx *x)
{
	int k;

	for (k = 0; k < g_w.npend; k++)
		img_record(&x->img[0], g_w.pend[k].off, g_w.pend[k].data, sizeof(g_w.pend[k].data));
	if (g_w.regs_pending)
		x->regs[0] = g_w.regs_new;
	g_w.blocks += g_w.npend;
	g_w.npend = 0;
	g_w.regs_pending = false;
}

/*
 * The batch the stop overtook.  Passed through, what of it reached the
 * destination must be a prefix: the stopped device refuses every later
 * access, so each write lands before the stop or not at all, in order.
 * Emulated, any subset may arrive: QEMU's last RAM pass sends the pages
 * dirty at its final bitmap sync in address order, so a write after that
 * sync arrives exactly when its page had not been sent yet (seen on sid,
 * QEMU 11.1).  Either way a block that did not arrive must still hold its
 * old contents, which the checks of the whole BAR2 that follow see.
 */
static int dt_resolve(struct mig_ctx *x)
{
	bool prefix = x->c->emu_size == 0;
	uint8_t got[4096];
	int k, arrived = 0;
	bool gap = false;
	uint32_t v;

	if (g_w.regs_pending) {
		/* each register is the old or the new value; the checks that follow see which */
		if (qt_readl(&x->dst, L2_BAR0(0) + IVSHMEM_INTRMASK, &v))
			return -1;
		if (v == g_w.regs_new.intrmask)
			x->regs[0].intrmask = v;
		/* a read clears INTRSTATUS: put it back */
		if (qt_readl(&x->dst, L2_BAR0(0) + IVSHMEM_INTRSTATUS, &v) ||
		    qt_writel(&x->dst, L2_BAR0(0) + IVSHMEM_INTRSTATUS, v))
			return -1;
		if (v == g_w.regs_new.intrstatus)
			x->regs[0].intrstatus = v;
	}
	for (k = 0; k < g_w.npend; k++) {
		if (qt_read(&x->dst, L2_BAR2(0) + g_w.pend[k].off, got, sizeof(got)))
			return -1;
		if (memcmp(got, g_w.pend[k].data, sizeof(got))) {
			gap = true;
			continue;
		}
		if (gap && prefix) {
			diag("[dst] write %d of the last batch (offset 0x%llx) arrived after one that did not",
			     k, (unsigned long long)g_w.pend[k].off);
			return -1;
		}
		img_record(&x->img[0], g_w.pend[k].off, g_w.pend[k].data, sizeof(got));
		arrived++;
	}
	if (g_w.npend || g_w.regs_pending)
		diag("[dst] the batch the stop overtook: %d of its %d blocks arrived", arrived, g_w.npend);
	g_w.blocks += arrived;
	g_w.npend = 0;
	return 0;
}

static int dt_migrate(struct mig_ctx *x, bool busy, struct dt_run *run)
{
	bool emu = x->c->emu_size != 0, running;
	long long last_ram = -1, last_vfio = -1;
	struct e2e_wait w;
	char st[32], dev[32];

	g_w.npend = 0;
	g_w.regs_pending = false;
	g_w.blocks = 0;
	g_w.stopped = !busy;
	run->ram_before = run->vfio_before = -1;
	x->t_migrate = now_ms();
	if (mig_start(&x->src, x->uri)) {
		case_dump(x, "migrate failed");
		return -1;
	}
	g_w.next_ms = now_ms();
	wait_begin(&w, &x->src, "downtime: until the migration ends");
	while (!wait_check(&w)) {
		if (mig_wait(&x->src, "active|completed", &x->res) || strcmp(x->res.status, "active"))
			break;
		if (qmp_status(&x->src, st, sizeof(st)))
			break;
		running = !strcmp(st, "running");
		if (running) {
			dt_confirm(x);
			run->ram_before = x->res.ram_normal_bytes;
			run->vfio_before = x->res.vfio_bytes;
		}
		if (x->res.ram_bytes != last_ram || x->res.vfio_bytes != last_vfio) {
			if (last_ram >= 0)
				prog_note(x->src.pid, "migration counters");
			last_ram = x->res.ram_bytes;
			last_vfio = x->res.vfio_bytes;
		}
		if (!g_w.stopped && !running) {
			g_w.stopped = true;
		} else if (!g_w.stopped && !emu &&
			   (strcmp(qmp_dev_state(&x->src, "ivs0", dev, sizeof(dev)), "pre-copy") ||
			    x->res.vfio_bytes + (long long)DT_MARGIN >= (long long)x->img[0].size)) {
			diag("[src] writer stops: device '%s', %lld bytes of device data sent", dev,
			     x->res.vfio_bytes);
			g_w.stopped = true;
		}
		if (!g_w.stopped && now_ms() >= g_w.next_ms) {
			if (dt_batch(x)) {
				case_dump(x, "the writer failed");
				return -1;
			}
			g_w.next_ms += DT_TICK_MS;
			if (g_w.next_ms < now_ms())
				g_w.next_ms = now_ms() + DT_TICK_MS;
		}
		vmt_sleep_ms(DT_POLL_MS);
	}
	mig_print("[src] migration", &x->res);
	if (getenv("E2E_QEMU_TRACE")) {
		qemu_log_tail(&x->src, 150);
		qemu_log_tail(&x->dst, 150);
	}
	if (strcmp(x->res.status, "completed")) {
		case_dump(x, "migration did not complete");
		return -1;
	}
	return 0;
}

static bool dt_one(struct dt_run *run, bool emu, bool busy, const char *emu_path)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16, .caps = PC_ACK_CAPS };
	char src[400], dst[400];
	struct mig_ctx x;
	bool ok;

	if (emu) {
		snprintf(src, sizeof(src), "%s/src-bar2", emu_path);
		snprintf(dst, sizeof(dst), "%s/dst-bar2", emu_path);
		c.emu_size = g_size;
		c.src_bdf[0] = src;
		c.dst_bdf[0] = dst;
	} else {
		c.src_bdf[0] = e2e_env_bdf("BIG_A");
		c.dst_bdf[0] = e2e_env_bdf("BIG_B");
	}
	ok = !case_setup(&x, &c) && !dt_params(&x.src) && !dt_migrate(&x, busy, run) && !case_dst_running(&x) &&
	     !dt_resolve(&x) && !case_check_regs(&x, &x.dst, true) && !case_check_mem(&x, &x.dst) &&
	     !case_check_l1(&x, c.dst_bdf);
	run->res = x.res;
	run->blocks = g_w.blocks;
	run->ok = ok;
	case_teardown(&x);
	if (emu) {
		unlink(src);
		unlink(dst);
	}
	return ok;
}

static double mib(long long b)
{
	return b < 0 ? -1 : (double)b / (double)E2E_MiB;
}

/* Sent after the last poll that saw the source run: the stop-copy and <= DT_POLL_MS of pre-copy. */
static long long ram_after(const struct dt_run *r)
{
	return r->ram_before >= 0 ? r->res.ram_normal_bytes - r->ram_before : -1;
}

static long long device_after(const struct dt_run *r)
{
	/* an emulated device has no VFIO data: its BAR2 is in the RAM pages */
	if (r->res.vfio_bytes < 0)
		return 0;
	return r->vfio_before >= 0 ? r->res.vfio_bytes - r->vfio_before : -1;
}

static void dt_line(const struct dt_run *r)
{

	diag("dt: path=%s load=%s size=%llu rep=%d ok=%d downtime_ms=%lld total_ms=%lld setup_ms=%lld stream_bytes=%lld device_bytes=%lld ram_bytes=%lld ram_after_bytes=%lld device_after_bytes=%lld writes=%d",
	     r->path, r->load, (unsigned long long)g_size, r->rep, r->ok, r->res.downtime_ms,
	     r->res.total_ms, r->res.setup_ms, r->res.ram_bytes,
	     r->res.vfio_bytes < 0 ? 0 : r->res.vfio_bytes, r->res.ram_normal_bytes, ram_after(r),
	     device_after(r), r->blocks);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Median of a field over the successful runs of (@path, @load); -1 if none. */
static long long median(const char *path, const char *load, int field, long long *lo, long long *hi)
{
	long long v[DT_MAX_RUNS];
	int i, n = 0;

	for (i = 0; i < g_nruns; i++) {
		const struct dt_run *r = &g_runs[i];

		if (!r->ok || strcmp(r->path, path) || strcmp(r->load, load))
			continue;
		v[n++] = field == 0 ? r->res.downtime_ms : field == 1 ? r->res.total_ms :
			 field == 2 ? r->res.ram_bytes : field == 3 ? ram_after(r) : device_after(r);
	}
	if (!n)
		return -1;
	qsort(v, n, sizeof(v[0]), cmp_ll);
	if (lo)
		*lo = v[0];
	if (hi)
		*hi = v[n - 1];
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void dt_table(const char *const *paths, int npaths, const char *const *loads, int nloads)
{
	long long d, lo = 0, hi = 0, de, dp;
	int p, l;

	diag("downtime side by side, BAR2 %llu MiB, medians over the successful repetitions:",
	     (unsigned long long)(g_size / E2E_MiB));
	diag("  %-12s %-5s %12s %11s %9s %10s %14s %14s", "path", "load", "downtime ms",
	     "(min-max)", "total ms", "stream MiB", "RAM@stop MiB", "dev@stop MiB");
	for (l = 0; l < nloads; l++) {
		for (p = 0; p < npaths; p++) {
			d = median(paths[p], loads[l], 0, &lo, &hi);
			if (d < 0) {
				diag("  %-12s %-5s %14s", paths[p], loads[l], "(no run passed)");
				continue;
			}
			diag("  %-12s %-5s %12lld %5lld-%-5lld %9lld %10.1f %14.1f %14.1f", paths[p],
			     loads[l], d, lo, hi, median(paths[p], loads[l], 1, NULL, NULL),
			     mib(median(paths[p], loads[l], 2, NULL, NULL)),
			     mib(median(paths[p], loads[l], 3, NULL, NULL)),
			     mib(median(paths[p], loads[l], 4, NULL, NULL)));
		}
		de = median("emulated", loads[l], 0, NULL, NULL);
		dp = median("passthrough", loads[l], 0, NULL, NULL);
		if (de > 0 && dp >= 0)
			diag("  ratio passthrough / emulated, %s: %.2fx (downtime)", loads[l],
			     (double)dp / (double)de);
	}
	diag("  @stop: guest RAM pages and device data sent after the last poll (every %d ms) that saw the source run",
	     DT_POLL_MS);
}

int main(void)
{
	static const char *const all_paths[] = { "emulated", "passthrough", NULL };
	static const char *const all_loads[] = { "idle", "busy", NULL };
	const char *paths[2], *loads[2], *emu_path = NULL;
	int reps, npaths, nloads, kibs, rep, p, l;
	bool has_emu = false, setup_ok;

	reps = (int)env_num("E2E_DT_REPS", 1, 1, DT_MAX_RUNS / 4);
	npaths = env_words("E2E_DT_PATHS", "emulated passthrough", all_paths, paths);
	nloads = env_words("E2E_DT_LOADS", "busy", all_loads, loads);
	kibs = (int)env_num("E2E_DT_WRITE_KIBS", 512, 4, DT_MAX_BATCH * 4 * 1000 / DT_TICK_MS);
	g_bw_mib = env_num("E2E_DT_BANDWIDTH", 128, 1, 1 << 20);
	g_limit_ms = env_num("E2E_DT_DOWNTIME_LIMIT", 300, 1, 600000);
	g_w.per_tick = (kibs * DT_TICK_MS + 2000) / 4000 ? (kibs * DT_TICK_MS + 2000) / 4000 : 1;
	for (p = 0; p < npaths; p++)
		has_emu |= !strcmp(paths[p], "emulated");

	e2e_init("qemu_mig_downtime", 1 + reps * npaths * nloads);
	vmt_rng_seed(&g_w.rng, e2e_seed() ^ 0xd0e17);
	if (t_begin("setup")) {
		g_size = e2e_env_size("BIG");
		setup_ok = e2e_env_bdf("BIG_A") && e2e_env_bdf("BIG_B") && g_size;
		if (!setup_ok)
			diag("needs the pair BIG_A/BIG_B (IVSHMEM_BDF_BIG_A, IVSHMEM_BDF_BIG_B, IVSHMEM_SIZE_BIG)");
		if (setup_ok && has_emu) {
			/* both backing files of the emulated device, and room for QEMU's */
			emu_path = emu_dir(2 * g_size + 16 * E2E_MiB);
			setup_ok = emu_path != NULL;
		}
		if (setup_ok) {
			int pc = pc_offers(e2e_env_bdf("BIG_A"));
			bool dmalog = e2e_can_report(e2e_env_bdf("BIG_A")) == E2E_DMALOG_OK;

			g_switch_mib = env_num("E2E_DT_SWITCHOVER_BW", dmalog ? 0 : g_bw_mib, 0, 1 << 20);
			diag("BAR2 %llu MiB; device pre-copy: %s; guest RAM dirty tracking of the passthrough L2: %s",
			     (unsigned long long)(g_size / E2E_MiB), pc == 1 ? "offered" : "not offered",
			     dmalog ? "the device's DMA logging" :
			     "the type1 container's (every pinned page dirty in every pass)");
			diag("writer (busy): %u x 4 KiB of BAR2 and both registers every %d ms (%d KiB/s); %d repetition(s)",
			     g_w.per_tick, DT_TICK_MS, kibs, reps);
			diag("both paths: max-bandwidth %lld MiB/s, avail-switchover-bandwidth %lld MiB/s%s, downtime-limit %lld ms, return-path + switchover-ack",
			     g_bw_mib, g_switch_mib, g_switch_mib ? "" : " (QEMU measures)", g_limit_ms);
		}
		t_end(setup_ok, true);
	}
	/* interleaved, so that load on the host hits both paths alike */
	for (rep = 1; rep <= reps; rep++) {
		for (l = 0; l < nloads; l++) {
			for (p = 0; p < npaths; p++) {
				struct dt_run *r = &g_runs[g_nruns];
				char name[64];

				snprintf(name, sizeof(name), "%s_%s_%d", paths[p], loads[l], rep);
				if (!t_begin(name))
					continue;
				r->path = paths[p];
				r->load = loads[l];
				r->rep = rep;
				g_nruns++;
				dt_one(r, !strcmp(paths[p], "emulated"), !strcmp(loads[l], "busy"),
				       emu_path);
				dt_line(r);
				t_end(r->ok, false);
			}
		}
	}
	if (g_nruns)
		dt_table(paths, npaths, loads, nloads);
	return t_exit();
}
