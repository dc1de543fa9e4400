// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency and endurance tests for ivshmem-vfio-pci migration.
 *
 * storm:     threads hammer one device for a bounded time with state
 *            changes, GETs, data fd reads and writes, resets and close/reopen
 *            of the device fd.  Errors are allowed where the uAPI allows
 *            them; hangs (caught by the test timeout), unexpected errnos,
 *            impossible byte counts and kernel warnings are not, and the
 *            device must work normally afterwards.
 * race:      targeted two-party races: two writers or two readers on one
 *            data fd, a big read or write racing with reset or close.
 * endurance: >= 1000 save/restore cycles without kernel memory growth.
 *
 * Devices: IVSHMEM_BDF_A, IVSHMEM_BDF_B (1 MiB), IVSHMEM_BDF_BIG_A (256 MiB).
 * Threads never use the harness ASSERTs (they would unwind the wrong
 * stack); they count and describe problems, the main thread asserts.
 */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

#include "lib/ivshmem_test.h"

/* ------------------------------------------------------------------------
 * Shared state of the thread storms.
 */

struct storm {
	struct ivsh a;
	uint64_t stream_len;
	struct vmt_buf s;		/* a valid stream for A */
	uint64_t flags;			/* A's migration flags, read before the storm */

	pthread_rwlock_t devlock;	/* held for writing while the fd is reopened */
	pthread_mutex_t slot_lock;
	int save_slot;			/* current sessions, or -1 */
	int resume_slot;
	atomic_bool stop;
	atomic_bool dev_lost;

	atomic_ulong n_set, n_set_ok, n_get, n_read, n_write, n_reset, n_reopen;
	atomic_ulong bytes_read, bytes_written;
	atomic_ulong unexpected;
	pthread_mutex_t err_lock;
	char first_unexpected[256];
};

struct storm_thread {
	struct storm *st;
	pthread_t tid;
	uint64_t seed;
	void *(*fn)(void *);
};

static void storm_bad(struct storm *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void storm_bad(struct storm *st, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&st->unexpected, 1) == 0) {
		pthread_mutex_lock(&st->err_lock);
		va_start(ap, fmt);
		vsnprintf(st->first_unexpected, sizeof(st->first_unexpected),
			  fmt, ap);
		va_end(ap);
		pthread_mutex_unlock(&st->err_lock);
	}
}

static void slot_publish(struct storm *st, int *slot, int fd)
{
	int old;

	pthread_mutex_lock(&st->slot_lock);
	old = *slot;
	*slot = fd;
	pthread_mutex_unlock(&st->slot_lock);
	if (old >= 0)
		close(old);
}

static int slot_take(struct storm *st, int *slot)
{
	int fd = -1;

	pthread_mutex_lock(&st->slot_lock);
	if (*slot >= 0)
		fd = dup(*slot);
	pthread_mutex_unlock(&st->slot_lock);
	return fd;
}

static void *storm_setter(void *arg)
{
	static const uint32_t targets[] = {
		STATE(RUNNING), STATE(STOP), STATE(STOP_COPY), STATE(RESUMING),
		STATE(RUNNING_P2P), STATE(STOP_COPY), STATE(RESUMING),
		STATE(RUNNING), STATE(ERROR), STATE(PRE_COPY), 8, 0x12345,
	};
	struct storm_thread *t = arg;
	struct storm *st = t->st;
	/* PRE_COPY is valid where the driver offers it (not on 6.1). */
	uint64_t flags = st->flags;
	struct vmt_rng rng;

	vmt_rng_seed(&rng, t->seed);
	while (!atomic_load(&st->stop)) {
		uint32_t to = targets[vmt_rng_below(&rng, ARRAY_SIZE(targets))];
		/* SET ERROR may succeed as a no-op while already in ERROR. */
		bool valid = to == STATE(ERROR) ||
			     mig_state_supported(flags, to);
		int dfd = -1, r;

		pthread_rwlock_rdlock(&st->devlock);
		r = mig_set_state(st->a.dev.fd, to, &dfd);
		pthread_rwlock_unlock(&st->devlock);
		atomic_fetch_add(&st->n_set, 1);
		if (!r)
			atomic_fetch_add(&st->n_set_ok, 1);
		if (!r && !valid)
			storm_bad(st, "SET %u accepted", to);
		if (r == -EFAULT || r == -ENOTTY || r == -EBADF || r == -ENOMEM)
			storm_bad(st, "SET %s: %s", mig_state_name(to),
				  strerror(-r));
		if (dfd >= 0) {
			if (to == STATE(STOP_COPY) || to == STATE(PRE_COPY))
				slot_publish(st, &st->save_slot, dfd);
			else if (to == STATE(RESUMING))
				slot_publish(st, &st->resume_slot, dfd);
			else {
				storm_bad(st, "SET %s returned a data fd",
					  mig_state_name(to));
				close(dfd);
			}
		}
		if (r) {
			uint32_t cur = STATE(RUNNING);

			pthread_rwlock_rdlock(&st->devlock);
			if (!mig_get_state(st->a.dev.fd, &cur) &&
			    cur == STATE(ERROR))
				vdev_reset(&st->a.dev);
			pthread_rwlock_unlock(&st->devlock);
		}
		if (vmt_rng_below(&rng, 4) == 0)
			vmt_sleep_ms(vmt_rng_below(&rng, 3));
	}
	return NULL;
}

static void *storm_getter(void *arg)
{
	struct storm_thread *t = arg;
	struct storm *st = t->st;
	/* The setter's only pre-copy target is PRE_COPY itself. */
	uint32_t last = STATE(RUNNING_P2P);

	if (st->flags & VFIO_MIGRATION_PRE_COPY)
		last = STATE(PRE_COPY);
	while (!atomic_load(&st->stop)) {
		uint32_t cur = 0xffff;
		int r;

		pthread_rwlock_rdlock(&st->devlock);
		r = mig_get_state(st->a.dev.fd, &cur);
		pthread_rwlock_unlock(&st->devlock);
		atomic_fetch_add(&st->n_get, 1);
		if (r)
			storm_bad(st, "GET: %s", strerror(-r));
		else if (cur > last)
			storm_bad(st, "GET reported state %u", cur);
	}
	return NULL;
}

