// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end test helpers: nested QEMU control over QMP and qtest, expected
 * device contents, L1 access through VFIO, KTAP output.  See e2e.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vfio_uapi.h"

#include "e2e.h"
#include "vfio_dev.h"
#include "vmt_util.h"

#define QEMU_BIN	"qemu-system-x86_64"
#define GUEST_RAM	(32 * E2E_MiB)	/* -m 32M */

/* ---- KTAP -------------------------------------------------------------------- */

static int t_num, t_plan, t_failed, t_blocked;
static char t_name[128];
static const char *g_prog = "e2e";

void ktap_plan(int n)
{
	t_plan = n;
	printf("TAP version 13\n1..%d\n", n);
}

void diag(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	char *s, *nl;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (s = buf; s; s = nl ? nl + 1 : NULL) {
		nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		if (*s || !nl)
			printf("# %s\n", s);
	}
}

void diag_text(const char *prefix, const char *text, int max_lines)
{
	const char *p, *start = text;
	int lines = 0;

	if (!text)
		return;
	for (p = text; *p; p++)
		if (*p == '\n')
			lines++;
	if (p > text && p[-1] != '\n')
		lines++;
	/* skip to the last max_lines lines */
	while (lines > max_lines && *start) {
		const char *nl = strchr(start, '\n');

		if (!nl)
			break;
		start = nl + 1;
		lines--;
	}
	while (*start) {
		const char *nl = strchr(start, '\n');
		int n = nl ? (int)(nl - start) : (int)strlen(start);

		if (n > 400)
			printf("# %s%.400s...\n", prefix, start);
		else
			printf("# %s%.*s\n", prefix, n, start);
		if (!nl)
			break;
		start = nl + 1;
	}
}

bool t_begin(const char *name)
{
	snprintf(t_name, sizeof(t_name), "%s", name);
	if (t_blocked) {
		printf("ok %d %s # SKIP an earlier essential step failed\n", ++t_num, name);
		return false;
	}
	return true;
}

void t_end(bool pass, bool essential)
{
	printf("%sok %d %s\n", pass ? "" : "not ", ++t_num, t_name);
	if (!pass) {
		t_failed++;
		if (essential)
			t_blocked = 1;
	}
	fflush(stdout);
}

void t_skip(const char *name, const char *reason)
{
	printf("ok %d %s # SKIP %s\n", ++t_num, name, reason);
	fflush(stdout);
}

int t_exit(void)
{
	if (t_num != t_plan)
		diag("%s: printed %d results for a plan of %d", g_prog, t_num, t_plan);
	fflush(stdout);
	return t_failed ? 1 : 0;
}

/* ---- processes and cleanup -------------------------------------------------------- */

static char g_dir[256];
static pid_t g_children[16];
static volatile sig_atomic_t g_abort;	/* 1: signal, 2: watchdog */

