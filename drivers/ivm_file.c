// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: the migration data files.  A save file (PRE_COPY,
 * STOP_COPY) reads device memory a window at a time and hands out the
 * stream; a resume file (RESUMING) parses the stream and writes device
 * memory.  Both move bytes between the device and user memory through a
 * kernel bounce buffer, under their own lock; the FSM (ivm_mig.c) creates
 * and retires them under state_mutex.  Lock order: see ivm_mig.c.
 */
#include <linux/anon_inodes.h>
#include <linux/error-injection.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ivm_compat.h"
#include "ivm_dirty.h"
#include "ivm_mig.h"
#include "ivm_mig_priv.h"

/* Bytes moved between the device and the kernel buffer per lock hold. */
#define IVM_BOUNCE_SIZE		(256 * 1024)
/*
 * A save reads a whole window of device memory (IVM_MEM_RECORD_MAX) before
 * it emits the window's first record: whether a run of pages goes out as
 * MEM or ZERO, and how long it is, is known only then.
 */
#define IVM_SAVE_BUF_SIZE	IVM_MEM_RECORD_MAX

#define IVM_REC_HDR		sizeof(struct ivm_record_header)
#define IVM_END_RECORD		(IVM_REC_HDR + sizeof(struct ivm_end_payload))

/*
 * Move bytes between device memory and @buf, part of the file's bounce
 * buffer.  A reset since the file was created kills the file here, under
 * memory_lock, which the vfio-pci core holds across its resets.
 */
static int ivm_file_mem_locked(struct ivm_file *f, u64 off, void *buf,
			       size_t len)
{
	struct ivm_mig *mig = f->mig;

	lockdep_assert_held_write(&mig->core_device.memory_lock);
	if (atomic_read(&mig->reset_gen) != f->gen)
		return -ENODEV;
	if (ivm_should_fail(f->kind == IVM_FILE_SAVE ? "mem_read" :
			    "mem_write"))
		return -EIO;
	if (f->kind == IVM_FILE_SAVE)
		return mig->ops->mem_read(mig, off, buf, len);
	return mig->ops->mem_write(mig, off, buf, len);
}

static int ivm_file_mem(struct ivm_file *f, u64 off, void *buf, size_t len)
{
	u16 cmd;
	int ret;

	ret = ivm_lock_device(f->mig, &cmd);
	if (ret)
		return ret;
	ret = ivm_file_mem_locked(f, off, buf, len);
	ivm_unlock_device(f->mig, cmd);
	return ret;
}

