// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-migctl (tools/vfio-migctl) as a user runs it, against the devices of
 * the test VM: info, state, save, load and inspect on ivshmem-plain devices
 * bound to the driver, the stream it saves checked with the library's
 * checker and against the pattern the test wrote, and bad input: a wrong
 * address, a device bound to no driver or to one that is not VFIO's, a
 * device without migration, a busy device, truncated and corrupt files, the
 * stream of a device of another size.  Every case checks the documented
 * exit code and what the message names.  (inspect on every kind of damaged
 * stream needs no device: tools/unit/migctl_inspect_test.)
 *
 * VFIO_MIGCTL=<path> names the program (default ../vfio-migctl/vfio-migctl,
 * from this directory).  Devices: IVSHMEM_BDF_A, _B (equal) and _C (another
 * BAR2 size), IVSHMEM_BDF_DOORBELL (bound without migration).
 */
#include <dirent.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "vmt_test.h"

#define MIGCTL_DEFAULT	"../vfio-migctl/vfio-migctl"

/* What one run of vfio-migctl gave. */
struct run {
	int rc;			/* exit code, or 128 + signal */
	char out[16384];	/* stdout (its start) */
	char err[8192];		/* stderr (its start) */
};

static const char *migctl(void)
{
	const char *p = vmt_env("VFIO_MIGCTL");

	return p ? p : MIGCTL_DEFAULT;
}

static void slurp_fd(int fd, char *buf, size_t size)
{
	ssize_t n, have = 0;

	lseek(fd, 0, SEEK_SET);
	while ((size_t)have < size - 1 && (n = read(fd, buf + have, size - 1 - have)) > 0)
		have += n;
	buf[have] = 0;
}

/*
 * Runs vfio-migctl with @args (NULL-terminated), stdin from /dev/null or
 * @in, stdout to @out_path if given (else captured).  0, or -errno.
 */
static int run_migctl(struct run *r, const char *out_path, const char *in, const char *const *args)
{
	char tout[] = "/tmp/migctl-out-XXXXXX", terr[] = "/tmp/migctl-err-XXXXXX";
	const char *argv[16];
	int fo, fe, fi, st, i;
	pid_t pid;

	argv[0] = migctl();
	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	fo = out_path ? open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600) : mkstemp(tout);
	fe = mkstemp(terr);
	fi = open(in ? in : "/dev/null", O_RDONLY);
	if (fo < 0 || fe < 0 || fi < 0)
		return -errno;
	if (!out_path)
		unlink(tout);
	unlink(terr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], (char **)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out[0] = 0;
	if (!out_path)
		slurp_fd(fo, r->out, sizeof(r->out));
	slurp_fd(fe, r->err, sizeof(r->err));
	close(fo);
	close(fe);
	close(fi);
	return 0;
}

#define MIGCTL(r, ...) \
	ASSERT_OK(run_migctl((r), NULL, NULL, (const char *const[]){ __VA_ARGS__, NULL }))

/* The exit code, with what the program said when it is not the one wanted. */
#define EXPECT_RC(want, r) \
	EXPECT_EQ((want), (r)->rc) TH_LOG("exit %d; stdout: %.600s; stderr: %.600s", \
					  (r)->rc, (r)->out, (r)->err)

#define EXPECT_HAS(hay, needle) \
	EXPECT_NE(NULL, strstr((hay), (needle))) TH_LOG("'%s' not in: %.800s", (needle), (hay))

/* The first PCI device bound to no driver, or to @drv ("" for none). */
static bool find_pci(const char *drv, char *bdf, size_t len)
{
	char path[512], link[512];
	struct dirent *e;
	bool found = false;
	DIR *dir;
	ssize_t n;

	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return false;
	while (!found && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0) {
			found = !*drv;
		} else {
			link[n] = 0;
			found = *drv && !strcmp(strrchr(link, '/') + 1, drv);
		}
		if (found)
			snprintf(bdf, len, "%.63s", e->d_name);
	}
	closedir(dir);
	return found;
}

static size_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (size_t)st.st_size;
}