int e2e_aborting(void)
{
	return g_abort;
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child_add(pid_t pid)
{
	unsigned int i;

	for (i = 0; i < sizeof(g_children) / sizeof(g_children[0]); i++)
		if (!g_children[i]) {
			g_children[i] = pid;
			return;
		}
}

static void child_del(pid_t pid)
{
	unsigned int i;

	for (i = 0; i < sizeof(g_children) / sizeof(g_children[0]); i++)
		if (g_children[i] == pid)
			g_children[i] = 0;
}

static void kill_children(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(g_children) / sizeof(g_children[0]); i++)
		if (g_children[i] > 0)
			kill(g_children[i], SIGKILL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static void cleanup(void)
{
	unsigned int i;

	kill_children();
	for (i = 0; i < sizeof(g_children) / sizeof(g_children[0]); i++)
		if (g_children[i] > 0)
			waitpid(g_children[i], NULL, 0);
	if (g_dir[0] && !getenv("E2E_KEEP"))
		nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_signal(int sig)
{
	static const char msg_alarm[] = "# e2e watchdog: E2E_TIMEOUT reached, killing the L2 QEMUs\n";
	static const char msg_term[] = "# e2e: terminated by a signal, killing the L2 QEMUs\n";

	g_abort = sig == SIGALRM ? 2 : 1;
	kill_children();
	if (sig == SIGALRM) {
		ssize_t r = write(1, msg_alarm, sizeof(msg_alarm) - 1);

		(void)r;
		/* let the main flow report the remaining steps, but not forever */
		signal(SIGALRM, SIG_DFL);
		alarm(20);
		return;
	}
	{
		ssize_t r = write(1, msg_term, sizeof(msg_term) - 1);

		(void)r;
	}
	_exit(1);
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static char *read_file(const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct vmt_buf b = { 0 };
	char tmp[65536];
	ssize_t n;

	if (fd < 0)
		return NULL;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		vmt_buf_append(&b, tmp, n);
		if (max && b.len > max * 2) {	/* keep the tail only */
			memmove(b.p, b.p + b.len - max, max);
			b.len = max;
		}
	}
	close(fd);
	vmt_buf_append(&b, "", 1);
	return (char *)b.p;
}

static uint64_t g_seed;
static int g_kmsg = -1;
static struct vmt_buf g_kmsg_buf;

void e2e_init(const char *prog, int nplan)
{
	static uint8_t fw[65536];
	char path[512];
	unsigned int t = e2e_watchdog_s();

	g_prog = prog;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGALRM, on_signal);
	alarm(t);

	snprintf(g_dir, sizeof(g_dir), "/tmp/e2e-%s-XXXXXX", prog);
	if (!mkdtemp(g_dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	atexit(cleanup);
	/* the whole firmware is HLT: the vCPU halts at the reset vector, IF=0 */
	memset(fw, 0xf4, sizeof(fw));
	snprintf(path, sizeof(path), "%s/hlt.bin", g_dir);
	if (write_file(path, fw, sizeof(fw))) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	/*
	 * Every vfio-pci has host=: without it the probe itself failed (e.g.
	 * QEMU was given up on while starting on a loaded machine), which
	 * says nothing about what QEMU can do.
	 */
	if (!e2e_vfio_has_prop("host")) {
		printf("Bail out! could not read QEMU %s's vfio-pci properties (qemu-system-x86_64 -device vfio-pci,help)\n",
		       e2e_qemu_version());
		exit(1);
	}
	/* a QEMU that cannot migrate VFIO devices: nothing to test (KSFT_SKIP) */
	if (!e2e_vfio_has_prop("enable-migration")) {
		printf("1..0 # SKIP QEMU %s: vfio-pci has no enable-migration property (VFIO migration needs QEMU 8.1 or newer)\n",
		       e2e_qemu_version());
		exit(4);
	}
	if (nplan >= 0)
		ktap_plan(nplan);
	g_seed = vmt_seed();
	diag("%s: seed 0x%llx (VMT_SEED=0x%llx replays it), work dir %s, watchdog %u s",
	     prog, (unsigned long long)g_seed, (unsigned long long)g_seed, g_dir, t);
	diag("waits give up after %lld s without progress of any QEMU (E2E_STALL), or after %lld s + %lld ms per MiB at stake",
	     e2e_stall_ms() / 1000, e2e_limit_ms(0) / 1000, e2e_limit_ms(E2E_MiB) - e2e_limit_ms(0));
	kmsg_mark();
}

const char *e2e_dir(void)
{
	return g_dir;
}

uint64_t e2e_seed(void)
{
	return g_seed;
}

const char *e2e_env_bdf(const char *name)
{
	char var[64];

	snprintf(var, sizeof(var), "IVSHMEM_BDF_%s", name);
	return vmt_env(var);
}

uint64_t e2e_env_size(const char *name)
{
	char var[64];
	const char *s;

	snprintf(var, sizeof(var), "IVSHMEM_SIZE_%s", name);
	s = vmt_env(var);
	return s ? strtoull(s, NULL, 0) : 0;
}

/* Runs a command, returns its output (stdout + stderr) or NULL. */
static char *run_capture(char *const argv[])
{
	char path[512];
	struct e2e_wait w;
	pid_t pid;
	int fd, st;

	snprintf(path, sizeof(path), "%s/cmd.out", g_dir);
	pid = fork();
	if (pid < 0)
		return NULL;
	if (!pid) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp(argv[0], argv);
		_exit(127);
	}
	child_add(pid);
	/* a probe that computes is progressing; one that sleeps forever is not */
	prog_watch(pid, argv[0]);
	wait_begin(&w, NULL, argv[0]);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (wait_check(&w)) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		vmt_sleep_ms(20);
	}
	prog_unwatch(pid);
	child_del(pid);
	return read_file(path, 0);
}

static char *g_qemu_version;
static char *g_vfio_help;

const char *e2e_qemu_version(void)
{
	char *argv[] = { QEMU_BIN, "--version", NULL };
	char *p;

	if (!g_qemu_version) {
		g_qemu_version = run_capture(argv);
		if (!g_qemu_version)
			g_qemu_version = strdup("?");
		p = strstr(g_qemu_version, "version ");
		if (p) {
			memmove(g_qemu_version, p + 8, strlen(p + 8) + 1);
			p = strpbrk(g_qemu_version, " \n");
			if (p)
				*p = 0;
		}
	}
	return g_qemu_version;
}

bool e2e_vfio_has_prop(const char *prop)
{
	char *argv[] = { QEMU_BIN, "-device", "vfio-pci,help", NULL };
	char pat[128];

	if (!g_vfio_help)
		g_vfio_help = run_capture(argv);
	snprintf(pat, sizeof(pat), " %s=", prop);
	return g_vfio_help && strstr(g_vfio_help, pat);
}

bool e2e_qemu_has_object(const char *type)
{
	char *argv[] = { QEMU_BIN, "-object", "help", NULL };
	static char *help;
	size_t n = strlen(type);
	const char *p;

	if (!help)
		help = run_capture(argv);
	/* one type per line, indented */
	for (p = help; p && (p = strstr(p, type)); p += n)
		if ((p == help || isspace((unsigned char)p[-1])) &&
		    (!p[n] || isspace((unsigned char)p[n])))
			return true;
	return false;
}

int e2e_can_report(const char *bdf)
{
	static int cached = -100;
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_dma_logging_report r;
	} __attribute__((packed)) arg;
	static uint64_t bitmap[64];
	struct vdev d;
	int ret;

	if (cached != -100)
		return cached;
	ret = vdev_open(&d, bdf);
	if (ret) {
		diag("DMA logging probe: cannot open %s: %s", bdf, vmt_errstr());
		return ret;
	}
	/*
	 * A REPORT without START: the vfio core answers EOPNOTSUPP by itself
	 * when it is built without CONFIG_IOMMUFD_DRIVER (its iova_bitmap is a
	 * stub), otherwise the driver sees it and refuses it (EINVAL).
	 */
	memset(&arg, 0, sizeof(arg));
	arg.f.argsz = sizeof(arg);
	arg.f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	arg.r.iova = 0;
	arg.r.length = 1 << 20;
	arg.r.page_size = 4096;
	arg.r.bitmap = (uintptr_t)bitmap;
	ret = ioctl(d.fd, VFIO_DEVICE_FEATURE, &arg);
	if (ret < 0 && errno == EOPNOTSUPP)
		cached = E2E_DMALOG_NO_CORE;
	else if (ret < 0 && errno == ENOTTY)
		cached = E2E_DMALOG_NO_DRIVER;	/* the core's answer without log_ops */
	else
		cached = E2E_DMALOG_OK;		/* the driver's EINVAL: it was asked */
	vdev_close(&d);
	return cached;
}

const char *e2e_vfio_opts(const char *probe_bdf)
{
	static const char *opts;
	const char *env = getenv("E2E_VFIO_OPTS");

	if (opts)
		return opts;
	if (env) {
		opts = env;
		diag("vfio-pci options from E2E_VFIO_OPTS: '%s'", opts);
		return opts;
	}
	switch (e2e_can_report(probe_bdf)) {
	case E2E_DMALOG_NO_CORE:
		opts = ",enable-migration=on,x-device-dirty-page-tracking=off";
		diag("this kernel's vfio core cannot report DMA logs (built without CONFIG_IOMMUFD_DRIVER:");
		diag("  DMA_LOGGING_REPORT fails with EOPNOTSUPP), so QEMU's device dirty tracking cannot");
		diag("  work; using the type1 container's dirty tracking: vfio-pci,...%s", opts);
		break;
	case E2E_DMALOG_NO_DRIVER:
		opts = ",enable-migration=on";
		diag("the device offers no DMA logging (DMA_LOGGING_REPORT: ENOTTY; the driver does not");
		diag("  where the vfio core cannot report), so QEMU uses the type1 container's dirty");
		diag("  tracking if told to migrate: vfio-pci,...%s", opts);
		break;
	default:
		opts = "";
		diag("vfio-pci with QEMU's default options (enable-migration=auto, device dirty tracking)");
		break;
	}
	return opts;
}

/* ---- expected device memory ---------------------------------------------------------- */

void img_init(struct e2e_image *img, uint64_t size, uint64_t seed)
{
	memset(img, 0, sizeof(*img));
	img->size = size;
	img->seed = seed;
}

void img_free(struct e2e_image *img)
{
	int i;

	for (i = 0; i < img->nov; i++)
		free(img->ov[i].data);
	free(img->ov);
	memset(img, 0, sizeof(*img));
}

void img_record(struct e2e_image *img, uint64_t off, const void *data, uint32_t len)
{
	struct e2e_overlay *o;

	if (img->nov == img->cap) {
		img->cap = img->cap ? img->cap * 2 : 64;
		img->ov = realloc(img->ov, img->cap * sizeof(*img->ov));
		if (!img->ov)
			abort();
	}
	o = &img->ov[img->nov++];
	o->off = off;
	o->len = len;
	o->data = malloc(len);
	if (!o->data)
		abort();
	memcpy(o->data, data, len);
}

void img_expect(const struct e2e_image *img, uint64_t off, void *buf, size_t len)
{
	uint64_t a = off & ~7ULL, b = (off + len + 7) & ~7ULL;
	uint8_t *tmp = malloc(b - a);
	int i;

	if (!tmp)
		abort();
	vmt_pattern_fill(tmp, a, b - a, img->seed);
	memcpy(buf, tmp + (off - a), len);
	free(tmp);
	for (i = 0; i < img->nov; i++) {
		const struct e2e_overlay *o = &img->ov[i];
		uint64_t s = o->off > off ? o->off : off;
		uint64_t e = o->off + o->len < off + len ? o->off + o->len : off + len;

		if (s < e)
			memcpy((uint8_t *)buf + (s - off), o->data + (s - o->off), e - s);
	}
}

void regs_random(struct e2e_regs *r)
{
	struct vmt_rng rng;

	vmt_rng_seed(&rng, g_seed ^ (uint64_t)now_ms() ^ ((uint64_t)getpid() << 20));
	do {
		r->intrmask = (uint32_t)vmt_rng_next(&rng);
		r->intrstatus = (uint32_t)vmt_rng_next(&rng) & ~r->intrmask;
	} while (!r->intrmask || !r->intrstatus);
}

/* Compares and describes the first difference; returns 0 if equal. */
static int compare_report(const char *what, uint64_t off, const uint8_t *got,
			  const uint8_t *want, size_t len, long long *bad_bytes)
{
	size_t i, first = (size_t)-1;
	long long bad = 0;

	if (!memcmp(got, want, len))
		return 0;
	for (i = 0; i < len; i++)
		if (got[i] != want[i]) {
			if (first == (size_t)-1)
				first = i;
			bad++;
		}
	if (bad_bytes && *bad_bytes == 0) {
		size_t n = len - first < 8 ? len - first : 8;
		char g[40] = "", w[40] = "";

		for (i = 0; i < n; i++) {
			sprintf(g + 3 * i, "%02x ", got[first + i]);
			sprintf(w + 3 * i, "%02x ", want[first + i]);
		}
		diag("%s: first difference at BAR2 offset 0x%llx: got %s expected %s", what,
		     (unsigned long long)(off + first), g, w);
	}
	if (bad_bytes)
		*bad_bytes += bad;
	return -1;
}

/* ---- L1 through VFIO --------------------------------------------------------------- */

static void *l1_map(struct vdev *d, const char *bdf, size_t *len)
{
	void *p;

	if (vdev_open(d, bdf)) {
		diag("L1: cannot open %s through VFIO: %s", bdf, vmt_errstr());
		return NULL;
	}
	p = vdev_mmap(d, VFIO_PCI_BAR2_REGION_INDEX, len);
	if (!p) {
		diag("L1: %s", vmt_errstr());
		vdev_close(d);
	}
	return p;
}

int l1_fill(const char *bdf, uint64_t seed, uint64_t *size)
{
	const size_t chunk = 1 << 20;
	struct vdev d;
	size_t len, off;
	uint8_t *buf;
	void *p;

	p = l1_map(&d, bdf, &len);
	if (!p)
		return -1;
	buf = malloc(chunk);
	if (!buf)
		abort();
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		vmt_pattern_fill(buf, off, n, seed);
		vmt_copy_to_io((uint8_t *)p + off, buf, n);
	}
	free(buf);
	munmap(p, len);
	vdev_close(&d);
	if (size)
		*size = len;
	return 0;
}

