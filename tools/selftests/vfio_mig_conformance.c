// SPDX-License-Identifier: GPL-2.0
/*
 * Device-agnostic conformance tests for VFIO migration protocol v2.
 *
 * Nothing here knows the device: it is driven purely through
 * VFIO_DEVICE_FEATURE, the data fds and VFIO_DEVICE_RESET, and must pass for
 * any correct v2 migration driver.  Optional features (P2P, PRE_COPY,
 * MIG_DATA_SIZE, DMA logging, reset) are probed and their tests skip when
 * absent.
 *
 * Device selection (first match wins), each a PCI address, an mdev UUID or
 * a sysfs device path (/sys/bus/pci/devices/<BDF>, /sys/bus/mdev/devices/<UUID>):
 *   primary:   -d DEV, $VFIO_MIG_DEV,  $VFIO_MIG_BDF,  $IVSHMEM_BDF_A
 *   secondary: -D DEV, $VFIO_MIG_DEV2, $VFIO_MIG_BDF2, $IVSHMEM_BDF_B (round
 *              trips; without one the primary device restores its own stream)
 * Without a device, or when it has no VFIO_DEVICE_FEATURE_MIGRATION, the
 * whole program is skipped.
 *
 * Every test returns the device to RUNNING and closes it.
 */
#include "lib/vmt_test.h"

#define STATE(x) VFIO_DEVICE_STATE_##x

static const char *conf_env(const char *name, const char *old, const char *ivshmem)
{
	if (vmt_env(name))
		return vmt_env(name);
	if (vmt_env(old))
		return vmt_env(old);
	return vmt_env(ivshmem);
}

static const char *conf_bdf(void)
{
	if (vmt_arg_bdf)
		return vmt_arg_bdf;
	return conf_env("VFIO_MIG_DEV", "VFIO_MIG_BDF", "IVSHMEM_BDF_A");
}

static const char *conf_bdf2(void)
{
	if (vmt_arg_bdf2)
		return vmt_arg_bdf2;
	return conf_env("VFIO_MIG_DEV2", "VFIO_MIG_BDF2", "IVSHMEM_BDF_B");
}

/* State shared by every fixture: the device and its migration flags. */
struct conf {
	struct vdev dev;
	uint64_t flags;
	struct vmt_buf stream;	/* the device's own stream, if captured */
	struct vmt_kmsg kmsg;
	struct vmt_rng rng;
	uint64_t seed;
	uint32_t opened_in;	/* the state the device was opened in */
};

/*
 * Upstream's mtty sample driver (samples/vfio-mdev/mtty.c) has bugs that some
 * tests would report as failures.  Those tests skip for them, naming the bug,
 * only on mtty and only when the bug shows (see "upstream-worthy mtty bugs"
 * in README); on any other driver the same behaviour fails.
 */
static bool conf_is_mtty(const struct conf *c)
{
	return !strcmp(c->dev.driver, "mtty");
}

/*
 * Brings the device to RUNNING: SET RUNNING, else VFIO_DEVICE_RESET (ERROR,
 * RESUMING with an incomplete stream).  vfio.h does not say in which state a
 * device opens; the in-tree PCI migration drivers set RUNNING on open, mtty
 * keeps the old one (see datafd.close_device_with_save_fd_open).  So
 * every test returns the device to RUNNING before closing it, and checks the
 * state after opening it: a test that ended by a failed ASSERT did not do the
 * former, because the kselftest harness of 6.12 skips FIXTURE_TEARDOWN then.
 * mtty handles VFIO_DEVICE_RESET without advertising it, and a device that it
 * opens in RESUMING oopses the kernel at the next SET (mtty bugs, see the
 * README): on mtty the reset is used, and used instead of SET there.
 */
static int conf_to_running(struct conf *c, bool just_opened)
{
	bool can_reset = (c->dev.info.flags & VFIO_DEVICE_FLAGS_RESET) ||
			 conf_is_mtty(c);
	uint32_t st;
	int ret;

	ret = mig_get_state(c->dev.fd, &st);
	if (ret || st == STATE(RUNNING))
		return ret;
	if (!(just_opened && st == STATE(RESUMING) && conf_is_mtty(c)) &&
	    !mig_set_state_nofd(c->dev.fd, STATE(RUNNING)))
		return 0;
	if (!can_reset) {
		vmt_seterr("%s: in %s, SET RUNNING failed and there is no VFIO_DEVICE_RESET",
			   c->dev.bdf, mig_state_name(st));
		return -EIO;
	}
	return vdev_reset(&c->dev);
}

/*
 * Opens the primary device.  Returns 0, 1 when the test must be skipped (the
 * reason is in @why) or a negative errno.
 */
static int conf_open(struct conf *c, char *why, size_t len)
{
	const char *bdf = conf_bdf();
	int ret;

	vdev_init(&c->dev);
	c->kmsg.fd = -1;
	c->seed = vmt_seed();
	vmt_rng_seed(&c->rng, c->seed);
	if (!bdf) {
		snprintf(why, len, "no device: pass -d DEV or set VFIO_MIG_DEV");
		return 1;
	}
	vmt_kmsg_open(&c->kmsg);
	ret = vdev_open(&c->dev, bdf);
	if (ret)
		return ret;
	ret = mig_get_flags(c->dev.fd, &c->flags);
	if (ret == -ENOTTY) {
		snprintf(why, len, "%s has no VFIO migration support", bdf);
		return 1;
	}
	if (ret)
		return ret;
	ret = mig_get_state(c->dev.fd, &c->opened_in);
	if (ret)
		return ret;
	return conf_to_running(c, true);
}

static void conf_close(struct conf *c)
{
	/* So that the next test finds RUNNING (see conf_to_running()). */
	if (vdev_is_open(&c->dev))
		conf_to_running(c, false);
	vdev_close(&c->dev);
	vmt_buf_free(&c->stream);
}

/* RUNNING -> STOP_COPY -> read everything -> RUNNING. */
static int conf_capture(struct vdev *d, struct vmt_buf *out, size_t chunk,
			struct vmt_rng *rng)
{
	return mig_capture(d->fd, out, chunk, rng);
}

#define CONF_SETUP(c) do {						\
	char __why[128];						\
	int __ret = conf_open((c), __why, sizeof(__why));		\
	if (__ret == 1)							\
		VMT_SKIP_SETUP("%s", __why);				\
	ASSERT_EQ(0, __ret) {						\
		TH_LOG("%s", vmt_errstr());				\
	}								\
	TH_LOG("device %s (driver %s) flags 0x%llx seed 0x%llx",	\
	       (c)->dev.bdf, (c)->dev.driver[0] ? (c)->dev.driver : "none", \
	       (unsigned long long)(c)->flags,				\
	       (unsigned long long)(c)->seed);				\
	if ((c)->opened_in != STATE(RUNNING))				\
		TH_LOG("opened in %s (an earlier test failed?), now RUNNING", \
		       mig_state_name((c)->opened_in));			\
} while (0)

/* Devices are closed before the log is checked: close paths count too. */
#define CONF_TEARDOWN(c) do {						\
	conf_close(c);							\
	EXPECT_NO_KERNEL_WARNING(&(c)->kmsg);				\
	vmt_kmsg_close(&(c)->kmsg);					\
} while (0)

#define NEED_RESET(c) do {						\
	if ((c)->dev.info.flags & VFIO_DEVICE_FLAGS_RESET)		\
		break;							\
	if (conf_is_mtty(c))						\
		SKIP(return, "mtty bug: it handles VFIO_DEVICE_RESET "	\
		     "but does not advertise VFIO_DEVICE_FLAGS_RESET");	\
	SKIP(return, "device does not advertise VFIO_DEVICE_FLAGS_RESET"); \
} while (0)

/* ------------------------------------------------------------------------
 * State machine: every (from, to) pair of states, from reached from RUNNING.
 */

FIXTURE(fsm) {
	struct conf c;
	int sfd;		/* session fd of the from-state, or -1 */
	bool held_back;		/* RESUMING: the last byte not written yet */
};

FIXTURE_VARIANT(fsm) {
	uint32_t from;
};

FIXTURE_VARIANT_ADD(fsm, running) { .from = STATE(RUNNING) };
FIXTURE_VARIANT_ADD(fsm, stop) { .from = STATE(STOP) };
FIXTURE_VARIANT_ADD(fsm, stop_copy) { .from = STATE(STOP_COPY) };
FIXTURE_VARIANT_ADD(fsm, resuming) { .from = STATE(RESUMING) };
FIXTURE_VARIANT_ADD(fsm, running_p2p) { .from = STATE(RUNNING_P2P) };
FIXTURE_VARIANT_ADD(fsm, pre_copy) { .from = STATE(PRE_COPY) };
FIXTURE_VARIANT_ADD(fsm, pre_copy_p2p) { .from = STATE(PRE_COPY_P2P) };

