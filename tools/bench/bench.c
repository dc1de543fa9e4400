// SPDX-License-Identifier: GPL-2.0
/*
 * bench - throughput and kernel memory of the ivshmem-vfio-pci migration
 * data fds, next to memcpy in the same guest.
 *
 * For every BAR2 size on offer (a pair of devices bound to ivshmem-vfio-pci
 * with equal BAR2 sizes), side by side and repeated:
 *   - memcpy of the same number of bytes RAM -> RAM (malloc'd, touched), and
 *     from / to an mmap of BAR2 (what userspace gets without the driver);
 *   - STOP_COPY: read() of the save data fd in large chunks;
 *   - RESUMING: write() of a saved stream into the second device;
 *   - the round trip: save fd -> resume fd through one buffer, as a VMM does;
 *   - the peak extra kernel memory of each phase (/proc/meminfo sampled by a
 *     second thread);
 * then a breakdown of the data fd's cost into its components (chunk size,
 * the string instructions behind memcpy_fromio()/copy_to_user(), CRC32C).
 *
 * A command, not a test: timings are never judged.  The exit status is
 * non-zero only when something is functionally wrong (a device or state
 * change fails, a saved stream is malformed, restored memory or registers
 * differ from the source).  See tools/bench/README.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ivm_stream.h"
#include "ivshmem.h"
#include "memwatch.h"
#include "prims.h"
#include "vfio_dev.h"
#include "vfio_mig.h"
#include "vmt_crc32c.h"
#include "vmt_util.h"

#define MAX_REPS	15
#define MAX_CHUNKS	4
#define MAX_DEVS	16
#define MAX_PAIRS	8
#define BOUNCE		(256 * 1024)	/* the driver's IVM_BOUNCE_SIZE */
#define DIAG_MIN	(16 * VMT_MiB)	/* smallest BAR2 worth a component breakdown */

extern char **environ;

/* ---- options ------------------------------------------------------------------------------------ */

static struct {
	int reps;
	size_t chunks[MAX_CHUNKS];
	int nchunks;
	size_t rt_chunks[MAX_CHUNKS];
	int nrt_chunks;
	unsigned int sample_ms;
	double budget;
	uint64_t min_size;
	uint64_t diag_bytes;
	uint64_t seed;
} opt = {
	.reps = 3,
	.sample_ms = 2,
	.budget = 480,
	.min_size = 0,
	.diag_bytes = 128 * VMT_MiB,
};

static int g_failed;
static double g_t0;

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	va_list ap;

	g_failed = 1;
	fflush(stdout);
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	printf("  [%6.1fs] ", vmt_now() - g_t0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_list(const char *s, size_t *arr, int *n)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		uint64_t v;

		if (parse_size(tok, &v) || !v || *n >= MAX_CHUNKS)
			return -1;
		arr[(*n)++] = v;
	}
	return *n ? 0 : -1;
}

static const char *fmt_size(uint64_t v, char *buf, size_t len)
{
	if (v >= VMT_MiB * 1024 && !(v % (VMT_MiB * 1024)))
		snprintf(buf, len, "%llu GiB", (unsigned long long)(v >> 30));
	else if (v >= VMT_MiB && !(v % VMT_MiB))
		snprintf(buf, len, "%llu MiB", (unsigned long long)(v >> 20));
	else if (v >= VMT_KiB && !(v % VMT_KiB))
		snprintf(buf, len, "%llu KiB", (unsigned long long)(v >> 10));
	else
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	return buf;
}

#define SZ(v) fmt_size((v), (char[32]){ 0 }, 32)

static void usage(const char *argv0)
{
	printf("usage: %s [-r REPS] [-c CHUNKS] [-R RT_CHUNKS] [-t SECONDS] [-i MS] [-m MIN_SIZE]\n"
	       "          [-d DIAG_BYTES] [SRC_BDF DST_BDF]...\n"
	       "Without BDFs, the devices come from the IVSHMEM_BDF_<NAME> environment variables\n"
	       "(as the VM harness exports them); devices of equal BAR2 size form pairs (a device\n"
	       "without a partner is used alone, restoring into itself, only when there is no pair).\n"
	       "  -r  repetitions of every measure (default 3, env IVM_BENCH_REPS)\n"
	       "  -c  data fd chunk sizes for save/restore (default 1M,8M, env IVM_BENCH_CHUNKS)\n"
	       "  -R  chunk sizes for the round trip (default 1M, env IVM_BENCH_RT_CHUNKS)\n"
	       "  -t  time budget in seconds; repetitions stop early past it (default 480,\n"
	       "      env IVM_BENCH_BUDGET)\n"
	       "  -i  /proc/meminfo sampling interval in ms (default 2, env IVM_BENCH_SAMPLE_MS)\n"
	       "  -m  smallest BAR2 size to benchmark (default: all; env IVM_BENCH_MIN_SIZE)\n"
	       "  -d  bytes used by the component breakdown, 0 = skip it (default 128M,\n"
	       "      env IVM_BENCH_DIAG_BYTES)\n", argv0);
}

/*
 * The VM harness runs the program without arguments and with a fixed environment: IVM_BENCH_* settings
 * may also come from a file bench.conf (KEY=VALUE lines) in the current directory, which is the
 * program's own directory under the harness.  The environment wins over the file.
 */
static void load_conf(void)
{
	char line[256];
	FILE *f = fopen("bench.conf", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '#' || !eq || strncmp(line, "IVM_BENCH_", 10))
			continue;
		*eq = 0;
		setenv(line, eq + 1, 0);
		printf("bench.conf: %s=%s\n", line, eq + 1);
	}
	if (f)
		fclose(f);
}