int l1_check(const char *bdf, const struct e2e_image *img)
{
	const size_t chunk = 1 << 20;
	long long bad = 0;
	struct vdev d;
	size_t len, off;
	uint8_t *got, *want;
	void *p;

	p = l1_map(&d, bdf, &len);
	if (!p)
		return -1;
	if (len != img->size) {
		diag("L1: %s has a BAR2 of %zu bytes, expected %llu", bdf, len,
		     (unsigned long long)img->size);
		munmap(p, len);
		vdev_close(&d);
		return -1;
	}
	got = malloc(chunk);
	want = malloc(chunk);
	if (!got || !want)
		abort();
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		vmt_copy_from_io(got, (uint8_t *)p + off, n);
		img_expect(img, off, want, n);
		compare_report("L1 view", off, got, want, n, &bad);
	}
	free(got);
	free(want);
	munmap(p, len);
	vdev_close(&d);
	if (bad)
		diag("L1: %s: %lld of %zu BAR2 bytes differ from the expected contents", bdf, bad, len);
	return bad ? -1 : 0;
}

/* ---- line I/O on the QMP and qtest sockets ---------------------------------------------- */

/*
 * Sends all of @s to @fd, waiting while @w allows it (w == NULL: for at most
 * 2 s, for cleanup only); 0 or -1.  @sent counts the bytes.
 */
static int write_all(int fd, const char *s, size_t len, struct e2e_wait *w, size_t *sent)
{
	long long end = now_ms() + 2000;

	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n;

		if (w ? wait_check(w) : now_ms() >= end || g_abort)
			return -1;
		if (poll(&p, 1, 200) < 0 && errno != EINTR)
			return -1;
		if (!(p.revents & (POLLOUT | POLLHUP | POLLERR)))
			continue;
		n = write(fd, s, len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= n;
		if (sent)
			*sent += n;
		wait_rx(w);	/* it took some: progress of this exchange */
	}
	return 0;
}

/*
 * Returns a malloc'd line without its line end, or NULL on EOF, abort, or
 * when @w gives up (w == NULL: when @until, a now_ms() time, has passed).
 * @recvd counts the bytes.
 */