static void *storm_reader(void *arg)
{
	struct storm_thread *t = arg;
	struct storm *st = t->st;
	struct vmt_rng rng;
	uint8_t *buf = malloc(2 * VMT_MiB);

	vmt_rng_seed(&rng, t->seed);
	while (buf && !atomic_load(&st->stop)) {
		int fd = slot_take(st, &st->save_slot);
		uint64_t got = 0;

		if (fd < 0) {
			vmt_sleep_ms(1);
			continue;
		}
		while (!atomic_load(&st->stop)) {
			size_t want = vmt_chunk(VMT_CHUNK_RANDOM, &rng, 2 * VMT_MiB);
			ssize_t n = read(fd, buf, want);

			atomic_fetch_add(&st->n_read, 1);
			if (n < 0 && errno == ENOMSG) {
				/* PRE_COPY: nothing pending right now. */
				vmt_sleep_ms(1);
				continue;
			}
			if (n < 0) {
				if (errno != ENODEV)
					storm_bad(st, "read of save fd: %s",
						  strerror(errno));
				break;
			}
			if (n == 0)
				break;
			if ((size_t)n > want)
				storm_bad(st, "read returned %zd for %zu", n, want);
			got += n;
			atomic_fetch_add(&st->bytes_read, n);
			if (got > st->stream_len)
				storm_bad(st, "read %llu bytes from one session",
					  (unsigned long long)got);
		}
		close(fd);
	}
	free(buf);
	return NULL;
}

static void *storm_writer(void *arg)
{
	struct storm_thread *t = arg;
	struct storm *st = t->st;
	struct vmt_rng rng;

	vmt_rng_seed(&rng, t->seed);
	while (!atomic_load(&st->stop)) {
		int fd = slot_take(st, &st->resume_slot);
		uint64_t pos = 0;

		if (fd < 0) {
			vmt_sleep_ms(1);
			continue;
		}
		while (!atomic_load(&st->stop) && pos < st->s.len) {
			size_t want = vmt_chunk(VMT_CHUNK_RANDOM, &rng,
						st->s.len - pos);
			ssize_t n = write(fd, st->s.p + pos, want);

			atomic_fetch_add(&st->n_write, 1);
			if (n < 0) {
				if (errno != ENODEV && errno != EINVAL)
					storm_bad(st, "write of resume fd: %s",
						  strerror(errno));
				break;
			}
			if (n == 0 || (size_t)n > want) {
				storm_bad(st, "write returned %zd for %zu", n, want);
				break;
			}
			pos += n;
			atomic_fetch_add(&st->bytes_written, n);
		}
		close(fd);
	}
	return NULL;
}

static void *storm_resetter(void *arg)
{
	struct storm_thread *t = arg;
	struct storm *st = t->st;
	struct vmt_rng rng;

	vmt_rng_seed(&rng, t->seed);
	while (!atomic_load(&st->stop)) {
		int r;

		vmt_sleep_ms(2 + vmt_rng_below(&rng, 20));
		pthread_rwlock_rdlock(&st->devlock);
		r = vdev_reset(&st->a.dev);
		pthread_rwlock_unlock(&st->devlock);
		atomic_fetch_add(&st->n_reset, 1);
		/* pci_try_reset_function() may find the device busy. */
		if (r && r != -EAGAIN && r != -EBUSY)
			storm_bad(st, "reset: %s", strerror(-r));
	}
	return NULL;
}

static void *storm_reopener(void *arg)
{
	struct storm_thread *t = arg;
	struct storm *st = t->st;
	struct vmt_rng rng;

	vmt_rng_seed(&rng, t->seed);
	while (!atomic_load(&st->stop)) {
		int r;

		vmt_sleep_ms(5 + vmt_rng_below(&rng, 40));
		pthread_rwlock_wrlock(&st->devlock);
		vdev_close_fd(&st->a.dev);
		r = vdev_reopen_fd(&st->a.dev);
		pthread_rwlock_unlock(&st->devlock);
		atomic_fetch_add(&st->n_reopen, 1);
		if (r) {
			storm_bad(st, "reopen: %s", vmt_errstr());
			atomic_store(&st->dev_lost, true);
			atomic_store(&st->stop, true);
		}
	}
	return NULL;
}

FIXTURE(storm) {
	struct storm st;
	struct ivsh b;
	struct vmt_kmsg kmsg;
	uint64_t seed;
};

FIXTURE_VARIANT(storm) {
	int setters, getters, readers, writers, resetters, reopeners;
	unsigned int ms;
};

FIXTURE_VARIANT_ADD(storm, set_get) {
	.setters = 3, .getters = 1, .ms = 4000,
};
FIXTURE_VARIANT_ADD(storm, sessions) {
	.setters = 1, .readers = 2, .writers = 2, .ms = 4000,
};
FIXTURE_VARIANT_ADD(storm, resets) {
	.setters = 1, .getters = 1, .readers = 1, .writers = 1, .resetters = 1,
	.ms = 4000,
};
FIXTURE_VARIANT_ADD(storm, close_reopen) {
	.setters = 1, .readers = 1, .writers = 1, .reopeners = 1, .ms = 4000,
};
FIXTURE_VARIANT_ADD(storm, everything) {
	.setters = 2, .getters = 1, .readers = 2, .writers = 2, .resetters = 1,
	.reopeners = 1, .ms = 6000,
};

FIXTURE_SETUP(storm)
{
	struct storm *st = &self->st;

	memset(st, 0, sizeof(*st));
	ivsh_init(&st->a);
	ivsh_init(&self->b);
	st->save_slot = st->resume_slot = -1;
	pthread_rwlock_init(&st->devlock, NULL);
	pthread_mutex_init(&st->slot_lock, NULL);
	pthread_mutex_init(&st->err_lock, NULL);
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	OPEN_IVSH(&st->a, "IVSHMEM_BDF_A");
	OPEN_IVSH(&self->b, "IVSHMEM_BDF_B");
	/*
	 * Once, before any thread runs: a thread reading them itself could
	 * meet the reopener between close and open and fall back to a guess.
	 */
	ASSERT_OK(mig_get_flags(st->a.dev.fd, &st->flags));
	ivsh_fill(&st->a, self->seed);
	ASSERT_OK(ivsh_save(&st->a, &st->s, VMT_MiB, NULL));
	st->stream_len = st->s.len;
	/* No mapping while storming: close must really close the device. */
	ivsh_unmap(&st->a);
	TH_LOG("seed 0x%llx, stream %llu bytes", (unsigned long long)self->seed,
	       (unsigned long long)st->stream_len);
}