FIXTURE_SETUP(fsm)
{
	uint32_t from = variant->from;

	self->sfd = -1;
	self->held_back = false;
	CONF_SETUP(&self->c);
	if (!mig_state_supported(self->c.flags, from))
		VMT_SKIP_SETUP("%s not supported (flags 0x%llx)",
			       mig_state_name(from),
			       (unsigned long long)self->c.flags);
	ASSERT_OK(conf_capture(&self->c.dev, &self->c.stream, VMT_MiB, NULL));
	ASSERT_GT(self->c.stream.len, 1);

	ASSERT_OK(mig_set_state(self->c.dev.fd, from, &self->sfd));
	if (mig_state_has_session(from)) {
		ASSERT_LE(0, self->sfd);
	} else {
		ASSERT_EQ(-1, self->sfd);
	}
	ASSERT_STATE(self->c.dev.fd, from);
	/* In RESUMING, hold back the last byte so that the session stays open. */
	if (from == STATE(RESUMING)) {
		ASSERT_OK(mig_write_all(self->sfd, self->c.stream.p,
					self->c.stream.len - 1, 64 * VMT_KiB,
					NULL, NULL));
		self->held_back = true;
	}
}

/* Completes the held-back RESUMING stream. */
static int fsm_finish_resume(FIXTURE_DATA(fsm) *self)
{
	const struct vmt_buf *s = &self->c.stream;

	self->held_back = false;
	return mig_write_all(self->sfd, s->p + s->len - 1, 1, 1, NULL, NULL);
}

FIXTURE_TEARDOWN(fsm)
{
	uint32_t st;

	/*
	 * A test that skipped or failed may leave the stream incomplete in
	 * RESUMING, which the device cannot leave but by VFIO_DEVICE_RESET:
	 * complete it, so that conf_close() can return to RUNNING.
	 */
	if (self->held_back && vdev_is_open(&self->c.dev) &&
	    !mig_get_state(self->c.dev.fd, &st) && st == STATE(RESUMING))
		fsm_finish_resume(self);
	vmt_close(&self->sfd);
	CONF_TEARDOWN(&self->c);
}

/* Checks that the session of @state (still current) works. */
static void fsm_session_alive(struct __test_metadata *_metadata,
			      FIXTURE_DATA(fsm) *self, uint32_t state)
{
	ssize_t n;

	if (self->sfd < 0)
		return;
	switch (state) {
	case STATE(STOP_COPY):
		n = mig_read_all(self->sfd, NULL, 64 * VMT_KiB, NULL, 0, NULL, NULL);
		ASSERT_GT(n, 0) {
			TH_LOG("saving session no longer readable: %s",
			       vmt_errstr());
		}
		break;
	case STATE(PRE_COPY):
	case STATE(PRE_COPY_P2P):
		ASSERT_OK(mig_precopy_info(self->sfd, NULL, NULL));
		break;
	case STATE(RESUMING):
		ASSERT_OK(fsm_finish_resume(self));
		ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
		ASSERT_STATE(self->c.dev.fd, STATE(STOP));
		break;
	}
}

/* The session of @from must be dead after leaving it. */
static void fsm_session_dead(struct __test_metadata *_metadata,
			     FIXTURE_DATA(fsm) *self, uint32_t from)
{
	int r;

	if (self->sfd < 0)
		return;
	if (from == STATE(RESUMING))
		r = vmt_write1(self->sfd);
	else
		r = vmt_read1(self->sfd);
	ASSERT_GT(0, r) {
		TH_LOG("data fd of the ended %s session still works (%d)",
		       mig_state_name(from), r);
	}
}

/* A freshly returned session fd must be usable for its purpose. */
static void fsm_new_session(struct __test_metadata *_metadata,
			    FIXTURE_DATA(fsm) *self, int fd, uint32_t to)
{
	ssize_t n;

	EXPECT_TRUE(vmt_cloexec(fd));
	if (to == STATE(RESUMING)) {
		ASSERT_EQ(O_WRONLY, vmt_accmode(fd));
		ASSERT_OK(mig_write_all(fd, self->c.stream.p, self->c.stream.len,
					64 * VMT_KiB, NULL, NULL));
		ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
		ASSERT_STATE(self->c.dev.fd, STATE(STOP));
		return;
	}
	ASSERT_EQ(O_RDONLY, vmt_accmode(fd));
	if (to == STATE(STOP_COPY)) {
		n = mig_read_all(fd, NULL, 64 * VMT_KiB, NULL, 0, NULL, NULL);
		ASSERT_GT(n, 0) {
			TH_LOG("new saving session: %s", vmt_errstr());
		}
	} else {
		ASSERT_OK(mig_precopy_info(fd, NULL, NULL));
	}
}

static void fsm_check(struct __test_metadata *_metadata,
		      FIXTURE_DATA(fsm) *self, uint32_t from, uint32_t to)
{
	int devfd = self->c.dev.fd;
	int fd = -2;

	if (!mig_state_supported(self->c.flags, to) || mig_arc_blocked(from, to)) {
		/* Refused before anything happens: state and session intact. */
		ASSERT_ERRNO(EINVAL, mig_set_state(devfd, to, &fd));
		ASSERT_EQ(-1, fd);
		ASSERT_STATE(devfd, from);
		fsm_session_alive(_metadata, self, from);
		return;
	}

	if (from == STATE(RESUMING) && to != STATE(RESUMING)) {
		ASSERT_OK(fsm_finish_resume(self));
	}

	ASSERT_OK(mig_set_state(devfd, to, &fd));
	ASSERT_STATE(devfd, to);

	if (mig_arc_new_session(from, to)) {
		ASSERT_LE(0, fd) {
			TH_LOG("%s -> %s must return a data fd",
			       mig_state_name(from), mig_state_name(to));
		}
	} else {
		ASSERT_EQ(-1, fd) {
			TH_LOG("%s -> %s must not return a data fd",
			       mig_state_name(from), mig_state_name(to));
		}
	}

	if (mig_arc_keeps_session(from, to)) {
		fsm_session_alive(_metadata, self,
				  from == STATE(RESUMING) ? from : to);
	} else {
		fsm_session_dead(_metadata, self, from);
	}

	if (fd >= 0) {
		/* A new session never reuses the old fd's file. */
		EXPECT_NE(self->sfd, fd);
		fsm_new_session(_metadata, self, fd, to);
		close(fd);
	}
}

TEST_F(fsm, to_running) { fsm_check(_metadata, self, variant->from, STATE(RUNNING)); }
TEST_F(fsm, to_stop) { fsm_check(_metadata, self, variant->from, STATE(STOP)); }
TEST_F(fsm, to_stop_copy) { fsm_check(_metadata, self, variant->from, STATE(STOP_COPY)); }
TEST_F(fsm, to_resuming) { fsm_check(_metadata, self, variant->from, STATE(RESUMING)); }
TEST_F(fsm, to_running_p2p) { fsm_check(_metadata, self, variant->from, STATE(RUNNING_P2P)); }
TEST_F(fsm, to_pre_copy) { fsm_check(_metadata, self, variant->from, STATE(PRE_COPY)); }
TEST_F(fsm, to_pre_copy_p2p) { fsm_check(_metadata, self, variant->from, STATE(PRE_COPY_P2P)); }

/* ERROR can never be requested; the state and its session stay. */
TEST_F(fsm, error_not_settable)
{
	int fd = -2;

	ASSERT_ERRNO(EINVAL, mig_set_state(self->c.dev.fd, STATE(ERROR), &fd));
	ASSERT_EQ(-1, fd);
	ASSERT_STATE(self->c.dev.fd, variant->from);
	fsm_session_alive(_metadata, self, variant->from);
}

/* Values outside enum vfio_device_mig_state are refused without effect. */
TEST_F(fsm, unknown_state_rejected)
{
	static const uint32_t bad[] = { 8, 9, 0x80, 0x10002, 0x7fffffff,
					0xffffffff };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int fd = -2;

		ASSERT_ERRNO(EINVAL, mig_set_state(self->c.dev.fd, bad[i], &fd));
		ASSERT_EQ(-1, fd);
		ASSERT_STATE(self->c.dev.fd, variant->from);
	}
	fsm_session_alive(_metadata, self, variant->from);
}

