/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Glue between the helper library and kselftest_harness.h (which comes from
 * the kernel source at build time, see KSFT_INC in the Makefile).  Include
 * this instead of kselftest_harness.h directly.
 */
#ifndef VMT_TEST_H
#define VMT_TEST_H

/*
 * The harness macros define functions whose parameters (variant, _metadata)
 * are often unused; we build with -Wextra -Werror, so silence just that.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
/* setjmp() in the harness wrapper trips -Wclobbered on its own locals. */
#pragma GCC diagnostic ignored "-Wclobbered"
/*
 * ASSERT_EQ(0, some_u64) and friends compare the literal's int with the
 * value's type; all such comparisons here involve small non-negative values.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"

/*
 * The harness kills a test after TEST_TIMEOUT_DEFAULT (30 s) of wall clock:
 * on a loaded 2-core machine, or under KASAN, a healthy test takes longer.
 * Tests are judged by progress instead: scripts/vm.sh kills a program that
 * shows no output, CPU time or I/O for IVM_TEST_STALL seconds.  So the
 * per-test limit here is only a backstop for a test that spins forever.
 * (TEST_F() expands it where used, so redefining it after the include is
 * enough; tests that set their own limit keep it.)
 */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 1800

#include "ivm_stream.h"
#include "ivshmem.h"
#include "vfio_dev.h"
#include "vfio_mig.h"
#include "vmt_crc32c.h"
#include "vmt_util.h"

/* -d BDF / -D BDF given on the command line (removed before the harness sees argv). */
static const char *vmt_arg_bdf;
static const char *vmt_arg_bdf2;

static inline void vmt_parse_args(int *argc, char **argv)
{
	int i, o = 1;

	for (i = 1; i < *argc; i++) {
		if ((!strcmp(argv[i], "-d") || !strcmp(argv[i], "--device")) &&
		    i + 1 < *argc) {
			vmt_arg_bdf = argv[++i];
			continue;
		}
		if ((!strcmp(argv[i], "-D") || !strcmp(argv[i], "--device2")) &&
		    i + 1 < *argc) {
			vmt_arg_bdf2 = argv[++i];
			continue;
		}
		argv[o++] = argv[i];
	}
	argv[o] = NULL;
	*argc = o;
}

/*
 * SKIP() for fixture setups and the helpers and macros they use.  Harnesses
 * that have FIXTURE_TEARDOWN_PARENT (here those of Linux 6.12 and 7.x) end a
 * test whose setup skipped; older ones (Debian 12's, from 6.1) run the test
 * body anyway unless "passed" is cleared, and then still report the skip.
 */
#ifdef FIXTURE_TEARDOWN_PARENT
#define VMT_SKIP_SETUP(fmt, ...) SKIP(return, fmt, ##__VA_ARGS__)
#else
#define VMT_SKIP_SETUP(fmt, ...) do {					\
	SKIP(, fmt, ##__VA_ARGS__);					\
	_metadata->passed = 0;						\
	return;								\
} while (0)
#endif

/* One whole-program skip (plan 1..0) with @why. */
static inline __attribute__((noreturn)) void vmt_skip_all(const char *why)
{
	ksft_print_header();
	ksft_exit_skip("%s\n", why);
	exit(KSFT_SKIP);	/* older kselftest.h: not declared noreturn */
}

/*
 * The VFIO open mode the environment asks for (VFIO_DEV_IOMMUFD), parsed
 * here and not taken from vfio_dev.c: the vfio.open_path tests hold what the
 * kernel says about the open device against this, so that a library that
 * ignored the variable and fell back to the group/container fails them.
 */
static inline enum vdev_mode vmt_wanted_mode(void)
{
	const char *v = getenv(VDEV_MODE_ENV);

	return v && *v && strcmp(v, "0") ? VDEV_MODE_IOMMUFD : VDEV_MODE_GROUP;
}

/* The device @d is open the way vmt_wanted_mode() says, as the kernel sees it. */
#define ASSERT_OPEN_PATH(d) do {					\
	enum vdev_mode __want = vmt_wanted_mode();			\
	TH_LOG("%s: wanted %s; device fd %d, container %d, group %d, "	\
	       "iommufd %d, ioas %u, devid %u, attached to %u (%s)",	\
	       (d)->bdf, vdev_mode_name(__want), (d)->fd,		\
	       (d)->container, (d)->group, (d)->iommufd, (d)->ioas_id,	\
	       (d)->devid, (d)->pt_id, (d)->cdev[0] ? (d)->cdev : "no cdev"); \
	ASSERT_OK(vdev_check_mode((d), __want));			\
} while (0)