FIXTURE_TEARDOWN(storm)
{
	struct storm *st = &self->st;

	if (st->save_slot >= 0)
		close(st->save_slot);
	if (st->resume_slot >= 0)
		close(st->resume_slot);
	ivsh_close(&st->a);
	ivsh_close(&self->b);
	vmt_buf_free(&st->s);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

TEST_F(storm, run)
{
	struct storm *st = &self->st;
	struct storm_thread th[16];
	struct vmt_buf s2 = { 0 };
	struct vmt_rng rng;
	int n = 0, i, k;
	struct {
		int count;
		void *(*fn)(void *);
	} roles[] = {
		{ variant->setters, storm_setter },
		{ variant->getters, storm_getter },
		{ variant->readers, storm_reader },
		{ variant->writers, storm_writer },
		{ variant->resetters, storm_resetter },
		{ variant->reopeners, storm_reopener },
	};

	vmt_rng_seed(&rng, self->seed);
	for (k = 0; k < (int)ARRAY_SIZE(roles); k++) {
		for (i = 0; i < roles[k].count; i++) {
			ASSERT_GT((int)ARRAY_SIZE(th), n);
			th[n].st = st;
			th[n].seed = self->seed + 7919 * (n + 1);
			th[n].fn = roles[k].fn;
			ASSERT_EQ(0, pthread_create(&th[n].tid, NULL, th[n].fn,
						    &th[n]));
			n++;
		}
	}
	vmt_sleep_ms(variant->ms);
	atomic_store(&st->stop, true);
	for (i = 0; i < n; i++)
		pthread_join(th[i].tid, NULL);

	TH_LOG("set %lu (ok %lu) get %lu read %lu (%lu bytes) write %lu (%lu bytes) reset %lu reopen %lu",
	       atomic_load(&st->n_set), atomic_load(&st->n_set_ok),
	       atomic_load(&st->n_get), atomic_load(&st->n_read),
	       atomic_load(&st->bytes_read), atomic_load(&st->n_write),
	       atomic_load(&st->bytes_written), atomic_load(&st->n_reset),
	       atomic_load(&st->n_reopen));
	ASSERT_EQ(0, atomic_load(&st->unexpected)) {
		TH_LOG("%lu unexpected results, first: %s",
		       atomic_load(&st->unexpected), st->first_unexpected);
	}
	ASSERT_FALSE(atomic_load(&st->dev_lost));
	if (variant->setters) {
		ASSERT_LT(0, atomic_load(&st->n_set_ok));
	}

	/* The device is fully usable afterwards. */
	ASSERT_OK(vdev_reset(&st->a.dev));
	ASSERT_STATE(st->a.dev.fd, STATE(RUNNING));
	ASSERT_GT(0, vmt_read1(st->save_slot));
	ASSERT_GT(0, vmt_write1(st->resume_slot));
	ASSERT_OK(ivsh_map(&st->a));
	ivsh_fill(&st->a, self->seed + 1);
	ASSERT_OK(ivsh_set_regs(&st->a, 0x11, 0x22));
	ASSERT_OK(ivsh_save(&st->a, &s2, VMT_CHUNK_RANDOM, &rng));
	ASSERT_OK(ivsh_restore(&self->b, s2.p, s2.len, 32768, NULL));
	ASSERT_PATTERN(&self->b, self->seed + 1);
	ASSERT_PATTERN(&st->a, self->seed + 1);
	vmt_buf_free(&s2);
}

/* ------------------------------------------------------------------------
 * Targeted races on one data fd.
 */

struct racer {
	pthread_t tid;
	pthread_barrier_t *bar;
	int fd;
	const uint8_t *p;
	size_t len;
	size_t chunk;
	uint64_t seed;
	/* results */
	ssize_t ret;		/* single-write mode */
	size_t done;
	int err;
	unsigned long calls;
	bool overlong;
};

static void *race_write_once(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->bar);
	r->ret = write(r->fd, r->p, r->len);
	r->err = r->ret < 0 ? errno : 0;
	return NULL;
}

static void *race_write_chunks(void *arg)
{
	struct racer *r = arg;
	struct vmt_rng rng;

	vmt_rng_seed(&rng, r->seed);
	pthread_barrier_wait(r->bar);
	while (r->done < r->len) {
		size_t want = vmt_chunk(r->chunk, &rng, r->len - r->done);
		ssize_t n = write(r->fd, r->p + r->done, want);

		r->calls++;
		if (n <= 0) {
			r->err = n < 0 ? errno : EPROTO;
			break;
		}
		if ((size_t)n > want)
			r->overlong = true;
		r->done += n;
	}
	return NULL;
}

static void *race_read_chunks(void *arg)
{
	struct racer *r = arg;
	struct vmt_rng rng;
	uint8_t *buf = malloc(4 * VMT_MiB);

	vmt_rng_seed(&rng, r->seed);
	pthread_barrier_wait(r->bar);
	while (buf) {
		size_t want = vmt_chunk(r->chunk, &rng, 4 * VMT_MiB);
		ssize_t n = read(r->fd, buf, want);

		r->calls++;
		if (n < 0) {
			r->err = errno;
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > want)
			r->overlong = true;
		r->done += n;
	}
	free(buf);
	return NULL;
}

FIXTURE(race) {
	struct ivsh a;
	struct vmt_kmsg kmsg;
	uint64_t seed;
	struct vmt_buf s;
	pthread_barrier_t bar;
};

FIXTURE_SETUP(race)
{
	ivsh_init(&self->a);
	vmt_kmsg_open(&self->kmsg);
	pthread_barrier_init(&self->bar, NULL, 2);
	self->seed = vmt_seed();
	OPEN_IVSH(&self->a, "IVSHMEM_BDF_A");
	ivsh_fill(&self->a, self->seed);
	ASSERT_OK(ivsh_save(&self->a, &self->s, VMT_MiB, NULL));
}

