// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: device-independent VFIO migration v2 core.
 *
 * Lock order (outermost first):
 *
 *   state_mutex -> ivm_file.lock -> vdev->memory_lock -> access_lock
 *   mmap_lock (user page fault) -> vdev->memory_lock (read)
 *
 * Rules that keep it deadlock free:
 *  - Nothing copies to or from user memory under state_mutex.
 *  - A device reset arrives with memory_lock held by the vfio-pci core; it
 *    only try-locks state_mutex and never takes an ivm_file.lock.  When
 *    state_mutex is busy, the reset is finished by whoever releases it.
 *  - Data files copy to and from user memory under their own lock, but touch
 *    the device only through a kernel bounce buffer inside memory_lock.
 *  - The BAR fault handler and BAR read/write never take state_mutex or a
 *    data file's lock (ivm_bar.c): faults hold memory_lock for reading,
 *    region read/write counts itself in access_count, and freezing waits
 *    for both.
 */
#include <linux/crc32c.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pm_runtime.h>
#include <linux/poll.h>
#include <linux/uaccess.h>

#include "ivm_bar.h"
#include "ivm_compat.h"
#include "ivm_dirty.h"
#include "ivm_mig.h"
#include "ivm_mig_priv.h"

/*
 * PRE_COPY needs the driver's own BAR mappings (6.10+), which it can zap to
 * track writes; precopy=0 hides it, so that the STOP_COPY-only path a VMM
 * takes with a device without PRE_COPY stays testable.  Read when a device
 * is bound: a change at run time applies to devices bound afterwards.
 */
static bool ivm_precopy = true;
module_param_named(precopy, ivm_precopy, bool, 0644);
MODULE_PARM_DESC(precopy,
		 "Offer VFIO_MIGRATION_PRE_COPY with dirty tracking of BAR2 where the kernel allows it, to devices bound from now on (default: Y)");

/**
 * ivm_lock_device - take memory_lock for writing, with memory decoding on
 * @mig: the device
 * @cmd: where to keep the command register for ivm_unlock_device()
 *
 * Take memory_lock for writing and make sure the device decodes memory, so
 * that the device callbacks can touch the BARs whatever the user did to the
 * command register.  A device the user put into a low-power state
 * (VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY) is woken for the access, as the
 * core's region read/write does; the runtime-PM resume takes memory_lock
 * itself, so it comes first.
 *
 * Return: 0, or -EIO if the device cannot be woken.
 */
int ivm_lock_device(struct ivm_mig *mig, u16 *cmd)
{
	struct vfio_pci_core_device *vdev = &mig->core_device;
	int ret;

	ret = pm_runtime_resume_and_get(&vdev->pdev->dev);
	if (ret < 0) {
		pci_info_ratelimited(vdev->pdev,
				     "migration: runtime resume failed %d\n",
				     ret);
		return -EIO;
	}
	down_write(&vdev->memory_lock);
	pci_read_config_word(vdev->pdev, PCI_COMMAND, cmd);
	if (!(*cmd & PCI_COMMAND_MEMORY))
		pci_write_config_word(vdev->pdev, PCI_COMMAND,
				      *cmd | PCI_COMMAND_MEMORY);
	return 0;
}

/**
 * ivm_unlock_device - undo ivm_lock_device()
 * @mig: the device
 * @cmd: the command register as ivm_lock_device() found it
 */
void ivm_unlock_device(struct ivm_mig *mig, u16 cmd)
{
	struct vfio_pci_core_device *vdev = &mig->core_device;

	if (!(cmd & PCI_COMMAND_MEMORY))
		pci_write_config_word(vdev->pdev, PCI_COMMAND, cmd);
	up_write(&vdev->memory_lock);
	pm_runtime_put(&vdev->pdev->dev);
}

/* ---- the FSM ---- */

/*
 * Return the device to RUNNING after a reset.  May run with memory_lock held
 * by the vfio-pci core, so the files are only marked disabled here; their
 * readers and writers see that, and the next FSM step or close retires them.
 */
static void ivm_reset_locked(struct ivm_mig *mig)
{
	lockdep_assert_held(&mig->state_mutex);
	if (mig->save_file) {
		WRITE_ONCE(mig->save_file->disabled, true);
		wake_up_interruptible_poll(&mig->save_file->poll_wq, EPOLLHUP);
	}
	if (mig->resume_file)
		WRITE_ONCE(mig->resume_file->disabled, true);
	mig->mig_state = VFIO_DEVICE_STATE_RUNNING;
	ivm_bar_thaw(mig);
}

