// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: the expected contents of device memory (a seeded pattern plus the
 * writes recorded since) and the device registers.  See e2e.h.
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

void img_init(struct e2e_image *img, uint64_t size, uint64_t seed)
{
	memset(img, 0, sizeof(*img));
	img->size = size;
	img->seed = seed;
}

void img_free(struct e2e_image *img)
{
	int i;

	for (i = 0; i < img->nov; i++)
		free(img->ov[i].data);
	free(img->ov);
	memset(img, 0, sizeof(*img));
}

void img_record(struct e2e_image *img, uint64_t off, const void *data, uint32_t len)
{
	struct e2e_overlay *o;

	if (img->nov == img->cap) {
		img->cap = img->cap ? img->cap * 2 : 64;
		img->ov = realloc(img->ov, img->cap * sizeof(*img->ov));
		if (!img->ov)
			abort();
	}
	o = &img->ov[img->nov++];
	o->off = off;
	o->len = len;
	o->data = malloc(len);
	if (!o->data)
		abort();
	memcpy(o->data, data, len);
}

void img_expect(const struct e2e_image *img, uint64_t off, void *buf, size_t len)
{
	uint64_t a = off & ~7ULL, b = (off + len + 7) & ~7ULL;
	uint8_t *tmp = malloc(b - a);
	int i;

	if (!tmp)
		abort();
	vmt_pattern_fill(tmp, a, b - a, img->seed);
	memcpy(buf, tmp + (off - a), len);
	free(tmp);
	for (i = 0; i < img->nov; i++) {
		const struct e2e_overlay *o = &img->ov[i];
		uint64_t s = o->off > off ? o->off : off;
		uint64_t e = o->off + o->len < off + len ? o->off + o->len : off + len;

		if (s < e)
			memcpy((uint8_t *)buf + (s - off), o->data + (s - o->off), e - s);
	}
}

void regs_random(struct e2e_regs *r)
{
	struct vmt_rng rng;

	vmt_rng_seed(&rng, g_seed ^ (uint64_t)now_ms() ^ ((uint64_t)getpid() << 20));
	do {
		r->intrmask = (uint32_t)vmt_rng_next(&rng);
		r->intrstatus = (uint32_t)vmt_rng_next(&rng) & ~r->intrmask;
	} while (!r->intrmask || !r->intrstatus);
}

/* Compares and describes the first difference; returns 0 if equal. */
int compare_report(const char *what, uint64_t off, const uint8_t *got,
			  const uint8_t *want, size_t len, long long *bad_bytes)
{
	size_t i, first = (size_t)-1;
	long long bad = 0;

	if (!memcmp(got, want, len))
		return 0;
	for (i = 0; i < len; i++)
		if (got[i] != want[i]) {
			if (first == (size_t)-1)
				first = i;
			bad++;
		}
	if (bad_bytes && *bad_bytes == 0) {
		size_t n = len - first < 8 ? len - first : 8;
		char g[40] = "", w[40] = "";

		for (i = 0; i < n; i++) {
			sprintf(g + 3 * i, "%02x ", got[first + i]);
			sprintf(w + 3 * i, "%02x ", want[first + i]);
		}
		diag("%s: first difference at BAR2 offset 0x%llx: got %s expected %s", what,
		     (unsigned long long)(off + first), g, w);
	}
	if (bad_bytes)
		*bad_bytes += bad;
	return -1;
}
