/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: what the files of the migration core share among
 * themselves.  Internal to the migration core: a device driver sees only
 * ivm_mig.h.
 */
#ifndef IVM_MIG_PRIV_H
#define IVM_MIG_PRIV_H

#include <linux/atomic.h>
#include <linux/container_of.h>
#include <linux/types.h>

#include "ivm_dirty.h"
#include "ivm_mig.h"

/* The device of a vfio_device callback. */
static inline struct ivm_mig *to_mig(struct vfio_device *core_vdev)
{
	return container_of(core_vdev, struct ivm_mig, core_device.vdev);
}

/* The function's struct device, for messages. */
static inline struct device *ivm_dev(struct ivm_mig *mig)
{
	return &mig->core_device.pdev->dev;
}

/* ---- ivm_mig.c: the FSM and the device lock ---- */

void ivm_state_unlock(struct ivm_mig *mig);
int ivm_lock_device(struct ivm_mig *mig, u16 *cmd);
void ivm_unlock_device(struct ivm_mig *mig, u16 cmd);

/* ---- ivm_file.c: the data files ---- */

enum ivm_file_kind {
	IVM_FILE_SAVE,
	IVM_FILE_RESUME,
};

/* Extents of MEM payload a resume write() staged, for one memory_lock hold. */
#define IVM_STAGE_MAX		64

struct ivm_extent {
	u64 off;			/* in device memory */
	size_t len;
	size_t pos;			/* in the bounce buffer */
};

struct ivm_stage {
	unsigned int n;
	size_t used;			/* bytes of the bounce buffer they fill */
	struct ivm_extent ext[IVM_STAGE_MAX];
};

/**
 * struct ivm_file - a STOP_COPY or RESUMING data file
 * @filp: the anon-inode file
 * @mig: the device; only dereferenced while the file is not disabled
 * @kind: enum ivm_file_kind
 * @gen: mig->reset_gen when the file was created
 * @lock: serialises reads or writes; protects @save, @parse, @bounce and
 *	the fields below it
 * @disabled: the session ended; set without @lock by a reset or a retire
 * @tracking: a save whose @dirty is tracked (ivm_track_start()); under
 *	mig->state_mutex
 * @poll_wq: poll() of a save file waits here for data
 * @save: stream cursor of a save file
 * @parse: stream parser of a resume file
 * @bounce: between device and user: IVM_BOUNCE_SIZE bytes for a resume,
 *	IVM_SAVE_BUF_SIZE (a window) for a save
 * @stage: resume: payload in @bounce not written to the device yet (empty
 *	between write() calls)
 * @dirty: save: pages of device memory still to send
 * @cover: resume: coverage bitmap of the parser
 * @precopy: save: in PRE_COPY or PRE_COPY_P2P (GET_PRECOPY_INFO works,
 *	read() fails with -ENOMSG when nothing is pending)
 * @stopped: save: STOP_COPY; @regs are captured, REGS and END follow the
 *	last page
 * @win_taken: save: the pages @win_off..+@win_len were harvested but not
 *	read into @bounce yet (a failed read is retried from here)
 * @win_off: save: first byte of that window
 * @win_len: save: its bytes
 * @regs_sent: save: the REGS record is queued
 * @end_sent: save: the END record is queued
 * @inflight_initial: save: the records being emitted (the header, or a
 *	window) are part of the initial data (the header or the first pass)
 * @untracked: save: an ioeventfd on the memory BAR may have written device
 *	memory since the save last started sending all of it; STOP_COPY
 *	sends all of it again
 * @reinit: save: an ioeventfd was armed on the memory BAR while tracking;
 *	the next GET_PRECOPY_INFO restarts the pre-copy data and reports
 *	VFIO_PRECOPY_INFO_REINIT
 * @stop_pos: save: stream bytes emitted before STOP_COPY
 * @regs: save: register blob captured when the device stopped
 */
struct ivm_file {
	struct file *filp;
	struct ivm_mig *mig;
	enum ivm_file_kind kind;
	int gen;
	/* protects save/parse/bounce and below; held across read()/write() */
	struct mutex lock;
	bool disabled;
	bool tracking;
	wait_queue_head_t poll_wq;
	union {
		struct ivm_save_cursor save;
		struct ivm_parser parse;
	};
	u8 *bounce;
	struct ivm_stage stage;
	struct ivm_dirty dirty;
	u8 *cover;
	bool precopy;
	bool stopped;
	bool win_taken;
	u64 win_off;
	u64 win_len;
	bool regs_sent;
	bool end_sent;
	bool inflight_initial;
	bool untracked;
	bool reinit;
	u64 stop_pos;
	u8 regs[IVM_REGS_MAX];
};

/* The file's session ended: retired, or the device was reset since. */
static inline bool ivm_file_dead(struct ivm_file *f)
{
	return READ_ONCE(f->disabled) ||
	       atomic_read(&f->mig->reset_gen) != f->gen;
}

struct ivm_file *ivm_file_create(struct ivm_mig *mig, enum ivm_file_kind kind);
void ivm_file_retire(struct ivm_file **fp);
u64 ivm_save_remaining(struct ivm_file *f);

/* ---- ivm_debugfs.c: test knobs ---- */

bool ivm_should_fail(const char *point);

/*
 * DMA-logging calls the vfio core passed on to the driver, all devices
 * together (<debugfs>/<name>/dma_log_calls): shows that a VMM's start,
 * report and stop really reach it.
 */
enum { IVM_LOG_START, IVM_LOG_REPORT, IVM_LOG_STOP, IVM_LOG_NCALLS };
extern atomic64_t ivm_log_calls[IVM_LOG_NCALLS];

/* ---- ivm_dmalog.c: DMA logging ---- */

void ivm_log_clear(struct ivm_mig *mig);
#ifdef IVM_HAVE_LOG_OPS
bool ivm_core_can_report(void);
#endif

#endif /* IVM_MIG_PRIV_H */