/*
 * The whole program skips when the open mode the environment asks for
 * cannot work here (headers or kernel without the VFIO device cdev and
 * iommufd).  Not when only listing the tests or asking for help.
 */
static inline void vmt_mode_precheck(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "-h"))
			return;
	if (vdev_mode_supported(vdev_default_mode()))
		vmt_skip_all(vmt_errstr());
}

#define VMT_TEST_MAIN							\
	int main(int argc, char **argv)					\
	{								\
		vmt_parse_args(&argc, argv);				\
		vmt_mode_precheck(argc, argv);				\
		return test_harness_run(argc, argv);			\
	}

/* Fails the test if the kernel logged a warning since vmt_kmsg_open(). */
#define EXPECT_NO_KERNEL_WARNING(k) do {				\
	char __kline[512];						\
	int __nbad = vmt_kmsg_scan((k), __kline, sizeof(__kline));	\
	EXPECT_EQ(0, __nbad) {						\
		TH_LOG("kernel log: %s", __kline);			\
	}								\
} while (0)

/* ASSERT that a lib call returned 0, logging its explanation otherwise. */
#define ASSERT_OK(expr) do {						\
	int __r = (expr);						\
	ASSERT_EQ(0, __r) {						\
		TH_LOG("%s: %s (%s)", #expr, strerror(-__r), vmt_errstr()); \
	}								\
} while (0)

#define EXPECT_OK(expr) do {						\
	int __r = (expr);						\
	EXPECT_EQ(0, __r) {						\
		TH_LOG("%s: %s (%s)", #expr, strerror(-__r), vmt_errstr()); \
	}								\
} while (0)

/* ASSERT that a lib call failed with exactly -err. */
#define ASSERT_ERRNO(err, expr) do {					\
	int __r = (expr);						\
	ASSERT_EQ(-(err), __r) {					\
		TH_LOG("%s: got %d (%s), want -%s", #expr, __r,		\
		       __r ? strerror(-__r) : "success", #err);		\
	}								\
} while (0)

#define ASSERT_STATE(fd, want) do {					\
	uint32_t __st = 0xdead;						\
	ASSERT_OK(mig_get_state((fd), &__st));				\
	ASSERT_EQ((uint32_t)(want), __st) {				\
		TH_LOG("device state %s, want %s", mig_state_name(__st), \
		       mig_state_name(want));				\
	}								\
} while (0)

/* Read / write of one byte on a data fd: 0 or -errno. */
static inline int vmt_read1(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);

	return n < 0 ? -errno : (int)n;
}

static inline int vmt_write1(int fd)
{
	char c = 0;
	ssize_t n = write(fd, &c, 1);

	return n < 0 ? -errno : (int)n;
}

static inline int vmt_accmode(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -errno : (fl & O_ACCMODE);
}

static inline bool vmt_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static inline void vmt_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * SIGBUS catching for accesses through BAR mappings of a stopped device.
 * vmt_probe_read32()/vmt_probe_write32() return 0 when the access completed
 * and -EFAULT when it raised SIGBUS.
 */
static sigjmp_buf vmt_sigbus_env;
static volatile sig_atomic_t vmt_sigbus_armed;
static volatile sig_atomic_t vmt_sigbus_count;

static void vmt_sigbus_handler(int sig)
{
	(void)sig;
	vmt_sigbus_count++;
	if (vmt_sigbus_armed)
		siglongjmp(vmt_sigbus_env, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static inline void vmt_sigbus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vmt_sigbus_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

static inline int vmt_probe_read32(const volatile void *p, uint32_t *v)
{
	if (sigsetjmp(vmt_sigbus_env, 1)) {
		vmt_sigbus_armed = 0;
		return -EFAULT;
	}
	vmt_sigbus_armed = 1;
	*v = *(const volatile uint32_t *)p;
	vmt_sigbus_armed = 0;
	return 0;
}

static inline int vmt_probe_write32(volatile void *p, uint32_t v)
{
	if (sigsetjmp(vmt_sigbus_env, 1)) {
		vmt_sigbus_armed = 0;
		return -EFAULT;
	}
	vmt_sigbus_armed = 1;
	*(volatile uint32_t *)p = v;
	vmt_sigbus_armed = 0;
	return 0;
}

#endif /* VMT_TEST_H */
