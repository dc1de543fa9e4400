// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: the test VM (L1) itself reading and writing a device's BAR2 through
 * VFIO, before and after the nested VMs.  See e2e.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vfio_uapi.h"

#include "e2e.h"
#include "vfio_dev.h"
#include "vmt_util.h"
#include "e2e_int.h"

static void *l1_map(struct vdev *d, const char *bdf, size_t *len)
{
	void *p;

	if (vdev_open(d, bdf)) {
		diag("L1: cannot open %s through VFIO: %s", bdf, vmt_errstr());
		return NULL;
	}
	p = vdev_mmap(d, VFIO_PCI_BAR2_REGION_INDEX, len);
	if (!p) {
		diag("L1: %s", vmt_errstr());
		vdev_close(d);
	}
	return p;
}

int l1_fill(const char *bdf, uint64_t seed, uint64_t *size)
{
	const size_t chunk = 1 << 20;
	struct vdev d;
	size_t len, off;
	uint8_t *buf;
	void *p;

	p = l1_map(&d, bdf, &len);
	if (!p)
		return -1;
	buf = malloc(chunk);
	if (!buf)
		abort();
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		vmt_pattern_fill(buf, off, n, seed);
		vmt_copy_to_io((uint8_t *)p + off, buf, n);
	}
	free(buf);
	munmap(p, len);
	vdev_close(&d);
	if (size)
		*size = len;
	return 0;
}

int l1_check(const char *bdf, const struct e2e_image *img)
{
	const size_t chunk = 1 << 20;
	long long bad = 0;
	struct vdev d;
	size_t len, off;
	uint8_t *got, *want;
	void *p;

	p = l1_map(&d, bdf, &len);
	if (!p)
		return -1;
	if (len != img->size) {
		diag("L1: %s has a BAR2 of %zu bytes, expected %llu", bdf, len,
		     (unsigned long long)img->size);
		munmap(p, len);
		vdev_close(&d);
		return -1;
	}
	got = malloc(chunk);
	want = malloc(chunk);
	if (!got || !want)
		abort();
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		vmt_copy_from_io(got, (uint8_t *)p + off, n);
		img_expect(img, off, want, n);
		compare_report("L1 view", off, got, want, n, &bad);
	}
	free(got);
	free(want);
	munmap(p, len);
	vdev_close(&d);
	if (bad)
		diag("L1: %s: %lld of %zu BAR2 bytes differ from the expected contents", bdf, bad, len);
	return bad ? -1 : 0;
}

int l1_driver(const char *bdf, char *drv, size_t len)
{
	char path[300], link[300];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		n = 0;
	link[n] = 0;
	base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	if (strlen(base) >= len) {
		diag("L1: %s: driver name '%s' too long", bdf, base);
		return -1;
	}
	memcpy(drv, base, strlen(base) + 1);
	return 0;
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = write(fd, val, strlen(val));
		close(fd);
	}
	if (n != (ssize_t)strlen(val)) {
		diag("L1: writing '%s' to %s: %s", val, path, strerror(errno));
		return -1;
	}
	return 0;
}

int l1_rebind(const char *bdf, const char *param, const char *value)
{
	char drv[64], path[400];

	if (l1_driver(bdf, drv, sizeof(drv)))
		return -1;
	if (!drv[0]) {
		diag("L1: %s is bound to no driver", bdf);
		return -1;
	}
	if (param) {
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/module/parameters/%s", drv, param);
		if (sysfs_write(path, value))
			return -1;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	if (sysfs_write(path, bdf))
		return -1;
	/* driver_override (scripts/bind.sh) still names it: bind it back */
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	return sysfs_write(path, bdf);
}

int l1_unbind(const char *bdf)
{
	char drv[64], path[400];

	if (l1_driver(bdf, drv, sizeof(drv)))
		return -1;
	if (drv[0]) {
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
		if (sysfs_write(path, bdf))
			return -1;
	}
	/* an empty line clears it */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	return sysfs_write(path, "\n");
}

int l1_bind(const char *bdf, const char *drv)
{
	char cur[64], path[400];

	if (l1_driver(bdf, cur, sizeof(cur)))
		return -1;
	if (!strcmp(cur, drv))
		return 0;
	if (cur[0] && l1_unbind(bdf))
		return -1;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (sysfs_write(path, drv))
		return -1;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	if (sysfs_write(path, bdf))
		return -1;
	if (l1_driver(bdf, cur, sizeof(cur)) || strcmp(cur, drv)) {
		diag("L1: %s: bound to '%s' after binding it to %s", bdf, cur, drv);
		return -1;
	}
	return 0;
}