static char *read_line(int fd, struct e2e_lbuf *lb, struct e2e_wait *w, long long until,
		       size_t *recvd)
{
	for (;;) {
		char *nl = lb->len ? memchr(lb->b, '\n', lb->len) : NULL;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left;
		ssize_t n;

		if (nl) {
			size_t l = nl - lb->b;
			char *line = malloc(l + 1);

			if (!line)
				abort();
			memcpy(line, lb->b, l);
			line[l] = 0;
			if (l && line[l - 1] == '\r')
				line[l - 1] = 0;
			memmove(lb->b, nl + 1, lb->len - l - 1);
			lb->len -= l + 1;
			return line;
		}
		if (g_abort || fd < 0)
			return NULL;
		if (w) {
			if (wait_check(w))
				return NULL;
			left = 200;
		} else {
			left = until - now_ms();
			if (left <= 0)
				return NULL;
			if (left > 200)
				left = 200;
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return NULL;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (lb->cap - lb->len < 65536) {
			lb->cap = lb->cap ? lb->cap * 2 : 131072;
			lb->b = realloc(lb->b, lb->cap);
			if (!lb->b)
				abort();
		}
		n = read(fd, lb->b + lb->len, lb->cap - lb->len);
		if (n == 0)
			return NULL;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return NULL;
		}
		lb->len += n;
		if (recvd)
			*recvd += n;
		wait_rx(w);
	}
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* ---- QEMU ------------------------------------------------------------------------------- */

bool qemu_exited(struct e2e_qemu *q, int wait_ms)
{
	long long end = now_ms() + wait_ms;

	if (q->exited || q->pid <= 0)
		return true;
	for (;;) {
		pid_t r = waitpid(q->pid, &q->wstatus, WNOHANG);

		if (r == q->pid) {
			q->exited = true;
			child_del(q->pid);
			prog_unwatch(q->pid);
			return true;
		}
		if (now_ms() >= end)
			return false;
		vmt_sleep_ms(20);
	}
}

static void add_event(struct e2e_qemu *q, const char *line)
{
	size_t l = strlen(line);

	q->events = realloc(q->events, q->events_len + l + 2);
	if (!q->events)
		abort();
	memcpy(q->events + q->events_len, line, l);
	q->events_len += l;
	q->events[q->events_len++] = '\n';
	q->events[q->events_len] = 0;
}

bool qemu_wait_exit(struct e2e_qemu *q, const char *what)
{
	struct e2e_wait w;
	bool ret;

	if (qemu_exited(q, 0))
		return true;
	wait_begin(&w, q, what);
	while (!(ret = qemu_exited(q, 0)) && !wait_check(&w))
		vmt_sleep_ms(50);
	return ret;
}

static char *qmp_read(struct e2e_qemu *q, struct e2e_wait *w, long long until)
{
	for (;;) {
		size_t r0 = q->qmp_recvd;
		char *l = read_line(q->qmp, &q->qmp_in, w, until, &q->qmp_recvd);

		prog_ours(q->pid, 0, q->qmp_recvd - r0);

		if (!l)
			return NULL;
		if (strstr(l, "\"event\"") && !strstr(l, "\"return\"")) {
			add_event(q, l);
			free(l);
			continue;
		}
		return l;
	}
}

/*
 * One QMP exchange.  An unanswered command keeps waiting while its QEMU lives
 * and some QEMU progresses (the source of a stop-copy holds its big lock and
 * answers nothing until the device state has moved).
 */
static const char *qmp_v(struct e2e_qemu *q, const char *fmt, va_list ap)
{
	size_t s0 = q->qmp_sent;
	struct e2e_wait w;
	char cmd[8192], what[64];
	const char *ex;
	int n;

	free(q->reply);
	q->reply = NULL;
	if (q->qmp < 0 || q->hung)
		return NULL;
	n = vsnprintf(cmd, sizeof(cmd) - 2, fmt, ap);
	cmd[n] = '\n';
	cmd[n + 1] = 0;
	ex = strstr(cmd, "\"execute\":\"");
	snprintf(what, sizeof(what), "QMP %.*s", ex ? (int)strcspn(ex + 11, "\"") : 20,
		 ex ? ex + 11 : cmd);
	wait_begin(&w, q, what);
	if (!write_all(q->qmp, cmd, n + 1, &w, &q->qmp_sent))
		q->reply = qmp_read(q, &w, 0);
	prog_ours(q->pid, q->qmp_sent - s0, 0);	/* (what it answered: qmp_read) */
	if (!q->reply && !qemu_exited(q, 200)) {
		q->hung = true;
		qemu_dump(q, "QMP command unanswered");
	}
	return q->reply;
}

const char *qmp(struct e2e_qemu *q, const char *fmt, ...)
{
	const char *r;
	va_list ap;

	va_start(ap, fmt);
	r = qmp_v(q, fmt, ap);
	va_end(ap);
	return r;
}

int qmp_ok(struct e2e_qemu *q, const char *fmt, ...)
{
	char cmd[512];
	const char *r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	r = qmp_v(q, fmt, ap);
	va_end(ap);
	if (r && strstr(r, "\"return\"") == r + 1)
		return 0;
	diag("[%s] QMP %s => %s", q->name, cmd, r ? r : "(no answer: QEMU gone or hung)");
	return -1;
}

void qmp_events(struct e2e_qemu *q, int ms)
{
	char *l;

	if (q->qmp < 0)
		return;
	for (;;) {
		size_t r0 = q->qmp_recvd;

		l = read_line(q->qmp, &q->qmp_in, NULL, now_ms() + ms, &q->qmp_recvd);
		prog_ours(q->pid, 0, q->qmp_recvd - r0);
		if (!l)
			break;
		if (strstr(l, "\"event\""))
			add_event(q, l);
		free(l);
		ms = 0;
	}
}

/* Copies the string value of "key": "..." found in s (from its start). */
static bool json_str(const char *s, const char *key, char *out, size_t len)
{
	char pat[96];
	const char *p;
	size_t i = 0;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = s ? strstr(s, pat) : NULL;
	if (!p)
		return false;
	p += strlen(pat);
	while (*p && *p != '"' && i + 1 < len) {
		if (*p == '\\' && p[1]) {
			p++;
			out[i++] = *p == 'n' ? ' ' : *p;
			p++;
			continue;
		}
		out[i++] = *p++;
	}
	out[i] = 0;
	return true;
}

static bool json_int(const char *s, const char *key, long long *v)
{
	char pat[96];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = s ? strstr(s, pat) : NULL;
	if (!p)
		return false;
	*v = strtoll(p + strlen(pat), NULL, 10);
	return true;
}

int qmp_status(struct e2e_qemu *q, char *buf, size_t len)
{
	const char *r = qmp(q, "{\"execute\":\"query-status\"}");

	buf[0] = 0;
	if (!r || !json_str(r, "status", buf, len))
		return -1;
	return 0;
}

int qmp_wait_status(struct e2e_qemu *q, const char *want)
{
	char st[64] = "", what[96];
	struct e2e_wait w;

	snprintf(what, sizeof(what), "waiting for runstate %s", want);
	wait_begin(&w, q, what);
	while (!wait_check(&w)) {
		if (qmp_status(q, st, sizeof(st)))
			break;
		if (!strcmp(st, want))
			return 0;
		vmt_sleep_ms(100);
	}
	diag("[%s] runstate is '%s', expected '%s'", q->name, st[0] ? st : "(no answer)", want);
	return -1;
}

const char *qmp_dev_state(struct e2e_qemu *q, const char *id, char *buf, size_t len)
{
	char pat[64];
	const char *p;

	buf[0] = 0;
	qmp_events(q, 100);
	snprintf(pat, sizeof(pat), "\"device-id\": \"%s\"", id);
	for (p = q->events; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024];

		if (l < sizeof(line)) {
			memcpy(line, p, l);
			line[l] = 0;
			if (strstr(line, "\"VFIO_MIGRATION\"") && strstr(line, pat))
				json_str(line, "device-state", buf, len);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return buf;
}

const char *qt(struct e2e_qemu *q, const char *fmt, ...)
{
	char cmd[256];
	va_list ap;
	int n;

	free(q->qt_reply);
	q->qt_reply = NULL;
	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 2, fmt, ap);
	va_end(ap);
	if (q->qt < 0 || q->hung) {
		diag("[%s] qtest '%.*s' not sent: QEMU %s", q->name, n, cmd,
		     q->hung ? "hung earlier" : "not connected");
		return NULL;
	}
	cmd[n] = '\n';
	{
		size_t s0 = q->qt_sent, r0 = q->qt_recvd;
		struct e2e_wait w;
		char what[64];

		snprintf(what, sizeof(what), "qtest %.*s", (int)strcspn(cmd, " \n"), cmd);
		wait_begin(&w, q, what);
		if (!write_all(q->qt, cmd, n + 1, &w, &q->qt_sent))
			q->qt_reply = read_line(q->qt, &q->qt_in, &w, 0, &q->qt_recvd);
		prog_ours(q->pid, q->qt_sent - s0, q->qt_recvd - r0);
	}
	if (!q->qt_reply && !qemu_exited(q, 200)) {
		diag("[%s] qtest '%.*s': no answer", q->name, n, cmd);
		q->hung = true;
		qemu_dump(q, "qtest command unanswered");
	} else if (!q->qt_reply)
		diag("[%s] qtest '%.*s': no answer, QEMU is gone", q->name, n, cmd);
	else if (strncmp(q->qt_reply, "OK", 2))
		diag("[%s] qtest '%.*s' => %.200s", q->name, n, cmd, q->qt_reply);
	return q->qt_reply;
}

static int qt_ok_val(struct e2e_qemu *q, uint64_t *v)
{
	if (!q->qt_reply || strncmp(q->qt_reply, "OK", 2))
		return -1;
	if (v)
		*v = strtoull(q->qt_reply + 2, NULL, 0);
	return 0;
}

int qt_readl(struct e2e_qemu *q, uint64_t addr, uint32_t *v)
{
	uint64_t x;

	qt(q, "readl 0x%llx", (unsigned long long)addr);
	if (qt_ok_val(q, &x))
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int qt_writel(struct e2e_qemu *q, uint64_t addr, uint32_t v)
{
	qt(q, "writel 0x%llx 0x%x", (unsigned long long)addr, v);
	return qt_ok_val(q, NULL);
}

int qt_readq(struct e2e_qemu *q, uint64_t addr, uint64_t *v)
{
	qt(q, "readq 0x%llx", (unsigned long long)addr);
	return qt_ok_val(q, v);
}

int qt_writeq(struct e2e_qemu *q, uint64_t addr, uint64_t v)
{
	qt(q, "writeq 0x%llx 0x%llx", (unsigned long long)addr, (unsigned long long)v);
	return qt_ok_val(q, NULL);
}

int qt_cfg_read32(struct e2e_qemu *q, int slot, int reg, uint32_t *v)
{
	uint64_t x;

	qt(q, "outl 0xcf8 0x%x", 0x80000000u | (slot << 11) | reg);
	if (qt_ok_val(q, NULL))
		return -1;
	qt(q, "inl 0xcfc");
	if (qt_ok_val(q, &x))
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int qt_cfg_write32(struct e2e_qemu *q, int slot, int reg, uint32_t v)
{
	qt(q, "outl 0xcf8 0x%x", 0x80000000u | (slot << 11) | reg);
	if (qt_ok_val(q, NULL))
		return -1;
	qt(q, "outl 0xcfc 0x%x", v);
	return qt_ok_val(q, NULL);
}

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];

		out[o++] = b64c[v >> 18];
		out[o++] = b64c[(v >> 12) & 63];
		out[o++] = b64c[(v >> 6) & 63];
		out[o++] = b64c[v & 63];
	}
	if (i < len) {
		uint32_t v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0);

		out[o++] = b64c[v >> 18];
		out[o++] = b64c[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64c[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

static long b64_decode(const char *in, uint8_t *out, size_t max)
{
	static int8_t map[256];
	uint32_t v = 0;
	int bits = 0;
	size_t o = 0;

	if (!map['B']) {
		int i;

		memset(map, -1, sizeof(map));
		for (i = 0; i < 64; i++)
			map[(uint8_t)b64c[i]] = i;
	}
	for (; *in && *in != '='; in++) {
		int8_t c = map[(uint8_t)*in];

		if (c < 0)
			return -1;
		v = v << 6 | c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= max)
				return -1;
			out[o++] = (v >> bits) & 0xff;
		}
	}
	return o;
}

#define QT_CHUNK	(256 * 1024)

int qt_read(struct e2e_qemu *q, uint64_t addr, void *buf, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += QT_CHUNK) {
		size_t n = len - off < QT_CHUNK ? len - off : QT_CHUNK;
		long got;

		qt(q, "b64read 0x%llx 0x%zx", (unsigned long long)(addr + off), n);
		if (!q->qt_reply || strncmp(q->qt_reply, "OK ", 3))
			return -1;
		got = b64_decode(q->qt_reply + 3, (uint8_t *)buf + off, n);
		if (got != (long)n) {
			diag("[%s] b64read of %zu bytes returned %ld", q->name, n, got);
			return -1;
		}
	}
	return 0;
}