/* VFIO_DEVICE_RESET from any state returns RUNNING and ends the session. */
TEST_F(fsm, reset_returns_running)
{
	struct vmt_buf again = { 0 };

	NEED_RESET(&self->c);
	ASSERT_OK(vdev_reset(&self->c.dev));
	ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
	fsm_session_dead(_metadata, self, variant->from);
	/* And migration works normally afterwards. */
	ASSERT_OK(conf_capture(&self->c.dev, &again, VMT_MiB, NULL));
	ASSERT_GT(again.len, 0);
	vmt_buf_free(&again);
}

/* ------------------------------------------------------------------------
 * How the device is open.
 */

FIXTURE(vfio) {
	struct conf c;
};

FIXTURE_SETUP(vfio)
{
	CONF_SETUP(&self->c);
}

FIXTURE_TEARDOWN(vfio)
{
	CONF_TEARDOWN(&self->c);
}

/*
 * Through its group in a type1 container, or, with VFIO_DEV_IOMMUFD=1
 * (vfio_mig_conformance_iommufd), through its cdev bound to an iommufd:
 * checked with the kernel, so that a silent fallback to the group/container
 * cannot pass.
 */
TEST_F(vfio, open_path)
{
	ASSERT_OPEN_PATH(&self->c.dev);
}

/* ------------------------------------------------------------------------
 * VFIO_DEVICE_FEATURE argument validation.
 */

FIXTURE(feat) {
	struct conf c;
};

FIXTURE_SETUP(feat)
{
	CONF_SETUP(&self->c);
}

FIXTURE_TEARDOWN(feat)
{
	CONF_TEARDOWN(&self->c);
}

#define F_GET VFIO_DEVICE_FEATURE_GET
#define F_SET VFIO_DEVICE_FEATURE_SET
#define F_PROBE VFIO_DEVICE_FEATURE_PROBE
#define F_HDR sizeof(struct vfio_device_feature)

TEST_F(feat, migration_flags_consistent)
{
	uint64_t f = self->c.flags;

	ASSERT_TRUE(f & VFIO_MIGRATION_STOP_COPY);
	ASSERT_EQ(0, f & ~(uint64_t)(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
				     VFIO_MIGRATION_PRE_COPY)) {
		TH_LOG("unknown migration flags 0x%llx", (unsigned long long)f);
	}
	/* Asking twice gives the same answer. */
	uint64_t again = 0;

	ASSERT_OK(mig_get_flags(self->c.dev.fd, &again));
	ASSERT_EQ(f, again);
}

TEST_F(feat, probe_migration)
{
	int fd = self->c.dev.fd;

	ASSERT_OK(vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_MIGRATION, 0));
	ASSERT_OK(vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_MIGRATION, F_GET));
	/* MIGRATION is read-only. */
	ASSERT_ERRNO(EINVAL, vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_MIGRATION, F_SET));
}

TEST_F(feat, probe_device_state)
{
	int fd = self->c.dev.fd;

	ASSERT_OK(vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 0));
	ASSERT_OK(vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				     F_GET | F_SET));
	ASSERT_STATE(fd, STATE(RUNNING));
}

TEST_F(feat, migration_set_rejected)
{
	struct vfio_device_feature_migration m = { .flags = 0 };

	ASSERT_ERRNO(EINVAL, vfio_feature(self->c.dev.fd,
					  F_SET | VFIO_DEVICE_FEATURE_MIGRATION,
					  &m, sizeof(m)));
}

TEST_F(feat, get_and_set_together_rejected)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = STATE(STOP), .data_fd = -1,
	};

	ASSERT_ERRNO(EINVAL, vfio_feature(self->c.dev.fd,
					  F_GET | F_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
					  &m, sizeof(m)));
	ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
}

TEST_F(feat, neither_get_nor_set_rejected)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = STATE(STOP), .data_fd = -1,
	};

	ASSERT_ERRNO(EINVAL, vfio_feature(self->c.dev.fd,
					  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
					  &m, sizeof(m)));
	ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
}

TEST_F(feat, unknown_flags_rejected)
{
	static const uint32_t bits[] = { 1u << 19, 1u << 24, 1u << 31 };
	struct vfio_device_feature_mig_state m = {
		.device_state = STATE(STOP), .data_fd = -1,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bits); i++) {
		ASSERT_ERRNO(EINVAL, vfio_feature(self->c.dev.fd, bits[i] | F_SET |
						  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
						  &m, sizeof(m)));
		ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
	}
}

TEST_F(feat, short_argsz_rejected)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = STATE(STOP), .data_fd = -1,
	};
	uint32_t flags = F_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	int fd = self->c.dev.fd;

	/* Shorter than the feature header itself. */
	ASSERT_ERRNO(EINVAL, vfio_feature_raw(fd, 4, flags, &m, sizeof(m)));
	ASSERT_ERRNO(EINVAL, vfio_feature_raw(fd, 0, flags, &m, sizeof(m)));
	/* Header but truncated payload. */
	ASSERT_ERRNO(EINVAL, vfio_feature_raw(fd, F_HDR, flags, &m, sizeof(m)));
	ASSERT_ERRNO(EINVAL, vfio_feature_raw(fd, F_HDR + 4, flags, &m, sizeof(m)));
	ASSERT_STATE(fd, STATE(RUNNING));
}

TEST_F(feat, short_argsz_get_rejected)
{
	struct vfio_device_feature_migration mf = { 0 };
	struct vfio_device_feature_mig_state m = { .data_fd = -1 };
	int fd = self->c.dev.fd;

	ASSERT_ERRNO(EINVAL, vfio_feature_raw(fd, F_HDR + 4,
					      F_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
					      &m, sizeof(m)));
	ASSERT_ERRNO(EINVAL, vfio_feature_raw(fd, F_HDR + 4,
					      F_GET | VFIO_DEVICE_FEATURE_MIGRATION,
					      &mf, sizeof(mf)));
}

TEST_F(feat, long_argsz_accepted)
{
	struct {
		struct vfio_device_feature_mig_state m;
		uint8_t pad[32];
	} big = { .m.data_fd = -1 };

	ASSERT_OK(vfio_feature_raw(self->c.dev.fd, F_HDR + sizeof(big),
				   F_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				   &big, sizeof(big)));
	ASSERT_EQ(STATE(RUNNING), big.m.device_state);
}

TEST_F(feat, get_reports_no_fd)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = 0x55, .data_fd = 1234,
	};

	ASSERT_OK(vfio_feature(self->c.dev.fd,
			       F_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			       &m, sizeof(m)));
	ASSERT_EQ(STATE(RUNNING), m.device_state);
	ASSERT_EQ(-1, m.data_fd);
}

TEST_F(feat, set_ignores_input_fd)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = STATE(STOP), .data_fd = 1234,
	};

	ASSERT_OK(vfio_feature(self->c.dev.fd,
			       F_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			       &m, sizeof(m)));
	ASSERT_EQ(-1, m.data_fd);
	ASSERT_STATE(self->c.dev.fd, STATE(STOP));
}

TEST_F(feat, data_size_direction)
{
	struct vfio_device_feature_mig_data_size ds = { 0 };
	int fd = self->c.dev.fd;
	int r;

	r = vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, F_GET);
	if (r == -ENOTTY)
		SKIP(return, "MIG_DATA_SIZE not supported");
	ASSERT_EQ(0, r);
	ASSERT_ERRNO(EINVAL, vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, F_SET));
	ASSERT_ERRNO(EINVAL, vfio_feature(fd, F_SET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
					  &ds, sizeof(ds)));
	ASSERT_ERRNO(EINVAL, vfio_feature_raw(fd, F_HDR + 4,
					      F_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
					      &ds, sizeof(ds)));
	ASSERT_OK(vfio_feature(fd, F_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			       &ds, sizeof(ds)));
	ASSERT_LT(0, ds.stop_copy_length);
}

TEST_F(feat, dma_logging_direction)
{
	struct vfio_device_feature_dma_logging_report rep = { 0 };
	struct vfio_device_feature_dma_logging_control ctl = { 0 };
	int fd = self->c.dev.fd;
	int r;

	r = vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_DMA_LOGGING_START, F_SET);
	if (r == -ENOTTY)
		SKIP(return, "DMA logging not supported");
	ASSERT_EQ(0, r);
	ASSERT_OK(vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, F_SET));
	ASSERT_OK(vfio_feature_probe(fd, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, F_GET));
	ASSERT_ERRNO(EINVAL, vfio_feature(fd, F_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
					  &ctl, sizeof(ctl)));
	ASSERT_ERRNO(EINVAL, vfio_feature(fd, F_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
					  NULL, 0));
	ASSERT_ERRNO(EINVAL, vfio_feature(fd, F_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
					  &rep, sizeof(rep)));
}

