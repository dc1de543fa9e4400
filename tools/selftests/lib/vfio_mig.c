// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vfio_mig.h"
#include "vmt_crc32c.h"

const char *mig_state_name(uint32_t state)
{
	static const char *const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};

	return state < MIG_NUM_STATES ? names[state] : "(invalid)";
}

int vfio_feature_raw(int fd, uint32_t argsz, uint32_t flags, void *data,
		     size_t len)
{
	size_t total = sizeof(struct vfio_device_feature) + len;
	struct vfio_device_feature *f;
	int ret = 0;

	/* Keep room for the kernel to write as much as argsz allows. */
	if (argsz > total)
		total = argsz;
	f = calloc(1, total + 64);
	if (!f)
		return -ENOMEM;
	f->argsz = argsz;
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	if (ioctl(fd, VFIO_DEVICE_FEATURE, f))
		ret = -errno;
	if (len)
		memcpy(data, f->data, len);
	free(f);
	if (ret)
		vmt_seterr("VFIO_DEVICE_FEATURE(flags 0x%x, argsz %u): %s",
			   flags, argsz, strerror(-ret));
	return ret;
}

int vfio_feature(int fd, uint32_t flags, void *data, size_t len)
{
	return vfio_feature_raw(fd, sizeof(struct vfio_device_feature) + len,
				flags, data, len);
}

int vfio_feature_probe(int fd, uint32_t feature, uint32_t getset)
{
	return vfio_feature(fd, feature | VFIO_DEVICE_FEATURE_PROBE | getset,
			    NULL, 0);
}

int mig_get_flags(int fd, uint64_t *flags)
{
	struct vfio_device_feature_migration m = { 0 };
	int ret;

	ret = vfio_feature(fd, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_MIGRATION, &m, sizeof(m));
	if (!ret)
		*flags = m.flags;
	return ret;
}

int mig_get_state(int fd, uint32_t *state)
{
	struct vfio_device_feature_mig_state m = { .data_fd = -1 };
	int ret;

	ret = vfio_feature(fd, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m, sizeof(m));
	if (!ret)
		*state = m.device_state;
	return ret;
}

int mig_set_state(int fd, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = state,
		.data_fd = -1,
	};
	int ret;

	ret = vfio_feature(fd, VFIO_DEVICE_FEATURE_SET |
			   VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m, sizeof(m));
	if (ret)
		vmt_seterr("SET %s: %s", mig_state_name(state), strerror(-ret));
	if (data_fd)
		*data_fd = ret ? -1 : m.data_fd;
	else if (!ret && m.data_fd >= 0)
		close(m.data_fd);
	return ret;
}

int mig_set_state_nofd(int fd, uint32_t state)
{
	int dfd, ret;

	ret = mig_set_state(fd, state, &dfd);
	if (!ret && dfd >= 0) {
		close(dfd);
		vmt_seterr("SET %s returned an unexpected data fd",
			   mig_state_name(state));
		return -EPROTO;
	}
	return ret;
}

int mig_data_size(int fd, uint64_t *len)
{
	struct vfio_device_feature_mig_data_size m = { 0 };
	int ret;

	ret = vfio_feature(fd, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &m, sizeof(m));
	if (!ret)
		*len = m.stop_copy_length;
	return ret;
}

int mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	if (initial)
		*initial = info.initial_bytes;
	if (dirty)
		*dirty = info.dirty_bytes;
	return 0;
}

int mig_precopy_info_flags(int data_fd, uint32_t in_flags, uint32_t *flags,
			   uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info),
					  .flags = in_flags };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	if (flags)
		*flags = info.flags;
	if (initial)
		*initial = info.initial_bytes;
	if (dirty)
		*dirty = info.dirty_bytes;
	return 0;
}

int mig_precopy_v2_enable(int fd)
{
	int ret = vfio_feature(fd, VFIO_DEVICE_FEATURE_SET |
			       VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0);

	if (ret)
		vmt_seterr("SET MIG_PRECOPY_INFOv2: %s", strerror(-ret));
	return ret;
}

bool mig_state_supported(uint64_t flags, uint32_t state)
{
	if (!(flags & VFIO_MIGRATION_STOP_COPY))
		return false;
	switch (state) {
	case VFIO_DEVICE_STATE_STOP:
	case VFIO_DEVICE_STATE_RUNNING:
	case VFIO_DEVICE_STATE_STOP_COPY:
	case VFIO_DEVICE_STATE_RESUMING:
		return true;
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return flags & VFIO_MIGRATION_P2P;
	case VFIO_DEVICE_STATE_PRE_COPY:
		return flags & VFIO_MIGRATION_PRE_COPY;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return (flags & VFIO_MIGRATION_PRE_COPY) &&
		       (flags & VFIO_MIGRATION_P2P);
	default:
		return false;	/* ERROR can never be requested */
	}
}

