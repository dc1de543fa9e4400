// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: emulated ivshmem-plain devices, the baseline that QEMU migrates as
 * guest RAM.  The BAR2 of each is a file in a tmpfs mounted in the work
 * directory (memory-backend-file,share=on), so this program fills and checks
 * it the way it fills and checks a passthrough device's BAR2 through VFIO.
 * See e2e.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "vmt_util.h"
#include "e2e_int.h"

static char g_emu_dir[300];	/* the tmpfs mount point, "" while none is mounted */
static uint64_t g_emu_bytes;	/* its size limit */

const char *emu_dir(uint64_t bytes)
{
	char opts[64];

	if (g_emu_dir[0] && bytes <= g_emu_bytes)
		return g_emu_dir;
	snprintf(opts, sizeof(opts), "size=%llu,mode=0700", (unsigned long long)bytes);
	if (!g_emu_dir[0]) {
		char dir[sizeof(g_emu_dir)];

		snprintf(dir, sizeof(dir), "%s/emu", g_dir);
		if (mkdir(dir, 0700) && errno != EEXIST) {
			diag("mkdir %s: %s", dir, strerror(errno));
			return NULL;
		}
		if (mount("e2e-emu", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts)) {
			diag("mount -t tmpfs -o %s %s: %s", opts, dir, strerror(errno));
			return NULL;
		}
		snprintf(g_emu_dir, sizeof(g_emu_dir), "%s", dir);
	} else if (mount(NULL, g_emu_dir, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, opts)) {
		diag("mount -o remount,%s %s: %s", opts, g_emu_dir, strerror(errno));
		return NULL;
	}
	g_emu_bytes = bytes;
	return g_emu_dir;
}

void emu_cleanup(void)
{
	/* lazily: a QEMU killed a moment ago may still hold its file */
	if (g_emu_dir[0])
		umount2(g_emu_dir, MNT_DETACH);
	g_emu_dir[0] = 0;
}

static void *emu_map(const char *path, uint64_t size, bool create)
{
	int fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDONLY | O_CLOEXEC,
		      0600);
	struct stat st;
	void *p;
	int err;

	if (fd < 0) {
		diag("open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (create) {
		/* reserve it all now: a full tmpfs is an error here, not a SIGBUS later */
		err = posix_fallocate(fd, 0, (off_t)size);
		if (err) {
			diag("fallocate %s, %llu bytes: %s", path, (unsigned long long)size,
			     strerror(err));
			close(fd);
			return NULL;
		}
	} else if (fstat(fd, &st) || (uint64_t)st.st_size != size) {
		diag("%s: %lld bytes, expected %llu", path, (long long)st.st_size,
		     (unsigned long long)size);
		close(fd);
		return NULL;
	}
	p = mmap(NULL, size, create ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		diag("mmap %s: %s", path, strerror(errno));
		return NULL;
	}
	return p;
}

int emu_fill(const char *path, uint64_t size, uint64_t seed)
{
	const size_t chunk = 1 << 20;
	uint8_t *p = emu_map(path, size, true);
	uint64_t off;

	if (!p)
		return -1;
	for (off = 0; off < size; off += chunk)
		vmt_pattern_fill(p + off, off, size - off < chunk ? size - off : chunk, seed);
	munmap(p, size);
	return 0;
}

int emu_check(const char *path, const struct e2e_image *img)
{
	const size_t chunk = 1 << 20;
	uint8_t *p = emu_map(path, img->size, false), *want;
	long long bad = 0;
	uint64_t off;

	if (!p)
		return -1;
	want = malloc(chunk);
	if (!want)
		abort();
	for (off = 0; off < img->size; off += chunk) {
		size_t n = img->size - off < chunk ? img->size - off : chunk;

		img_expect(img, off, want, n);
		compare_report("emulated BAR2 file", off, p + off, want, n, &bad);
	}
	free(want);
	munmap(p, img->size);
	if (bad)
		diag("%s: %lld of %llu bytes differ from the expected contents", path, bad,
		     (unsigned long long)img->size);
	return bad ? -1 : 0;
}