static int parse_opts(int argc, char **argv)
{
	const char *v;
	uint64_t x;
	int c;

	opt.chunks[0] = VMT_MiB;
	opt.chunks[1] = 8 * VMT_MiB;
	opt.nchunks = 2;
	/* QEMU's VFIO migration reads the save fd in 1 MiB pieces */
	opt.rt_chunks[0] = VMT_MiB;
	opt.nrt_chunks = 1;
	load_conf();

	if ((v = vmt_env("IVM_BENCH_REPS")))
		opt.reps = atoi(v);
	if ((v = vmt_env("IVM_BENCH_CHUNKS")) && parse_list(v, opt.chunks, &opt.nchunks))
		return -1;
	if ((v = vmt_env("IVM_BENCH_RT_CHUNKS")) && parse_list(v, opt.rt_chunks, &opt.nrt_chunks))
		return -1;
	if ((v = vmt_env("IVM_BENCH_BUDGET")))
		opt.budget = atof(v);
	if ((v = vmt_env("IVM_BENCH_SAMPLE_MS")))
		opt.sample_ms = atoi(v);
	if ((v = vmt_env("IVM_BENCH_MIN_SIZE")) && !parse_size(v, &x))
		opt.min_size = x;
	if ((v = vmt_env("IVM_BENCH_DIAG_BYTES")) && !parse_size(v, &x))
		opt.diag_bytes = x;

	while ((c = getopt(argc, argv, "r:c:R:t:i:m:d:h")) != -1) {
		switch (c) {
		case 'r': opt.reps = atoi(optarg); break;
		case 'c':
			if (parse_list(optarg, opt.chunks, &opt.nchunks))
				return -1;
			break;
		case 'R':
			if (parse_list(optarg, opt.rt_chunks, &opt.nrt_chunks))
				return -1;
			break;
		case 't': opt.budget = atof(optarg); break;
		case 'i': opt.sample_ms = atoi(optarg); break;
		case 'm':
			if (parse_size(optarg, &opt.min_size))
				return -1;
			break;
		case 'd':
			if (parse_size(optarg, &opt.diag_bytes))
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (opt.reps < 1)
		opt.reps = 1;
	if (opt.reps > MAX_REPS)
		opt.reps = MAX_REPS;
	if (!opt.sample_ms)
		opt.sample_ms = 1;
	opt.seed = vmt_seed();
	return 0;
}

/* ---- guest facts -------------------------------------------------------------------------------- */

static bool cpu_flag(const char *flags, const char *f)
{
	size_t n = strlen(f);
	const char *p = flags;

	while ((p = strstr(p, f))) {
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

static char g_crc_driver[64] = "unknown";

static void print_guest(void)
{
	static const char *const want[] = { "sse4_2", "pclmulqdq", "avx2", "avx512f", "erms", "fsrm",
					    "hypervisor" };
	char line[4096], model[128] = "?", flags[4096] = "";
	char name[64] = "", driver[64] = "";
	int prio = -1, best = -1, refcnt = 0;
	struct utsname u;
	long memkb = 0;
	unsigned int i;
	FILE *f;

	uname(&u);
	vmt_meminfo_kb("MemTotal", &memkb);
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!c)
			continue;
		if (!strncmp(line, "model name", 10) && model[0] == '?')
			snprintf(model, sizeof(model), "%.*s", (int)strcspn(c + 2, "\n"), c + 2);
		if (!strncmp(line, "flags", 5) && !flags[0])
			snprintf(flags, sizeof(flags), "%s", c + 1);
	}
	if (f)
		fclose(f);
	printf("guest: Linux %s, %ld cpus, %ld MiB RAM, cpu \"%s\"\n", u.release,
	       sysconf(_SC_NPROCESSORS_ONLN), memkb / 1024, model);
	printf("cpu flags that matter here:");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		printf(" %s%s", cpu_flag(flags, want[i]) ? "+" : "-", want[i]);
	printf("\n");

	/* which crc32c the kernel's crc32c() ends up in: the highest priority "crc32c" in /proc/crypto */
	printf("kernel crc32c implementations (/proc/crypto):");
	f = fopen("/proc/crypto", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char key[32], val[64];

		if (line[0] == '\n') {
			name[0] = 0;
			continue;
		}
		if (sscanf(line, "%31s : %63s", key, val) != 2)
			continue;
		if (!strcmp(key, "name")) {
			snprintf(name, sizeof(name), "%s", val);
		} else if (!strcmp(key, "driver")) {
			snprintf(driver, sizeof(driver), "%s", val);
		} else if (!strcmp(key, "priority")) {
			prio = atoi(val);
		} else if (!strcmp(key, "refcnt")) {
			refcnt = atoi(val);
		} else if (!strcmp(key, "type") && !strcmp(name, "crc32c")) {
			printf(" %s (priority %d, refcnt %d)", driver, prio, refcnt);
			if (prio > best) {
				best = prio;
				snprintf(g_crc_driver, sizeof(g_crc_driver), "%s", driver);
			}
		}
	}
	if (f)
		fclose(f);
	printf("%s\n", best < 0 ? " none listed" : "");
}

/* ---- devices ------------------------------------------------------------------------------------ */

struct dev {
	char name[48];
	char bdf[32];
	uint64_t size;
	char driver[64];
};

struct pair {
	struct dev a, b;
	bool single;		/* only one device of this size: restore into itself */
};

static int sysfs_dev(struct dev *d)
{
	char path[PATH_MAX], link[PATH_MAX], line[256];
	unsigned long long s = 0, e = 0;
	ssize_t n;
	FILE *f;
	int i;

	snprintf(line, sizeof(line), "%s", d->bdf);
	vdev_norm_bdf(d->bdf, sizeof(d->bdf), line);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", d->bdf);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	for (i = 0; i <= 2 && fgets(line, sizeof(line), f); i++)
		if (i == 2 && sscanf(line, "%llx %llx", &s, &e) != 2)
			s = e = 0;
	fclose(f);
	d->size = (s || e) ? e - s + 1 : 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", d->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		snprintf(d->driver, sizeof(d->driver), "%.63s",
			 strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	} else {
		snprintf(d->driver, sizeof(d->driver), "(none)");
	}
	return 0;
}

static int dev_cmp(const void *x, const void *y)
{
	const struct dev *a = x, *b = y;

	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	return strcmp(a->name, b->name);
}

static int find_pairs(int argc, char **argv, struct pair *pairs)
{
	struct dev devs[MAX_DEVS];
	int ndev = 0, npair = 0, i, j;
	uint64_t largest = 0;
	bool havepair = false;
	char **e;

	if (argc > 0) {
		if (argc % 2) {
			printf("BDFs come in pairs: SRC DST\n");
			return -1;
		}
		for (i = 0; i < argc && npair < MAX_PAIRS; i += 2) {
			struct pair *p = &pairs[npair];

			memset(p, 0, sizeof(*p));
			snprintf(p->a.name, sizeof(p->a.name), "src%d", npair);
			snprintf(p->b.name, sizeof(p->b.name), "dst%d", npair);
			snprintf(p->a.bdf, sizeof(p->a.bdf), "%s", argv[i]);
			snprintf(p->b.bdf, sizeof(p->b.bdf), "%s", argv[i + 1]);
			if (sysfs_dev(&p->a) || sysfs_dev(&p->b)) {
				printf("no such PCI device: %s or %s\n", argv[i], argv[i + 1]);
				return -1;
			}
			p->single = !strcmp(p->a.bdf, p->b.bdf);
			npair++;
		}
		return npair;
	}

	for (e = environ; *e && ndev < MAX_DEVS; e++) {
		const char *s = *e, *eq = strchr(s, '=');
		struct dev *d = &devs[ndev];

		if (strncmp(s, "IVSHMEM_BDF_", 12) || !eq || !eq[1])
			continue;
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%.*s", (int)(eq - s - 12), s + 12);
		snprintf(d->bdf, sizeof(d->bdf), "%s", eq + 1);
		if (sysfs_dev(d) || !d->size)
			continue;
		ndev++;
	}
	if (!ndev)
		return 0;
	qsort(devs, ndev, sizeof(devs[0]), dev_cmp);
	for (i = 0; i < ndev; i++)
		if (devs[i].size > largest)
			largest = devs[i].size;
	for (i = 0; i < ndev; i = j) {
		for (j = i; j < ndev && devs[j].size == devs[i].size; j++)
			;
		if (j - i > 1)
			havepair = true;
	}
	for (i = 0; i < ndev && npair < MAX_PAIRS; i = j) {
		struct pair *p = &pairs[npair];
		const char *why = NULL;
		int k;

		for (j = i; j < ndev && devs[j].size == devs[i].size; j++)
			;
		if (devs[i].size < opt.min_size && devs[i].size != largest)
			why = "below the minimum size (-m)";
		else if (j - i == 1 && havepair)
			why = "no second device of this size";
		if (why) {
			for (k = i; k < j; k++)
				printf("not benchmarked: %s (%s, BAR2 %s): %s\n", devs[k].name, devs[k].bdf,
				       SZ(devs[k].size), why);
			continue;
		}
		memset(p, 0, sizeof(*p));
		p->a = devs[i];
		p->b = j - i > 1 ? devs[i + 1] : devs[i];
		p->single = j - i == 1;
		npair++;
	}
	return npair;
}

/* ---- measurements ------------------------------------------------------------------------------- */

struct meas {
	char label[64];
	uint64_t bytes;
	double t[MAX_REPS];
	int n;
	struct mw_result mem;
};

static void meas_init(struct meas *m, uint64_t bytes, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void meas_init(struct meas *m, uint64_t bytes, const char *fmt, ...)
{
	va_list ap;

	memset(m, 0, sizeof(*m));
	m->bytes = bytes;
	va_start(ap, fmt);
	vsnprintf(m->label, sizeof(m->label), fmt, ap);
	va_end(ap);
}

static void meas_add(struct meas *m, double t, const struct mw_result *mr)
{
	if (m->n < MAX_REPS)
		m->t[m->n++] = t;
	if (mr)
		mw_merge(&m->mem, mr);
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static double mibs(uint64_t bytes, double t)
{
	return t > 0 ? bytes / t / VMT_MiB : 0;
}

static double meas_med_t(const struct meas *m)
{
	double s[MAX_REPS];

	if (!m->n)
		return 0;
	memcpy(s, m->t, m->n * sizeof(double));
	qsort(s, m->n, sizeof(double), dbl_cmp);
	return m->n % 2 ? s[m->n / 2] : (s[m->n / 2 - 1] + s[m->n / 2]) / 2;
}

/* MiB/s: median, slowest, fastest */
static double meas_med(const struct meas *m)
{
	return mibs(m->bytes, meas_med_t(m));
}

static double meas_min(const struct meas *m)
{
	double w = 0;
	int i;

	for (i = 0; i < m->n; i++)
		if (m->t[i] > w)
			w = m->t[i];
	return mibs(m->bytes, w);
}

static double meas_max(const struct meas *m)
{
	double b = 1e99;
	int i;

	for (i = 0; i < m->n; i++)
		if (m->t[i] < b)
			b = m->t[i];
	return m->n ? mibs(m->bytes, b) : 0;
}

/* ---- one pair of devices ------------------------------------------------------------------------ */

enum {
	M_MEMCPY,
	M_BAR_RD,
	M_BAR_WR,
	M_SAVE0,
	M_RESTORE0 = M_SAVE0 + MAX_CHUNKS,
	M_RT0 = M_RESTORE0 + MAX_CHUNKS,
	M_NUM = M_RT0 + MAX_CHUNKS,
};

struct pair_result {
	uint64_t size;
	bool done;
	struct meas m[M_NUM];
	struct meas capture;
	struct meas t_stopcopy, t_resume_stop;	/* state changes, time only */
	int reps;
	double diag_save_model, diag_restore_model;
};

struct ctx {
	struct pair *p;
	struct ivsh a, b;
	struct ivsh *src, *dst;
	uint64_t size, slen;
	uint8_t *stream;	/* slen bytes: a saved stream */
	uint8_t *work;		/* size bytes: memcpy destination / source */
	uint8_t *cbuf;		/* largest chunk */
	size_t cbuf_len;
	uint32_t mask, status;	/* registers given to the source */
	struct memwatch mw;
	struct pair_result *res;
};

static int set_state(struct ivsh *s, uint32_t st, int *dfd)
{
	int ret = dfd ? mig_set_state(s->dev.fd, st, dfd) : mig_set_state_nofd(s->dev.fd, st);

	if (ret)
		failf("%s: SET %s: %s (%s)", s->dev.bdf, mig_state_name(st), strerror(-ret),
		      vmt_errstr());
	else if (dfd && *dfd < 0) {
		failf("%s: SET %s returned no data fd", s->dev.bdf, mig_state_name(st));
		ret = -EPROTO;
	}
	return ret;
}

/* After a failure: back to RUNNING through a reset (the driver's documented way out). */
static void recover(struct ivsh *s)
{
	uint32_t st = 0;

	if (!mig_get_state(s->dev.fd, &st) && st == VFIO_DEVICE_STATE_RUNNING)
		return;
	vdev_reset(&s->dev);
	mig_set_state_nofd(s->dev.fd, VFIO_DEVICE_STATE_RUNNING);
}

static void touch(void *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 4096)
		((volatile uint8_t *)p)[i] = (uint8_t)i;
	memset(p, 0x5a, len);
}

/* Fault the whole BAR2 mapping in (it is zapped whenever the device stops); returns seconds. */
static double prefault(struct ivsh *s)
{
	double t0 = vmt_now();
	uint64_t off;
	uint8_t sink = 0;

	for (off = 0; off < s->mem_size; off += 4096)
		sink ^= s->mem[off];
	(void)sink;
	return vmt_now() - t0;
}

/* Makes the destination differ from the source so that a restore that did nothing is caught. */
static void scribble(struct ctx *c, int tag)
{
	volatile uint64_t *m = (volatile uint64_t *)c->dst->mem;
	uint64_t off;

	for (off = 0; off < c->size; off += 4096)
		m[off / 8] = ~vmt_pattern_word(off, opt.seed) ^ (uint64_t)tag;
	ivsh_set_regs(c->dst, 0, 0);
}

static int verify_dst(struct ctx *c, const char *what)
{
	uint32_t mask = 0, status = 0;
	uint64_t bad;
	int ret;

	bad = ivsh_verify(c->dst, opt.seed);
	if (bad != UINT64_MAX) {
		failf("%s: %s: restored BAR2 differs from the source at offset %#llx",
		      c->dst->dev.bdf, what, (unsigned long long)bad);
		return -1;
	}
	ret = ivsh_get_regs(c->dst, &mask, &status);
	if (ret || mask != c->mask || status != c->status) {
		failf("%s: %s: restored registers INTRMASK %#x INTRSTATUS %#x, source had %#x %#x%s",
		      c->dst->dev.bdf, what, mask, status, c->mask, c->status,
		      ret ? " (register read failed)" : "");
		return -1;
	}
	return 0;
}

/* read() the whole save stream (or @limit bytes of it) in @chunk pieces into @into (NULL: cbuf, reused). */
static int do_save(struct ctx *c, size_t chunk, uint64_t limit, uint8_t *into, double *t_io,
		   double *t_set, struct mw_result *mr)
{
	uint64_t want_total = limit ? limit : c->slen, total = 0;
	double t0, t1, t2;
	int dfd, ret;

	mw_start(&c->mw);
	t0 = vmt_now();
	ret = set_state(c->src, VFIO_DEVICE_STATE_STOP_COPY, &dfd);
	if (ret) {
		mw_stop(&c->mw, mr);
		return ret;
	}
	t1 = vmt_now();
	for (;;) {
		size_t n = chunk;
		uint8_t *dst = c->cbuf;
		ssize_t got;

		if (limit && n > want_total - total)
			n = want_total - total;
		if (limit && !n)
			break;
		if (into) {
			if (total >= c->slen) {	/* must be the end: anything more is a driver bug */
				dst = c->cbuf;
				n = 4096;
			} else {
				dst = into + total;
				if (n > c->slen - total)
					n = c->slen - total;
			}
		}
		got = read(dfd, dst, n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			failf("%s: read of the save fd after %llu bytes: %s", c->src->dev.bdf,
			      (unsigned long long)total, strerror(errno));
			ret = -1;
			break;
		}
		if (!got)
			break;
		total += got;
	}
	t2 = vmt_now();
	close(dfd);
	if (set_state(c->src, VFIO_DEVICE_STATE_RUNNING, NULL))
		ret = -1;
	mw_stop(&c->mw, mr);
	if (!ret && !limit && total != c->slen) {
		failf("%s: save stream has %llu bytes, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE said %llu",
		      c->src->dev.bdf, (unsigned long long)total, (unsigned long long)c->slen);
		ret = -1;
	}
	if (ret)
		recover(c->src);
	*t_io = t2 - t1;
	if (t_set)
		*t_set = t1 - t0;
	return ret ? -1 : 0;
}

static int write_all(int fd, const uint8_t *p, uint64_t len, size_t chunk, const char *bdf)
{
	uint64_t done = 0;

	while (done < len) {
		size_t n = len - done < chunk ? len - done : chunk;
		ssize_t w = write(fd, p + done, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			failf("%s: write of the resume fd at %llu (+%zu): %s", bdf,
			      (unsigned long long)done, n, w < 0 ? strerror(errno) : "returned 0");
			return -1;
		}
		done += w;
	}
	return 0;
}

static int do_restore(struct ctx *c, size_t chunk, int tag, double *t_io, double *t_stop,
		      struct mw_result *mr)
{
	double t1, t2, t3;
	int dfd, ret;

	scribble(c, tag);
	mw_start(&c->mw);
	ret = set_state(c->dst, VFIO_DEVICE_STATE_RESUMING, &dfd);
	if (ret) {
		mw_stop(&c->mw, mr);
		recover(c->dst);
		return -1;
	}
	t1 = vmt_now();
	ret = write_all(dfd, c->stream, c->slen, chunk, c->dst->dev.bdf);
	t2 = vmt_now();
	if (!ret)
		ret = set_state(c->dst, VFIO_DEVICE_STATE_STOP, NULL);
	t3 = vmt_now();
	close(dfd);
	if (!ret)
		ret = set_state(c->dst, VFIO_DEVICE_STATE_RUNNING, NULL);
	mw_stop(&c->mw, mr);
	if (ret) {
		recover(c->dst);
		return -1;
	}
	*t_io = t2 - t1;
	*t_stop = t3 - t2;
	return verify_dst(c, "restore");
}

static int do_roundtrip(struct ctx *c, size_t chunk, int tag, double *t_io, struct mw_result *mr)
{
	uint64_t total = 0;
	int sfd = -1, rfd = -1, ret;
	double t1, t2;

	scribble(c, tag);
	mw_start(&c->mw);
	ret = set_state(c->src, VFIO_DEVICE_STATE_STOP_COPY, &sfd);
	if (!ret)
		ret = set_state(c->dst, VFIO_DEVICE_STATE_RESUMING, &rfd);
	t1 = vmt_now();
	while (!ret) {
		ssize_t got = read(sfd, c->cbuf, chunk);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			failf("%s: round trip: read of the save fd after %llu bytes: %s",
			      c->src->dev.bdf, (unsigned long long)total, strerror(errno));
			ret = -1;
		} else if (!got) {
			break;
		} else {
			ret = write_all(rfd, c->cbuf, got, chunk, c->dst->dev.bdf);
			total += got;
		}
	}
	t2 = vmt_now();
	if (!ret)
		ret = set_state(c->dst, VFIO_DEVICE_STATE_STOP, NULL);
	if (sfd >= 0)
		close(sfd);
	if (rfd >= 0)
		close(rfd);
	if (!ret)
		ret = set_state(c->src, VFIO_DEVICE_STATE_RUNNING, NULL);
	if (!ret)
		ret = set_state(c->dst, VFIO_DEVICE_STATE_RUNNING, NULL);
	mw_stop(&c->mw, mr);
	if (ret) {
		recover(c->src);
		recover(c->dst);
		return -1;
	}
	if (total != c->slen) {
		failf("round trip moved %llu bytes, stream is %llu", (unsigned long long)total,
		      (unsigned long long)c->slen);
		return -1;
	}
	*t_io = t2 - t1;
	return verify_dst(c, "round trip");
}

/* memcpy variants; returns seconds */
static double do_memcpy(struct ctx *c, int which, struct mw_result *mr)
{
	double t0, t1;

	if (which == M_BAR_RD)
		prefault(c->src);
	else if (which == M_BAR_WR)
		prefault(c->dst);
	mw_start(&c->mw);
	t0 = vmt_now();
	switch (which) {
	case M_MEMCPY:
		memcpy(c->work, c->stream, c->size);
		break;
	case M_BAR_RD:
		memcpy(c->work, (const void *)c->src->mem, c->size);
		break;
	default:
		memcpy((void *)c->dst->mem, c->work, c->size);
		break;
	}
	t1 = vmt_now();
	mw_stop(&c->mw, mr);
	return t1 - t0;
}

struct capture_check {
	uint64_t first_bad;
};

static void capture_mem_cb(void *opaque, uint64_t off, const void *p, size_t n)
{
	struct capture_check *cc = opaque;
	uint64_t bad;

	if (cc->first_bad != UINT64_MAX)
		return;
	bad = vmt_pattern_check(p, off, n & ~7UL, opt.seed);
	if (bad != UINT64_MAX)
		cc->first_bad = bad;
}

/* One save into RAM (kept for the restores), checked record by record against the source pattern. */
static int capture(struct ctx *c)
{
	struct capture_check cc = { UINT64_MAX };
	struct ivm_checker chk;
	struct mw_result mr;
	double t_io, t_set;
	uint64_t bad;
	int ret;

	meas_init(&c->res->capture, c->slen, "save into a RAM buffer, %s reads",
		  SZ(opt.chunks[opt.nchunks - 1]));
	ret = do_save(c, opt.chunks[opt.nchunks - 1], 0, c->stream, &t_io, &t_set, &mr);
	if (ret)
		return ret;
	meas_add(&c->res->capture, t_io, &mr);
	ivm_check_init(&chk);
	chk.mem_cb = capture_mem_cb;
	chk.opaque = &cc;
	if (ivm_check_feed(&chk, c->stream, c->slen) || ivm_check_finish(&chk)) {
		failf("%s: saved stream is malformed: %s", c->src->dev.bdf, chk.err);
		ret = -1;
	} else if (chk.hdr.bar2_size != c->size || chk.intrmask != c->mask ||
		   chk.intrstatus != c->status) {
		failf("%s: saved stream says BAR2 %llu INTRMASK %#x INTRSTATUS %#x, device has %llu %#x %#x",
		      c->src->dev.bdf, (unsigned long long)chk.hdr.bar2_size, chk.intrmask,
		      chk.intrstatus, (unsigned long long)c->size, c->mask, c->status);
		ret = -1;
	} else if (cc.first_bad != UINT64_MAX) {
		failf("%s: saved stream's BAR2 payload differs from the device at offset %#llx",
		      c->src->dev.bdf, (unsigned long long)cc.first_bad);
		ret = -1;
	}
	ivm_check_free(&chk);
	/* saving must leave the source as it was */
	bad = ivsh_verify(c->src, opt.seed);
	if (bad != UINT64_MAX) {
		failf("%s: source BAR2 changed by the save at offset %#llx", c->src->dev.bdf,
		      (unsigned long long)bad);
		ret = -1;
	}
	return ret;
}

/* ---- output ------------------------------------------------------------------------------------- */

static void print_ratio(double v, double ref)
{
	if (v > 0 && ref > 0)
		printf("  %7.2fx", v / ref);
	else
		printf("  %8s", "-");
}

static void print_tput_row(const struct meas *m, const struct meas *ref1, const struct meas *ref2)
{
	if (!m->n)
		return;
	printf("  %-44s %9.1f %9.1f %9.1f", m->label, meas_med(m), meas_min(m), meas_max(m));
	print_ratio(meas_med(m), ref1 ? meas_med(ref1) : 0);
	print_ratio(meas_med(m), ref2 ? meas_med(ref2) : 0);
	printf("  %d\n", m->n);
}

static void print_mem_row(const struct meas *m)
{
	int k;

	if (!m->n || !m->mem.valid)
		return;
	printf("  %-44s", m->label);
	for (k = 0; k < MW_NKEYS; k++)
		printf(" %12ld", m->mem.peak[k]);
	printf(" %8lu\n", m->mem.samples);
}

static void print_pair(const struct pair_result *r)
{
	const struct meas *mc = &r->m[M_MEMCPY];
	int i, k;

	printf("\n  throughput, MiB/s over %d repetitions (median / slowest / fastest); ratios of medians\n",
	       r->reps);
	printf("  %-44s %9s %9s %9s  %8s  %8s  %s\n", "measure", "median", "min", "max", "/memcpy",
	       "/BAR2map", "n");
	print_tput_row(mc, mc, NULL);
	print_tput_row(&r->m[M_BAR_RD], mc, NULL);
	print_tput_row(&r->m[M_BAR_WR], mc, NULL);
	for (i = 0; i < opt.nchunks; i++)
		print_tput_row(&r->m[M_SAVE0 + i], mc, &r->m[M_BAR_RD]);
	print_tput_row(&r->capture, mc, &r->m[M_BAR_RD]);
	for (i = 0; i < opt.nchunks; i++)
		print_tput_row(&r->m[M_RESTORE0 + i], mc, &r->m[M_BAR_WR]);
	for (i = 0; i < opt.nrt_chunks; i++)
		print_tput_row(&r->m[M_RT0 + i], mc, &r->m[M_BAR_RD]);
	printf("  (/memcpy: data fd vs glibc memcpy of the same bytes RAM->RAM; /BAR2map: vs memcpy\n"
	       "   from (save, round trip) or to (restore) an mmap of BAR2; round trip counts the bytes once)\n");
	if (r->t_stopcopy.n)
		printf("  state changes: RUNNING->STOP_COPY median %.2f ms; RESUMING->STOP (checks the CRC) "
		       "median %.2f ms\n",
		       1e3 * meas_med_t(&r->t_stopcopy), 1e3 * meas_med_t(&r->t_resume_stop));

	printf("\n  peak extra kernel memory, KiB (max over all repetitions of a phase; /proc/meminfo every %u ms;\n"
	       "  kernel counters: highest minus before; MemFree/MemAvailable: drop below before)\n",
	       opt.sample_ms);
	printf("  %-44s", "phase");
	for (k = 0; k < MW_NKEYS; k++)
		printf(" %12s", mw_title[k]);
	printf(" %8s\n", "samples");
	print_mem_row(mc);
	print_mem_row(&r->m[M_BAR_RD]);
	print_mem_row(&r->m[M_BAR_WR]);
	for (i = 0; i < opt.nchunks; i++)
		print_mem_row(&r->m[M_SAVE0 + i]);
	print_mem_row(&r->capture);
	for (i = 0; i < opt.nchunks; i++)
		print_mem_row(&r->m[M_RESTORE0 + i]);
	for (i = 0; i < opt.nrt_chunks; i++)
		print_mem_row(&r->m[M_RT0 + i]);
	fflush(stdout);
}

/* ---- component breakdown ------------------------------------------------------------------------ */

static double run_prim(struct ctx *c, int which, uint64_t bytes, uint8_t *bounce, uint32_t *crc)
{
	double t0 = vmt_now();
	uint64_t off;

	for (off = 0; off + BOUNCE <= bytes; off += BOUNCE) {
		switch (which) {
		case 0: prim_rep_movsl(bounce, c->src->mem + off, BOUNCE); break;
		case 1: prim_rep_movsb(c->work + off, bounce, BOUNCE); break;
		case 2: prim_rep_movsq(c->work + off, bounce, BOUNCE); break;
		case 3: memcpy(c->work + off, bounce, BOUNCE); break;
		case 4: *crc = prim_crc32c_insn(*crc, c->work + off, BOUNCE); break;
		case 5: *crc = vmt_crc32c(*crc, c->work + off, BOUNCE); break;
		case 6: prim_rep_movsb(bounce, c->work + off, BOUNCE); break;
		case 7: prim_rep_movsl(c->dst->mem + off, bounce, BOUNCE); break;
		}
	}
	return vmt_now() - t0;
}

static double median_of(const double *v, int n)
{
	double s[MAX_REPS];

	if (n <= 0)
		return 0;
	memcpy(s, v, n * sizeof(double));
	qsort(s, n, sizeof(double), dbl_cmp);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double spread_of(const double *v, int n, bool hi)
{
	double x = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (hi ? v[i] > x : v[i] < x)
			x = v[i];
	return x;
}

#define NSWEEP	6	/* 5 chunk sizes, then 1 MiB without the meminfo sampler */
#define NPRIM	8

static void diagnose(struct ctx *c, double deadline)
{
	static const size_t sweep[NSWEEP] = { 4096, 65536, BOUNCE, VMT_MiB, 8 * VMT_MiB, VMT_MiB };
	static const char *const pname[NPRIM] = {
		"rep movsl  BAR2 mmap -> 256K buf  (memcpy_fromio)",
		"rep movsb  256K buf -> RAM        (copy_to_user)",
		"rep movsq  256K buf -> RAM        (no-ERMS copy)",
		"glibc memcpy 256K buf -> RAM",
		"crc32c, SSE4.2 crc32q             (crc32c-intel)",
		"crc32c, slicing-by-8 table        (crc32c-generic)",
		"rep movsb  RAM -> 256K buf        (copy_from_user)",
		"rep movsl  256K buf -> BAR2 mmap  (memcpy_toio)",
	};
	uint64_t bytes = c->size < opt.diag_bytes ? c->size : opt.diag_bytes;
	double rt[NSWEEP][MAX_REPS], pt[NPRIM][MAX_REPS], tp[NPRIM] = { 0 }, t_read[NSWEEP] = { 0 };
	double pf = 0, t_round = 0;
	bool insn = prim_have_crc32_insn(), hw_crc;
	int round, nround = 0;
	uint8_t *bounce;
	unsigned int i;

	bytes -= bytes % BOUNCE;
	if (!bytes || !prim_have_rep_movs())
		return;
	bounce = aligned_alloc(4096, BOUNCE);
	if (!bounce)
		return;
	touch(bounce, BOUNCE);

	/*
	 * Rounds of everything, interleaved, so that host load (other VMs) hits every component alike;
	 * medians at the end.
	 */
	for (round = 0; round < opt.reps; round++) {
		double t0 = vmt_now();
		uint32_t crc1 = 0, crc2 = 0;

		if (round && t0 + t_round > deadline) {
			note("time budget: breakdown stops after %d rounds", round);
			break;
		}
		for (i = 0; i < NSWEEP; i++) {
			struct mw_result mr;
			int fd = c->mw.fd;
			double t_set;
			int ret;

			if (i == NSWEEP - 1)	/* does the /proc/meminfo sampler slow the phase it watches? */
				c->mw.fd = -1;
			ret = do_save(c, sweep[i], bytes, NULL, &rt[i][round], &t_set, &mr);
			c->mw.fd = fd;
			if (ret)
				goto out;
		}
		pf = prefault(c->src) + prefault(c->dst);
		for (i = 0; i < NPRIM; i++) {
			pt[i][round] = 0;
			if (i == 4 && !insn)
				continue;
			pt[i][round] = run_prim(c, i, bytes, bounce, i == 4 ? &crc1 : &crc2);
		}
		if (insn && crc1 != crc2)
			failf("bench's own CRC32C implementations disagree (%#x vs %#x)", crc1, crc2);
		nround++;
		t_round = vmt_now() - t0;
	}
	for (i = 0; i < NSWEEP; i++)
		t_read[i] = median_of(rt[i], nround);
	for (i = 0; i < NPRIM; i++)
		tp[i] = median_of(pt[i], nround);

	printf("\n  where the time goes (first %s of the stream / of BAR2; %d interleaved rounds: median,\n"
	       "  slowest, fastest)\n", SZ(bytes), nround);
	printf("  %-52s %9s %9s %9s %11s\n", "data fd read() chunk size", "MiB/s", "min", "max", "us/read()");
	for (i = 0; i < NSWEEP; i++) {
		char label[64];

		snprintf(label, sizeof(label), "%s%s", SZ(sweep[i]),
			 i == NSWEEP - 1 ? ", /proc/meminfo sampler off" : "");
		printf("  %-52s %9.1f %9.1f %9.1f %11.1f\n", label, mibs(bytes, t_read[i]),
		       mibs(bytes, spread_of(rt[i], nround, true)), mibs(bytes, spread_of(rt[i], nround, false)),
		       1e6 * t_read[i] / ((bytes + sweep[i] - 1) / sweep[i]));
	}
	if (t_read[0] > 0 && t_read[2] > 0) {
		/* per-byte cost from the 256K run, the rest of a 4K read is per call */
		double per_call = t_read[0] / (bytes / 4096.0) - t_read[2] / (double)bytes * 4096;

		printf("  => fixed cost per read() call ~ %.1f us; per-byte cost dominates from 64 KiB chunks on\n",
		       per_call > 0 ? 1e6 * per_call : 0.0);
	}
	printf("  (BAR2 mmap fault-in before the userspace copies: %.1f ms for %s, not counted)\n",
	       1e3 * pf / 2, SZ(c->size));
	printf("\n  %-52s %9s %9s %9s %11s\n", "userspace stand-in, in 256 KiB pieces", "MiB/s", "min", "max",
	       "ns/KiB");
	for (i = 0; i < NPRIM; i++) {
		if (i == 4 && !insn)
			continue;
		printf("  %-52s %9.1f %9.1f %9.1f %11.1f\n", pname[i], mibs(bytes, tp[i]),
		       mibs(bytes, spread_of(pt[i], nround, true)), mibs(bytes, spread_of(pt[i], nround, false)),
		       1e9 * tp[i] / (bytes / 1024.0));
	}

	/* the kernel's crc32c() is crc32c-intel when that module won, else the generic table */
	hw_crc = insn && strstr(g_crc_driver, "intel");
	{
		const struct meas *mc = &c->res->m[M_MEMCPY];
		const struct meas *rs = &c->res->m[M_RESTORE0];
		double t_crc = hw_crc ? tp[4] : tp[5], t_tab = tp[5];
		double ts = tp[0] + t_crc + tp[1], tr = tp[6] + t_crc + tp[7];
		double ref = meas_med(mc);
		/* save, restore: seconds for @bytes under each design */
		struct { const char *what; double s, r; } w[] = {
			{ "as built: bounce, memcpy_{from,to}io + crc32c() + copy_{to,from}_user", ts, tr },
			{ "same, crc32c-generic (table) instead of the crc32 instruction",
			  tp[0] + t_tab + tp[1], tp[6] + t_tab + tp[7] },
			{ "same, no CRC over the memory payload", tp[0] + tp[1], tp[6] + tp[7] },
			{ "no bounce: user copy straight from/to a cacheable BAR2 map, table CRC",
			  t_tab + tp[1], tp[6] + t_tab },
			{ "no bounce, no CRC: the user copy alone (rep movsb)", tp[1], tp[6] },
			{ "pinned user pages + kernel memcpy (movq loop: no FSRM), table CRC",
			  tp[2] + t_tab, tp[2] + t_tab },
		};
		unsigned int k;

		printf("\n  model: save read = memcpy_fromio + crc32c (%s, kernel's choice) + copy_to_user\n",
		       hw_crc ? "crc32 instruction" : "table");
		printf("    predicted %.1f MiB/s, measured %.1f MiB/s (1 MiB reads, same rounds);"
		       " shares: fromio %.0f%%, crc %.0f%%, copy_to_user %.0f%%\n",
		       mibs(bytes, ts), mibs(bytes, t_read[3]), 100 * tp[0] / ts, 100 * t_crc / ts,
		       100 * tp[1] / ts);
		printf("  model: restore write = copy_from_user + crc32c + memcpy_toio\n");
		printf("    predicted %.1f MiB/s, measured %.1f MiB/s (%s writes, median of the table above);"
		       " shares: copy_from_user %.0f%%, crc %.0f%%, toio %.0f%%\n",
		       mibs(bytes, tr), meas_med(rs), SZ(opt.chunks[0]), 100 * tp[6] / tr, 100 * t_crc / tr,
		       100 * tp[7] / tr);
		printf("\n  what the measured components predict for other driver designs (per-call costs left out)\n");
		printf("  %-72s %8s %8s %8s %8s\n", "design", "save", "/memcpy", "restore", "/memcpy");
		for (k = 0; k < sizeof(w) / sizeof(w[0]); k++)
			printf("  %-72s %8.1f %7.2fx %8.1f %7.2fx\n", w[k].what, mibs(bytes, w[k].s),
			       ref > 0 ? mibs(bytes, w[k].s) / ref : 0, mibs(bytes, w[k].r),
			       ref > 0 ? mibs(bytes, w[k].r) / ref : 0);
		c->res->diag_save_model = mibs(bytes, ts);
		c->res->diag_restore_model = mibs(bytes, tr);
	}
out:
	free(bounce);
	fflush(stdout);
}

/* ---- driver ------------------------------------------------------------------------------------- */

static void *alloc_touched(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len))
		return NULL;
	touch(p, len);
	return p;
}

