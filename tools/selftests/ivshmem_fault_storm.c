// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci under the kernel's own fault injection (debug kernels:
 * make check KERNEL=debug): fail_function on the driver's allocation and
 * device-access points (ALLOW_ERROR_INJECTION in drivers/), and failslab
 * limited to this task, during save, restore, FSM arcs and DMA logging.
 *
 * After every injected failure the device must reach RUNNING through the
 * documented path (a failed SET leaves the old state, or ERROR, which
 * VFIO_DEVICE_RESET ends) and the next migration must be exact.  The guest
 * kernel's log and kmemleak judge the rest (scripts/verdict.sh): no report,
 * no leak.  Each single-shot test also proves that its injection fired (the
 * "times" counter of fail_function reached 0), so an injection point that
 * the driver never passes, or a renamed function, fails instead of passing.
 *
 * Kernels without CONFIG_FAIL_FUNCTION / CONFIG_FAILSLAB (Debian's) skip it
 * as a whole ("1..0 # SKIP"): tools/skips/<suite>.txt says so.
 *
 * Uses IVSHMEM_BDF_A (source) and IVSHMEM_BDF_B (destination).
 */

#include <limits.h>

#include "vmt_test.h"
#include "ivshmem_test.h"

#define DBG		"/sys/kernel/debug"
#define FF		DBG "/fail_function"
#define FSLAB		DBG "/failslab"
#define SEED		0x570a11edULL
#define STORM_ROUNDS	24

/* Writes @val to the file @dir/@name; 0 or -errno. */
static int put(const char *dir, const char *name, const char *val)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n == (ssize_t)strlen(val) ? 0 : (n < 0 ? -errno : -EIO);
	close(fd);
	return (int)n;
}

static long get_long(const char *dir, const char *name)
{
	char path[256], buf[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return LONG_MIN;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return LONG_MIN;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

/*
 * Common fault_attr settings: no stack dump per failure (verbose 0: the log
 * scan would take it for a kernel report), every call is a candidate.
 */
static int attr_set(const char *dir, unsigned int prob, long times,
		    bool task_filter)
{
	char v[32];
	int ret;

	snprintf(v, sizeof(v), "%u", prob);
	ret = put(dir, "verbose", "0") ?: put(dir, "interval", "1") ?:
	      put(dir, "space", "0") ?: put(dir, "probability", v);
	if (ret)
		return ret;
	snprintf(v, sizeof(v), "%ld", times);
	return put(dir, "times", v) ?:
	       put(dir, "task-filter", task_filter ? "Y" : "N");
}

/*
 * Arms fail_function for @fn (returning -@err), adding to what is armed.
 * retval is an unsigned 64-bit debugfs attribute: "-12" is refused, the
 * errno goes in as its two's complement.
 */
static int ff_add(const char *fn, int err)
{
	char dir[128], v[32];
	int ret = put(FF, "inject", fn);

	if (ret)
		return ret;
	snprintf(dir, sizeof(dir), FF "/%s", fn);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)-(long long)err);
	return put(dir, "retval", v);
}

static void ff_clear(void)
{
	put(FF, "inject", "\n");
	put(FF, "probability", "0");
}

static void fslab_clear(void)
{
	put(FSLAB, "probability", "0");
	put(FSLAB, "task-filter", "N");
}

/*
 * The documented way back to RUNNING: leave the current state for RUNNING;
 * where that is refused the device must be in ERROR, which a reset ends.
 */
static void recover(struct __test_metadata *_metadata, struct ivsh *s)
{
	uint32_t st = ~0U;

	ASSERT_OK(mig_get_state(s->dev.fd, &st));
	if (st != STATE(ERROR) &&
	    !mig_set_state_nofd(s->dev.fd, STATE(RUNNING)))
		return;
	ASSERT_OK(mig_get_state(s->dev.fd, &st));
	ASSERT_EQ(STATE(ERROR), st) {
		TH_LOG("SET to RUNNING refused in %s, which is not ERROR",
		       mig_state_name(st));
	}
	ASSERT_OK(vdev_reset(&s->dev));
	ASSERT_STATE(s->dev.fd, STATE(RUNNING));
}

/* What both fixtures hold: the two devices, a stream buffer, make-it-fail. */
struct inj_devs {
	struct ivsh a, b;
	struct vmt_buf stream;
	int mif;	/* /proc/self/make-it-fail, opened before any storm */
};