/* Writes @len bytes of @p to @path. */
static int put_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, p, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Fills BAR2 of @bdf with vmt_pattern(@seed) and closes it again. */
static int fill_device(const char *bdf, uint64_t seed)
{
	struct ivsh s;
	int ret;

	ivsh_init(&s);
	ret = ivsh_open(&s, bdf);
	if (ret)
		return ret;
	ivsh_fill(&s, seed);
	ivsh_close(&s);
	return 0;
}

/* UINT64_MAX when BAR2 of @bdf holds vmt_pattern(@seed), else the first bad offset. */
static uint64_t verify_device(const char *bdf, uint64_t seed)
{
	struct ivsh s;
	uint64_t bad;

	ivsh_init(&s);
	if (ivsh_open(&s, bdf))
		return 0;
	bad = ivsh_verify(&s, seed);
	ivsh_close(&s);
	return bad;
}

struct mem_check {
	uint64_t seed;
	uint64_t bad;
};

static void mem_cb(void *opaque, uint64_t off, const void *p, size_t n)
{
	struct mem_check *m = opaque;
	uint64_t b;

	if (m->bad != UINT64_MAX)
		return;
	b = vmt_pattern_check(p, off, n & ~7UL, m->seed);
	if (b != UINT64_MAX)
		m->bad = b;
}

FIXTURE(migctl) {
	char a[64], b[64], c[64];
	char dir[64];
	char file[128];		/* A's stream, saved by the setup */
	uint64_t seed;
	uint64_t size_a;
	struct run r;
};

FIXTURE_SETUP(migctl)
{
	const char *a = getenv("IVSHMEM_BDF_A"), *b = getenv("IVSHMEM_BDF_B");
	const char *c = getenv("IVSHMEM_BDF_C");
	struct ivsh s;

	snprintf(self->dir, sizeof(self->dir), "/tmp/migctl-XXXXXX");
	if (!a || !*a || !b || !*b || !c || !*c)
		VMT_SKIP_SETUP("IVSHMEM_BDF_A, _B and _C must be set (the test VM sets them)");
	ASSERT_EQ(0, access(migctl(), X_OK)) TH_LOG("%s: %s (build tools/vfio-migctl)", migctl(),
						     strerror(errno));
	ASSERT_NE(NULL, mkdtemp(self->dir));
	vdev_norm_bdf(self->a, sizeof(self->a), a);
	vdev_norm_bdf(self->b, sizeof(self->b), b);
	vdev_norm_bdf(self->c, sizeof(self->c), c);
	self->seed = vmt_seed();
	TH_LOG("seed %llu", (unsigned long long)self->seed);
	ivsh_init(&s);
	ASSERT_OK(ivsh_open(&s, self->a));
	self->size_a = s.mem_size;
	ivsh_fill(&s, self->seed);
	ivsh_close(&s);
	snprintf(self->file, sizeof(self->file), "%s/a.ivms", self->dir);
	ASSERT_OK(run_migctl(&self->r, NULL, NULL,
			     (const char *const[]){ "save", self->a, self->file, NULL }));
	ASSERT_EQ(0, self->r.rc) TH_LOG("save: %s", self->r.err);
}

FIXTURE_TEARDOWN(migctl)
{
	char cmd[128];

	if (strcmp(self->dir, "/tmp/migctl-XXXXXX")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
		if (system(cmd))
			TH_LOG("%s failed", cmd);
	}
}

TEST_F(migctl, help_and_usage)
{
	struct run *r = &self->r;

	MIGCTL(r, "--help");
	EXPECT_RC(0, r);
	EXPECT_HAS(r->out, "inspect FILE");
	EXPECT_HAS(r->out, "Exit status");
	MIGCTL(r, "--version");
	EXPECT_RC(0, r);
	EXPECT_HAS(r->out, "vfio-migctl ");
	MIGCTL(r, "frobnicate", self->a);
	EXPECT_RC(2, r);
	EXPECT_HAS(r->err, "unknown command 'frobnicate'");
	MIGCTL(r, "info");
	EXPECT_RC(2, r);
	MIGCTL(r, "save", self->a);
	EXPECT_RC(2, r);
	MIGCTL(r, "state", self->a, "HALFWAY");
	EXPECT_RC(2, r);
	EXPECT_HAS(r->err, "unknown state 'HALFWAY'");
}