int qt_write(struct e2e_qemu *q, uint64_t addr, const void *buf, size_t len)
{
	const size_t chunk = 48 * 1024;
	char *cmd = malloc(chunk * 4 / 3 + 128);
	size_t off;
	int ret = 0;

	if (!cmd)
		abort();
	for (off = 0; off < len && !ret; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		int h = sprintf(cmd, "b64write 0x%llx 0x%zx ", (unsigned long long)(addr + off), n);
		size_t l = h + b64_encode((const uint8_t *)buf + off, n, cmd + h);

		size_t s0 = q->qt_sent, r0 = q->qt_recvd;
		struct e2e_wait w;

		cmd[l++] = '\n';
		free(q->qt_reply);
		q->qt_reply = NULL;
		wait_begin(&w, q, "qtest b64write");
		if (q->qt < 0 || q->hung || write_all(q->qt, cmd, l, &w, &q->qt_sent)) {
			prog_ours(q->pid, q->qt_sent - s0, 0);
			ret = -1;
			break;
		}
		q->qt_reply = read_line(q->qt, &q->qt_in, &w, 0, &q->qt_recvd);
		prog_ours(q->pid, q->qt_sent - s0, q->qt_recvd - r0);
		if (!q->qt_reply && !qemu_exited(q, 200)) {
			q->hung = true;
			qemu_dump(q, "qtest command unanswered");
		}
		if (!q->qt_reply || strcmp(q->qt_reply, "OK")) {
			diag("[%s] qtest b64write of %zu bytes at 0x%llx => %s", q->name, n,
			     (unsigned long long)(addr + off), q->qt_reply ? q->qt_reply : "(no answer)");
			ret = -1;
		}
	}
	free(cmd);
	return ret;
}

/* BAR2 size of a PCI device from sysfs, 0 if unknown */
static uint64_t bar2_size(const char *bdf)
{
	unsigned long long start, end, flags;
	char path[256], line[256];
	uint64_t size = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "re");
	if (!f)
		return 0;
	for (i = 0; i <= 2 && fgets(line, sizeof(line), f); i++)
		if (i == 2 && sscanf(line, "%llx %llx %llx", &start, &end, &flags) == 3 && end > start)
			size = end - start + 1;
	fclose(f);
	return size;
}

static int connect_wait(struct e2e_qemu *q, const char *path, struct e2e_wait *w)
{
	while (!wait_check(w)) {
		int fd = unix_connect(path);

		if (fd >= 0)
			return fd;
		if (qemu_exited(q, 0))
			return -1;
		vmt_sleep_ms(50);
	}
	return -1;
}

