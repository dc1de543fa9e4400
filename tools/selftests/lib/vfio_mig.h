/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VFIO migration v2 helpers: VFIO_DEVICE_FEATURE wrappers, the migration
 * state machine as the uAPI documents it, data fd I/O with configurable
 * chunk sizes, and DMA logging.  Functions return 0 (or a count) on success
 * and a negative errno on failure.
 */
#ifndef VFIO_MIG_H
#define VFIO_MIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "vfio_uapi.h"

#include "vmt_util.h"

#define MIG_NUM_STATES	8	/* ERROR .. PRE_COPY_P2P */

const char *mig_state_name(uint32_t state);

/* Raw VFIO_DEVICE_FEATURE with an explicit argsz; data is copied in/out. */
int vfio_feature_raw(int fd, uint32_t argsz, uint32_t flags, void *data,
		     size_t len);
/* VFIO_DEVICE_FEATURE with argsz = header + len. */
int vfio_feature(int fd, uint32_t flags, void *data, size_t len);
/* PROBE (optionally | GET / SET) of a feature. */
int vfio_feature_probe(int fd, uint32_t feature, uint32_t getset);

int mig_get_flags(int fd, uint64_t *flags);
int mig_get_state(int fd, uint32_t *state);
/*
 * SET of the migration state.  *data_fd receives what the kernel returned in
 * data_fd (-1 when no new session); it is -1 on failure.
 */
int mig_set_state(int fd, uint32_t state, int *data_fd);
/* SET that must not return a data fd; a returned fd is closed. */
int mig_set_state_nofd(int fd, uint32_t state);
int mig_data_size(int fd, uint64_t *len);
int mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty);
/*
 * GET_PRECOPY_INFO with @in_flags in the argument's flags; *flags gets what
 * the kernel left there (an output only after mig_precopy_v2_enable()).
 */
int mig_precopy_info_flags(int data_fd, uint32_t in_flags, uint32_t *flags,
			   uint64_t *initial, uint64_t *dirty);
/*
 * SET of VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (Linux 7.1+): the user may
 * be told VFIO_PRECOPY_INFO_REINIT from now on, until the device is closed.
 * -ENOTTY where the kernel does not know the feature.
 */
int mig_precopy_v2_enable(int fd);

/* State machine model from include/uapi/linux/vfio.h. */
bool mig_state_supported(uint64_t flags, uint32_t state);
bool mig_state_is_saving(uint32_t state);
/* True when no path exists between the two supported states. */
bool mig_arc_blocked(uint32_t from, uint32_t to);
/* True when SET from -> to returns a new data fd. */
bool mig_arc_new_session(uint32_t from, uint32_t to);
/* True when the session open in @from stays usable after from -> to. */
bool mig_arc_keeps_session(uint32_t from, uint32_t to);
/* True when @state has an open data transfer session. */
bool mig_state_has_session(uint32_t state);

/*
 * Reads a data fd until read() returns 0, @chunk bytes per read()
 * (VMT_CHUNK_RANDOM: random sizes from @rng).  Appends to @out unless it is
 * NULL (then the bytes are only counted; *crc, if given, accumulates the
 * CRC32C of everything read).  Returns the byte count or -errno (bytes read
 * before the error are in *partial if given).  @limit stops after that many
 * bytes (0: no limit).
 */
/*
 * RUNNING -> STOP_COPY, read the whole (non-empty) stream into @out, close the
 * data fd, -> RUNNING.  Returns 0 or -errno (vmt_errstr() says more).
 */
int mig_capture(int fd, struct vmt_buf *out, size_t chunk, struct vmt_rng *rng);
ssize_t mig_read_all(int fd, struct vmt_buf *out, size_t chunk,
		     struct vmt_rng *rng, size_t limit, uint32_t *crc,
		     size_t *partial);
/*
 * Writes @len bytes in @chunk sized write()s, retrying short writes.
 * Returns 0 or -errno; *accepted (if given) is the number of bytes the fd
 * took before the error.
 */
int mig_write_all(int fd, const void *buf, size_t len, size_t chunk,
		  struct vmt_rng *rng, size_t *accepted);

/*
 * Streams from a save fd into a resume fd (both devices stopped at once), as
 * a VMM does: read() of @rchunk, write()s of @wchunk.  @feed, if given, sees
 * every byte.  Returns the byte count or -errno; *where tells which side
 * failed (0 read, 1 write).
 */
ssize_t mig_pipe(int src, int dst, size_t rchunk, size_t wchunk,
		 struct vmt_rng *rng,
		 void (*feed)(void *opaque, const void *p, size_t n),
		 void *opaque, int *where);

/* DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*). */
int dma_log_start(int fd, uint64_t *page_size,
		  const struct vfio_device_feature_dma_logging_range *ranges,
		  uint32_t nranges);
int dma_log_stop(int fd);
int dma_log_report(int fd, uint64_t iova, uint64_t length, uint64_t page_size,
		   uint64_t *bitmap);

#endif /* VFIO_MIG_H */