FIXTURE_TEARDOWN(race)
{
	ivsh_close(&self->a);
	vmt_buf_free(&self->s);
	pthread_barrier_destroy(&self->bar);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/* Ends a RESUMING session: STOP (checked by the caller's expectations) or reset. */
static int race_finish(FIXTURE_DATA(race) *self, bool *stopped)
{
	int r = mig_set_state_nofd(self->a.dev.fd, STATE(STOP));

	*stopped = !r;
	if (r)
		return vdev_reset(&self->a.dev);
	return mig_set_state_nofd(self->a.dev.fd, STATE(RUNNING));
}

TEST_F(race, two_writers_whole_stream)
{
	int it, fd = self->a.dev.fd;

	for (it = 0; it < 20; it++) {
		struct racer w[2];
		size_t total = 0;
		int full = 0, failed = 0, i, rfd = -1;
		bool stopped;

		ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &rfd));
		for (i = 0; i < 2; i++) {
			memset(&w[i], 0, sizeof(w[i]));
			w[i].bar = &self->bar;
			w[i].fd = rfd;
			w[i].p = self->s.p;
			w[i].len = self->s.len;
			ASSERT_EQ(0, pthread_create(&w[i].tid, NULL,
						    race_write_once, &w[i]));
		}
		for (i = 0; i < 2; i++) {
			pthread_join(w[i].tid, NULL);
			if (w[i].ret > 0)
				total += w[i].ret;
			if (w[i].ret == (ssize_t)self->s.len)
				full++;
			if (w[i].ret < 0) {
				failed++;
				ASSERT_TRUE(w[i].err == EINVAL || w[i].err == EBUSY) {
					TH_LOG("writer %d: %s", i,
					       strerror(w[i].err));
				}
			}
		}
		/* The fd never takes more than one stream's worth. */
		ASSERT_GE(1, full);
		ASSERT_GE(self->s.len, total) {
			TH_LOG("iteration %d: %zu bytes accepted in total", it,
			       total);
		}
		ASSERT_OK(race_finish(self, &stopped));
		close(rfd);
		if (failed) {
			ASSERT_FALSE(stopped) {
				TH_LOG("STOP succeeded after a failed write");
			}
		}
		if (stopped)
			ASSERT_PATTERN(&self->a, self->seed);
	}
	ASSERT_STATE(fd, STATE(RUNNING));
	ASSERT_OK(ivsh_restore(&self->a, self->s.p, self->s.len, VMT_MiB, NULL));
	ASSERT_PATTERN(&self->a, self->seed);
}

TEST_F(race, two_writers_chunked)
{
	int it, fd = self->a.dev.fd;

	for (it = 0; it < 10; it++) {
		struct racer w[2];
		size_t total = 0;
		int i, rfd = -1;
		bool stopped, failed = false;

		ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &rfd));
		for (i = 0; i < 2; i++) {
			memset(&w[i], 0, sizeof(w[i]));
			w[i].bar = &self->bar;
			w[i].fd = rfd;
			w[i].p = self->s.p;
			w[i].len = self->s.len;
			w[i].chunk = it & 1 ? 4096 : VMT_CHUNK_RANDOM;
			w[i].seed = self->seed + it * 2 + i;
			ASSERT_EQ(0, pthread_create(&w[i].tid, NULL,
						    race_write_chunks, &w[i]));
		}
		for (i = 0; i < 2; i++) {
			pthread_join(w[i].tid, NULL);
			total += w[i].done;
			ASSERT_FALSE(w[i].overlong);
			if (w[i].err) {
				failed = true;
				ASSERT_EQ(EINVAL, w[i].err);
			}
		}
		/* A valid stream has a fixed length: nothing beyond it fits. */
		ASSERT_GE(self->s.len, total) {
			TH_LOG("iteration %d: %zu bytes accepted in total", it,
			       total);
		}
		ASSERT_TRUE(failed);
		ASSERT_OK(race_finish(self, &stopped));
		close(rfd);
		ASSERT_FALSE(stopped);
	}
	ASSERT_OK(ivsh_restore(&self->a, self->s.p, self->s.len, VMT_MiB, NULL));
	ASSERT_PATTERN(&self->a, self->seed);
}

TEST_F(race, two_readers_one_fd)
{
	int it, fd = self->a.dev.fd;

	for (it = 0; it < 10; it++) {
		struct racer r[2];
		uint64_t size = 0;
		int i, sfd = -1;

		ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
		ASSERT_OK(ivsh_data_size(&self->a, &size));
		for (i = 0; i < 2; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].bar = &self->bar;
			r[i].fd = sfd;
			r[i].chunk = it & 1 ? 7 * 4096 : VMT_CHUNK_RANDOM;
			r[i].seed = self->seed + it * 2 + i;
			ASSERT_EQ(0, pthread_create(&r[i].tid, NULL,
						    race_read_chunks, &r[i]));
		}
		for (i = 0; i < 2; i++) {
			pthread_join(r[i].tid, NULL);
			ASSERT_EQ(0, r[i].err);
			ASSERT_FALSE(r[i].overlong);
		}
		/* Every byte is delivered exactly once. */
		ASSERT_EQ(size, r[0].done + r[1].done) {
			TH_LOG("iteration %d: %zu + %zu bytes, stream %llu", it,
			       r[0].done, r[1].done, (unsigned long long)size);
		}
		ASSERT_EQ(0, vmt_read1(sfd));
		close(sfd);
		ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
	}
	ASSERT_PATTERN(&self->a, self->seed);
}

/* A huge read() or write() in flight while the device is reset or closed. */
FIXTURE(bigrace) {
	struct ivsh a;
	struct vmt_kmsg kmsg;
	uint64_t seed;
};

FIXTURE_VARIANT(bigrace) {
	bool writer;
	bool close_dev;
};

FIXTURE_VARIANT_ADD(bigrace, read_vs_reset) { .writer = false, .close_dev = false };
FIXTURE_VARIANT_ADD(bigrace, read_vs_close) { .writer = false, .close_dev = true };
FIXTURE_VARIANT_ADD(bigrace, write_vs_reset) { .writer = true, .close_dev = false };
FIXTURE_VARIANT_ADD(bigrace, write_vs_close) { .writer = true, .close_dev = true };

FIXTURE_SETUP(bigrace)
{
	ivsh_init(&self->a);
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	OPEN_IVSH(&self->a, "IVSHMEM_BDF_BIG_A");
	ivsh_fill(&self->a, self->seed);
}