TEST_F(feat, unknown_feature)
{
	uint64_t data[4] = { 0 };

	/* Feature 0x7ff0 is not defined by the uAPI. */
	ASSERT_ERRNO(ENOTTY, vfio_feature(self->c.dev.fd, F_GET | 0x7ff0,
					  data, sizeof(data)));
	ASSERT_ERRNO(ENOTTY, vfio_feature_probe(self->c.dev.fd, 0x7ff0, 0));
}

/* ------------------------------------------------------------------------
 * Data fd semantics.
 */

FIXTURE(datafd) {
	struct conf c;
	int fd;
};

FIXTURE_SETUP(datafd)
{
	self->fd = -1;
	CONF_SETUP(&self->c);
	ASSERT_OK(conf_capture(&self->c.dev, &self->c.stream, VMT_MiB, NULL));
}

FIXTURE_TEARDOWN(datafd)
{
	vmt_close(&self->fd);
	CONF_TEARDOWN(&self->c);
}

/*
 * After the device was closed in @st and opened again it must be in RUNNING,
 * as the in-tree PCI migration drivers set it on open and QEMU assumes when
 * it opens a device.  mtty keeps the old state instead: there the state is
 * recorded in @stale, the device is brought to RUNNING and the test goes on,
 * to skip at its end (MTTY_STALE_SKIP) unless something else failed.
 */
#define ASSERT_REOPENED_RUNNING(self, stale) do {			\
	uint32_t __st = 0xdead;						\
	ASSERT_OK(mig_get_state((self)->c.dev.fd, &__st));		\
	if (__st != STATE(RUNNING) && conf_is_mtty(&(self)->c)) {	\
		(stale) = mig_state_name(__st);				\
		ASSERT_OK(conf_to_running(&(self)->c, true));		\
	}								\
	ASSERT_STATE((self)->c.dev.fd, STATE(RUNNING));			\
} while (0)

#define MTTY_STALE_SKIP(stale) do {					\
	if (stale)							\
		SKIP(return, "mtty bug: a device closed in %s is still " \
		     "in %s when opened again (not RUNNING)", (stale), (stale)); \
} while (0)

static int datafd_enter(FIXTURE_DATA(datafd) *self, uint32_t state)
{
	int ret = mig_set_state(self->c.dev.fd, state, &self->fd);

	if (!ret && self->fd < 0) {
		vmt_seterr("no data fd for %s", mig_state_name(state));
		return -EPROTO;
	}
	return ret;
}

TEST_F(datafd, save_fd_is_read_only)
{
	char b[16] = { 0 };

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_EQ(O_RDONLY, vmt_accmode(self->fd));
	ASSERT_EQ(-1, write(self->fd, b, sizeof(b)));
	ASSERT_EQ(EBADF, errno);
	/* The failed write did not disturb the stream. */
	ASSERT_EQ((ssize_t)self->c.stream.len,
		  mig_read_all(self->fd, NULL, 4096, NULL, 0, NULL, NULL));
}

TEST_F(datafd, resume_fd_is_write_only)
{
	char b[16];

	ASSERT_OK(datafd_enter(self, STATE(RESUMING)));
	ASSERT_EQ(O_WRONLY, vmt_accmode(self->fd));
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b)));
	ASSERT_EQ(EBADF, errno);
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, self->c.stream.len,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
}

TEST_F(datafd, save_fd_not_seekable)
{
	char b[16] = { 0 };

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_EQ(-1, lseek(self->fd, 0, SEEK_SET));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, lseek(self->fd, 0, SEEK_CUR));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, lseek(self->fd, 16, SEEK_END));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, pread(self->fd, b, sizeof(b), 0));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, pread(self->fd, b, sizeof(b), 4096));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, pwrite(self->fd, b, sizeof(b), 0));
	ASSERT_EQ(ESPIPE, errno);
	/* Nothing was consumed by the refused calls. */
	ASSERT_EQ((ssize_t)self->c.stream.len,
		  mig_read_all(self->fd, NULL, 4096, NULL, 0, NULL, NULL));
}

TEST_F(datafd, resume_fd_not_seekable)
{
	char b[16] = { 0 };

	ASSERT_OK(datafd_enter(self, STATE(RESUMING)));
	ASSERT_EQ(-1, lseek(self->fd, 0, SEEK_SET));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, lseek(self->fd, 0, SEEK_CUR));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, pwrite(self->fd, self->c.stream.p, 16, 0));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, pwrite(self->fd, self->c.stream.p, 16, 1 << 20));
	ASSERT_EQ(ESPIPE, errno);
	ASSERT_EQ(-1, pread(self->fd, b, sizeof(b), 0));
	ASSERT_EQ(ESPIPE, errno);
	/* The refused pwrite()s consumed nothing: the full stream still fits. */
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, self->c.stream.len,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
}

TEST_F(datafd, eof_is_sticky)
{
	char b[64];
	int i;

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_EQ((ssize_t)self->c.stream.len,
		  mig_read_all(self->fd, NULL, 65536, NULL, 0, NULL, NULL));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, read(self->fd, b, sizeof(b)));
	ASSERT_STATE(self->c.dev.fd, STATE(STOP_COPY));
}

TEST_F(datafd, zero_length_io)
{
	char b[1];

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_EQ(0, read(self->fd, b, 0));
	ASSERT_EQ((ssize_t)self->c.stream.len,
		  mig_read_all(self->fd, NULL, 65536, NULL, 0, NULL, NULL));
	vmt_close(&self->fd);
	ASSERT_OK(datafd_enter(self, STATE(RESUMING)));
	ASSERT_EQ(0, write(self->fd, self->c.stream.p, 0));
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, self->c.stream.len,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
}

TEST_F(datafd, read_after_stop_fails)
{
	char b[4096];

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_LT(0, read(self->fd, b, sizeof(b)));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b))) {
		TH_LOG("read on the data fd of an ended session succeeded");
	}
	ASSERT_EQ(-1, read(self->fd, b, 1));
}

TEST_F(datafd, read_after_full_read_and_stop_fails)
{
	char b[16];

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_LT(0, mig_read_all(self->fd, NULL, 65536, NULL, 0, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b)));
}

TEST_F(datafd, read_after_reset_fails)
{
	char b[4096];

	NEED_RESET(&self->c);
	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_LT(0, read(self->fd, b, 100));
	ASSERT_OK(vdev_reset(&self->c.dev));
	ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b)));
}

TEST_F(datafd, write_after_reset_fails)
{
	NEED_RESET(&self->c);
	ASSERT_OK(datafd_enter(self, STATE(RESUMING)));
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, 16, 16, NULL, NULL));
	ASSERT_OK(vdev_reset(&self->c.dev));
	ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
	ASSERT_EQ(-1, write(self->fd, self->c.stream.p + 16, 16));
}

TEST_F(datafd, write_after_resume_ended_fails)
{
	ASSERT_OK(datafd_enter(self, STATE(RESUMING)));
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, self->c.stream.len,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
	ASSERT_GT(0, vmt_write1(self->fd));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));
	ASSERT_GT(0, vmt_write1(self->fd));
}

TEST_F(datafd, close_device_with_save_fd_open)
{
	const char *stale = NULL;
	char b[64];

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_LT(0, read(self->fd, b, sizeof(b)));
	/* Last close of the device while its data fd lives on. */
	ASSERT_OK(vdev_close_fd(&self->c.dev));
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b))) {
		TH_LOG("data fd still readable after the device was closed");
	}
	ASSERT_OK(vdev_reopen_fd(&self->c.dev));
	ASSERT_REOPENED_RUNNING(self, stale);
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b)));
	vmt_close(&self->fd);
	/* A new session works after the reopen. */
	ASSERT_OK(conf_capture(&self->c.dev, &self->c.stream, VMT_MiB, NULL));
	MTTY_STALE_SKIP(stale);
}