static int run_pair(struct pair *p, struct pair_result *res, double deadline)
{
	struct ctx c = { .p = p, .res = res };
	uint64_t flags = 0, dsz = 0;
	double rep_t0, rep_avg = 0, diag_est;
	long avail = 0;
	int ret = -1, r, i, tag = 0;
	struct vmt_rng rng;

	memset(res, 0, sizeof(*res));
	c.mw.fd = -1;
	c.size = p->a.size;
	res->size = c.size;
	printf("\n== BAR2 %s: %s (%s) -> %s (%s)%s ==\n", SZ(c.size), p->a.bdf, p->a.name,
	       p->b.bdf, p->b.name, p->single ? "  [only one device of this size: restores go back into it, "
					       "no round trip]" : "");
	if (p->a.size != p->b.size) {
		failf("BAR2 sizes differ: %llu vs %llu", (unsigned long long)p->a.size,
		      (unsigned long long)p->b.size);
		return -1;
	}
	ret = ivsh_open(&c.a, p->a.bdf);
	if (ret) {
		failf("open %s: %s (%s)", p->a.bdf, strerror(-ret), vmt_errstr());
		return -1;
	}
	c.src = &c.a;
	c.dst = &c.a;
	if (!p->single) {
		ret = ivsh_open(&c.b, p->b.bdf);
		if (ret) {
			failf("open %s: %s (%s)", p->b.bdf, strerror(-ret), vmt_errstr());
			goto out;
		}
		c.dst = &c.b;
	}
	ret = -1;
	if (mig_get_flags(c.src->dev.fd, &flags) || !(flags & VFIO_MIGRATION_STOP_COPY)) {
		failf("%s (driver %s) does not offer VFIO migration with STOP_COPY: %s", p->a.bdf,
		      p->a.driver, vmt_errstr());
		goto out;
	}
	if (c.src->mem_size != c.size || c.dst->mem_size != c.size) {
		failf("BAR2 region sizes %llu / %llu, sysfs says %llu",
		      (unsigned long long)c.src->mem_size, (unsigned long long)c.dst->mem_size,
		      (unsigned long long)c.size);
		goto out;
	}
	if (mig_data_size(c.src->dev.fd, &dsz)) {
		failf("%s: VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: %s", p->a.bdf, vmt_errstr());
		goto out;
	}
	c.slen = ivm_stream_len(c.size, 0);
	if (dsz != c.slen)
		failf("%s: MIG_DATA_SIZE says %llu bytes, the stream format gives %llu", p->a.bdf,
		      (unsigned long long)dsz, (unsigned long long)c.slen);
	printf("  driver %s; stream %llu bytes (BAR2 + %llu bytes of headers and records)\n",
	       p->a.driver, (unsigned long long)c.slen, (unsigned long long)(c.slen - c.size));

	vmt_meminfo_kb("MemAvailable", &avail);
	if ((uint64_t)avail * 1024 < c.slen + c.size + 128 * VMT_MiB) {
		printf("  SKIPPED: needs %llu MiB of guest RAM for its buffers, MemAvailable is %ld MiB "
		       "(raise IVM_MEM)\n", (unsigned long long)((c.slen + c.size) >> 20) + 128, avail >> 10);
		ret = 0;
		goto out;
	}
	c.cbuf_len = 0;
	for (i = 0; i < opt.nchunks; i++)
		if (opt.chunks[i] > c.cbuf_len)
			c.cbuf_len = opt.chunks[i];
	for (i = 0; i < opt.nrt_chunks; i++)
		if (opt.rt_chunks[i] > c.cbuf_len)
			c.cbuf_len = opt.rt_chunks[i];
	if (c.cbuf_len < 8 * VMT_MiB)
		c.cbuf_len = 8 * VMT_MiB;	/* the breakdown's largest chunk */
	c.stream = alloc_touched(c.slen);
	c.work = alloc_touched(c.size);
	c.cbuf = alloc_touched(c.cbuf_len);
	if (!c.stream || !c.work || !c.cbuf) {
		failf("out of memory for %llu + %llu bytes of buffers", (unsigned long long)c.slen,
		      (unsigned long long)c.size);
		goto out;
	}
	if (mw_init(&c.mw, opt.sample_ms))
		printf("  (no /proc/meminfo: kernel memory not measured)\n");

	/* the source: a position-dependent pattern and register values that cannot raise INTx */
	vmt_rng_seed(&rng, opt.seed ^ c.size);
	c.mask = (uint32_t)vmt_rng_next(&rng) & 0xffff0000U;
	c.status = ((uint32_t)vmt_rng_next(&rng) & 0x0000ffffU) | 1;
	note("filling %s of BAR2 on %s with a pattern (seed %#llx)", SZ(c.size), p->a.bdf,
	     (unsigned long long)opt.seed);
	ivsh_fill(c.src, opt.seed);
	if (ivsh_set_regs(c.src, c.mask, c.status)) {
		failf("%s: cannot set registers: %s", p->a.bdf, vmt_errstr());
		goto out;
	}
	note("saving once into RAM and checking the stream");
	if (capture(&c))
		goto out;

	for (i = 0; i < M_NUM; i++)
		meas_init(&res->m[i], c.size, "?");
	meas_init(&res->m[M_MEMCPY], c.size, "memcpy RAM -> RAM");
	meas_init(&res->m[M_BAR_RD], c.size, "memcpy BAR2 mmap -> RAM");
	meas_init(&res->m[M_BAR_WR], c.size, "memcpy RAM -> BAR2 mmap");
	for (i = 0; i < opt.nchunks; i++) {
		meas_init(&res->m[M_SAVE0 + i], c.slen, "save: read() data fd, %s chunks", SZ(opt.chunks[i]));
		meas_init(&res->m[M_RESTORE0 + i], c.slen, "restore: write() data fd, %s chunks",
			  SZ(opt.chunks[i]));
	}
	for (i = 0; i < opt.nrt_chunks; i++)
		meas_init(&res->m[M_RT0 + i], c.size, "round trip save->restore, %s chunks",
			  SZ(opt.rt_chunks[i]));
	meas_init(&res->t_stopcopy, 0, "RUNNING->STOP_COPY");
	meas_init(&res->t_resume_stop, 0, "RESUMING->STOP");

	diag_est = 0;
	for (r = 0; r < opt.reps; r++) {
		struct mw_result mr;
		double t, t2;

		if (r && vmt_now() + rep_avg * (1 + diag_est) > deadline) {
			note("time budget: stopping after %d repetitions (set IVM_BENCH_BUDGET / -t to allow more)",
			     r);
			break;
		}
		rep_t0 = vmt_now();
		for (i = M_MEMCPY; i <= M_BAR_WR; i++) {
			t = do_memcpy(&c, i, &mr);
			meas_add(&res->m[i], t, &mr);
		}
		for (i = 0; i < opt.nchunks; i++) {
			if (do_save(&c, opt.chunks[i], 0, NULL, &t, &t2, &mr))
				goto out;
			meas_add(&res->m[M_SAVE0 + i], t, &mr);
			meas_add(&res->t_stopcopy, t2, NULL);
		}
		for (i = 0; i < opt.nchunks; i++) {
			if (do_restore(&c, opt.chunks[i], ++tag, &t, &t2, &mr))
				goto out;
			meas_add(&res->m[M_RESTORE0 + i], t, &mr);
			meas_add(&res->t_resume_stop, t2, NULL);
		}
		for (i = 0; i < opt.nrt_chunks && !p->single; i++) {
			if (do_roundtrip(&c, opt.rt_chunks[i], ++tag, &t, &mr))
				goto out;
			meas_add(&res->m[M_RT0 + i], t, &mr);
		}
		res->reps = r + 1;
		t = vmt_now() - rep_t0;
		rep_avg = (rep_avg * r + t) / (r + 1);
		/*
		 * a breakdown round reads diag_bytes 6 times and copies them 8 times, a repetition moves
		 * the BAR2 size about 8 times through a data fd: guess the breakdown's cost in repetitions
		 */
		diag_est = opt.diag_bytes && c.size >= DIAG_MIN ?
			   opt.reps * (double)(c.size < opt.diag_bytes ? c.size : opt.diag_bytes) / c.size : 0;
		note("repetition %d/%d done in %.1f s", r + 1, opt.reps, t);
	}
	res->done = true;
	print_pair(res);
	if (opt.diag_bytes && c.size >= DIAG_MIN)
		diagnose(&c, deadline);
	else if (opt.diag_bytes)
		printf("\n  (no breakdown below BAR2 %s: too little to time)\n", SZ(DIAG_MIN));
	ret = 0;
out:
	if (!res->done && res->reps)
		print_pair(res);
	mw_destroy(&c.mw);
	free(c.stream);
	free(c.work);
	free(c.cbuf);
	if (c.a.dev.fd >= 0)
		recover(&c.a);
	if (!p->single && c.b.dev.fd >= 0)
		recover(&c.b);
	ivsh_close(&c.a);
	if (!p->single)
		ivsh_close(&c.b);
	return ret;
}

