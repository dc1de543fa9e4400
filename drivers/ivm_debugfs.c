// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: the migration core's debugfs directory, for the tests:
 * error injection at named points (fail_next), the DMA-logging calls the
 * vfio core passed on (dma_log_calls) and the facts of ivm_bar.c.
 */
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ivm_bar.h"
#include "ivm_mig.h"
#include "ivm_mig_priv.h"

/*
 * Error injection for the selftests, so that every error unwind runs: write
 * a point's name to <debugfs>/ivshmem_vfio_pci/fail_next and the next pass
 * through that point fails once.  Debian kernels have no fault injection
 * framework, hence this small one of our own.
 */
static const char * const ivm_fail_points[] = {
	"file_alloc", "bounce_alloc", "anon_file", "save_regs", "load_regs",
	"mem_read", "mem_write", "log_alloc",
};

/* protects ivm_fail_next */
static DEFINE_SPINLOCK(ivm_fail_lock);
static int ivm_fail_next = -1;
static struct dentry *ivm_debugfs;

/**
 * ivm_should_fail - whether an error injection point fails this time
 * @point: the point's name, one of ivm_fail_points[]
 *
 * A point armed through <debugfs>/<name>/fail_next fails once and is
 * disarmed by that.
 *
 * Return: true if the caller is to fail as if @point had failed.
 */
bool ivm_should_fail(const char *point)
{
	bool fail = false;

	spin_lock(&ivm_fail_lock);
	if (ivm_fail_next >= 0 &&
	    !strcmp(ivm_fail_points[ivm_fail_next], point)) {
		ivm_fail_next = -1;
		fail = true;
	}
	spin_unlock(&ivm_fail_lock);
	return fail;
}

static ssize_t ivm_fail_write(struct file *filp, const char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	char name[32];
	int i;

	if (!len || len >= sizeof(name))
		return -EINVAL;
	if (copy_from_user(name, ubuf, len))
		return -EFAULT;
	name[len] = 0;
	i = sysfs_match_string(ivm_fail_points, strim(name));
	if (i < 0 && strcmp(strim(name), "none"))
		return -EINVAL;
	spin_lock(&ivm_fail_lock);
	ivm_fail_next = i;
	spin_unlock(&ivm_fail_lock);
	return len;
}

static ssize_t ivm_fail_read(struct file *filp, char __user *ubuf, size_t len,
			     loff_t *ppos)
{
	const char *name = "none";
	char buf[32];
	int n;

	spin_lock(&ivm_fail_lock);
	if (ivm_fail_next >= 0)
		name = ivm_fail_points[ivm_fail_next];
	n = scnprintf(buf, sizeof(buf), "%s\n", name);
	spin_unlock(&ivm_fail_lock);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations ivm_fail_fops = {
	.owner = THIS_MODULE,
	.read = ivm_fail_read,
	.write = ivm_fail_write,
};

/* Counted by the DMA-logging ops, shown in <debugfs>/<name>/dma_log_calls. */
atomic64_t ivm_log_calls[IVM_LOG_NCALLS];

static int ivm_log_calls_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "start %lld\nreport %lld\nstop %lld\n",
		   (long long)atomic64_read(&ivm_log_calls[IVM_LOG_START]),
		   (long long)atomic64_read(&ivm_log_calls[IVM_LOG_REPORT]),
		   (long long)atomic64_read(&ivm_log_calls[IVM_LOG_STOP]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ivm_log_calls);

/**
 * ivm_mig_debugfs_init - create <debugfs>/<name>/ with fail_next,
 *	dma_log_calls and the facts of ivm_bar_debugfs_init()
 * @name: the directory name
 */
void ivm_mig_debugfs_init(const char *name)
{
	ivm_debugfs = debugfs_create_dir(name, NULL);
	debugfs_create_file("fail_next", 0600, ivm_debugfs, NULL,
			    &ivm_fail_fops);
	debugfs_create_file("dma_log_calls", 0400, ivm_debugfs, NULL,
			    &ivm_log_calls_fops);
	ivm_bar_debugfs_init(ivm_debugfs);
}

/**
 * ivm_mig_debugfs_exit - remove what ivm_mig_debugfs_init() created
 */
void ivm_mig_debugfs_exit(void)
{
	debugfs_remove_recursive(ivm_debugfs);
}