TEST_F(datafd, close_device_with_resume_fd_open)
{
	const char *stale = NULL;

	/* mtty reopens in RESUMING, and the next SET oopses (NULL migf). */
	if (conf_is_mtty(&self->c))
		SKIP(return, "mtty bug: a device closed in RESUMING is still in "
		     "RESUMING when opened again, and any SET then oopses the "
		     "kernel (NULL resuming_migf in mtty_load_state())");
	ASSERT_OK(datafd_enter(self, STATE(RESUMING)));
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, 32, 32, NULL, NULL));
	ASSERT_OK(vdev_close_fd(&self->c.dev));
	ASSERT_GT(0, vmt_write1(self->fd)) {
		TH_LOG("resume fd still writable after the device was closed");
	}
	ASSERT_OK(vdev_reopen_fd(&self->c.dev));
	ASSERT_REOPENED_RUNNING(self, stale);
	ASSERT_GT(0, vmt_write1(self->fd));
	vmt_close(&self->fd);
	ASSERT_OK(mig_set_state(self->c.dev.fd, STATE(RESUMING), &self->fd));
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, self->c.stream.len,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));
	MTTY_STALE_SKIP(stale);
}

TEST_F(datafd, data_fd_outlives_device_close)
{
	const char *stale = NULL;
	char b[16];
	int fd;

	/* Closing the data fd after the device fd must be harmless too. */
	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	fd = self->fd;
	self->fd = -1;
	ASSERT_OK(vdev_close_fd(&self->c.dev));
	ASSERT_EQ(-1, read(fd, b, sizeof(b)));
	ASSERT_EQ(0, close(fd));
	ASSERT_OK(vdev_reopen_fd(&self->c.dev));
	ASSERT_REOPENED_RUNNING(self, stale);
	MTTY_STALE_SKIP(stale);
}

TEST_F(datafd, second_session_gets_new_fd)
{
	char b[64];
	int fd2 = -1;

	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_LT(0, read(self->fd, b, sizeof(b)));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
	ASSERT_OK(mig_set_state(self->c.dev.fd, STATE(STOP_COPY), &fd2));
	ASSERT_LE(0, fd2);
	ASSERT_NE(self->fd, fd2);
	ASSERT_EQ(-1, read(self->fd, b, sizeof(b)));
	/* The new session starts from the beginning of a full stream. */
	ASSERT_EQ((ssize_t)self->c.stream.len,
		  mig_read_all(fd2, NULL, 65536, NULL, 0, NULL, NULL));
	close(fd2);
}

TEST_F(datafd, second_resume_session_gets_new_fd)
{
	int fd2 = -1;

	ASSERT_OK(datafd_enter(self, STATE(RESUMING)));
	ASSERT_OK(mig_write_all(self->fd, self->c.stream.p, self->c.stream.len,
				VMT_MiB, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
	ASSERT_OK(mig_set_state(self->c.dev.fd, STATE(RESUMING), &fd2));
	ASSERT_LE(0, fd2);
	ASSERT_NE(self->fd, fd2);
	ASSERT_GT(0, vmt_write1(self->fd));
	ASSERT_OK(mig_write_all(fd2, self->c.stream.p, self->c.stream.len,
				VMT_MiB, NULL, NULL));
	close(fd2);
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));
}

TEST_F(datafd, stream_length_stable)
{
	/* Without device activity two saves give streams of the same length. */
	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_EQ((ssize_t)self->c.stream.len,
		  mig_read_all(self->fd, NULL, 4096, NULL, 0, NULL, NULL));
}

TEST_F(datafd, data_size_bounds_stream)
{
	uint64_t running = 0, stopped = 0, copying = 0;
	int r;

	r = mig_data_size(self->c.dev.fd, &running);
	if (r == -ENOTTY)
		SKIP(return, "MIG_DATA_SIZE not supported");
	ASSERT_EQ(0, r);
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
	ASSERT_OK(mig_data_size(self->c.dev.fd, &stopped));
	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	ASSERT_OK(mig_data_size(self->c.dev.fd, &copying));
	TH_LOG("MIG_DATA_SIZE running %llu stop %llu stop_copy %llu, stream %zu",
	       (unsigned long long)running, (unsigned long long)stopped,
	       (unsigned long long)copying, self->c.stream.len);
	ASSERT_LE(self->c.stream.len, stopped);
	ASSERT_LE(self->c.stream.len, copying);
	ASSERT_LE(self->c.stream.len, running);
	ASSERT_EQ((ssize_t)self->c.stream.len,
		  mig_read_all(self->fd, NULL, 65536, NULL, 0, NULL, NULL));
}

TEST_F(datafd, save_does_not_stop_get)
{
	char b[128];
	ssize_t n;

	/* GET works while a session is open and does not disturb it. */
	ASSERT_OK(datafd_enter(self, STATE(STOP_COPY)));
	n = read(self->fd, b, sizeof(b));	/* all of a short stream */
	ASSERT_LT(0, n);
	ASSERT_STATE(self->c.dev.fd, STATE(STOP_COPY));
	ASSERT_STATE(self->c.dev.fd, STATE(STOP_COPY));
	ASSERT_EQ((ssize_t)self->c.stream.len - n,
		  mig_read_all(self->fd, NULL, 65536, NULL, 0, NULL, NULL));
}

/* ------------------------------------------------------------------------
 * PRE_COPY data: VFIO_MIG_GET_PRECOPY_INFO and reading before STOP_COPY.
 * The fsm tests only enter and leave the PRE_COPY states; these read the
 * pre-copy data the way a VMM does.
 */

FIXTURE(precopy) {
	struct conf c;
	int fd;			/* the PRE_COPY session */
	struct vmt_buf data;	/* what was read from it */
};