/**
 * ivm_state_unlock - release state_mutex, first finishing any reset that
 *	arrived meanwhile
 * @mig: the device
 *
 * Every holder of state_mutex releases it here: a reset that found it busy
 * (ivm_mig_reset_done()) is finished by whoever holds it.
 */
void ivm_state_unlock(struct ivm_mig *mig)
{
again:
	spin_lock(&mig->reset_lock);
	if (mig->deferred_reset) {
		mig->deferred_reset = false;
		spin_unlock(&mig->reset_lock);
		ivm_reset_locked(mig);
		goto again;
	}
	mutex_unlock(&mig->state_mutex);
	spin_unlock(&mig->reset_lock);
}

/**
 * ivm_mig_reset_done - the device was reset
 * @mig: the device
 *
 * Called after any reset of the function (VFIO_DEVICE_RESET, hot reset, a
 * reset from sysfs or AER, or the driver's own).  Kills the data files and
 * returns the FSM to RUNNING, now or when state_mutex is next released.
 */
void ivm_mig_reset_done(struct ivm_mig *mig)
{
	atomic_inc(&mig->reset_gen);
	spin_lock(&mig->reset_lock);
	mig->deferred_reset = true;
	if (!mutex_trylock(&mig->state_mutex)) {
		spin_unlock(&mig->reset_lock);
		return;
	}
	spin_unlock(&mig->reset_lock);
	ivm_state_unlock(mig);
}

/*
 * Capture the register blob into @regs (IVM_REGS_MAX bytes) with the device
 * locked; it leaves the device unchanged.
 */
static int ivm_capture_regs(struct ivm_mig *mig, u8 *regs)
{
	u16 cmd;
	int ret;

	ret = ivm_lock_device(mig, &cmd);
	if (ret)
		return ret;
	ret = ivm_should_fail("save_regs") ? -EIO :
		mig->ops->save_regs(mig, regs);
	ivm_unlock_device(mig, cmd);
	return ret;
}

static struct file *ivm_start_save(struct ivm_mig *mig)
{
	u8 regs[IVM_REGS_MAX];
	struct ivm_file *f;
	int ret;

	ivm_file_retire(&mig->save_file);
	ivm_file_retire(&mig->resume_file);
	f = ivm_file_create(mig, IVM_FILE_SAVE);
	if (IS_ERR(f))
		return ERR_CAST(f);

	ret = ivm_capture_regs(mig, regs);
	if (ret) {
		fput(f->filp);
		fput(f->filp);
		return ERR_PTR(ret);
	}
	ivm_save_init(&f->save, &mig->desc);
	memcpy(f->regs, regs, mig->desc.regs_size);
	f->stopped = true;
	mig->save_file = f;
	return f->filp;
}

#ifdef IVM_OWN_BAR_MMAP
/*
 * RUNNING -> PRE_COPY, RUNNING_P2P -> PRE_COPY_P2P: a save that sends all
 * of device memory while the device runs and tracks what the user writes.
 */
static struct file *ivm_start_precopy(struct ivm_mig *mig)
{
	struct ivm_file *f;

	lockdep_assert_held(&mig->state_mutex);
	ivm_file_retire(&mig->save_file);
	ivm_file_retire(&mig->resume_file);
	f = ivm_file_create(mig, IVM_FILE_SAVE);
	if (IS_ERR(f))
		return ERR_CAST(f);
	ivm_save_init(&f->save, &mig->desc);
	f->precopy = true;
	/*
	 * An ioeventfd on the memory BAR armed before: its writes bypass
	 * tracking, so STOP_COPY will send all of device memory again.
	 */
	f->untracked = atomic_read(&mig->ioeventfds) ||
		       atomic_read(&mig->ioeventfds_arming);
	ivm_track_start(mig, &f->dirty, &f->poll_wq);
	f->tracking = true;
	mig->save_file = f;
	return f->filp;
}

/*
 * PRE_COPY_P2P -> STOP_COPY: the same save goes on with the device frozen:
 * the pages still dirty, then the registers captured here, the end.
 */