FIXTURE_TEARDOWN(bigrace)
{
	ivsh_close(&self->a);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

struct bigop {
	int fd;
	bool writer;
	uint8_t *buf;
	size_t len;
	ssize_t ret;
	int err;
	ssize_t ret2;
	int err2;
	atomic_bool started;
	atomic_bool killed;
	double t_end;
};

static void *bigop_thread(void *arg)
{
	struct bigop *o = arg;

	atomic_store(&o->started, true);
	if (o->writer)
		o->ret = write(o->fd, o->buf, o->len);
	else
		o->ret = read(o->fd, o->buf, o->len);
	o->err = o->ret < 0 ? errno : 0;
	o->t_end = vmt_now();
	while (!atomic_load(&o->killed))
		vmt_sleep_ms(1);
	/* Whatever the first call did, the session is gone now. */
	if (o->writer)
		o->ret2 = write(o->fd, o->buf, 4096);
	else
		o->ret2 = read(o->fd, o->buf, 4096);
	o->err2 = o->ret2 < 0 ? errno : 0;
	return NULL;
}

TEST_F(bigrace, op_woken)
{
	struct ivm_build_params bp;
	struct vmt_buf s = { 0 };
	struct bigop o;
	pthread_t tid;
	uint64_t full = 0;
	double t0, t_kill;
	int fd = self->a.dev.fd;

	memset(&o, 0, sizeof(o));
	o.writer = variant->writer;
	if (o.writer) {
		struct vmt_buf own = { 0 };
		struct ivm_checker chk;

		/* A valid stream for this device, built rather than read. */
		ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &o.fd));
		ASSERT_LT(0, mig_read_all(o.fd, &own, VMT_MiB, NULL, 4096, NULL, NULL));
		close(o.fd);
		ASSERT_OK(mig_set_state_nofd(fd, STATE(RUNNING)));
		ivm_check_init(&chk);
		ivm_check_feed(&chk, own.p, own.len);
		ASSERT_TRUE(chk.have_hdr);
		ivsh_build_params(&self->a, &bp);
		bp.page_size = chk.hdr.page_size;
		bp.seed = self->seed;
		ivm_check_free(&chk);
		vmt_buf_free(&own);
		ASSERT_OK(ivm_build(&s, &bp));
		o.buf = s.p;
		o.len = s.len;
		ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &o.fd));
	} else {
		o.len = self->a.mem_size + VMT_MiB;
		o.buf = malloc(o.len);
		ASSERT_NE(NULL, o.buf);
		ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &o.fd));
	}
	ASSERT_LE(0, o.fd);
	if (o.writer)
		full = s.len;
	else
		ASSERT_OK(ivsh_data_size(&self->a, &full));
	if (variant->close_dev)
		ivsh_unmap(&self->a);

	ASSERT_EQ(0, pthread_create(&tid, NULL, bigop_thread, &o));
	while (!atomic_load(&o.started))
		vmt_sleep_ms(1);
	vmt_sleep_ms(20);
	t0 = vmt_now();
	if (variant->close_dev)
		ASSERT_OK(vdev_close_fd(&self->a.dev));
	else
		ASSERT_OK(vdev_reset(&self->a.dev));
	t_kill = vmt_now();
	atomic_store(&o.killed, true);
	pthread_join(tid, NULL);
	TH_LOG("%s of %zu bytes: %zd (%s), %s took %.3f s, op ended %.3f s after it",
	       o.writer ? "write" : "read", o.len, o.ret,
	       o.ret < 0 ? strerror(o.err) : "ok",
	       variant->close_dev ? "close" : "reset", t_kill - t0,
	       o.t_end - t_kill);
	/*
	 * The call was still in flight when the reset or close began (else
	 * this proves nothing), and it was woken: it ended with ENODEV or
	 * short of the whole stream, soon after, instead of moving everything.
	 */
	ASSERT_LT(t0, o.t_end) {
		TH_LOG("the %s ended before the %s began: raise the size",
		       o.writer ? "write" : "read",
		       variant->close_dev ? "close" : "reset");
	}
	if (o.ret < 0) {
		ASSERT_EQ(ENODEV, o.err);
	} else {
		ASSERT_GT((ssize_t)full, o.ret) {
			TH_LOG("the %s moved the whole stream (%zd bytes): not woken",
			       o.writer ? "write" : "read", o.ret);
		}
	}
	ASSERT_GT(5.0, o.t_end - t_kill) {
		TH_LOG("woken only %.3f s after the %s", o.t_end - t_kill,
		       variant->close_dev ? "close" : "reset");
	}
	/* ... and the fd is dead afterwards. */
	ASSERT_EQ(-1, o.ret2);
	ASSERT_EQ(ENODEV, o.err2);
	close(o.fd);
	if (variant->close_dev) {
		ASSERT_OK(vdev_reopen_fd(&self->a.dev));
		ASSERT_OK(ivsh_map(&self->a));
	}
	ASSERT_STATE(self->a.dev.fd, STATE(RUNNING));
	if (!o.writer)
		ASSERT_PATTERN(&self->a, self->seed);
	if (o.writer)
		vmt_buf_free(&s);
	else
		free(o.buf);
}

/* ------------------------------------------------------------------------
 * Freezing vs. BAR accesses in flight: entering STOP must wait for region
 * reads/writes and mmap faults already started, so that nothing the user
 * began before SET STOP returned changes device memory afterwards.
 */

struct toucher {
	const struct ivsh *a;
	atomic_bool stop;
	atomic_ulong region_ok, region_eio, mmap_ok, mmap_sigbus;
	atomic_ulong unexpected;
	char first_unexpected[128];
	uint8_t *buf[2];
	size_t len;
};

static void toucher_bad(struct toucher *t, const char *what, int err)
{
	if (atomic_fetch_add(&t->unexpected, 1) == 0)
		snprintf(t->first_unexpected, sizeof(t->first_unexpected),
			 "%s: %s", what, strerror(err));
}

/* Region writes of two alternating patterns, and reads, through the device fd. */
static void *toucher_region(void *arg)
{
	struct toucher *t = arg;
	off_t bar2 = t->a->dev.region[IVSHMEM_MEM_BAR].offset;
	uint8_t *rbuf = malloc(t->len);
	unsigned long i;

	for (i = 0; rbuf && !atomic_load(&t->stop); i++) {
		bool rd = i % 4 == 3;
		ssize_t n = rd ? pread(t->a->dev.fd, rbuf, t->len, bar2) :
				 pwrite(t->a->dev.fd, t->buf[i & 1], t->len, bar2);

		if (n == (ssize_t)t->len) {
			atomic_fetch_add(&t->region_ok, 1);
		} else if (n < 0 && errno == EIO) {
			atomic_fetch_add(&t->region_eio, 1);
			vmt_sleep_ms(1);	/* stopped: do not spin */
		} else {
			toucher_bad(t, rd ? "region read" : "region write",
				    n < 0 ? errno : EPROTO);
		}
	}
	free(rbuf);
	return NULL;
}

static __thread sigjmp_buf toucher_env;
static __thread volatile sig_atomic_t toucher_armed;