static void devs_setup(struct __test_metadata *_metadata, struct inj_devs *d)
{
	/*
	 * Nothing armed by an earlier test: 6.12's harness skips the teardown
	 * of a test that failed an ASSERT in its body.
	 */
	ff_clear();
	fslab_clear();
	ivsh_init(&d->a);
	ivsh_init(&d->b);
	memset(&d->stream, 0, sizeof(d->stream));
	d->mif = -1;
	OPEN_IVSH(&d->a, "IVSHMEM_BDF_A");
	OPEN_IVSH(&d->b, "IVSHMEM_BDF_B");
	ASSERT_OK(ivsh_map(&d->a));
	ASSERT_OK(ivsh_map(&d->b));
	ivsh_fill(&d->a, SEED);
	ASSERT_OK(ivsh_set_regs(&d->a, 0x0000ff00, 0x00000011));
	/* Size the buffer now: no user allocation while slab fails. */
	ASSERT_OK(ivsh_save(&d->a, &d->stream, VMT_MiB, NULL));
	d->mif = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, d->mif);
}

static void devs_teardown(struct inj_devs *d)
{
	ff_clear();
	fslab_clear();
	if (d->mif >= 0) {
		if (pwrite(d->mif, "0", 1, 0) != 1)
			perror("make-it-fail");
		close(d->mif);
	}
	free(d->stream.p);
	ivsh_close(&d->a);
	ivsh_close(&d->b);
}

/* A -> B through the user buffer; 0 or the first error. */
static int migrate(struct inj_devs *d)
{
	int ret;

	d->stream.len = 0;
	ret = ivsh_save(&d->a, &d->stream, 65536, NULL);
	if (!ret)
		ret = ivsh_restore(&d->b, d->stream.p, d->stream.len, 65536,
				   NULL);
	return ret;
}

static void migrate_exact(struct __test_metadata *_metadata,
			  struct inj_devs *d)
{
	uint32_t mask, status;

	ASSERT_OK(migrate(d));
	EXPECT_EQ(UINT64_MAX, ivsh_verify(&d->b, SEED));
	ASSERT_OK(ivsh_get_regs(&d->b, &mask, &status));
	EXPECT_EQ(0x0000ff00, mask);
	EXPECT_EQ(0x00000011, status);
}

/* One DMA-logging session; 0 or the first error. */
static int log_session(struct ivsh *s)
{
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0, .length = 64 * VMT_MiB,
	};
	uint64_t pgsz = 4096;
	int ret = dma_log_start(s->dev.fd, &pgsz, &r, 1);

	return ret ?: dma_log_stop(s->dev.fd);
}

FIXTURE(inj) {
	struct inj_devs d;
};

FIXTURE_SETUP(inj)
{
	devs_setup(_metadata, &self->d);
}

FIXTURE_TEARDOWN(inj)
{
	devs_teardown(&self->d);
}

FIXTURE_VARIANT(inj) {
	const char *fn;		/* the function fail_function makes fail */
	int err;
	bool logging;		/* exercised by DMA logging, not a migration */
	/*
	 * A data-path point: the data fd returns what it moved before the
	 * failure (a short read or write) and the caller's retry succeeds,
	 * so the migration may complete; it must then be exact.
	 */
	bool retried;
};

FIXTURE_VARIANT_ADD(inj, file_create) { .fn = "ivm_file_create", .err = ENOMEM };
FIXTURE_VARIANT_ADD(inj, save_regs) { .fn = "ivshmem_save_regs", .err = EIO };
FIXTURE_VARIANT_ADD(inj, load_regs) { .fn = "ivshmem_load_regs", .err = EIO };
FIXTURE_VARIANT_ADD(inj, mem_read) {
	.fn = "ivshmem_mem_read", .err = EIO, .retried = true,
};
FIXTURE_VARIANT_ADD(inj, mem_write) {
	.fn = "ivshmem_mem_write", .err = EIO, .retried = true,
};
FIXTURE_VARIANT_ADD(inj, log_start) {
	.fn = "ivm_log_start", .err = ENOMEM, .logging = true,
};

/*
 * The point fails once: the operation through it fails, the injection fired,
 * both devices come back by the documented path and then work exactly.
 */