static int ivm_precopy_stop(struct ivm_mig *mig)
{
	struct ivm_file *f = mig->save_file;
	u8 regs[IVM_REGS_MAX];
	int ret;

	lockdep_assert_held(&mig->state_mutex);
	if (WARN_ON(!f))
		return -EINVAL;
	ret = ivm_bar_freeze(mig);
	if (ret)
		return ret;
	ret = ivm_capture_regs(mig, regs);
	if (ret) {
		/* Frozen, nothing was written meanwhile: tracking is intact. */
		ivm_bar_thaw(mig);
		return ret;
	}
	ivm_track_stop(mig);
	f->tracking = false;

	mutex_lock(&f->lock);
	/* Also if an ioeventfd being armed now could have written already. */
	if (f->untracked || atomic_read(&mig->ioeventfds_arming))
		ivm_dirty_restart(mig, &f->dirty);
	memcpy(f->regs, regs, mig->desc.regs_size);
	f->precopy = false;
	f->stopped = true;
	f->stop_pos = f->save.pos;
	mutex_unlock(&f->lock);
	wake_up_interruptible_poll(&f->poll_wq, EPOLLIN | EPOLLRDNORM);
	return 0;
}

#endif /* IVM_OWN_BAR_MMAP */

static struct file *ivm_start_resume(struct ivm_mig *mig)
{
	struct ivm_file *f;

	ivm_file_retire(&mig->save_file);
	ivm_file_retire(&mig->resume_file);
	f = ivm_file_create(mig, IVM_FILE_RESUME);
	if (IS_ERR(f))
		return ERR_CAST(f);
	ivm_parse_init(&f->parse, &mig->desc, f->cover);
	mig->resume_file = f;
	/*
	 * The user may touch the BARs while resuming: QEMU maps them into
	 * the IOMMU for P2P DMA while it loads config space.  The stream
	 * overwrites BAR2 as it arrives and the registers at the end.
	 */
	ivm_bar_thaw(mig);
	return f->filp;
}

/* RESUMING -> STOP: the stream must be complete; then load the registers. */
static int ivm_finish_resume(struct ivm_mig *mig)
{
	struct ivm_file *f = mig->resume_file;
	u8 regs[IVM_REGS_MAX];
	int ret = 0;
	int gen;
	u16 cmd;

	if (!f)
		return -EINVAL;
	gen = f->gen;
	mutex_lock(&f->lock);
	if (ivm_file_dead(f)) {
		ret = -ENODEV;
	} else if (ivm_parse_finish(&f->parse)) {
		dev_warn_ratelimited(ivm_dev(mig),
				     "migration stream incomplete: %s\n",
				     f->parse.err);
		ret = -EINVAL;
	} else {
		memcpy(regs, f->parse.regs, mig->desc.regs_size);
	}
	WRITE_ONCE(f->disabled, true);
	mutex_unlock(&f->lock);
	ivm_file_retire(&mig->resume_file);
	if (ret)
		return ret;

	ret = ivm_lock_device(mig, &cmd);
	if (ret)
		return ret;
	/*
	 * A reset since the stream was checked must not be undone by loading
	 * its registers: the core resets under memory_lock, held here.
	 */
	if (atomic_read(&mig->reset_gen) != gen)
		ret = -ENODEV;
	else
		ret = ivm_should_fail("load_regs") ? -EIO :
			mig->ops->load_regs(mig, regs);
	ivm_unlock_device(mig, cmd);
	return ret;
}

/*
 * Take one arc of the FSM.  On failure the state stays where it was, except
 * that a failed RESUMING -> STOP leaves ERROR: device memory is then partly
 * overwritten and only a reset makes the device usable again.
 */
static struct file *ivm_step(struct ivm_mig *mig,
			     enum vfio_device_mig_state next)
{
	enum vfio_device_mig_state cur = mig->mig_state;
	int ret;