static void toucher_sigbus(int sig)
{
	if (toucher_armed)
		siglongjmp(toucher_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Writes through the BAR2 mapping, page by page; SIGBUS while frozen. */
static void *toucher_mmap(void *arg)
{
	struct toucher *t = arg;
	volatile unsigned long i = 0;

	while (!atomic_load(&t->stop)) {
		uint64_t off = (i++ * 4096) % t->len;

		if (sigsetjmp(toucher_env, 1)) {
			toucher_armed = 0;
			atomic_fetch_add(&t->mmap_sigbus, 1);
			vmt_sleep_ms(1);
			continue;
		}
		toucher_armed = 1;
		*(volatile uint64_t *)(t->a->mem + off) = i;
		toucher_armed = 0;
		atomic_fetch_add(&t->mmap_ok, 1);
	}
	return NULL;
}

/* The whole STOP_COPY stream of a stopped device; back to STOP. */
static int stopped_snapshot(struct ivsh *s, struct vmt_buf *out)
{
	int fd = -1, ret;

	out->len = 0;
	ret = mig_set_state(s->dev.fd, STATE(STOP_COPY), &fd);
	if (ret)
		return ret;
	ret = mig_read_all(fd, out, VMT_MiB, NULL, 0, NULL, NULL) > 0 ? 0 : -EIO;
	close(fd);
	if (!ret)
		ret = mig_set_state_nofd(s->dev.fd, STATE(STOP));
	return ret;
}

static size_t first_diff(const struct vmt_buf *x, const struct vmt_buf *y)
{
	size_t i, n = x->len < y->len ? x->len : y->len;

	for (i = 0; i < n; i++)
		if (x->p[i] != y->p[i])
			return i;
	return x->len == y->len ? SIZE_MAX : n;
}

FIXTURE(freeze) {
	struct ivsh a;
	struct vmt_kmsg kmsg;
	uint64_t seed;
};

FIXTURE_SETUP(freeze)
{
	ivsh_init(&self->a);
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	OPEN_IVSH(&self->a, "IVSHMEM_BDF_A");
}

FIXTURE_TEARDOWN(freeze)
{
	ivsh_close(&self->a);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

TEST_F(freeze, bar_access_vs_stop)
{
	struct vmt_buf s1 = { 0 }, s2 = { 0 };
	bool with_mmap = ivsh_mmap_freezes();
	struct toucher t;
	pthread_t tr, tm;
	struct vmt_rng rng;
	struct sigaction sa;
	size_t i, d = SIZE_MAX;
	int it, err = 0, fd = self->a.dev.fd;

	memset(&t, 0, sizeof(t));
	t.a = &self->a;
	t.len = self->a.mem_size;
	t.buf[0] = malloc(t.len);
	t.buf[1] = malloc(t.len);
	ASSERT_TRUE(t.buf[0] && t.buf[1]);
	for (i = 0; i < t.len; i++) {
		t.buf[0][i] = (uint8_t)(i * 7 + 1);
		t.buf[1][i] = (uint8_t)~(i * 7 + 1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = toucher_sigbus;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	vmt_rng_seed(&rng, self->seed);
	TH_LOG("seed 0x%llx, region writes of %zu bytes%s",
	       (unsigned long long)self->seed, t.len,
	       with_mmap ? " and writes through the mapping" :
	       " (mappings are not frozen on this kernel: region access only)");

	ASSERT_EQ(0, pthread_create(&tr, NULL, toucher_region, &t));
	if (with_mmap)
		ASSERT_EQ(0, pthread_create(&tm, NULL, toucher_mmap, &t));
	/* Failures are only noted here: the threads must stop first. */
	for (it = 0; it < 30 && !err && d == SIZE_MAX; it++) {
		vmt_sleep_ms(1 + vmt_rng_below(&rng, 20));
		err = mig_set_state_nofd(fd, STATE(STOP));
		if (!err)
			err = stopped_snapshot(&self->a, &s1);
		vmt_sleep_ms(30);
		if (!err)
			err = stopped_snapshot(&self->a, &s2);
		if (!err)
			d = first_diff(&s1, &s2);
		if (!err)
			err = mig_set_state_nofd(fd, STATE(RUNNING));
	}
	atomic_store(&t.stop, true);
	pthread_join(tr, NULL);
	if (with_mmap)
		pthread_join(tm, NULL);
	ASSERT_EQ(0, err) {
		TH_LOG("iteration %d: %s (%s)", it - 1, strerror(-err),
		       vmt_errstr());
	}
	ASSERT_EQ(SIZE_MAX, d) {
		TH_LOG("iteration %d: device memory changed while stopped (stream byte %zu of %zu): an access begun before SET STOP went on after it",
		       it - 1, d, s1.len);
	}
	TH_LOG("region ok %lu, EIO %lu; mapping ok %lu, SIGBUS %lu",
	       atomic_load(&t.region_ok), atomic_load(&t.region_eio),
	       atomic_load(&t.mmap_ok), atomic_load(&t.mmap_sigbus));
	ASSERT_EQ(0, atomic_load(&t.unexpected)) {
		TH_LOG("first unexpected result: %s", t.first_unexpected);
	}
	/* Both kinds of access really happened, and were really refused. */
	ASSERT_LT(0, atomic_load(&t.region_ok));
	ASSERT_LT(0, atomic_load(&t.region_eio));
	if (with_mmap) {
		ASSERT_LT(0, atomic_load(&t.mmap_ok));
		ASSERT_LT(0, atomic_load(&t.mmap_sigbus));
	}
	ASSERT_STATE(fd, STATE(RUNNING));
	vmt_buf_free(&s1);
	vmt_buf_free(&s2);
	free(t.buf[0]);
	free(t.buf[1]);
}

/* ------------------------------------------------------------------------
 * Resets that arrive while a data file's user or the FSM is blocked, made
 * deterministic with a userfaultfd page as the user buffer: the kernel's
 * copy to or from it waits until the test resolves the fault.
 */

struct uffd_buf {
	int uffd;
	uint8_t *p;
	size_t len;
};

static int uffd_buf_init(struct uffd_buf *u, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;

	u->len = len;
	u->p = MAP_FAILED;
	u->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->uffd < 0)
		return -errno;
	if (ioctl(u->uffd, UFFDIO_API, &api))
		return -errno;
	u->p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u->p == MAP_FAILED)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (unsigned long)u->p;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(u->uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	return 0;
}

static void uffd_buf_free(struct uffd_buf *u)
{
	if (u->p != MAP_FAILED && u->p)
		munmap(u->p, u->len);
	if (u->uffd >= 0)
		close(u->uffd);
	u->uffd = -1;
	u->p = NULL;
}

/* Waits for a thread to fault on the buffer: 0, or -ETIMEDOUT. */
static int uffd_wait_fault(struct uffd_buf *u, int ms)
{
	struct pollfd pfd = { .fd = u->uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, ms) != 1)
		return -ETIMEDOUT;
	if (read(u->uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -errno;
	return msg.event == UFFD_EVENT_PAGEFAULT ? 0 : -EPROTO;
}

/* Fills the whole buffer with @byte, which wakes the faulting thread. */
static int uffd_resolve(struct uffd_buf *u, uint8_t byte)
{
	struct uffdio_copy c;
	void *src = malloc(u->len);
	int ret = 0;

	if (!src)
		return -ENOMEM;
	memset(src, byte, u->len);
	memset(&c, 0, sizeof(c));
	c.dst = (unsigned long)u->p;
	c.src = (unsigned long)src;
	c.len = u->len;
	if (ioctl(u->uffd, UFFDIO_COPY, &c))
		ret = -errno;
	free(src);
	return ret;
}

/* Waits until thread @tid sleeps uninterruptibly (state D) for 100 ms. */
static int wait_thread_blocked(pid_t tid, int ms)
{
	char path[64], buf[256], *p;
	int seen = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	for (; ms > 0; ms -= 10) {
		n = vmt_read_file(path, buf, sizeof(buf));
		if (n < 0)
			return n;
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'D') {
			if (++seen >= 10)
				return 0;
		} else {
			seen = 0;
		}
		vmt_sleep_ms(10);
	}
	return -ETIMEDOUT;
}

struct blocked_op {
	pthread_t tid;
	atomic_int sys_tid;
	int fd;		/* data fd, or the device fd for a SET */
	void *buf;
	size_t len;
	int op;		/* 0 read, 1 write, 2 SET STOP */
	ssize_t ret;
	int err;
};

static void *blocked_op_thread(void *arg)
{
	struct blocked_op *o = arg;

	atomic_store(&o->sys_tid, (int)syscall(SYS_gettid));
	if (o->op == 0)
		o->ret = read(o->fd, o->buf, o->len);
	else if (o->op == 1)
		o->ret = write(o->fd, o->buf, o->len);
	else
		o->ret = mig_set_state_nofd(o->fd, STATE(STOP));
	o->err = o->op == 2 ? (int)-o->ret : (o->ret < 0 ? errno : 0);
	return NULL;
}

FIXTURE(held) {
	struct ivsh a;
	struct vmt_kmsg kmsg;
	struct uffd_buf u;
	uint64_t seed;
};

FIXTURE_SETUP(held)
{
	int r;

	ivsh_init(&self->a);
	self->u.uffd = -1;
	self->u.p = NULL;
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	OPEN_IVSH(&self->a, "IVSHMEM_BDF_A");
	ivsh_fill(&self->a, self->seed);
	r = uffd_buf_init(&self->u, 65536);
	if (r == -ENOSYS || r == -EPERM)
		VMT_SKIP_SETUP("no userfaultfd for kernel copies here: %s",
			       strerror(-r));
	ASSERT_OK(r);
}

FIXTURE_TEARDOWN(held)
{
	uffd_buf_free(&self->u);
	ivsh_close(&self->a);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/*
 * A reader blocked in its copy to user memory holds the save file's lock;
 * SET STOP then waits for that lock with state_mutex held, and a reset
 * arriving now must be deferred, not lost: once both finish the device is
 * RUNNING, unfrozen, and the old session is dead.
 */
TEST_F(held, reset_while_state_mutex_held)
{
	struct blocked_op rd = { .op = 0, .len = 65536 };
	struct blocked_op set = { .op = 2 };
	int fd = self->a.dev.fd, sfd = -1;
	uint32_t v, st = ~0U;

	ASSERT_OK(mig_set_state(fd, STATE(STOP_COPY), &sfd));
	rd.fd = sfd;
	rd.buf = self->u.p;
	ASSERT_EQ(0, pthread_create(&rd.tid, NULL, blocked_op_thread, &rd));
	ASSERT_OK(uffd_wait_fault(&self->u, 10000));
	set.fd = fd;
	ASSERT_EQ(0, pthread_create(&set.tid, NULL, blocked_op_thread, &set));
	while (!atomic_load(&set.sys_tid))
		vmt_sleep_ms(1);
	ASSERT_EQ(0, wait_thread_blocked(atomic_load(&set.sys_tid), 10000)) {
		TH_LOG("SET STOP did not block behind the reader");
	}
	/* state_mutex is held now: the driver must defer this reset. */
	ASSERT_OK(vdev_reset(&self->a.dev));
	ASSERT_OK(uffd_resolve(&self->u, 0));
	pthread_join(rd.tid, NULL);
	pthread_join(set.tid, NULL);
	TH_LOG("blocked read: %zd (%s), SET STOP: %s", rd.ret,
	       rd.ret < 0 ? strerror(rd.err) : "ok",
	       set.ret ? strerror(set.err) : "ok");
	ASSERT_EQ(0, set.ret);
	ASSERT_EQ(0, mig_get_state(fd, &st));
	ASSERT_EQ(STATE(RUNNING), st) {
		TH_LOG("state %s: the reset that arrived during SET STOP was lost",
		       mig_state_name(st));
	}
	ASSERT_OK(vdev_rd32(&self->a.dev, IVSHMEM_MEM_BAR, 0, &v));
	ASSERT_EQ(-ENODEV, vmt_read1(sfd));
	close(sfd);
	ASSERT_PATTERN(&self->a, self->seed);
}

/*
 * A writer blocked in its copy from user memory, between its liveness check
 * and the device access, when the device is reset: the chunk must not reach
 * the device (the reset generation check under memory_lock).
 */
TEST_F(held, no_old_chunk_after_reset)
{
	struct blocked_op wr = { .op = 1, .len = 65536 };
	struct vmt_buf s = { 0 };
	int fd = self->a.dev.fd, rfd = -1;
	size_t meta = sizeof(struct ivm_stream_header) +
		      2 * sizeof(struct ivm_record_header) + 8;

	ASSERT_OK(ivsh_save(&self->a, &s, VMT_MiB, NULL));
	ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &rfd));
	/* Header, REGS record and the first MEM record's header. */
	ASSERT_EQ((ssize_t)meta, write(rfd, s.p, meta));
	wr.fd = rfd;
	wr.buf = self->u.p;
	ASSERT_EQ(0, pthread_create(&wr.tid, NULL, blocked_op_thread, &wr));
	ASSERT_OK(uffd_wait_fault(&self->u, 10000));
	ASSERT_OK(vdev_reset(&self->a.dev));
	ASSERT_OK(uffd_resolve(&self->u, 0xa5));
	pthread_join(wr.tid, NULL);
	TH_LOG("blocked write: %zd (%s)", wr.ret,
	       wr.ret < 0 ? strerror(wr.err) : "ok");
	ASSERT_EQ(-1, wr.ret);
	ASSERT_EQ(ENODEV, wr.err);
	ASSERT_STATE(fd, STATE(RUNNING));
	/* Nothing of the old session reached BAR2 after the reset. */
	ASSERT_PATTERN(&self->a, self->seed);
	close(rfd);
	vmt_buf_free(&s);
}

/* ------------------------------------------------------------------------
 * Endurance: many cycles, kernel memory must not grow.
 */

#define MEM_TOLERANCE_KB 1024	/* Slab + VmallocUsed growth allowed per run */

struct memsnap {
	long slab;
	long vmalloc;
};

static int mem_snapshot(struct memsnap *m)
{
	int fd, i, ret;

	/* Shrink reclaimable caches and let RCU-deferred frees finish. */
	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		ssize_t n = write(fd, "3", 1);

		(void)n;	/* not fatal: the tolerance covers it */
		close(fd);
	}
	m->slab = LONG_MAX;
	m->vmalloc = LONG_MAX;
	/* The smallest of a few samples filters transient allocations. */
	for (i = 0; i < 3; i++) {
		long s, v;

		vmt_sleep_ms(300);
		ret = vmt_meminfo_kb("Slab", &s);
		if (ret)
			return ret;
		ret = vmt_meminfo_kb("VmallocUsed", &v);
		if (ret)
			return ret;
		if (s < m->slab)
			m->slab = s;
		if (v < m->vmalloc)
			m->vmalloc = v;
	}
	return 0;
}

FIXTURE(endurance) {
	struct ivsh a, b;
	struct vmt_kmsg kmsg;
	uint64_t seed;
	struct vmt_buf s;
};

FIXTURE_SETUP(endurance)
{
	ivsh_init(&self->a);
	ivsh_init(&self->b);
	vmt_kmsg_open(&self->kmsg);
	self->seed = vmt_seed();
	OPEN_IVSH(&self->a, "IVSHMEM_BDF_A");
	OPEN_IVSH(&self->b, "IVSHMEM_BDF_B");
	ivsh_fill(&self->a, self->seed);
	ASSERT_OK(vmt_buf_reserve(&self->s, self->a.mem_size + VMT_MiB));
}

FIXTURE_TEARDOWN(endurance)
{
	ivsh_close(&self->a);
	ivsh_close(&self->b);
	vmt_buf_free(&self->s);
	EXPECT_NO_KERNEL_WARNING(&self->kmsg);
	vmt_kmsg_close(&self->kmsg);
}

/* One full cycle A -> B; a changing word proves each cycle transfers. */
static int cycle_save_restore(FIXTURE_DATA(endurance) *self, unsigned int i)
{
	uint64_t off = (i * 4096ULL + 8) % self->a.mem_size;
	int ret;

	*(volatile uint64_t *)(self->a.mem + off) = 0xc0ffee0000000000ULL | i;
	ret = ivsh_save(&self->a, &self->s, VMT_MiB, NULL);
	if (ret)
		return ret;
	ret = ivsh_restore(&self->b, self->s.p, self->s.len, VMT_MiB, NULL);
	if (ret)
		return ret;
	if (*(volatile uint64_t *)(self->b.mem + off) != (0xc0ffee0000000000ULL | i)) {
		vmt_seterr("cycle %u: word at 0x%llx not transferred", i,
			   (unsigned long long)off);
		return -EIO;
	}
	*(volatile uint64_t *)(self->a.mem + off) = vmt_pattern_word(off, self->seed);
	return 0;
}

/* Saving session abandoned after a little reading. */
static int cycle_abandon(FIXTURE_DATA(endurance) *self, unsigned int i)
{
	char buf[4096];
	int fd = -1, ret;

	ret = mig_set_state(self->a.dev.fd, STATE(STOP_COPY), &fd);
	if (ret)
		return ret;
	if (read(fd, buf, 1 + i % sizeof(buf)) < 0)
		ret = -errno;
	if (!ret)
		ret = mig_set_state_nofd(self->a.dev.fd, i & 1 ? STATE(RUNNING) :
					 STATE(RUNNING_P2P));
	close(fd);
	if (!ret && (i & 1) == 0)
		ret = mig_set_state_nofd(self->a.dev.fd, STATE(RUNNING));
	return ret;
}

static void run_endurance(struct __test_metadata *_metadata,
			  FIXTURE_DATA(endurance) *self,
			  int (*cycle)(FIXTURE_DATA(endurance) *, unsigned int),
			  unsigned int cycles)
{
	struct memsnap m0, m1, m2;
	long grow, grow2;
	unsigned int i;
	double t0;

	/* Warm up caches (slabs, anon inode, CRC tables) first. */
	for (i = 0; i < 50; i++)
		ASSERT_OK(cycle(self, i));
	ASSERT_OK(mem_snapshot(&m0));
	t0 = vmt_now();
	for (i = 0; i < cycles; i++) {
		int r = cycle(self, i);

		ASSERT_EQ(0, r) {
			TH_LOG("cycle %u: %s (%s)", i, strerror(-r), vmt_errstr());
		}
	}
	ASSERT_OK(mem_snapshot(&m1));
	grow = (m1.slab - m0.slab) + (m1.vmalloc - m0.vmalloc);
	TH_LOG("%u cycles in %.1f s; Slab %ld -> %ld kB, VmallocUsed %ld -> %ld kB, growth %ld kB (tolerance %d kB)",
	       cycles, vmt_now() - t0, m0.slab, m1.slab, m0.vmalloc,
	       m1.vmalloc, grow, MEM_TOLERANCE_KB);
	if (grow <= MEM_TOLERANCE_KB)
		return;
	/* Noise or a leak?  A leak grows again by about the same amount. */
	for (i = 0; i < cycles; i++)
		ASSERT_OK(cycle(self, i));
	ASSERT_OK(mem_snapshot(&m2));
	grow2 = (m2.slab - m1.slab) + (m2.vmalloc - m1.vmalloc);
	TH_LOG("confirmation run: growth %ld kB", grow2);
	ASSERT_GE(MEM_TOLERANCE_KB, grow2) {
		TH_LOG("kernel memory grows by ~%ld bytes per cycle",
		       grow2 * 1024 / (long)cycles);
	}
}

TEST_F(endurance, save_restore_1000_cycles)
{
	run_endurance(_metadata, self, cycle_save_restore, 1000);
	ASSERT_STATE(self->a.dev.fd, STATE(RUNNING));
	ASSERT_STATE(self->b.dev.fd, STATE(RUNNING));
	/* B holds the last marker of each page; one more plain cycle clears them. */
	ASSERT_PATTERN(&self->a, self->seed);
	ASSERT_OK(ivsh_save(&self->a, &self->s, VMT_MiB, NULL));
	ASSERT_OK(ivsh_restore(&self->b, self->s.p, self->s.len, VMT_MiB, NULL));
	ASSERT_PATTERN(&self->b, self->seed);
}

TEST_F(endurance, abandoned_saves_1000_cycles)
{
	run_endurance(_metadata, self, cycle_abandon, 1000);
	ASSERT_STATE(self->a.dev.fd, STATE(RUNNING));
	ASSERT_PATTERN(&self->a, self->seed);
}

VMT_TEST_MAIN