TEST_F(migctl, info_of_our_device)
{
	struct run *r = &self->r;
	char want[96];
	uint64_t size;
	struct vdev d;
	int ret;

	ASSERT_OK(vdev_open(&d, self->a));
	ret = mig_data_size(d.fd, &size);
	vdev_close(&d);
	MIGCTL(r, "info", self->a);
	EXPECT_RC(0, r);
	EXPECT_HAS(r->out, "driver:       " IVSH_DRIVER_NAME);
	EXPECT_HAS(r->out, "STOP_COPY P2P");
	EXPECT_HAS(r->out, "state:        RUNNING");
	if (ret) {
		EXPECT_HAS(r->out, "data size:    not reported");
	} else {
		snprintf(want, sizeof(want), "data size:    %llu bytes", (unsigned long long)size);
		EXPECT_HAS(r->out, want);
	}
	EXPECT_HAS(r->out, "pre-copy:");
	EXPECT_HAS(r->out, "dma logging:");
}

TEST_F(migctl, state_walk)
{
	struct run *r = &self->r;

	MIGCTL(r, "state", self->a);
	EXPECT_RC(0, r);
	EXPECT_STREQ("RUNNING\n", r->out);
	MIGCTL(r, "state", self->a, "stop", "RUNNING_P2P", "STOP", "running");
	EXPECT_RC(0, r);
	EXPECT_STREQ("RUNNING\nSTOP\nRUNNING_P2P\nSTOP\nRUNNING\n", r->out);
	MIGCTL(r, "state", self->a, "STOP_COPY", "STOP");
	EXPECT_RC(0, r);
	EXPECT_STREQ("RUNNING\nSTOP_COPY (data fd opened and closed)\nSTOP\n", r->out);
	MIGCTL(r, "state", self->a, "RESUMING");
	EXPECT_RC(0, r);
	EXPECT_STREQ("RUNNING\nRESUMING (data fd opened and closed)\n", r->out);
	/* a refused arc: RESUMING -> STOP judges the (empty) stream and leaves ERROR */
	MIGCTL(r, "state", self->a, "RESUMING", "STOP");
	EXPECT_RC(1, r);
	EXPECT_HAS(r->err, "RESUMING -> STOP: ");
	EXPECT_HAS(r->err, "the device is now in ERROR");
	/* the state was this open's: a new one starts in RUNNING */
	MIGCTL(r, "state", self->a);
	EXPECT_STREQ("RUNNING\n", r->out);
}

TEST_F(migctl, save_is_the_device_stream)
{
	struct mem_check m = { .seed = self->seed, .bad = UINT64_MAX };
	struct ivm_checker c;
	uint8_t *buf;
	size_t len = file_size(self->file);
	int fd;

	ASSERT_EQ(ivm_stream_len(self->size_a, 0), len);
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	fd = open(self->file, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)len, read(fd, buf, len));
	close(fd);
	ivm_check_init(&c);
	c.mem_cb = mem_cb;
	c.opaque = &m;
	EXPECT_EQ(0, ivm_check_feed(&c, buf, len) || ivm_check_finish(&c)) TH_LOG("%s", c.err);
	EXPECT_EQ(self->size_a, c.hdr.bar2_size);
	EXPECT_EQ(UINT64_MAX, m.bad) TH_LOG("BAR2 offset %llu differs from the pattern",
					    (unsigned long long)m.bad);
	ivm_check_free(&c);
	free(buf);
	/* plain progress lines when stderr is no terminal */
	EXPECT_HAS(self->r.err, "save: ");
	EXPECT_HAS(self->r.err, "/s\n");
	EXPECT_EQ(NULL, strchr(self->r.err, '\r'));
}