	lockdep_assert_held(&mig->state_mutex);
#ifdef IVM_OWN_BAR_MMAP
	/* Pre-copy: open the save, move within it, leave it or stop in it. */
	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     next == VFIO_DEVICE_STATE_PRE_COPY) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     next == VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return ivm_start_precopy(mig);
	if ((cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     next == VFIO_DEVICE_STATE_PRE_COPY_P2P) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     next == VFIO_DEVICE_STATE_PRE_COPY))
		return NULL;
	if ((cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     next == VFIO_DEVICE_STATE_RUNNING) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     next == VFIO_DEVICE_STATE_RUNNING_P2P)) {
		ivm_file_retire(&mig->save_file);
		return NULL;
	}
	if (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	    next == VFIO_DEVICE_STATE_STOP_COPY) {
		ret = ivm_precopy_stop(mig);
		return ret ? ERR_PTR(ret) : NULL;
	}
#endif

	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     next == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     next == VFIO_DEVICE_STATE_RUNNING))
		/* ivshmem-like devices never initiate DMA: nothing to quiesce */
		return NULL;

	if (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	    next == VFIO_DEVICE_STATE_STOP) {
		ret = ivm_bar_freeze(mig);
		return ret ? ERR_PTR(ret) : NULL;
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_RUNNING_P2P) {
		ivm_bar_thaw(mig);
		return NULL;
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_STOP_COPY)
		return ivm_start_save(mig);
	if (cur == VFIO_DEVICE_STATE_STOP_COPY &&
	    next == VFIO_DEVICE_STATE_STOP) {
		ivm_file_retire(&mig->save_file);
		return NULL;
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    next == VFIO_DEVICE_STATE_RESUMING)
		return ivm_start_resume(mig);
	if (cur == VFIO_DEVICE_STATE_RESUMING &&
	    next == VFIO_DEVICE_STATE_STOP) {
		/* Frozen again before the registers load, in ERROR too. */
		ret = ivm_bar_freeze(mig);
		if (ret)
			return ERR_PTR(ret);
		ret = ivm_finish_resume(mig);
		if (ret) {
			mig->mig_state = VFIO_DEVICE_STATE_ERROR;
			return ERR_PTR(ret);
		}
		return NULL;
	}

	WARN(1, "ivshmem-vfio-pci: unsupported migration arc %d -> %d\n",
	     cur, next);
	return ERR_PTR(-EINVAL);
}

static struct file *ivm_set_state(struct vfio_device *core_vdev,
				  enum vfio_device_mig_state new_state)
{
	struct ivm_mig *mig = to_mig(core_vdev);
	enum vfio_device_mig_state next;
	struct file *res = NULL;
	int ret;