static void print_summary(const struct pair_result *res, int n)
{
	const struct pair_result *lo = NULL, *hi = NULL;
	int i, j, k;

	printf("\n== summary (goal: data fd >= 0.90x memcpy RAM -> RAM; kernel memory flat in BAR2 size) ==\n");
	printf("  %-10s %-44s %9s %8s %s\n", "BAR2", "measure", "MiB/s", "/memcpy", "goal");
	for (i = 0; i < n; i++) {
		const struct pair_result *r = &res[i];
		const struct meas *mc = &r->m[M_MEMCPY];

		if (!r->reps)
			continue;
		if (!lo || r->size < lo->size)
			lo = r;
		if (!hi || r->size > hi->size)
			hi = r;
		if (r->size < DIAG_MIN) {
			printf("  %-10s (too small to time: kernel memory reference only)\n", SZ(r->size));
			continue;
		}
		for (j = 0; j < M_NUM; j++) {
			const struct meas *m = &r->m[j];
			double v = meas_med(m), ref = meas_med(mc);

			if (j <= M_BAR_WR || !m->n)
				continue;
			printf("  %-10s %-44s %9.1f %7.2fx %s\n", SZ(r->size), m->label, v,
			       ref > 0 ? v / ref : 0, ref > 0 && v / ref >= 0.9 ? "met" : "MISSED");
		}
	}

	printf("\n  peak extra kernel memory (KiB), worst phase of each kind, by BAR2 size\n");
	printf("  %-10s %-28s", "BAR2", "phase");
	for (k = 0; k < MW_NKEYS; k++)
		printf(" %12s", mw_title[k]);
	printf("\n");
	for (i = 0; i < n; i++) {
		const struct pair_result *r = &res[i];
		static const char *const kind[] = { "memcpy (noise floor)", "save (STOP_COPY read)",
						    "restore (RESUMING write)", "round trip" };
		int g;

		if (!r->reps)
			continue;
		for (g = 0; g < 4; g++) {
			struct mw_result acc = { 0 };

			if (g == 0) {
				for (j = M_MEMCPY; j <= M_BAR_WR; j++)
					mw_merge(&acc, &r->m[j].mem);
			} else {
				for (j = 0; j < MAX_CHUNKS; j++)
					mw_merge(&acc, &r->m[(g == 1 ? M_SAVE0 : g == 2 ? M_RESTORE0 : M_RT0) + j].mem);
				if (g == 1)
					mw_merge(&acc, &r->capture.mem);
			}
			if (!acc.valid)
				continue;
			printf("  %-10s %-28s", SZ(r->size), kind[g]);
			for (k = 0; k < MW_NKEYS; k++)
				printf(" %12ld", acc.peak[k]);
			printf("\n");
		}
	}
	if (lo && hi && lo != hi) {
		struct mw_result a = { 0 }, b = { 0 }, na = { 0 }, nb = { 0 };
		long oa = 0, ob = 0, noa = 0, nob = 0;

		for (j = M_SAVE0; j < M_NUM; j++) {
			mw_merge(&a, &lo->m[j].mem);
			mw_merge(&b, &hi->m[j].mem);
		}
		for (j = M_MEMCPY; j <= M_BAR_WR; j++) {
			mw_merge(&na, &lo->m[j].mem);
			mw_merge(&nb, &hi->m[j].mem);
		}
		for (k = MW_VMALLOC; k <= MW_PAGETABLES; k++) {
			oa += a.peak[k];
			ob += b.peak[k];
			noa += na.peak[k];
			nob += nb.peak[k];
		}
		printf("  BAR2 %s vs %s (%.0fx), worst data fd phase:\n", SZ(lo->size), SZ(hi->size),
		       (double)hi->size / lo->size);
		printf("    Slab          %6ld vs %6ld KiB  (a 256 KiB bounce buffer per open data file)\n",
		       a.peak[MW_SLAB], b.peak[MW_SLAB]);
		printf("    MemFree drop  %6ld vs %6ld KiB\n", a.peak[MW_MEMFREE], b.peak[MW_MEMFREE]);
		printf("    VmallocUsed+KernelStack+PageTables %ld vs %ld KiB; during plain memcpy (noise) %ld vs %ld KiB\n",
		       oa, ob, noa, nob);
	}
}