int qemu_start(struct e2e_qemu *q, const char *name, const struct e2e_vm *vm)
{
	char devarg[E2E_MAX_DEVS][512], qmparg[600], qtarg[600], fw[300];
	const char *argv[64];
	long long t0 = now_ms();
	struct e2e_wait w;
	char *greeting;
	int argc = 0, i;
	pid_t pid;

	memset(q, 0, sizeof(*q));
	q->qmp = q->qt = -1;
	snprintf(q->name, sizeof(q->name), "%s", name);
	snprintf(q->log, sizeof(q->log), "%s/%s.log", g_dir, name);
	snprintf(q->qmp_path, sizeof(q->qmp_path), "%s/%s.qmp", g_dir, name);
	snprintf(q->qt_path, sizeof(q->qt_path), "%s/%s.qtest", g_dir, name);
	snprintf(fw, sizeof(fw), "%s/hlt.bin", g_dir);
	unlink(q->qmp_path);
	unlink(q->qt_path);
	q->ndev = vm->ndev;
	q->state_bytes = GUEST_RAM;
	for (i = 0; i < vm->ndev; i++)
		q->state_bytes += bar2_size(vm->bdf[i]);

	argv[argc++] = QEMU_BIN;
	argv[argc++] = "-accel";
	argv[argc++] = "tcg";
	argv[argc++] = "-machine";
	argv[argc++] = "pc";
	argv[argc++] = "-m";
	argv[argc++] = "32M";
	argv[argc++] = "-nodefaults";
	argv[argc++] = "-display";
	argv[argc++] = "none";
	argv[argc++] = "-bios";
	argv[argc++] = fw;
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", q->qmp_path);
	snprintf(qtarg, sizeof(qtarg), "unix:%s,server=on,wait=off", q->qt_path);
	argv[argc++] = "-qmp";
	argv[argc++] = qmparg;
	argv[argc++] = "-qtest";
	argv[argc++] = qtarg;
	argv[argc++] = "-qtest-log";	/* else every qtest command is echoed to stderr */
	argv[argc++] = "/dev/null";
	argv[argc++] = "-name";		/* thread names in the diagnostics of a hang */
	argv[argc++] = "debug-threads=on";
	for (i = 0; i < vm->ndev; i++) {
		q->bdf[i] = vm->bdf[i];
		snprintf(devarg[i], sizeof(devarg[i]),
			 "vfio-pci,host=%s,id=ivs%d,addr=0x%x,migration-events=on%s",
			 vm->bdf[i], i, L2_SLOT(i), vm->vfio_opts ? vm->vfio_opts : "");
		argv[argc++] = "-device";
		argv[argc++] = devarg[i];
	}
	if (vm->incoming) {
		argv[argc++] = "-incoming";
		argv[argc++] = "defer";
	} else {
		argv[argc++] = "-S";
	}
	for (i = 0; vm->extra[i] && argc < 62; i++)
		argv[argc++] = vm->extra[i];
	argv[argc] = NULL;

	{
		char cmdline[4096];
		int o = 0;

		for (i = 0; i < argc && o < (int)sizeof(cmdline) - 1; i++)
			o += snprintf(cmdline + o, sizeof(cmdline) - o, "%s%s", i ? " " : "", argv[i]);
		diag("[%s] %s", name, cmdline);
	}

	pid = fork();
	if (pid < 0) {
		diag("fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		int fd = open(q->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* a QEMU that dies (e.g. SIGBUS on a frozen BAR) leaves no core file */
		setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	q->pid = pid;
	child_add(pid);
	/* starting: no I/O to speak of, but a start-up that computes is progressing */
	prog_watch(pid, name);
	wait_begin(&w, q, "start-up");

	q->qmp = connect_wait(q, q->qmp_path, &w);
	if (q->qmp >= 0)
		q->qt = connect_wait(q, q->qt_path, &w);
	if (q->qmp < 0 || q->qt < 0) {
		qemu_dump(q, "did not open its QMP/qtest sockets");
		qemu_stop(q);
		return -1;
	}
	greeting = qmp_read(q, &w, 0);
	if (!greeting || !strstr(greeting, "\"QMP\"")) {
		free(greeting);
		qemu_dump(q, "sent no QMP greeting");
		qemu_stop(q);
		return -1;
	}
	free(greeting);
	if (qmp_ok(q, "{\"execute\":\"qmp_capabilities\"}")) {
		qemu_dump(q, "refused qmp_capabilities");
		qemu_stop(q);
		return -1;
	}
	diag("[%s] up in %lld ms (pid %d)", name, now_ms() - t0, (int)pid);
	return 0;
}

/* /proc/<pid>/stat state letter, or 0 */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Cleanup, not a verdict: a QEMU that does not quit in a grace period is killed. */
void qemu_stop(struct e2e_qemu *q)
{
	if (q->pid > 0 && !qemu_exited(q, 0)) {
		char st = proc_state(q->pid);

		if (st == 'T' || st == 't') {
			/* stopped (SIGSTOP, a debugger): it cannot quit */
			diag("[%s] QEMU (pid %d) is stopped: killing it", q->name, (int)q->pid);
			kill(q->pid, SIGKILL);
			kill(q->pid, SIGCONT);
		} else if (q->qmp >= 0 && !q->hung) {
			char cmd[] = "{\"execute\":\"quit\"}\n";

			if (!write_all(q->qmp, cmd, sizeof(cmd) - 1, NULL, NULL))
				qmp_events(q, 500);
		} else if (q->hung) {
			diag("[%s] QEMU (pid %d) stalled earlier: killing it", q->name, (int)q->pid);
			kill(q->pid, SIGKILL);
		}
		if (!qemu_exited(q, 15000)) {
			diag("[%s] did not quit within 15 s: killing it", q->name);
			kill(q->pid, SIGKILL);
			qemu_exited(q, 10000);
		}
	}
	if (q->qmp >= 0)
		close(q->qmp);
	if (q->qt >= 0)
		close(q->qt);
	q->qmp = q->qt = -1;
}

bool qemu_log_has(struct e2e_qemu *q, const char *needle)
{
	char *s = read_file(q->log, 0);
	bool r = s && strstr(s, needle);

	free(s);
	return r;
}

/* Where a live QEMU's threads are: name, state, and their kernel stacks. */
static void dump_threads(struct e2e_qemu *q)
{
	char path[128], prefix[96], *comm, *stat, *stack;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)q->pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);
		char *st;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)q->pid, tid);
		comm = read_file(path, 0);
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)q->pid, tid);
		stat = read_file(path, 0);
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", (int)q->pid, tid);
		stack = read_file(path, 0);
		st = stat ? strrchr(stat, ')') : NULL;
		if (comm)
			comm[strcspn(comm, "\n")] = 0;
		diag("[%s thread %d %s] state %c", q->name, tid, comm ? comm : "?",
		     st && st[1] && st[2] ? st[2] : '?');
		/* the kernel stack of threads that sleep in the kernel in an uninterruptible or long wait */
		if (stack && *stack && st && st[2] != 'R') {
			snprintf(prefix, sizeof(prefix), "[%s thread %d stack] ", q->name, tid);
			diag_text(prefix, stack, 12);
		}
		free(comm);
		free(stat);
		free(stack);
	}
	closedir(d);
}

void qemu_dump(struct e2e_qemu *q, const char *why)
{
	char prefix[64], *s;

	qemu_exited(q, 0);
	if (q->exited) {
		if (WIFSIGNALED(q->wstatus))
			diag("[%s] %s; QEMU was killed by signal %d", q->name, why, WTERMSIG(q->wstatus));
		else
			diag("[%s] %s; QEMU exited with status %d", q->name, why, WEXITSTATUS(q->wstatus));
	} else {
		diag("[%s] %s; QEMU (pid %d) still running", q->name, why, (int)q->pid);
	}
	snprintf(prefix, sizeof(prefix), "[%s stderr] ", q->name);
	s = read_file(q->log, 16384);
	if (s && *s)
		diag_text(prefix, s, 40);
	else
		diag("[%s] (no output)", q->name);
	free(s);
	snprintf(prefix, sizeof(prefix), "[%s event] ", q->name);
	diag_text(prefix, q->events, 12);
	if (!q->exited && !q->threads_dumped) {
		q->threads_dumped = true;
		dump_threads(q);
	}
}

