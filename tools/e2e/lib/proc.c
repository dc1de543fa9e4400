// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: the program's life: its work directory and child processes, cleanup on
 * exit and on signals, the environment (seed, device addresses and sizes) and
 * what this QEMU can do.  See e2e.h.
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
#include "e2e_int.h"

char g_dir[256];
static pid_t g_children[16];
volatile sig_atomic_t g_abort;	/* 1: signal, 2: watchdog */

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

void child_add(pid_t pid)
{
	unsigned int i;

	for (i = 0; i < sizeof(g_children) / sizeof(g_children[0]); i++)
		if (!g_children[i]) {
			g_children[i] = pid;
			return;
		}
}

void child_del(pid_t pid)
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
	if (g_dir[0] && !getenv("E2E_KEEP")) {
		emu_cleanup();
		nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
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

int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

char *read_file(const char *path, size_t max)
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

uint64_t g_seed;

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
		ktap_bail("mkdtemp: %s", strerror(errno));
	}
	atexit(cleanup);
	/* the whole firmware is HLT: the vCPU halts at the reset vector, IF=0 */
	memset(fw, 0xf4, sizeof(fw));
	snprintf(path, sizeof(path), "%s/hlt.bin", g_dir);
	if (write_file(path, fw, sizeof(fw))) {
		ktap_bail("cannot write %s", path);
	}
	/*
	 * Every vfio-pci has host=: without it the probe itself failed (e.g.
	 * QEMU was given up on while starting on a loaded machine), which
	 * says nothing about what QEMU can do.
	 */
	if (!e2e_vfio_has_prop("host")) {
		ktap_bail("could not read QEMU %s's vfio-pci properties (qemu-system-x86_64 -device vfio-pci,help)",
			  e2e_qemu_version());
	}
	/* a QEMU that cannot migrate VFIO devices: nothing to test (KSFT_SKIP) */
	if (!e2e_vfio_has_prop("enable-migration")) {
		ktap_skip_all("QEMU %s: vfio-pci has no enable-migration property (VFIO migration needs QEMU 8.1 or newer)",
			      e2e_qemu_version());
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

int e2e_run_stake(char *const argv[], char **out, uint64_t stake)
{
	char path[512];
	struct e2e_wait w;
	int fd, st = -1, ret = -1;
	pid_t pid;

	if (out)
		*out = NULL;
	snprintf(path, sizeof(path), "%s/cmd.out", g_dir);
	pid = fork();
	if (pid < 0)
		return -1;
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
	/* a command that computes or does I/O is progressing; one that sleeps forever is not */
	prog_watch(pid, argv[0]);
	wait_begin(&w, NULL, argv[0]);
	wait_set_stake(&w, stake);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			ret = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
		if (r < 0 || wait_check(&w)) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		vmt_sleep_ms(20);
	}
	prog_unwatch(pid);
	child_del(pid);
	if (out)
		*out = read_file(path, 0);
	return ret;
}

int e2e_run(char *const argv[], char **out)
{
	return e2e_run_stake(argv, out, 0);
}

/* Runs a command, returns its output (stdout + stderr) or NULL. */
static char *run_capture(char *const argv[])
{
	char *out;

	e2e_run(argv, &out);
	return out;
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