	mutex_lock(&mig->state_mutex);
	/*
	 * ERROR is never a valid target, and only a reset leaves it;
	 * vfio_mig_get_next_state() must not even be asked from there.
	 */
	if (new_state == VFIO_DEVICE_STATE_ERROR ||
	    mig->mig_state == VFIO_DEVICE_STATE_ERROR)
		res = ERR_PTR(-EINVAL);
	while (!res && new_state != mig->mig_state) {
		ret = vfio_mig_get_next_state(core_vdev, mig->mig_state,
					      new_state, &next);
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		res = ivm_step(mig, next);
		if (IS_ERR(res))
			break;
		mig->mig_state = next;
		if (WARN_ON(res && new_state != next)) {
			fput(res);
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
	ivm_state_unlock(mig);
	return res;
}

static int ivm_get_state(struct vfio_device *core_vdev,
			 enum vfio_device_mig_state *state)
{
	struct ivm_mig *mig = to_mig(core_vdev);

	mutex_lock(&mig->state_mutex);
	*state = mig->mig_state;
	ivm_state_unlock(mig);
	return 0;
}

#ifdef IVM_HAVE_MIG_DATA_SIZE
/*
 * The length of STOP_COPY: the whole stream without pre-copy; in PRE_COPY
 * what an immediate STOP_COPY would still produce; in STOP_COPY after
 * pre-copy what STOP_COPY produces (read or not).  Pages not read yet count
 * as MEM pages: exact unless some of them are zero, an upper bound then
 * (finding out would take a pass over BAR2 of its own).
 */
static int ivm_get_data_size(struct vfio_device *core_vdev,
			     unsigned long *len)
{
	struct ivm_mig *mig = to_mig(core_vdev);
	struct ivm_file *f;
	u64 n;

	mutex_lock(&mig->state_mutex);
	f = mig->save_file;
	n = ivm_stream_size(&mig->desc);
	if (f && (mig->mig_state == VFIO_DEVICE_STATE_PRE_COPY ||
		  mig->mig_state == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
		  mig->mig_state == VFIO_DEVICE_STATE_STOP_COPY)) {
		mutex_lock(&f->lock);
		if (!ivm_file_dead(f)) {
			n = ivm_save_remaining(f);
			if (f->stopped)
				n += f->save.pos - f->stop_pos;
		}
		mutex_unlock(&f->lock);
	}
	ivm_state_unlock(mig);
	/* The core's length is an unsigned long: no wrap where it has 32 bits. */
	*len = min_t(u64, n, ULONG_MAX);
	return 0;
}
#endif

const struct vfio_migration_ops ivm_mig_ops = {
	.migration_set_state = ivm_set_state,
	.migration_get_state = ivm_get_state,
#ifdef IVM_HAVE_MIG_DATA_SIZE
	.migration_get_data_size = ivm_get_data_size,
#endif
};

/* ---- life cycle ---- */

/**
 * ivm_crc32c - CRC32C for the stream codec
 * @crc: running value (not inverted)
 * @data: bytes
 * @len: how many
 *
 * Return: the updated running value.
 */
u32 ivm_crc32c(u32 crc, const void *data, size_t len)
{
	return crc32c(crc, data, len);
}

/**
 * ivm_mig_init - set up the migration state of a device
 * @mig: the device, allocated with vfio_alloc_device()
 * @ops: device callbacks
 *
 * Call from vfio_device_ops.init after vfio_pci_core_init_dev().
 *
 * Return: 0, or -EINVAL if the device's state cannot be described.
 */
int ivm_mig_init(struct ivm_mig *mig, const struct ivm_dev_ops *ops)
{
	struct vfio_device *core_vdev = &mig->core_device.vdev;

	mig->ops = ops;
	ops->describe(mig, &mig->desc);
	if (!ivm_desc_valid(&mig->desc))
		return -EINVAL;
	mutex_init(&mig->state_mutex);
	spin_lock_init(&mig->reset_lock);
	spin_lock_init(&mig->access_lock);
	init_waitqueue_head(&mig->access_wq);
	atomic_set(&mig->reset_gen, 0);
	atomic_set(&mig->ioeventfds, 0);
	atomic_set(&mig->ioeventfds_arming, 0);
	mig->mig_state = VFIO_DEVICE_STATE_RUNNING;
	core_vdev->migration_flags = VFIO_MIGRATION_STOP_COPY |
				     VFIO_MIGRATION_P2P;
#ifdef IVM_OWN_BAR_MMAP
	if (READ_ONCE(ivm_precopy))
		core_vdev->migration_flags |= VFIO_MIGRATION_PRE_COPY;
#endif
	core_vdev->mig_ops = &ivm_mig_ops;
#ifdef IVM_HAVE_LOG_OPS
	/*
	 * Offering logging where the core cannot report would let QEMU
	 * accept the device for migration and then fail in the middle of it.
	 */
	if (ivm_core_can_report())
		core_vdev->log_ops = &ivm_log_ops;
	else
		pci_info(mig->core_device.pdev,
			 "no DMA logging: kernel built without CONFIG_IOMMUFD_DRIVER, which vfio needs to report dirty pages\n");
#endif
	return 0;
}

/**
 * ivm_mig_destroy - free what ivm_mig_init() and the FSM allocated
 * @mig: the device, no longer open
 */
void ivm_mig_destroy(struct ivm_mig *mig)
{
	if (!mig->ops)
		return;
	ivm_log_clear(mig);
	mutex_destroy(&mig->state_mutex);
}

/**
 * ivm_mig_open - the user opened the device: start in RUNNING
 * @mig: the device
 */
void ivm_mig_open(struct ivm_mig *mig)
{
	mutex_lock(&mig->state_mutex);
	mig->mig_state = VFIO_DEVICE_STATE_RUNNING;
	ivm_bar_thaw(mig);
	ivm_state_unlock(mig);
}

/**
 * ivm_mig_close - the user closed the device: end every session
 * @mig: the device
 *
 * Data files stay valid objects until their last reference goes, but every
 * later read or write on them fails with -ENODEV and never touches @mig.
 */
void ivm_mig_close(struct ivm_mig *mig)
{
	mutex_lock(&mig->state_mutex);
	ivm_file_retire(&mig->save_file);
	ivm_file_retire(&mig->resume_file);
	ivm_log_clear(mig);
	/* vfio_pci_core_disable() frees the user's ioeventfds next. */
	atomic_set(&mig->ioeventfds, 0);
	mig->mig_state = VFIO_DEVICE_STATE_RUNNING;
	ivm_bar_thaw(mig);
	ivm_state_unlock(mig);
}

/**
 * ivm_mig_device_reset - reset the device through its ivm_dev_ops.reset
 * @mig: the device
 *
 * For functions the PCI core cannot reset.  Serialised against user BAR
 * access and the data files like the vfio-pci core's own resets, then
 * handled by ivm_mig_reset_done().
 *
 * Return: 0 or a negative errno.
 */
int ivm_mig_device_reset(struct ivm_mig *mig)
{
	u16 cmd;
	int ret;

	if (!mig->ops->reset)
		return -EINVAL;
	ret = ivm_lock_device(mig, &cmd);
	if (ret)
		return ret;
	ret = mig->ops->reset(mig);
	if (!ret)
		ivm_mig_reset_done(mig);
	ivm_unlock_device(mig, cmd);
	return ret;
}

/**
 * ivm_mig_ioeventfd - VFIO_DEVICE_IOEVENTFD, checked against pre-copy
 * @mig: the device
 * @arg: the user's struct vfio_device_ioeventfd
 *
 * An ioeventfd's writes go straight from the vfio-pci core to the BAR,
 * past the fault path, so dirty tracking cannot see them.  On the memory BAR
 * the core therefore counts the user's ioeventfds, and while a pre-copy save
 * tracks, arming one is refused with -EBUSY, unless the user opted in to
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (7.1+): then it is armed, and the
 * save restarts its pre-copy data with VFIO_PRECOPY_INFO_REINIT.  While one
 * may write, STOP_COPY sends all of device memory again.  Everything else
 * goes to the vfio-pci core unchanged.
 *
 * The core copies the argument again; a user that changes it meanwhile can
 * only spoil its own migration data, which it could write anyway.
 *
 * Return: what the vfio-pci core returns, or -EBUSY, or -EFAULT.
 */
long ivm_mig_ioeventfd(struct ivm_mig *mig, unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_ioeventfd, fd);
	struct vfio_device *core_vdev = &mig->core_device.vdev;
	struct vfio_device_ioeventfd ev;
	struct ivm_file *f;
	long ret;

	if (copy_from_user(&ev, (void __user *)arg, minsz))
		return -EFAULT;
	if (ev.argsz < minsz ||
	    VFIO_PCI_OFFSET_TO_INDEX(ev.offset) != mig->ops->mem_bar)
		return vfio_pci_core_ioctl(core_vdev, VFIO_DEVICE_IOEVENTFD, arg);

	if (ev.fd < 0) {
		/* Removal (fd -1): one fewer ioeventfd that can write. */
		ret = vfio_pci_core_ioctl(core_vdev, VFIO_DEVICE_IOEVENTFD, arg);
		if (!ret)
			atomic_dec_if_positive(&mig->ioeventfds);
		return ret;
	}

	mutex_lock(&mig->state_mutex);
	f = mig->save_file;
	if (f && f->tracking && !ivm_precopy_info_v2(core_vdev)) {
		ivm_state_unlock(mig);
		dev_info_ratelimited(ivm_dev(mig),
				     "VFIO_DEVICE_IOEVENTFD on BAR%u refused: pre-copy is tracking writes to it\n",
				     mig->ops->mem_bar);
		return -EBUSY;
	}
	/* A save starting while the core arms it counts it already. */
	atomic_inc(&mig->ioeventfds_arming);
	ivm_state_unlock(mig);

	/* Not under state_mutex: the core copies from user memory. */
	ret = vfio_pci_core_ioctl(core_vdev, VFIO_DEVICE_IOEVENTFD, arg);

	mutex_lock(&mig->state_mutex);
	if (!ret)
		atomic_inc(&mig->ioeventfds);
	atomic_dec(&mig->ioeventfds_arming);
	f = mig->save_file;
	if (!ret && f && f->tracking) {
		mutex_lock(&f->lock);
		f->untracked = true;
		f->reinit = true;
		mutex_unlock(&f->lock);
	}
	ivm_state_unlock(mig);
	return ret;
}