FIXTURE_SETUP(precopy)
{
	self->fd = -1;
	memset(&self->data, 0, sizeof(self->data));
	CONF_SETUP(&self->c);
	if (!mig_state_supported(self->c.flags, STATE(PRE_COPY)))
		VMT_SKIP_SETUP("PRE_COPY not supported (flags 0x%llx)",
			       (unsigned long long)self->c.flags);
	ASSERT_OK(conf_capture(&self->c.dev, &self->c.stream, VMT_MiB, NULL));
	ASSERT_OK(mig_set_state(self->c.dev.fd, STATE(PRE_COPY), &self->fd));
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(precopy)
{
	vmt_close(&self->fd);
	vmt_buf_free(&self->data);
	CONF_TEARDOWN(&self->c);
}

/*
 * Reads pre-copy data while VFIO_MIG_GET_PRECOPY_INFO reports some, never
 * past the temporary end of stream, at most about @limit bytes.  Returns 0 at
 * the temporary end (initial_bytes and dirty_bytes both zero), 1 when @limit
 * was reached first, or -errno.  initial_bytes must never grow, and read()
 * must return data while the device reports that it has some.
 *
 * @reinits NULL: the user did not opt in to MIG_PRECOPY_INFOv2, so flags
 * (passed as 0) must come back without VFIO_PRECOPY_INFO_REINIT.  Else the
 * user did: flags are passed as all ones and must come back as an output
 * (nothing but REINIT set); a REINIT lets initial_bytes start again, with
 * dirty_bytes zero, and is counted in *@reinits.
 */
static int precopy_drain_flags(int fd, struct vmt_buf *out, size_t limit,
			       unsigned int *reinits)
{
	uint64_t initial, dirty, last = UINT64_MAX;
	uint32_t in = reinits ? ~0u : 0, fl;
	int ret;

	for (;;) {
		size_t want;
		ssize_t n;

		ret = mig_precopy_info_flags(fd, in, &fl, &initial, &dirty);
		if (ret) {
			vmt_seterr("VFIO_MIG_GET_PRECOPY_INFO after %zu bytes: %s",
				   out->len, strerror(-ret));
			return ret;
		}
		if (!reinits && fl) {
			vmt_seterr("flags 0x%x after %zu bytes without the MIG_PRECOPY_INFOv2 opt-in (passed 0)",
				   fl, out->len);
			return -EPROTO;
		}
		if (reinits && (fl & ~VFIO_PRECOPY_INFO_REINIT)) {
			vmt_seterr("flags 0x%x after %zu bytes: with MIG_PRECOPY_INFOv2 they are an output (passed 0x%x)",
				   fl, out->len, in);
			return -EPROTO;
		}
		if (reinits && (fl & VFIO_PRECOPY_INFO_REINIT)) {
			if (dirty) {
				vmt_seterr("REINIT after %zu bytes with dirty_bytes %llu, not 0",
					   out->len, (unsigned long long)dirty);
				return -EPROTO;
			}
			++*reinits;
			last = UINT64_MAX;
		}
		if (!initial && !dirty)
			return 0;
		if (initial > last) {
			vmt_seterr("initial_bytes grew from %llu to %llu after %zu bytes",
				   (unsigned long long)last,
				   (unsigned long long)initial, out->len);
			return -EPROTO;
		}
		last = initial;
		if (out->len >= limit)
			return 1;
		want = 64 * VMT_KiB;
		if (initial + dirty < want)
			want = initial + dirty;
		if (out->len + want > out->cap &&
		    vmt_buf_reserve(out, out->len + want > 2 * out->cap ?
					 out->len + want : 2 * out->cap))
			return -ENOMEM;
		n = read(fd, out->p + out->len, want);
		if (n <= 0) {
			ret = n ? -errno : -EPROTO;
			vmt_seterr("read of %zu bytes after %zu while initial_bytes %llu dirty_bytes %llu: %s",
				   want, out->len, (unsigned long long)initial,
				   (unsigned long long)dirty,
				   n ? strerror(errno) : "end of stream");
			return ret;
		}
		out->len += n;
	}
}

static int precopy_drain(int fd, struct vmt_buf *out, size_t limit)
{
	return precopy_drain_flags(fd, out, limit, NULL);
}

#define PRECOPY_LIMIT(s) (4 * (s)->c.stream.len + VMT_MiB)

/*
 * Reads the pre-copy data until initial_bytes is 0.  Returns false, the test
 * skipped, if the device still reports some after PRECOPY_LIMIT bytes.
 */
static bool precopy_drain_or_skip(struct __test_metadata *_metadata,
				  FIXTURE_DATA(precopy) *self)
{
	int r = precopy_drain(self->fd, &self->data, PRECOPY_LIMIT(self));

	ASSERT_LE(0, r) {
		TH_LOG("%s", vmt_errstr());
	}
	if (r == 1)
		SKIP(return false,
		     "the device still reports pre-copy data after %zu bytes",
		     self->data.len);
	return true;
}

/* initial_bytes starts non-zero and shrinks to zero as it is read. */
TEST_F(precopy, initial_bytes_drain)
{
	uint64_t initial = 0, dirty = 0;

	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	TH_LOG("PRE_COPY entered: initial_bytes %llu dirty_bytes %llu",
	       (unsigned long long)initial, (unsigned long long)dirty);
	ASSERT_LT(0, initial) {
		TH_LOG("uAPI: initial_bytes should have a non-zero initial value");
	}
	if (!precopy_drain_or_skip(_metadata, self))
		return;
	ASSERT_OK(mig_precopy_info(self->fd, &initial, &dirty));
	ASSERT_EQ(0, initial);
	TH_LOG("%zu bytes of pre-copy data", self->data.len);
	ASSERT_STATE(self->c.dev.fd, STATE(PRE_COPY));
}

/* read() at the temporary end of stream fails with ENOMSG (not EOF). */
TEST_F(precopy, temporary_end_is_enomsg)
{
	char b[64];
	ssize_t n;

	if (!precopy_drain_or_skip(_metadata, self))
		return;
	n = read(self->fd, b, sizeof(b));
	if (n == 0 && conf_is_mtty(&self->c))
		SKIP(return, "mtty bug: read() at the temporary end of the "
		     "pre-copy stream returns 0 (EOF), not ENOMSG");
	ASSERT_EQ(-1, n) {
		TH_LOG("read() at the temporary end returned %zd", n);
	}
	ASSERT_EQ(ENOMSG, errno);
	/* The session goes on: STOP_COPY on the same fd, ending in EOF. */
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP_COPY)));
	ASSERT_LT(0, mig_read_all(self->fd, NULL, 4096, NULL, 0, NULL, NULL)) {
		TH_LOG("%s", vmt_errstr());
	}
	ASSERT_EQ(0, read(self->fd, b, sizeof(b)));
}

/* GET_PRECOPY_INFO is valid only in the PRE_COPY states (else EINVAL). */
TEST_F(precopy, info_einval_in_stop_copy)
{
	char b[64];

	ASSERT_OK(mig_precopy_info(self->fd, NULL, NULL));
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP_COPY)));
	ASSERT_ERRNO(EINVAL, mig_precopy_info(self->fd, NULL, NULL));
	/* STOP_COPY ends in a permanent EOF, never ENOMSG. */
	ASSERT_LT(0, mig_read_all(self->fd, NULL, 4096, NULL, 0, NULL, NULL)) {
		TH_LOG("%s", vmt_errstr());
	}
	ASSERT_EQ(0, read(self->fd, b, sizeof(b)));
	ASSERT_ERRNO(EINVAL, mig_precopy_info(self->fd, NULL, NULL));
}

/*
 * A VMM's migration: the pre-copy data, then STOP_COPY on the same fd; the
 * two parts together restore (into the same device).
 */
TEST_F(precopy, save_restore)
{
	size_t pre;
	ssize_t n;
	int r, dfd = -1;

	r = precopy_drain(self->fd, &self->data, PRECOPY_LIMIT(self));
	ASSERT_LE(0, r) {
		TH_LOG("%s", vmt_errstr());
	}
	pre = self->data.len;
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP_COPY)));
	n = mig_read_all(self->fd, &self->data, 64 * VMT_KiB, NULL, 0, NULL, NULL);
	ASSERT_LT(0, n) {
		TH_LOG("%s", vmt_errstr());
	}
	TH_LOG("stream: %zu bytes in PRE_COPY + %zd in STOP_COPY (STOP_COPY alone: %zu)",
	       pre, n, self->c.stream.len);
	vmt_close(&self->fd);
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));

	ASSERT_OK(mig_set_state(self->c.dev.fd, STATE(RESUMING), &dfd));
	ASSERT_LE(0, dfd);
	r = mig_write_all(dfd, self->data.p, self->data.len, 64 * VMT_KiB, NULL,
			  NULL);
	ASSERT_EQ(0, r) {
		TH_LOG("%s", vmt_errstr());
	}
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
	close(dfd);
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));
	ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
}

/*
 * Without the MIG_PRECOPY_INFOv2 opt-in, flags are reserved: passed as 0
 * they come back 0, never VFIO_PRECOPY_INFO_REINIT, from the first info to
 * the temporary end (precopy_drain() checks each one).
 */
TEST_F(precopy, no_reinit_without_opt_in)
{
	uint32_t fl = 1;

	ASSERT_OK(mig_precopy_info_flags(self->fd, 0, &fl, NULL, NULL));
	ASSERT_EQ(0, fl);
	if (!precopy_drain_or_skip(_metadata, self))
		return;
	ASSERT_OK(mig_precopy_info_flags(self->fd, 0, &fl, NULL, NULL));
	ASSERT_EQ(0, fl);
}

#define NO_PRECOPY_INFO_V2 \
	"kernel without VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (Linux 7.1+)"

/*
 * REINIT when offered (Linux 7.1+): the opt-in is a SET-only feature of
 * devices with PRE_COPY; after it, flags are an output, a REINIT restarts
 * initial_bytes (with dirty_bytes 0), and the data read across any number
 * of them, then STOP_COPY, restores.  Whether a device ever reports REINIT
 * is its own business; ivshmem_precopy_test makes ivshmem-vfio-pci do so.
 */
TEST_F(precopy, reinit_when_offered)
{
	unsigned int reinits = 0;
	uint32_t fl = 0;
	uint64_t initial = 0;
	size_t pre;
	ssize_t n;
	int r, dfd = -1;

	r = vfio_feature_probe(self->c.dev.fd,
			       VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
			       VFIO_DEVICE_FEATURE_SET);
	if (r == -ENOTTY)
		SKIP(return, NO_PRECOPY_INFO_V2);
	ASSERT_EQ(0, r) {
		TH_LOG("PROBE|SET of MIG_PRECOPY_INFOv2 with PRE_COPY offered: %s",
		       strerror(-r));
	}
	ASSERT_ERRNO(EINVAL, vfio_feature_probe(self->c.dev.fd,
			VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
			VFIO_DEVICE_FEATURE_GET));
	ASSERT_ERRNO(EINVAL, vfio_feature(self->c.dev.fd,
			VFIO_DEVICE_FEATURE_GET |
			VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0));
	/* Opting in during a session works, and twice is no error. */
	ASSERT_OK(mig_precopy_v2_enable(self->c.dev.fd));
	ASSERT_OK(mig_precopy_v2_enable(self->c.dev.fd));
	ASSERT_OK(mig_precopy_info_flags(self->fd, ~0u, &fl, &initial, NULL));
	ASSERT_EQ(0, fl & ~VFIO_PRECOPY_INFO_REINIT) {
		TH_LOG("flags 0x%x: after the opt-in they are an output", fl);
	}
	ASSERT_LT(0, initial);

	r = precopy_drain_flags(self->fd, &self->data, PRECOPY_LIMIT(self),
				&reinits);
	ASSERT_LE(0, r) {
		TH_LOG("%s", vmt_errstr());
	}
	pre = self->data.len;
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP_COPY)));
	ASSERT_ERRNO(EINVAL, mig_precopy_info_flags(self->fd, 0, NULL, NULL,
						    NULL));
	n = mig_read_all(self->fd, &self->data, 64 * VMT_KiB, NULL, 0, NULL, NULL);
	ASSERT_LT(0, n) {
		TH_LOG("%s", vmt_errstr());
	}
	TH_LOG("stream: %zu bytes in PRE_COPY (%u REINIT) + %zd in STOP_COPY",
	       pre, reinits, n);
	vmt_close(&self->fd);
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));

	ASSERT_OK(mig_set_state(self->c.dev.fd, STATE(RESUMING), &dfd));
	ASSERT_LE(0, dfd);
	r = mig_write_all(dfd, self->data.p, self->data.len, 64 * VMT_KiB, NULL,
			  NULL);
	ASSERT_EQ(0, r) {
		TH_LOG("%s", vmt_errstr());
	}
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(STOP)));
	close(dfd);
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));
}

