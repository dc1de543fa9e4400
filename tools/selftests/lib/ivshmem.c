// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "ivshmem.h"

void ivsh_init(struct ivsh *s)
{
	memset(s, 0, sizeof(*s));
	vdev_init(&s->dev);
}

int ivsh_map(struct ivsh *s)
{
	size_t len;
	void *p;

	if (s->mem)
		return 0;
	p = vdev_mmap(&s->dev, IVSHMEM_MEM_BAR, &len);
	if (!p)
		return -errno;
	s->mem = p;
	s->mem_size = len;
	return 0;
}

void ivsh_unmap(struct ivsh *s)
{
	if (s->mem)
		munmap((void *)s->mem, s->mem_size);
	s->mem = NULL;
}

int ivsh_open(struct ivsh *s, const char *bdf)
{
	int ret;

	ivsh_init(s);
	ret = vdev_open(&s->dev, bdf);
	if (ret)
		return ret;
	if (s->dev.vendor != IVSHMEM_VENDOR || s->dev.device != IVSHMEM_DEVICE) {
		vmt_seterr("%s is %04x:%04x, not ivshmem", s->dev.bdf,
			   s->dev.vendor, s->dev.device);
		vdev_close(&s->dev);
		return -ENODEV;
	}
	s->mem_size = vdev_region_size(&s->dev, IVSHMEM_MEM_BAR);
	ret = ivsh_map(s);
	if (ret)
		vdev_close(&s->dev);
	return ret;
}

void ivsh_close(struct ivsh *s)
{
	ivsh_unmap(s);
	vdev_close(&s->dev);
}

int ivsh_rd(const struct ivsh *s, unsigned int reg, uint32_t *v)
{
	return vdev_rd32(&s->dev, IVSHMEM_REG_BAR, reg, v);
}

int ivsh_wr(const struct ivsh *s, unsigned int reg, uint32_t v)
{
	return vdev_wr32(&s->dev, IVSHMEM_REG_BAR, reg, v);
}

int ivsh_set_regs(const struct ivsh *s, uint32_t mask, uint32_t status)
{
	int ret = ivsh_wr(s, IVSHMEM_INTRMASK, mask);

	return ret ? ret : ivsh_wr(s, IVSHMEM_INTRSTATUS, status);
}

int ivsh_get_regs(const struct ivsh *s, uint32_t *mask, uint32_t *status)
{
	int ret = ivsh_rd(s, IVSHMEM_INTRMASK, mask);

	return ret ? ret : ivsh_rd(s, IVSHMEM_INTRSTATUS, status);
}

void ivsh_fill(struct ivsh *s, uint64_t seed)
{
	vmt_pattern_fill((void *)s->mem, 0, s->mem_size, seed);
}

uint64_t ivsh_verify(const struct ivsh *s, uint64_t seed)
{
	return vmt_pattern_check((const void *)s->mem, 0, s->mem_size, seed);
}

int ivsh_save(struct ivsh *s, struct vmt_buf *out, size_t chunk,
	      struct vmt_rng *rng)
{
	return mig_capture(s->dev.fd, out, chunk, rng);
}

int ivsh_restore(struct ivsh *s, const void *stream, size_t len, size_t chunk,
		 struct vmt_rng *rng)
{
	int dfd, ret;

	ret = mig_set_state(s->dev.fd, VFIO_DEVICE_STATE_RESUMING, &dfd);
	if (ret)
		return ret;
	if (dfd < 0) {
		vmt_seterr("RESUMING returned no data fd");
		return -EPROTO;
	}
	ret = mig_write_all(dfd, stream, len, chunk, rng, NULL);
	if (!ret) {
		ret = mig_set_state_nofd(s->dev.fd, VFIO_DEVICE_STATE_STOP);
		if (ret)
			vmt_seterr("RESUMING -> STOP: %s", strerror(-ret));
	}
	close(dfd);
	if (ret)
		return ret;
	return mig_set_state_nofd(s->dev.fd, VFIO_DEVICE_STATE_RUNNING);
}

int ivsh_data_size(const struct ivsh *s, uint64_t *len)
{
	int r = mig_data_size(s->dev.fd, len);

	if (r != -ENOTTY)
		return r;
	*len = ivm_stream_len(s->mem_size, 0);
	return 0;
}

int ivsh_debugfs_open(const char *name, int flags)
{
	char path[128];
	struct statfs sfs;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", IVSH_DEBUGFS, name);
	fd = open(path, flags);
	/* mount debugfs if nobody has (never twice: a second mount would stack) */
	if (fd < 0 && errno == ENOENT &&
	    !statfs("/sys/kernel/debug", &sfs) && sfs.f_type != DEBUGFS_MAGIC &&
	    !mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL))
		fd = open(path, flags);
	return fd < 0 ? -errno : fd;
}

bool ivsh_debugfs_bool(const char *name, bool dflt)
{
	char c = dflt ? 'Y' : 'N';
	int fd = ivsh_debugfs_open(name, O_RDONLY);

	if (fd < 0)
		return dflt;
	if (read(fd, &c, 1) != 1)
		c = dflt ? 'Y' : 'N';
	close(fd);
	return c == 'Y';
}

bool ivsh_mmap_freezes(void)
{
	return ivsh_debugfs_bool("mmap_freeze", true);
}

int ivsh_module_refs(long *n)
{
	const char *drv = getenv("IVSHMEM_DRIVER");
	char path[128], buf[32];
	ssize_t len;
	int i;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt",
		 drv ? drv : IVSH_DRIVER_NAME);
	for (i = 0; path[i]; i++)
		if (path[i] == '-')
			path[i] = '_';
	len = vmt_read_file(path, buf, sizeof(buf));
	if (len < 0)
		return len;
	*n = strtol(buf, NULL, 10);
	return 0;
}

void ivsh_build_params(const struct ivsh *s, struct ivm_build_params *bp)
{
	memset(bp, 0, sizeof(*bp));
	bp->vendor = s->dev.vendor;
	bp->device = s->dev.device;
	bp->revision = s->dev.revision;
	bp->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	bp->bar2_size = s->mem_size;
}