TEST_F(migctl, save_to_stdout)
{
	struct run *r = &self->r;
	char out[160];

	snprintf(out, sizeof(out), "%s/stdout.ivms", self->dir);
	ASSERT_OK(run_migctl(r, out, NULL, (const char *const[]){ "-q", "save", self->a, "-", NULL }));
	EXPECT_RC(0, r);
	EXPECT_EQ(file_size(self->file), file_size(out));
	EXPECT_STREQ("", r->err);
}

TEST_F(migctl, load_round_trip)
{
	struct run *r = &self->r;

	ASSERT_OK(fill_device(self->b, self->seed + 1));
	MIGCTL(r, "load", self->b, self->file);
	EXPECT_RC(0, r);
	EXPECT_HAS(r->err, "device RUNNING");
	EXPECT_EQ(UINT64_MAX, verify_device(self->b, self->seed));
	/* and from stdin */
	ASSERT_OK(fill_device(self->b, self->seed + 2));
	ASSERT_OK(run_migctl(r, NULL, self->file, (const char *const[]){ "load", self->b, "-", NULL }));
	EXPECT_RC(0, r);
	EXPECT_EQ(UINT64_MAX, verify_device(self->b, self->seed));
}

TEST_F(migctl, inspect_valid)
{
	struct run *r = &self->r;
	char want[96];

	MIGCTL(r, "inspect", self->file);
	EXPECT_RC(0, r);
	EXPECT_HAS(r->out, "magic        0x534d5649 (IVMS)");
	snprintf(want, sizeof(want), "bar2_size    %llu", (unsigned long long)self->size_a);
	EXPECT_HAS(r->out, want);
	/* v2: memory first, the registers last, just before END */
	EXPECT_HAS(r->out, "offset 40         MEM   BAR2 0x0 + ");
	EXPECT_HAS(r->out, " REGS  intrmask 0x");
	EXPECT_HAS(r->out, ": valid: ");
	EXPECT_HAS(r->out, "CRC32C 0x");
}

/* A copy of A's stream, cut or with one byte changed, in the fixture's directory. */
static int bad_copy(const char *src, const char *dst, size_t cut, long flip_at)
{
	size_t len = file_size(src);
	uint8_t *buf = malloc(len ? len : 1);
	int fd = open(src, O_RDONLY), ret;

	if (!buf || fd < 0 || read(fd, buf, len) != (ssize_t)len) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	if (flip_at >= 0)
		buf[flip_at] ^= 0x5a;
	ret = put_file(dst, buf, cut ? cut : len);
	free(buf);
	return ret;
}

TEST_F(migctl, load_truncated_file)
{
	struct run *r = &self->r;
	char path[160];

	snprintf(path, sizeof(path), "%s/short.ivms", self->dir);
	ASSERT_OK(bad_copy(self->file, path, file_size(self->file) - 4, -1));
	ASSERT_OK(fill_device(self->b, self->seed + 3));
	MIGCTL(r, "load", self->b, path);
	EXPECT_RC(5, r);
	EXPECT_HAS(r->err, "stream truncated in the END record");
	EXPECT_HAS(r->err, "--force");
	/* refused before the device saw a byte */
	EXPECT_EQ(UINT64_MAX, verify_device(self->b, self->seed + 3));
	/* --force: the driver takes the bytes and refuses the end of the stream */
	MIGCTL(r, "load", "--force", self->b, path);
	EXPECT_RC(1, r);
	EXPECT_HAS(r->err, "RESUMING -> STOP, the end of the stream, refused");
	MIGCTL(r, "state", self->b);
	EXPECT_STREQ("RUNNING\n", r->out);
}

TEST_F(migctl, load_wrong_device)
{
	struct run *r = &self->r;

	ASSERT_OK(fill_device(self->c, self->seed + 4));
	MIGCTL(r, "load", self->c, self->file);
	EXPECT_RC(6, r);
	EXPECT_HAS(r->err, "at stream offset 24 (header.bar2_size)");
	EXPECT_HAS(r->err, self->c);
	EXPECT_EQ(UINT64_MAX, verify_device(self->c, self->seed + 4));
	MIGCTL(r, "load", "-f", self->c, self->file);
	EXPECT_RC(1, r);
	EXPECT_HAS(r->err, "refused the stream at or after byte");
	EXPECT_EQ(UINT64_MAX, verify_device(self->c, self->seed + 4));
}