/* Read a harvested window of device memory into the save's buffer. */
static int ivm_save_load(struct ivm_file *f)
{
	u64 done, n;
	int ret;

	for (done = 0; done < f->win_len; done += n) {
		n = min_t(u64, f->win_len - done, IVM_BOUNCE_SIZE);
		ret = ivm_file_mem(f, f->win_off + done, f->bounce + done, n);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Queue the next records of a save at a record boundary: a window of pages
 * still to send, read whole from the device first; in STOP_COPY, once no
 * page is left, the registers and then the end.  Returns -ENOMSG in
 * PRE_COPY when no page is to send now.
 */
static int ivm_save_next(struct ivm_file *f)
{
	int ret;

	lockdep_assert_held(&f->lock);
	if (!f->win_taken &&
	    !ivm_dirty_take(f->mig, &f->dirty, &f->win_off, &f->win_len,
			    &f->inflight_initial)) {
		if (!f->stopped)
			return -ENOMSG;
		f->inflight_initial = false;
		if (!f->regs_sent) {
			ivm_save_regs(&f->save, f->regs);
			f->regs_sent = true;
		} else {
			ivm_save_end(&f->save);
			f->end_sent = true;
		}
		return 0;
	}
	f->win_taken = true;
	ret = ivm_save_load(f);
	if (ret)
		return ret;
	f->win_taken = false;
	ivm_save_window(&f->save, f->win_off, f->win_len, f->bounce);
	return 0;
}

/*
 * Bytes of the rest of the queued records and of the pages still to send.
 * What was read is counted exactly; a page not read yet counts as a MEM
 * page (ivm_window_bound()), so a zero page among them makes this an upper
 * bound.
 */
static void ivm_save_info(struct ivm_file *f, u64 *initial, u64 *dirty)
{
	u64 pending = ivm_save_pending(&f->save);

	lockdep_assert_held(&f->lock);
	ivm_dirty_bytes(f->mig, &f->dirty, initial, dirty);
	if (f->win_taken)
		pending += ivm_window_bound(f->win_len);
	if (f->inflight_initial)
		*initial += pending;
	else
		*dirty += pending;
}

/**
 * ivm_save_remaining - bytes a save would still produce if it went to
 *	STOP_COPY now, at most
 * @f: a save file, its lock held
 *
 * Return: the bytes.
 */
u64 ivm_save_remaining(struct ivm_file *f)
{
	u64 initial, dirty, n;

	lockdep_assert_held(&f->lock);
	ivm_save_info(f, &initial, &dirty);
	n = initial + dirty;
	/* STOP_COPY will send all of device memory again (ivm_precopy_stop()). */
	if (f->untracked && !f->stopped)
		n = ivm_save_pending(&f->save) +
		    (f->win_taken ? ivm_window_bound(f->win_len) : 0) +
		    ivm_dirty_all_bytes(&f->dirty);
	if (!f->regs_sent)
		n += IVM_REC_HDR + f->mig->desc.regs_size;
	if (!f->end_sent)
		n += IVM_END_RECORD;
	return n;
}

static ssize_t ivm_save_read(struct file *filp, char __user *ubuf, size_t len,
			     loff_t *ppos)
{
	struct ivm_file *f = filp->private_data;
	struct ivm_seg seg;
	const void *src;
	size_t done = 0;
	int ret = 0;
	size_t n;

	/* A reader or writer of this fd may hold it across a long call. */
	if (mutex_lock_killable(&f->lock))
		return -EINTR;
	while (len) {
		if (ivm_file_dead(f)) {
			ret = -ENODEV;
			break;
		}
		ivm_save_peek(&f->save, &seg);
		if (seg.kind == IVM_SEG_DONE)
			break;
		if (seg.kind == IVM_SEG_IDLE) {
			ret = ivm_save_next(f);
			if (ret)
				break;
			continue;
		}
		/* META: the cursor's bytes; MEM: the window read into bounce */
		n = min_t(u64, len, seg.len);
		src = seg.data;
		if (copy_to_user(ubuf + done, src, n)) {
			ret = -EFAULT;
			break;
		}
		ivm_save_advance(&f->save, src, n);
		done += n;
		len -= n;
		/* Any signal ends a long read with the count done so far. */
		if (len && signal_pending(current))
			break;
		cond_resched();
	}
	mutex_unlock(&f->lock);
	return done ? done : ret;
}

#ifdef IVM_OWN_BAR_MMAP
/*
 * Start the pre-copy data again from the first page, after writes tracking
 * could not see: every page is initial data again, and so is the rest of the
 * record being read, which the user has to read first.
 */
static void ivm_save_restart(struct ivm_file *f)
{
	struct ivm_mig *mig = f->mig;

	lockdep_assert_held(&f->lock);
	ivm_dirty_restart(mig, &f->dirty);
	f->inflight_initial = true;
	f->reinit = false;
	/* Tracking is whole again unless an ioeventfd can still write. */
	f->untracked = atomic_read(&mig->ioeventfds) ||
		       atomic_read(&mig->ioeventfds_arming);
}

/* PRE_COPY is offered only where the driver owns (and can zap) the mappings. */
static long ivm_save_ioctl(struct file *filp, unsigned int cmd,
			   unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct ivm_file *f = filp->private_data;
	struct vfio_precopy_info info;
	int ret;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	/* f->mig may be gone once the file is disabled: check that first. */
	if (mutex_lock_killable(&f->lock))
		return -EINTR;
	if (READ_ONCE(f->disabled)) {
		ret = -ENODEV;
		goto out_unlock;
	}
	ret = ivm_check_precopy_ioctl(&f->mig->core_device.vdev, cmd, arg,
				      &info);
	if (ret)
		goto out_unlock;
	if (ivm_file_dead(f)) {
		ret = -ENODEV;
	} else if (!f->precopy) {
		ret = -EINVAL;
	} else {
		/* Only a user who opted in to v2 may be told to start again. */
		if (f->reinit &&
		    ivm_precopy_info_v2(&f->mig->core_device.vdev)) {
			ivm_save_restart(f);
			info.flags |= VFIO_PRECOPY_INFO_REINIT;
		}
		ivm_save_info(f, &info.initial_bytes, &info.dirty_bytes);
	}
out_unlock:
	mutex_unlock(&f->lock);
	if (ret)
		return ret;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

#endif /* IVM_OWN_BAR_MMAP */

static __poll_t ivm_save_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct ivm_file *f = filp->private_data;
	__poll_t mask = 0;
	struct ivm_seg seg;

	poll_wait(filp, &f->poll_wq, wait);
	mutex_lock(&f->lock);
	ivm_save_peek(&f->save, &seg);
	if (ivm_file_dead(f))
		mask = EPOLLERR | EPOLLHUP;
	else if (f->stopped || seg.kind != IVM_SEG_IDLE ||
		 ivm_dirty_any(f->mig, &f->dirty))
		mask = EPOLLIN | EPOLLRDNORM;
	mutex_unlock(&f->lock);
	return mask;
}

/* Set device memory to zero for a ZERO record, IVM_BOUNCE_SIZE at most. */
static int ivm_resume_zero(struct ivm_file *f, u64 off, size_t len)
{
	memset(f->bounce, 0, len);
	return ivm_file_mem(f, off, f->bounce, len);
}

/* Stage @len bytes of payload for @off, just copied to the bounce buffer. */
static void ivm_resume_stage(struct ivm_file *f, u64 off, size_t len)
{
	struct ivm_stage *st = &f->stage;

	lockdep_assert_held(&f->lock);
	if (st->n && st->ext[st->n - 1].off + st->ext[st->n - 1].len == off) {
		st->ext[st->n - 1].len += len;
	} else {
		st->ext[st->n].off = off;
		st->ext[st->n].len = len;
		st->ext[st->n].pos = st->used;
		st->n++;
	}
	st->used += len;
}

/*
 * Write the staged payload to device memory under one hold of memory_lock:
 * a stream of scattered 4 KiB records (the dirty pages of a pre-copy) would
 * otherwise pay for the lock, and on a destination whose memory decoding is
 * still off (QEMU restores the command register last) for turning it on and
 * off again, once per page.
 */
static int ivm_resume_flush(struct ivm_file *f)
{
	struct ivm_stage *st = &f->stage;
	unsigned int i;
	int ret;
	u16 cmd;

	lockdep_assert_held(&f->lock);
	if (!st->n)
		return 0;
	ret = ivm_lock_device(f->mig, &cmd);
	if (!ret) {
		for (i = 0; !ret && i < st->n; i++)
			ret = ivm_file_mem_locked(f, st->ext[i].off,
						  f->bounce + st->ext[i].pos,
						  st->ext[i].len);
		ivm_unlock_device(f->mig, cmd);
	}
	st->n = 0;
	st->used = 0;
	return ret;
}

/* A device write failed: a reset (-ENODEV) ends the session, else the stream. */
static void ivm_resume_failed(struct ivm_file *f, int ret)
{
	if (ret != -ENODEV)
		ivm_parse_fail(&f->parse, "writing device memory failed");
}

static ssize_t ivm_resume_write(struct file *filp, const char __user *ubuf,
				size_t len, loff_t *ppos)
{
	struct ivm_file *f = filp->private_data;
	struct ivm_stage *st = &f->stage;
	u8 meta[IVM_META_MAX];
	struct ivm_seg seg;
	size_t done = 0;
	int ret = 0, err;
	long used;
	size_t n;

	/* A reader or writer of this fd may hold it across a long call. */
	if (mutex_lock_killable(&f->lock))
		return -EINTR;
	for (;;) {
		if (ivm_file_dead(f)) {
			ret = -ENODEV;
			break;
		}
		ivm_parse_peek(&f->parse, &seg);
		/* Zeros of a ZERO record, also after its last stream byte. */
		if (seg.kind == IVM_SEG_ZERO) {
			/* they use the bounce buffer: the staged payload goes first */
			n = min_t(u64, seg.len, IVM_BOUNCE_SIZE);
			ret = ivm_resume_flush(f);
			if (!ret)
				ret = ivm_resume_zero(f, seg.offset, n);
			if (ret) {
				ivm_resume_failed(f, ret);
				break;
			}
			ivm_parse_zero_done(&f->parse, n);
			cond_resched();
			continue;
		}
		if (!len)
			break;
		if (seg.kind == IVM_SEG_MEM) {
			if (st->used == IVM_BOUNCE_SIZE || st->n == IVM_STAGE_MAX) {
				ret = ivm_resume_flush(f);
				if (ret) {
					ivm_resume_failed(f, ret);
					break;
				}
			}
			n = min_t(u64, seg.len, len);
			n = min_t(size_t, n, IVM_BOUNCE_SIZE - st->used);
			if (copy_from_user(f->bounce + st->used, ubuf + done, n)) {
				ret = -EFAULT;
				break;
			}
			ivm_parse_mem_done(&f->parse, f->bounce + st->used, n);
			ivm_resume_stage(f, seg.offset, n);
			used = n;
		} else {
			/* only what completes the header or payload being read */
			n = ivm_parse_meta_want(&f->parse);
			n = min3(len, n ? n : sizeof(meta), sizeof(meta));
			if (copy_from_user(meta, ubuf + done, n)) {
				ret = -EFAULT;
				break;
			}
			used = ivm_parse_meta(&f->parse, meta, n);
			if (used < 0) {
				dev_warn_ratelimited(ivm_dev(f->mig),
						     "migration stream rejected: %s\n",
						     f->parse.err);
				ret = -EINVAL;
				break;
			}
		}
		done += used;
		len -= used;
		/* Any signal ends a long write with the count done so far. */
		if (len && signal_pending(current))
			break;
		cond_resched();
	}
	/* What was consumed reaches the device before write() returns. */
	err = ivm_resume_flush(f);
	if (err) {
		ivm_resume_failed(f, err);
		if (!ret || ret == -EFAULT)
			ret = err;
	}
	mutex_unlock(&f->lock);
	/*
	 * Only a fault leaves a usable session behind: report the prefix
	 * written then.  An invalid stream, a failed device write or a reset
	 * fails the write even if a prefix was consumed.
	 */
	if (!ret || (done && ret == -EFAULT))
		return done;
	return ret;
}

static int ivm_file_release(struct inode *inode, struct file *filp)
{
	struct ivm_file *f = filp->private_data;

	mutex_destroy(&f->lock);
	ivm_dirty_free(&f->dirty);
	kvfree(f->cover);
	kvfree(f->bounce);
	kfree(f);
	return 0;
}

static const struct file_operations ivm_save_fops = {
	.owner = THIS_MODULE,
	.read = ivm_save_read,
	.poll = ivm_save_poll,
#ifdef IVM_OWN_BAR_MMAP
	.unlocked_ioctl = ivm_save_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
#endif
	.release = ivm_file_release,
};

static const struct file_operations ivm_resume_fops = {
	.owner = THIS_MODULE,
	.write = ivm_resume_write,
	.release = ivm_file_release,
};

/**
 * ivm_file_create - a new data file and its anon-inode file
 * @mig: the device
 * @kind: a save or a resume
 *
 * The file starts with two references: one for the user's fd, which the
 * vfio core installs, and our own, dropped by ivm_file_retire().
 *
 * noinline + ALLOW_ERROR_INJECTION: the kernel's fail_function can make this
 * fail (KERNEL=debug lane, tools/selftests/ivshmem_fault_storm.c), besides
 * the fail_next points inside.
 *
 * Return: the file, or an ERR_PTR().
 */
noinline struct ivm_file *ivm_file_create(struct ivm_mig *mig,
					  enum ivm_file_kind kind)
{
	bool save = kind == IVM_FILE_SAVE;
	struct ivm_file *f;
	int ret;

	f = ivm_should_fail("file_alloc") ? NULL :
		kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return ERR_PTR(-ENOMEM);
	f->bounce = ivm_should_fail("bounce_alloc") ? NULL :
		kvmalloc(save ? IVM_SAVE_BUF_SIZE : IVM_BOUNCE_SIZE,
			 GFP_KERNEL_ACCOUNT);
	if (!f->bounce) {
		ret = -ENOMEM;
		goto err_free_file;
	}
	if (save) {
		ret = ivm_dirty_init(&f->dirty, &mig->desc, mig->ops->mem_bar);
	} else {
		f->cover = kvzalloc(ivm_cover_size(&mig->desc),
				    GFP_KERNEL_ACCOUNT);
		ret = f->cover ? 0 : -ENOMEM;
	}
	if (ret)
		goto err_free_bounce;
	f->mig = mig;
	f->kind = kind;
	f->gen = atomic_read(&mig->reset_gen);
	f->inflight_initial = true;
	mutex_init(&f->lock);
	init_waitqueue_head(&f->poll_wq);
	f->filp = ivm_should_fail("anon_file") ? ERR_PTR(-ENFILE) :
		anon_inode_getfile("[ivshmem-vfio-pci-mig]",
				   save ? &ivm_save_fops : &ivm_resume_fops,
				   f, save ? O_RDONLY : O_WRONLY);
	if (IS_ERR(f->filp)) {
		ret = PTR_ERR(f->filp);
		goto err_free_maps;
	}
	stream_open(f->filp->f_inode, f->filp);
	/* Our own reference, dropped by ivm_file_retire(). */
	get_file(f->filp);
	return f;

err_free_maps:
	mutex_destroy(&f->lock);
	ivm_dirty_free(&f->dirty);
	kvfree(f->cover);
err_free_bounce:
	kvfree(f->bounce);
err_free_file:
	kfree(f);
	return ERR_PTR(ret);
}
ALLOW_ERROR_INJECTION(ivm_file_create, ERRNO);

/**
 * ivm_file_retire - end a file's session for good and drop our reference
 * @fp: &mig->save_file or &mig->resume_file; set to NULL (nothing to do if
 *	it is NULL already)
 *
 * Called with state_mutex held.  The flag is set before the lock is taken,
 * so that a read() or write() in progress stops at its next chunk instead
 * of moving all of its bytes first; taking the lock then waits for it to
 * leave.
 */
void ivm_file_retire(struct ivm_file **fp)
{
	struct ivm_file *f = *fp;

	if (!f)
		return;
	lockdep_assert_held(&f->mig->state_mutex);
	WRITE_ONCE(f->disabled, true);
	wake_up_interruptible_poll(&f->poll_wq, EPOLLHUP);
	if (f->tracking) {
		ivm_track_stop(f->mig);
		f->tracking = false;
	}
	mutex_lock(&f->lock);
	mutex_unlock(&f->lock);
	fput(f->filp);
	*fp = NULL;
}
