/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: device-independent VFIO migration v2 core.
 *
 * The core owns the migration FSM, the data files, the user's BAR mappings
 * and the "frozen" state that keeps the user away from the BARs while the
 * device is stopped (ivm_bar.c), DMA logging and reset handling.  A device
 * plugs in through struct ivm_dev_ops: it describes its state (identity,
 * memory size, register blob) and moves bytes; the core holds
 * vdev->memory_lock with memory decoding enabled around every call that
 * touches the device.
 */
#ifndef IVM_MIG_H
#define IVM_MIG_H

#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>
#include <linux/wait.h>

#include "ivm_stream.h"

struct ivm_mig;
struct ivm_file;

/**
 * struct ivm_dev_ops - what a device provides to the migration core
 * @mem_bar: the BAR whose contents are the device memory of the stream;
 *	user writes to it are tracked while pre-copying
 * @describe: fill in identity, memory size and register blob size
 * @save_regs: capture the register blob; must leave the device unchanged
 * @load_regs: apply a register blob captured by @save_regs
 * @mem_read: copy device memory at @off into @buf
 * @mem_write: copy @buf into device memory at @off
 * @reset: optional; reset the device's state for VFIO_DEVICE_RESET when the
 *	PCI core has no reset method for the function
 *
 * All but @describe are called with vdev->memory_lock held for writing and
 * memory decoding enabled, from process context; they may not sleep on user
 * memory.  They return 0 or a negative errno.
 */
struct ivm_dev_ops {
	unsigned int mem_bar;
	void (*describe)(struct ivm_mig *mig, struct ivm_stream_desc *desc);
	int (*save_regs)(struct ivm_mig *mig, void *regs);
	int (*load_regs)(struct ivm_mig *mig, const void *regs);
	int (*mem_read)(struct ivm_mig *mig, u64 off, void *buf, size_t len);
	int (*mem_write)(struct ivm_mig *mig, u64 off, const void *buf,
			 size_t len);
	int (*reset)(struct ivm_mig *mig);
};

/* Maximum number of DMA logging ranges accepted (the core allows 256). */
#define IVM_LOG_MAX_RANGES	256

/**
 * struct ivm_log_range - one IOVA range being DMA-logged
 * @start: first IOVA
 * @last: last IOVA (inclusive)
 */
struct ivm_log_range {
	unsigned long start;
	unsigned long last;
};

/**
 * struct ivm_mig - a vfio-pci core device with migration state
 * @core_device: the vfio-pci core device; a device driver embeds this whole
 *	structure and allocates it with vfio_alloc_device(..., mig.core_device.vdev, ...)
 * @ops: device callbacks
 * @desc: stream description, fixed after ivm_mig_init()
 * @state_mutex: serialises FSM steps, the data-file pointers and DMA logging
 * @mig_state: the FSM state reported to the user
 * @save_file: current STOP_COPY data file, or NULL
 * @resume_file: current RESUMING data file, or NULL
 * @reset_gen: bumped by every device reset; data files of an older
 *	generation are dead
 * @reset_lock: protects @deferred_reset
 * @deferred_reset: a reset happened while @state_mutex was busy
 * @access_lock: protects @frozen and @access_count
 * @frozen: user access to BARs is refused (STOP, STOP_COPY, ERROR); written
 *	under @access_lock, read by the BAR fault handler under
 *	core_device.memory_lock instead (see ivm_bar.c)
 * @access_count: user BAR region reads and writes in progress
 * @access_wq: woken when @access_count drops to zero
 * @track_bits: while pre-copying, the saving file's bitmap of pages still
 *	to send, which faults and region writes mark; NULL otherwise
 * @track_wq: woken when a page becomes dirty (poll() of the saving file)
 * @ioeventfds: VFIO_DEVICE_IOEVENTFDs on @ops->mem_bar the user armed (and
 *	has not removed) since the device was opened; their writes to device
 *	memory bypass the fault path, so tracking cannot see them
 * @ioeventfds_arming: such ioeventfds being armed by the vfio-pci core now
 * @log_active: DMA logging started
 * @log_nranges: entries in @log_ranges
 * @log_ranges: the logged IOVA ranges
 */
struct ivm_mig {
	struct vfio_pci_core_device core_device;
	const struct ivm_dev_ops *ops;
	struct ivm_stream_desc desc;

	/* protects mig_state, save_file, resume_file and the log_* fields */
	struct mutex state_mutex;
	enum vfio_device_mig_state mig_state;
	struct ivm_file *save_file;
	struct ivm_file *resume_file;
	atomic_t reset_gen;

	/* protects deferred_reset */
	spinlock_t reset_lock;
	bool deferred_reset;

	/* protects frozen (faults read it under memory_lock) and access_count */
	spinlock_t access_lock;
	bool frozen;
	unsigned int access_count;
	wait_queue_head_t access_wq;

	/*
	 * protected by core_device.memory_lock: set and cleared with it held
	 * for writing, used by faults and region writes with it held for
	 * reading (ivm_dirty.c)
	 */
	unsigned long *track_bits;
	wait_queue_head_t *track_wq;

	/* atomic: changed by VFIO_DEVICE_IOEVENTFD, read when saves start */
	atomic_t ioeventfds;
	atomic_t ioeventfds_arming;

	bool log_active;
	u32 log_nranges;
	struct ivm_log_range *log_ranges;
};

int ivm_mig_init(struct ivm_mig *mig, const struct ivm_dev_ops *ops);
void ivm_mig_destroy(struct ivm_mig *mig);
void ivm_mig_open(struct ivm_mig *mig);
void ivm_mig_close(struct ivm_mig *mig);
void ivm_mig_reset_done(struct ivm_mig *mig);
int ivm_mig_device_reset(struct ivm_mig *mig);
void ivm_mig_debugfs_init(const char *name);
void ivm_mig_debugfs_exit(void);

ssize_t ivm_mig_read(struct vfio_device *core_vdev, char __user *buf,
		     size_t count, loff_t *ppos);
ssize_t ivm_mig_write(struct vfio_device *core_vdev, const char __user *buf,
		      size_t count, loff_t *ppos);
int ivm_mig_mmap(struct vfio_device *core_vdev, struct vm_area_struct *vma);
long ivm_mig_ioeventfd(struct ivm_mig *mig, unsigned long arg);

extern const struct vfio_migration_ops ivm_mig_ops;
extern const struct vfio_log_ops ivm_log_ops;

#endif /* IVM_MIG_H */