bool mig_state_is_saving(uint32_t state)
{
	return state == VFIO_DEVICE_STATE_STOP_COPY ||
	       state == VFIO_DEVICE_STATE_PRE_COPY ||
	       state == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

bool mig_state_has_session(uint32_t state)
{
	return mig_state_is_saving(state) || state == VFIO_DEVICE_STATE_RESUMING;
}

bool mig_arc_blocked(uint32_t from, uint32_t to)
{
	/* The only arcs the uAPI refuses outright: back from STOP_COPY. */
	return from == VFIO_DEVICE_STATE_STOP_COPY &&
	       (to == VFIO_DEVICE_STATE_PRE_COPY ||
		to == VFIO_DEVICE_STATE_PRE_COPY_P2P);
}

bool mig_arc_keeps_session(uint32_t from, uint32_t to)
{
	if (!mig_state_has_session(from))
		return false;
	if (from == to)
		return true;
	/* Moving inside the saving group keeps the saving session. */
	return mig_state_is_saving(from) && mig_state_is_saving(to) &&
	       !mig_arc_blocked(from, to);
}

bool mig_arc_new_session(uint32_t from, uint32_t to)
{
	if (from == to || mig_arc_blocked(from, to))
		return false;
	if (to == VFIO_DEVICE_STATE_RESUMING)
		return true;
	return mig_state_is_saving(to) && !mig_state_is_saving(from);
}

ssize_t mig_read_all(int fd, struct vmt_buf *out, size_t chunk,
		     struct vmt_rng *rng, size_t limit, uint32_t *crc,
		     size_t *partial)
{
	size_t total = 0, bufsz = 0;
	uint8_t *tmp = NULL;
	ssize_t ret;

	for (;;) {
		size_t want = vmt_chunk(chunk, rng, 0);
		uint8_t *dst;
		ssize_t n;

		if (limit && want > limit - total)
			want = limit - total;
		if (limit && !want)
			break;
		if (out) {
			size_t need = out->len + want;

			if (need > out->cap && need < 2 * out->cap)
				need = 2 * out->cap;
			if (vmt_buf_reserve(out, need)) {
				ret = -ENOMEM;
				goto out;
			}
			dst = out->p + out->len;
		} else {
			if (want > bufsz) {
				free(tmp);
				bufsz = want;
				tmp = malloc(bufsz);
				if (!tmp) {
					ret = -ENOMEM;
					goto out;
				}
			}
			dst = tmp;
		}
		n = read(fd, dst, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			vmt_seterr("read of data fd after %zu bytes: %s", total,
				   strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((size_t)n > want) {
			vmt_seterr("read returned %zd > %zu requested", n, want);
			ret = -EOVERFLOW;
			goto out;
		}
		if (crc)
			*crc = vmt_crc32c(*crc, dst, n);
		if (out)
			out->len += n;
		total += n;
	}
	ret = total;
out:
	free(tmp);
	if (partial)
		*partial = total;
	return ret;
}

int mig_write_all(int fd, const void *buf, size_t len, size_t chunk,
		  struct vmt_rng *rng, size_t *accepted)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		size_t want = vmt_chunk(chunk, rng, len - done);
		ssize_t n = write(fd, p + done, want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			vmt_seterr("write of data fd at %zu (+%zu): %s", done,
				   want, strerror(errno));
			break;
		}
		if (n == 0 || (size_t)n > want) {
			vmt_seterr("write returned %zd for %zu bytes", n, want);
			ret = -EPROTO;
			break;
		}
		done += n;
	}
	if (accepted)
		*accepted = done;
	return ret;
}

ssize_t mig_pipe(int src, int dst, size_t rchunk, size_t wchunk,
		 struct vmt_rng *rng,
		 void (*feed)(void *opaque, const void *p, size_t n),
		 void *opaque, int *where)
{
	size_t bufsz = 4 * VMT_MiB, total = 0;
	uint8_t *buf = malloc(bufsz);
	ssize_t ret;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t want = vmt_chunk(rchunk, rng, bufsz);
		ssize_t n = read(src, buf, want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			vmt_seterr("read of save fd after %zu bytes: %s", total,
				   strerror(errno));
			if (where)
				*where = 0;
			goto out;
		}
		if (n == 0)
			break;
		if (feed)
			feed(opaque, buf, n);
		ret = mig_write_all(dst, buf, n, wchunk, rng, NULL);
		if (ret) {
			if (where)
				*where = 1;
			goto out;
		}
		total += n;
	}
	ret = total;
out:
	free(buf);
	return ret;
}

int dma_log_start(int fd, uint64_t *page_size,
		  const struct vfio_device_feature_dma_logging_range *ranges,
		  uint32_t nranges)
{
	struct vfio_device_feature_dma_logging_control c = {
		.page_size = *page_size,
		.num_ranges = nranges,
		.ranges = (uintptr_t)ranges,
	};
	int ret;

	ret = vfio_feature(fd, VFIO_DEVICE_FEATURE_SET |
			   VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &c, sizeof(c));
	if (!ret)
		*page_size = c.page_size;
	return ret;
}

int dma_log_stop(int fd)
{
	return vfio_feature(fd, VFIO_DEVICE_FEATURE_SET |
			    VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

int dma_log_report(int fd, uint64_t iova, uint64_t length, uint64_t page_size,
		   uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report r = {
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.bitmap = (uintptr_t)bitmap,
	};

	return vfio_feature(fd, VFIO_DEVICE_FEATURE_GET |
			    VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &r, sizeof(r));
}

int mig_capture(int fd, struct vmt_buf *out, size_t chunk, struct vmt_rng *rng)
{
	ssize_t n;
	int dfd, ret;

	ret = mig_set_state(fd, VFIO_DEVICE_STATE_STOP_COPY, &dfd);
	if (ret)
		return ret;
	if (dfd < 0) {
		vmt_seterr("STOP_COPY returned no data fd");
		return -EPROTO;
	}
	out->len = 0;
	n = mig_read_all(dfd, out, chunk, rng, 0, NULL, NULL);
	close(dfd);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		vmt_seterr("empty migration stream");
		return -ENODATA;
	}
	return mig_set_state_nofd(fd, VFIO_DEVICE_STATE_RUNNING);
}