TEST_F(migctl, wrong_address)
{
	struct run *r = &self->r;

	MIGCTL(r, "info", "0000:7f:1f.7");
	EXPECT_RC(3, r);
	EXPECT_HAS(r->err, "0000:7f:1f.7: no such device");
	MIGCTL(r, "save", "not-a-device", "/dev/null");
	EXPECT_RC(3, r);
	EXPECT_HAS(r->err, "neither a PCI address");
}

TEST_F(migctl, device_not_bound)
{
	struct run *r = &self->r;
	char bdf[64];

	ASSERT_TRUE(find_pci("", bdf, sizeof(bdf))) TH_LOG("no PCI device without a driver (q35 has its host bridge)");
	MIGCTL(r, "info", bdf);
	EXPECT_RC(3, r);
	EXPECT_HAS(r->err, "not bound to any driver");
	ASSERT_TRUE(find_pci("virtio-pci", bdf, sizeof(bdf))) TH_LOG("no virtio-pci device (the root disk is one)");
	MIGCTL(r, "state", bdf);
	EXPECT_RC(3, r);
	EXPECT_HAS(r->err, "bound to virtio-pci, which is not a VFIO driver");
}

TEST_F(migctl, device_without_migration)
{
	const char *db = getenv("IVSHMEM_BDF_DOORBELL");
	struct run *r = &self->r;

	ASSERT_TRUE(db && *db) TH_LOG("IVSHMEM_BDF_DOORBELL is not set");
	MIGCTL(r, "info", db);
	EXPECT_RC(4, r);
	EXPECT_HAS(r->err, "no VFIO migration support");
	MIGCTL(r, "save", db, "/dev/null");
	EXPECT_RC(4, r);
}

TEST_F(migctl, device_busy)
{
	struct run *r = &self->r;
	struct vdev d;

	ASSERT_OK(vdev_open(&d, self->a));
	MIGCTL(r, "info", self->a);
	vdev_close(&d);
	EXPECT_RC(3, r);
	EXPECT_HAS(r->err, self->a);
	EXPECT_HAS(r->err, "busy");
}

/*
 * On a terminal, save draws its progress in place: a bar with a percentage
 * where the kernel tells the length (MIG_DATA_SIZE, 6.3+), else the bytes
 * and the rate only (6.1).
 */
TEST_F(migctl, progress_on_a_terminal)
{
	char out[160], buf[8192];
	const char *argv[] = { migctl(), "save", self->a, out, NULL };
	ssize_t n, have = 0;
	uint64_t len = 0;
	int master, st, r;
	struct vdev d;
	pid_t pid;

	ASSERT_OK(vdev_open(&d, self->a));
	r = mig_data_size(d.fd, &len);
	vdev_close(&d);
	ASSERT_TRUE(r == 0 || r == -ENOTTY) TH_LOG("MIG_DATA_SIZE: %d", r);
	snprintf(out, sizeof(out), "%s/tty.ivms", self->dir);
	pid = forkpty(&master, NULL, NULL, NULL);
	ASSERT_LE(0, pid);
	if (!pid) {
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	/* EIO on the master once the child is gone */
	while ((size_t)have < sizeof(buf) - 1 &&
	       (n = read(master, buf + have, sizeof(buf) - 1 - have)) > 0)
		have += n;
	buf[have] = 0;
	close(master);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st)) TH_LOG("%s", buf);
	if (!r) {
		EXPECT_HAS(buf, "\rsave [");
		EXPECT_HAS(buf, "100%");
	} else {
		EXPECT_HAS(buf, "\rsave ");
		EXPECT_TRUE(!strchr(buf, '%')) TH_LOG("a percentage without a length: %s", buf);
	}
	EXPECT_HAS(buf, "/s");
	EXPECT_EQ(file_size(self->file), file_size(out));
}

TEST_HARNESS_MAIN