static int self_check(void)
{
	static uint8_t buf[65536 + 7];
	struct vmt_rng rng;
	size_t n;

	if (!prim_have_crc32_insn())
		return 0;
	vmt_rng_seed(&rng, 42);
	vmt_rng_fill(&rng, buf, sizeof(buf));
	for (n = 0; n < sizeof(buf); n = n * 3 + 1)
		if (prim_crc32c_insn(0, buf + (n & 7), n) != vmt_crc32c(0, buf + (n & 7), n)) {
			failf("bench: SSE4.2 crc32c disagrees with the table at length %zu", n);
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	static struct pair pairs[MAX_PAIRS];
	static struct pair_result res[MAX_PAIRS];
	int npair, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	g_t0 = vmt_now();
	if (parse_opts(argc, argv)) {
		usage(argv[0]);
		return 2;
	}
	printf("ivshmem-vfio-pci migration benchmark\n");
	print_guest();
	printf("options: %d repetitions, chunks", opt.reps);
	for (i = 0; i < opt.nchunks; i++)
		printf(" %s", SZ(opt.chunks[i]));
	printf(", round trip");
	for (i = 0; i < opt.nrt_chunks; i++)
		printf(" %s", SZ(opt.rt_chunks[i]));
	printf(", budget %.0f s, meminfo every %u ms, breakdown over %s\n", opt.budget, opt.sample_ms,
	       opt.diag_bytes ? SZ(opt.diag_bytes) : "(off)");
	if (self_check())
		return 1;

	npair = find_pairs(argc - optind, argv + optind, pairs);
	if (npair < 0) {
		usage(argv[0]);
		return 2;
	}
	if (!npair) {
		printf("no ivshmem devices: give SRC DST BDFs or set IVSHMEM_BDF_<NAME> (the VM harness does)\n");
		return 2;
	}
	printf("pairs:");
	for (i = 0; i < npair; i++) {
		printf(" [%s: %s %s%s%s]", SZ(pairs[i].a.size), pairs[i].a.name,
		       pairs[i].single ? "" : "-> ", pairs[i].single ? "" : pairs[i].b.name,
		       pairs[i].single ? "(alone)" : "");
	}
	printf("\n");

	for (i = 0; i < npair; i++) {
		double left = g_t0 + opt.budget - vmt_now(), share;
		uint64_t rest = 0;
		int j;

		for (j = i; j < npair; j++)
			rest += pairs[j].a.size;

		/*
		 * each pair gets a share of what is left in proportion to its size, but at least a minute
		 * (small pairs take seconds and would otherwise get a single repetition)
		 */
		if (left < 0)
			left = 0;
		share = left * pairs[i].a.size / rest;
		if (share < 60)
			share = left < 60 ? left : 60;
		run_pair(&pairs[i], &res[i], vmt_now() + share);
	}
	print_summary(res, npair);
	printf("\n%s after %.0f s\n", g_failed ? "FAILED (functional errors above)" : "done, no functional errors",
	       vmt_now() - g_t0);
	return g_failed ? 1 : 0;
}