/* ---- what the scenarios share ----------------------------------------------------------- */

int l2_map_device(struct e2e_qemu *q, int i)
{
	int slot = L2_SLOT(i);
	uint32_t id, cmd;

	if (qt_cfg_read32(q, slot, 0x00, &id))
		return -1;
	if (id != 0x11101af4) {
		diag("[%s] slot %d has vendor/device 0x%08x, not ivshmem 1af4:1110", q->name, slot, id);
		return -1;
	}
	if (qt_cfg_write32(q, slot, 0x10, (uint32_t)L2_BAR0(i)) ||
	    qt_cfg_write32(q, slot, 0x18, (uint32_t)L2_BAR2(i)) ||
	    qt_cfg_write32(q, slot, 0x1c, (uint32_t)(L2_BAR2(i) >> 32)) ||
	    qt_cfg_read32(q, slot, 0x04, &cmd) ||
	    qt_cfg_write32(q, slot, 0x04, (cmd & 0xffff) | 0x2))
		return -1;
	return 0;
}

int l2_set_regs(struct e2e_qemu *q, int i, const struct e2e_regs *r)
{
	if (qt_writel(q, L2_BAR0(i) + IVSHMEM_INTRMASK, r->intrmask) ||
	    qt_writel(q, L2_BAR0(i) + IVSHMEM_INTRSTATUS, r->intrstatus))
		return -1;
	return 0;
}

int l2_check_regs(struct e2e_qemu *q, int i, const struct e2e_regs *want, bool consume)
{
	uint32_t mask, status, again;

	if (qt_readl(q, L2_BAR0(i) + IVSHMEM_INTRMASK, &mask) ||
	    qt_readl(q, L2_BAR0(i) + IVSHMEM_INTRSTATUS, &status))
		return -1;
	/* INTRSTATUS clears on read: a second read proves it is the real register */
	if (qt_readl(q, L2_BAR0(i) + IVSHMEM_INTRSTATUS, &again))
		return -1;
	if (!consume && qt_writel(q, L2_BAR0(i) + IVSHMEM_INTRSTATUS, status))
		return -1;
	if (mask != want->intrmask || status != want->intrstatus || again != 0) {
		diag("[%s] device %d (%s): INTRMASK 0x%08x INTRSTATUS 0x%08x (then 0x%08x), expected 0x%08x 0x%08x (then 0)",
		     q->name, i, q->bdf[i], mask, status, again, want->intrmask, want->intrstatus);
		return -1;
	}
	diag("[%s] device %d: INTRMASK 0x%08x INTRSTATUS 0x%08x as expected", q->name, i, mask, status);
	return 0;
}

int l2_write(struct e2e_qemu *q, int i, struct e2e_image *img, uint64_t off,
	     const void *data, size_t len)
{
	int ret;

	if (len == 8 && !(off & 7)) {
		uint64_t v;

		memcpy(&v, data, 8);
		ret = qt_writeq(q, L2_BAR2(i) + off, v);
	} else {
		ret = qt_write(q, L2_BAR2(i) + off, data, len);
	}
	if (!ret)
		img_record(img, off, data, len);
	return ret;
}

int l2_scribble(struct e2e_qemu *q, int i, struct e2e_image *img, int nblocks, int nwords)
{
	static struct vmt_rng rng;
	static bool seeded;
	uint8_t block[4096];
	uint64_t pages = img->size / 4096;
	int k;

	if (!seeded) {
		vmt_rng_seed(&rng, g_seed ^ 0x5c71bb1e);
		seeded = true;
	}
	for (k = 0; k < nblocks; k++) {
		vmt_rng_fill(&rng, block, sizeof(block));
		if (l2_write(q, i, img, vmt_rng_below(&rng, pages) * 4096, block, sizeof(block)))
			return -1;
	}
	for (k = 0; k < nwords; k++) {
		uint64_t v = vmt_rng_next(&rng);
		uint64_t off;

		/* the first and the last qword of BAR2, then anywhere */
		if (k == 0)
			off = 0;
		else if (k == 1)
			off = img->size - 8;
		else
			off = vmt_rng_below(&rng, img->size / 8) * 8;
		if (l2_write(q, i, img, off, &v, 8))
			return -1;
	}
	return 0;
}

static int check_range(struct e2e_qemu *q, int i, const struct e2e_image *img, uint64_t off,
		       size_t len, uint8_t *got, uint8_t *want, long long *bad)
{
	char what[64];

	if (off >= img->size)
		return 0;
	if (len > img->size - off)
		len = img->size - off;
	if (qt_read(q, L2_BAR2(i) + off, got, len))
		return -1;
	img_expect(img, off, want, len);
	snprintf(what, sizeof(what), "[%s] L2 view of device %d", q->name, i);
	compare_report(what, off, got, want, len, bad);
	return 0;
}

int l2_check_mem(struct e2e_qemu *q, int i, const struct e2e_image *img, bool full)
{
	const size_t chunk = 1 << 20;
	uint8_t *got = malloc(chunk), *want = malloc(chunk);
	long long bad = 0, t0 = now_ms();
	uint64_t off, checked = 0;
	int ret = 0, k;

	if (!got || !want)
		abort();
	if (full) {
		for (off = 0; off < img->size && !ret; off += chunk) {
			ret = check_range(q, i, img, off, chunk, got, want, &bad);
			checked += chunk;
		}
	} else {
		struct vmt_rng rng;

		vmt_rng_seed(&rng, g_seed ^ (uint64_t)now_ms());
		ret |= check_range(q, i, img, 0, 64 * 1024, got, want, &bad);
		ret |= check_range(q, i, img, img->size - 64 * 1024, 64 * 1024, got, want, &bad);
		checked += 128 * 1024;
		for (k = 0; k < img->nov && !ret; k++) {
			ret |= check_range(q, i, img, img->ov[k].off & ~7ULL,
					   (img->ov[k].len + 15) & ~7U, got, want, &bad);
			checked += img->ov[k].len;
		}
		for (k = 0; k < 16 && !ret; k++) {
			ret |= check_range(q, i, img, vmt_rng_below(&rng, img->size / 4096) * 4096,
					   4096, got, want, &bad);
			checked += 4096;
		}
	}
	free(got);
	free(want);
	if (ret) {
		diag("[%s] reading BAR2 of device %d through qtest failed", q->name, i);
		return -1;
	}
	if (bad) {
		diag("[%s] device %d (%s): %lld bytes differ in the %s of BAR2 compared", q->name, i,
		     q->bdf[i], bad, full ? "whole" : "samples");
		return -1;
	}
	diag("[%s] device %d: %s BAR2 (%llu KiB) as expected, %d recorded writes (%lld ms)", q->name,
	     i, full ? "whole" : "sampled", (unsigned long long)(full ? img->size : checked) / 1024,
	     img->nov, now_ms() - t0);
	return 0;
}

int mig_set_fast(struct e2e_qemu *q)
{
	/*
	 * Without precopy the device's whole state moves while the VM is
	 * stopped, and the type1 container reports every pinned guest page
	 * dirty on every pass: QEMU switches over only when it believes the
	 * remainder fits into downtime-limit at the bandwidth it expects.
	 * Tell it the link is fast (1 GiB/s) and that a second is acceptable.
	 */
	return qmp_ok(q, "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
		      "{\"max-bandwidth\":1073741824,\"avail-switchover-bandwidth\":1073741824,"
		      "\"downtime-limit\":1000}}");
}