TEST_F(inj, once)
{
	struct inj_devs *d = &self->d;
	int ret;

	ASSERT_OK(attr_set(FF, 100, 1, false));
	ret = ff_add(variant->fn, variant->err);
	ASSERT_EQ(0, ret) {
		TH_LOG("fail_function cannot inject %s (%s): renamed, inlined or not ALLOW_ERROR_INJECTION?",
		       variant->fn, strerror(-ret));
	}
	ret = variant->logging ? log_session(&d->a) : migrate(d);
	EXPECT_EQ(0, get_long(FF, "times")) {
		TH_LOG("%s was never called: the injection did not fire",
		       variant->fn);
	}
	if (!ret && variant->retried) {
		/* the short transfer was retried: nothing may be lost */
		TH_LOG("%s failed once; the retried transfer completed",
		       variant->fn);
		EXPECT_EQ(UINT64_MAX, ivsh_verify(&d->b, SEED));
	} else {
		EXPECT_NE(0, ret) {
			TH_LOG("the operation succeeded although %s failed",
			       variant->fn);
		}
	}
	ff_clear();
	recover(_metadata, &d->a);
	recover(_metadata, &d->b);
	if (variant->logging)
		ASSERT_OK(log_session(&d->a));
	migrate_exact(_metadata, d);
}

FIXTURE(storm) {
	struct inj_devs d;
};

FIXTURE_SETUP(storm)
{
	devs_setup(_metadata, &self->d);
}

FIXTURE_TEARDOWN(storm)
{
	devs_teardown(&self->d);
}

/*
 * Every slab allocation of this task fails with a 12% chance and each
 * injectable function of the driver with 6%, over many migrations and
 * logging sessions, each followed by the documented recovery.  Some rounds
 * must fail (else the storm proved nothing); all must recover, and the final
 * migration is exact.
 */
TEST_F(storm, save_restore_log)
{
	static const struct { const char *fn; int err; } pts[] = {
		{ "ivm_file_create", ENOMEM }, { "ivshmem_save_regs", EIO },
		{ "ivshmem_load_regs", EIO }, { "ivshmem_mem_read", EIO },
		{ "ivshmem_mem_write", EIO }, { "ivm_log_start", ENOMEM },
	};
	struct inj_devs *d = &self->d;
	unsigned int i, failed = 0;
	int ret;

	ASSERT_OK(attr_set(FF, 6, -1, false));
	for (i = 0; i < ARRAY_SIZE(pts); i++)
		ASSERT_OK(ff_add(pts[i].fn, pts[i].err));
	ASSERT_OK(attr_set(FSLAB, 12, -1, true));
	ASSERT_OK(put(FSLAB, "ignore-gfp-wait", "N"));
	for (i = 0; i < STORM_ROUNDS; i++) {
		ASSERT_EQ(1, pwrite(d->mif, "1", 1, 0));
		ret = migrate(d);
		if (!ret)
			ret = log_session(&d->a);
		ASSERT_EQ(1, pwrite(d->mif, "0", 1, 0));
		failed += ret != 0;
		recover(_metadata, &d->a);
		recover(_metadata, &d->b);
	}
	ff_clear();
	fslab_clear();
	TH_LOG("%u of %u rounds failed under injection", failed, STORM_ROUNDS);
	EXPECT_LT(0, failed) {
		TH_LOG("no round failed: the storm did not reach the driver");
	}
	ASSERT_OK(log_session(&d->a));
	migrate_exact(_metadata, d);
}

int main(int argc, char **argv)
{
	/* (mounts debugfs if nobody did) */
	int fd = ivsh_debugfs_open("mmap_freeze", O_RDONLY);
	int ret;

	if (fd >= 0)
		close(fd);
	if (access(FF "/inject", W_OK) || access(FSLAB "/probability", W_OK)) {
		ksft_print_header();
		ksft_exit_skip("kernel without fail_function/failslab (CONFIG_FAIL_FUNCTION, CONFIG_FAILSLAB): run it with make check KERNEL=debug\n");
	}
	vmt_parse_args(&argc, argv);
	ret = test_harness_run(argc, argv);
	/*
	 * Disarm whatever a failed test left armed (its teardown may not have
	 * run): fail_function has no task filter here, so an armed point would
	 * make every later user of the driver fail at random.
	 */
	ff_clear();
	fslab_clear();
	return ret;
}