/* ------------------------------------------------------------------------
 * Round trip: save from the primary device, restore into the secondary one
 * (or into the primary itself), with different read and write chunk sizes.
 */

FIXTURE(roundtrip) {
	struct conf c;
	struct vdev dst_dev;
	struct vdev *dst;
};

FIXTURE_VARIANT(roundtrip) {
	size_t rchunk;
	size_t wchunk;
};

FIXTURE_VARIANT_ADD(roundtrip, r1_w1) { .rchunk = 1, .wchunk = 1 };
FIXTURE_VARIANT_ADD(roundtrip, r7_w7) { .rchunk = 7, .wchunk = 7 };
FIXTURE_VARIANT_ADD(roundtrip, r4k_w4k) { .rchunk = 4096, .wchunk = 4096 };
FIXTURE_VARIANT_ADD(roundtrip, r32k_w32k) { .rchunk = 32768, .wchunk = 32768 };
FIXTURE_VARIANT_ADD(roundtrip, r1m_w1m) { .rchunk = VMT_MiB, .wchunk = VMT_MiB };
FIXTURE_VARIANT_ADD(roundtrip, rrand_wrand) { .rchunk = VMT_CHUNK_RANDOM, .wchunk = VMT_CHUNK_RANDOM };
FIXTURE_VARIANT_ADD(roundtrip, r7_w1m) { .rchunk = 7, .wchunk = VMT_MiB };
FIXTURE_VARIANT_ADD(roundtrip, r1m_w7) { .rchunk = VMT_MiB, .wchunk = 7 };
FIXTURE_VARIANT_ADD(roundtrip, r4k_w32k) { .rchunk = 4096, .wchunk = 32768 };
FIXTURE_VARIANT_ADD(roundtrip, r64m_wrand) { .rchunk = 64 * VMT_MiB, .wchunk = VMT_CHUNK_RANDOM };

FIXTURE_SETUP(roundtrip)
{
	const char *b2 = conf_bdf2();
	char n2[64];

	vdev_init(&self->dst_dev);
	CONF_SETUP(&self->c);
	self->dst = &self->c.dev;
	if (b2) {
		vdev_norm_bdf(n2, sizeof(n2), b2);
		if (strcmp(n2, self->c.dev.bdf)) {
			ASSERT_OK(vdev_open(&self->dst_dev, b2));
			self->dst = &self->dst_dev;
		}
	}
	TH_LOG("round trip %s -> %s", self->c.dev.bdf, self->dst->bdf);
}

FIXTURE_TEARDOWN(roundtrip)
{
	vdev_close(&self->dst_dev);
	CONF_TEARDOWN(&self->c);
}

TEST_F(roundtrip, save_restore)
{
	struct vmt_buf *s = &self->c.stream;
	uint64_t size = 0;
	size_t accepted = 0;
	int dfd = -1, r;
	ssize_t n;

	ASSERT_OK(mig_set_state(self->c.dev.fd, STATE(STOP_COPY), &dfd));
	ASSERT_LE(0, dfd);
	r = mig_data_size(self->c.dev.fd, &size);
	ASSERT_TRUE(r == 0 || r == -ENOTTY);
	if (!r && size > 16 * VMT_MiB &&
	    ((variant->rchunk && variant->rchunk < 4096) ||
	     (variant->wchunk && variant->wchunk < 4096))) {
		close(dfd);
		SKIP(return, "stream of %llu bytes too large for tiny chunks",
		     (unsigned long long)size);
	}
	n = mig_read_all(dfd, s, variant->rchunk, &self->c.rng, 0, NULL, NULL);
	close(dfd);
	ASSERT_LT(0, n) {
		TH_LOG("%s", vmt_errstr());
	}
	if (!r) {
		ASSERT_LE((uint64_t)n, size);
	}
	ASSERT_OK(mig_set_state_nofd(self->c.dev.fd, STATE(RUNNING)));

	ASSERT_OK(mig_set_state(self->dst->fd, STATE(RESUMING), &dfd));
	ASSERT_LE(0, dfd);
	r = mig_write_all(dfd, s->p, s->len, variant->wchunk, &self->c.rng,
			  &accepted);
	ASSERT_EQ(0, r) {
		TH_LOG("restore write failed at %zu of %zu: %s", accepted,
		       s->len, vmt_errstr());
	}
	ASSERT_OK(mig_set_state_nofd(self->dst->fd, STATE(STOP)));
	close(dfd);
	ASSERT_STATE(self->dst->fd, STATE(STOP));
	ASSERT_OK(mig_set_state_nofd(self->dst->fd, STATE(RUNNING)));
	ASSERT_STATE(self->dst->fd, STATE(RUNNING));
	ASSERT_STATE(self->c.dev.fd, STATE(RUNNING));
}

/* ------------------------------------------------------------------------
 * DMA logging.
 */

FIXTURE(dmalog) {
	struct conf c;
	struct vfio_device_feature_dma_logging_range r[2];
	uint64_t *bitmap;
	bool can_report;
};

#define DMALOG_SPAN (64 * VMT_MiB)

/*
 * The core's REPORT goes through iova_bitmap, which only kernels with
 * CONFIG_IOMMUFD_DRIVER have (Debian's 6.12 and 7.x have not): there it
 * fails with EOPNOTSUPP before reaching any driver.
 */
#define NEED_REPORT(s) do {						\
	if (!(s)->can_report)						\
		SKIP(return, "DMA_LOGGING_REPORT unavailable in this kernel " \
		     "(vfio core without iova_bitmap / CONFIG_IOMMUFD_DRIVER)"); \
} while (0)

/*
 * A REPORT that must fail (no logging session): mtty's DMA-logging ops are
 * stubs that succeed whatever the state, so on mtty a success skips, naming
 * the bug; on any other driver it fails.
 */
#define ASSERT_REPORT_REFUSED(s, fd) do {				\
	int __r = dma_log_report(fd, 0, DMALOG_SPAN, 4096, (s)->bitmap); \
	if (!__r && conf_is_mtty(&(s)->c))				\
		SKIP(return, "mtty bug: DMA_LOGGING_REPORT succeeds "	\
		     "without a logging session (its log ops are stubs)"); \
	ASSERT_GT(0, __r);						\
} while (0)

/* A REPORT that must succeed wherever the kernel can report at all. */
#define ASSERT_REPORT_OK(s, iova, len) do {				\
	if ((s)->can_report) {						\
		ASSERT_OK(dma_log_report((s)->c.dev.fd, (iova), (len), 4096, \
					 (s)->bitmap));			\
	}								\
} while (0)

FIXTURE_SETUP(dmalog)
{
	uint64_t pgsz = 4096;
	int r;

	self->bitmap = NULL;
	CONF_SETUP(&self->c);
	r = vfio_feature_probe(self->c.dev.fd,
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_START, F_SET);
	if (r == -ENOTTY)
		VMT_SKIP_SETUP("DMA logging not supported");
	ASSERT_EQ(0, r);
	self->r[0].iova = 0;
	self->r[0].length = DMALOG_SPAN;
	self->r[1].iova = 1ULL << 32;
	self->r[1].length = DMALOG_SPAN;
	/* One bit per 4 KiB page of one range. */
	self->bitmap = calloc(DMALOG_SPAN / 4096 / 64, sizeof(uint64_t));
	ASSERT_NE(NULL, self->bitmap);
	ASSERT_OK(dma_log_start(self->c.dev.fd, &pgsz, self->r, 1));
	r = dma_log_report(self->c.dev.fd, 0, 4096, 4096, self->bitmap);
	self->can_report = r != -EOPNOTSUPP;
	ASSERT_OK(dma_log_stop(self->c.dev.fd));
}