int l2_fill_ram(struct e2e_qemu *q)
{
	struct vmt_rng rng;
	uint8_t *buf = malloc(E2E_HOLD_RAM);
	int ret;

	if (!buf)
		abort();
	vmt_rng_seed(&rng, g_seed ^ 0x4a11);
	vmt_rng_fill(&rng, buf, E2E_HOLD_RAM);
	ret = qt_write(q, E2E_HOLD_RAM_AT, buf, E2E_HOLD_RAM);
	free(buf);
	return ret;
}

int mig_set_hold(struct e2e_qemu *q)
{
	/*
	 * downtime-limit 0 alone does not hold a migration of these small VMs:
	 * measured with QEMU 10.0, it still switched over right after the first
	 * pass over RAM (a VFIO device without precopy adds nothing to QEMU's
	 * quick estimate of the pending data).  What holds it is a slow link and
	 * RAM that is not zero: with E2E_HOLD_RAM bytes of random data in guest
	 * RAM (l2_fill_ram) and max-bandwidth E2E_HOLD_BW it stayed active for
	 * more than 120 s, and it completes within a second once mig_set_fast()
	 * raises the bandwidth.
	 */
	return qmp_ok(q, "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
		      "{\"max-bandwidth\":%llu,\"avail-switchover-bandwidth\":0,"
		      "\"downtime-limit\":300}}", (unsigned long long)E2E_HOLD_BW);
}

int mig_set_caps(struct e2e_qemu *q, const char *caps_json)
{
	return qmp_ok(q, "{\"execute\":\"migrate-set-capabilities\",\"arguments\":"
		      "{\"capabilities\":%s}}", caps_json);
}

int mig_start(struct e2e_qemu *src, const char *uri)
{
	return qmp_ok(src, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"%s\"}}", uri);
}

static bool word_in(const char *word, const char *list)
{
	size_t l = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == '|') && (p[l] == 0 || p[l] == '|'))
			return true;
		p += l;
	}
	return false;
}

/*
 * What says that a migration moves: its state and the counters of data sent,
 * still to send and dirty syncs (not the times or rates: they change anyway).
 */
static void mig_counters(const char *rep, char *buf, size_t len)
{
	static const char *const keys[] = { "transferred", "remaining", "dirty-sync-count",
					    "normal", "duplicate" };
	const char *ram = strstr(rep, "\"ram\": {");
	const char *v = strstr(rep, "\"vfio\": {");
	long long x;
	size_t o;
	unsigned int i;

	o = snprintf(buf, len, "%.40s", strstr(rep, "\"status\"") ? strstr(rep, "\"status\"") : "");
	for (i = 0; ram && i < sizeof(keys) / sizeof(keys[0]) && o < len; i++)
		if (json_int(ram, keys[i], &x))
			o += snprintf(buf + o, len - o, " %lld", x);
	if (v && o < len && json_int(v, "transferred", &x))
		o += snprintf(buf + o, len - o, " vfio %lld", x);
}

int mig_wait(struct e2e_qemu *q, const char *final, struct mig_result *r)
{
	char what[128], sig[256], last_sig[256] = "";
	const char *rep = NULL;
	struct e2e_wait w;

	if (!final)
		final = "completed|failed|cancelled";
	memset(r, 0, sizeof(*r));
	r->downtime_ms = r->total_ms = r->setup_ms = r->vfio_bytes = r->ram_bytes = -1;
	snprintf(what, sizeof(what), "migration: waiting for %s", final);
	wait_begin(&w, q, what);
	while (!wait_check(&w)) {
		rep = qmp(q, "{\"execute\":\"query-migrate\"}");
		if (!rep)
			break;
		json_str(rep, "status", r->status, sizeof(r->status));
		/* a final state ends the wait even when another one was wanted */
		if (word_in(r->status, final) || word_in(r->status, "completed|failed|cancelled"))
			break;
		mig_counters(rep, sig, sizeof(sig));
		if (strcmp(sig, last_sig)) {
			if (last_sig[0])
				prog_note(q->pid, "migration counters");
			snprintf(last_sig, sizeof(last_sig), "%s", sig);
		}
		vmt_sleep_ms(100);
	}
	if (rep) {
		const char *v = strstr(rep, "\"vfio\": {");
		const char *ram = strstr(rep, "\"ram\": {");

		json_str(rep, "error-desc", r->error, sizeof(r->error));
		json_int(rep, "downtime", &r->downtime_ms);
		json_int(rep, "total-time", &r->total_ms);
		json_int(rep, "setup-time", &r->setup_ms);
		if (v)
			json_int(v, "transferred", &r->vfio_bytes);
		if (ram)
			json_int(ram, "transferred", &r->ram_bytes);
	}
	if (!rep || !word_in(r->status, final)) {
		diag("[%s] migration status '%s' after %lld s, waited for %s", q->name,
		     r->status[0] ? r->status : "(no answer)", (now_ms() - w.t0) / 1000, final);
		if (rep)
			diag("[%s] last query-migrate: %.600s", q->name, rep);
		return -1;
	}
	return 0;
}

void mig_print(const char *what, const struct mig_result *r)
{
	diag("%s: status %s, downtime %lld ms, total time %lld ms, setup %lld ms, vfio %lld bytes, ram %lld bytes%s%s",
	     what, r->status, r->downtime_ms, r->total_ms, r->setup_ms, r->vfio_bytes, r->ram_bytes,
	     r->error[0] ? ", error: " : "", r->error);
}

/* ---- kernel log ---------------------------------------------------------------------------- */

static void kmsg_read(void)
{
	char rec[8192];
	ssize_t n;

	if (g_kmsg < 0)
		return;
	for (;;) {
		char *msg;

		n = read(g_kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = 0;
		/* "prio,seq,usec,flags;text\n" + continuation lines */
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		{
			char *nl = strchr(msg, '\n');

			if (nl)
				nl[1] = 0;
		}
		vmt_buf_append(&g_kmsg_buf, msg, strlen(msg));
	}
	vmt_buf_append(&g_kmsg_buf, "", 1);
	g_kmsg_buf.len--;
}

void kmsg_mark(void)
{
	if (g_kmsg < 0) {
		g_kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (g_kmsg < 0)
			return;
	}
	lseek(g_kmsg, 0, SEEK_END);
	g_kmsg_buf.len = 0;
	vmt_buf_append(&g_kmsg_buf, "", 1);
	g_kmsg_buf.len = 0;
}

const char *kmsg_since_mark(void)
{
	kmsg_read();
	return g_kmsg_buf.p ? (const char *)g_kmsg_buf.p : "";
}

bool kmsg_has(const char *needle)
{
	return strstr(kmsg_since_mark(), needle) != NULL;
}

bool kmsg_has_report(void)
{
	static const char *const bad[] = { "WARNING:", "BUG", "Oops", "Call Trace", "KFENCE",
					   "general protection", "INFO: ", NULL };
	const char *s = kmsg_since_mark();
	int i;

	for (i = 0; bad[i]; i++)
		if (strstr(s, bad[i]))
			return true;
	return false;
}

void kmsg_dump(int max)
{
	diag_text("[dmesg] ", kmsg_since_mark(), max);
}