FIXTURE_TEARDOWN(dmalog)
{
	if (vdev_is_open(&self->c.dev))
		dma_log_stop(self->c.dev.fd);
	free(self->bitmap);
	CONF_TEARDOWN(&self->c);
}

TEST_F(dmalog, start_report_stop)
{
	uint64_t pgsz = 4096;
	int fd = self->c.dev.fd;

	ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 2));
	ASSERT_NE(0, pgsz);
	ASSERT_EQ(0, pgsz & (pgsz - 1)) {
		TH_LOG("page_size %llu returned by START is no power of two",
		       (unsigned long long)pgsz);
	}
	ASSERT_GE(pgsz, 4096);
	ASSERT_LE(pgsz, DMALOG_SPAN);
	ASSERT_REPORT_OK(self, 0, DMALOG_SPAN);
	ASSERT_REPORT_OK(self, 1ULL << 32, DMALOG_SPAN);
	ASSERT_REPORT_OK(self, 4096, 8192);
	ASSERT_OK(dma_log_stop(fd));
}

TEST_F(dmalog, double_start_fails)
{
	uint64_t pgsz = 4096;
	int fd = self->c.dev.fd;
	int r;

	ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 1));
	pgsz = 4096;
	r = dma_log_start(fd, &pgsz, self->r + 1, 1);
	if (!r && conf_is_mtty(&self->c))
		SKIP(return, "mtty bug: a second DMA_LOGGING_START succeeds "
		     "while logging (uAPI: another start is not allowed)");
	ASSERT_GT(0, r);
	/* The first tracking session is intact. */
	ASSERT_REPORT_OK(self, 0, DMALOG_SPAN);
	ASSERT_OK(dma_log_stop(fd));
}

TEST_F(dmalog, report_without_start_fails)
{
	NEED_REPORT(self);
	ASSERT_REPORT_REFUSED(self, self->c.dev.fd);
}

TEST_F(dmalog, report_after_stop_fails)
{
	uint64_t pgsz = 4096;
	int fd = self->c.dev.fd;

	NEED_REPORT(self);
	ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 2));
	ASSERT_OK(dma_log_stop(fd));
	ASSERT_REPORT_REFUSED(self, fd);
}

TEST_F(dmalog, restart_after_stop)
{
	uint64_t pgsz = 4096;
	int fd = self->c.dev.fd;
	int i;

	for (i = 0; i < 3; i++) {
		pgsz = 4096;
		ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 2));
		ASSERT_REPORT_OK(self, 0, DMALOG_SPAN);
		ASSERT_OK(dma_log_stop(fd));
	}
}

TEST_F(dmalog, stop_without_start_is_harmless)
{
	uint64_t pgsz = 4096;
	int fd = self->c.dev.fd;
	int r;

	r = dma_log_stop(fd);
	TH_LOG("STOP without START: %d", r);
	ASSERT_TRUE(r == 0 || r == -EINVAL);
	r = dma_log_stop(fd);
	ASSERT_TRUE(r == 0 || r == -EINVAL);
	ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 1));
	ASSERT_OK(dma_log_stop(fd));
}

TEST_F(dmalog, start_bad_ranges)
{
	struct vfio_device_feature_dma_logging_range bad[3];
	uint64_t pgsz;
	int fd = self->c.dev.fd;

	/* No ranges. */
	pgsz = 4096;
	ASSERT_ERRNO(EINVAL, dma_log_start(fd, &pgsz, self->r, 0));
	/* Unaligned iova and length. */
	bad[0].iova = 100;
	bad[0].length = 4096;
	pgsz = 4096;
	ASSERT_ERRNO(EINVAL, dma_log_start(fd, &pgsz, bad, 1));
	bad[0].iova = 0;
	bad[0].length = 4097;
	pgsz = 4096;
	ASSERT_ERRNO(EINVAL, dma_log_start(fd, &pgsz, bad, 1));
	/* iova + length wraps. */
	bad[0].iova = ~0ULL & ~4095ULL;
	bad[0].length = 8192;
	pgsz = 4096;
	ASSERT_ERRNO(EOVERFLOW, dma_log_start(fd, &pgsz, bad, 1));
	/* Overlapping ranges. */
	bad[0].iova = 0;
	bad[0].length = 8 * 4096;
	bad[1].iova = 4 * 4096;
	bad[1].length = 8 * 4096;
	pgsz = 4096;
	ASSERT_ERRNO(EINVAL, dma_log_start(fd, &pgsz, bad, 2));
	/* Nothing was started by the refused calls. */
	if (self->can_report)
		ASSERT_REPORT_REFUSED(self, fd);
	pgsz = 4096;
	ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 2));
	ASSERT_OK(dma_log_stop(fd));
}

TEST_F(dmalog, start_too_many_ranges)
{
	size_t n = (size_t)sysconf(_SC_PAGESIZE) /
		   sizeof(struct vfio_device_feature_dma_logging_range) + 1;
	struct vfio_device_feature_dma_logging_range *many;
	uint64_t pgsz = 4096;
	size_t i;

	many = calloc(n, sizeof(*many));
	ASSERT_NE(NULL, many);
	for (i = 0; i < n; i++) {
		many[i].iova = i * 2 * 4096;
		many[i].length = 4096;
	}
	ASSERT_ERRNO(E2BIG, dma_log_start(self->c.dev.fd, &pgsz, many, n));
	free(many);
}

TEST_F(dmalog, report_bad_arguments)
{
	uint64_t pgsz = 4096;
	int fd = self->c.dev.fd;

	ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 2));
	/* page_size below 4 KiB or not a power of two. */
	ASSERT_ERRNO(EINVAL, dma_log_report(fd, 0, DMALOG_SPAN, 0, self->bitmap));
	ASSERT_ERRNO(EINVAL, dma_log_report(fd, 0, DMALOG_SPAN, 2048, self->bitmap));
	ASSERT_ERRNO(EINVAL, dma_log_report(fd, 0, DMALOG_SPAN, 12288, self->bitmap));
	/* iova + length wraps. */
	ASSERT_ERRNO(EOVERFLOW, dma_log_report(fd, ~0ULL & ~4095ULL, 8192, 4096,
					       self->bitmap));
	/* Still started and consistent. */
	ASSERT_REPORT_OK(self, 0, DMALOG_SPAN);
	ASSERT_OK(dma_log_stop(fd));
}

TEST_F(dmalog, logging_across_migration)
{
	uint64_t pgsz = 4096;
	int fd = self->c.dev.fd;

	/* A VMM keeps logging on while it saves the device. */
	ASSERT_OK(dma_log_start(fd, &pgsz, self->r, 2));
	ASSERT_OK(conf_capture(&self->c.dev, &self->c.stream, VMT_MiB, NULL));
	ASSERT_REPORT_OK(self, 0, DMALOG_SPAN);
	ASSERT_OK(dma_log_stop(fd));
}

/*
 * No device, or one without migration: one whole-program skip (plan 1..0)
 * rather than every test skipping the same way.  Not when only listing.
 */
static void conf_precheck(int argc, char **argv)
{
	const char *dev = conf_bdf();
	char why[512];
	uint64_t flags;
	struct vdev d;
	int i, r;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "-h"))
			return;
	if (!dev)
		vmt_skip_all("no device: pass -d DEV or set VFIO_MIG_DEV");
	/* Opening failures are reported by every test. */
	if (vdev_open(&d, dev))
		return;
	r = mig_get_flags(d.fd, &flags);
	snprintf(why, sizeof(why),
		 "%s (driver %s) has no VFIO migration support (VFIO_DEVICE_FEATURE_MIGRATION: %s)",
		 d.bdf, d.driver[0] ? d.driver : "none", strerror(-r));
	vdev_close(&d);
	if (r == -ENOTTY)
		vmt_skip_all(why);
}

int main(int argc, char **argv)
{
	vmt_parse_args(&argc, argv);
	vmt_mode_precheck(argc, argv);
	conf_precheck(argc, argv);
	return test_harness_run(argc, argv);
}
