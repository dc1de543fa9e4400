// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci migration demo.
 *
 * Moves the complete state of ivshmem device A (shared memory and interrupt
 * registers) into device B through the VFIO migration v2 protocol, the way
 * a VMM does during live migration, and shows each step:
 *
 *   A: RUNNING -> STOP_COPY   read the state from A's data fd
 *   B: RUNNING -> RESUMING    write it into B's data fd
 *   B: RESUMING -> RUNNING    B validates and takes the state
 *   A: STOP_COPY -> RUNNING   (the source would be discarded by a VMM)
 *
 * Devices: $IVSHMEM_BDF_A and $IVSHMEM_BDF_B, or "demo BDF_A BDF_B".
 * Exits 0 when B ends up with A's exact memory and registers, 1 otherwise.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivm_stream.h"
#include "ivshmem.h"
#include "vfio_mig.h"
#include "vmt_crc32c.h"
#include "vmt_util.h"

#define DEMO_MASK	0x1af41110U
#define DEMO_STATUS	0x00c0ffeeU

static bool tty;

static void die(const char *what, int err)
{
	fprintf(stderr, "demo: %s: %s%s%s\n", what, strerror(err < 0 ? -err : err),
		*vmt_errstr() ? " - " : "", vmt_errstr());
	exit(2);
}

static void human(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= VMT_MiB)
		snprintf(buf, len, "%.1f MiB", (double)bytes / VMT_MiB);
	else if (bytes >= VMT_KiB)
		snprintf(buf, len, "%.1f KiB", (double)bytes / VMT_KiB);
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
}

/* Every 4 KiB page starts with a line of text, the rest is a byte ramp. */
static void fill_pattern(struct ivsh *s)
{
	uint64_t pages = s->mem_size / 4096, p;
	uint8_t page[4096];
	unsigned int i;

	for (p = 0; p < pages; p++) {
		int n = snprintf((char *)page, sizeof(page),
				 "ivshmem-vfio-pci demo | page %06llu of %06llu | hello from device A! ",
				 (unsigned long long)p, (unsigned long long)pages);

		for (i = n; i < sizeof(page); i++)
			page[i] = (uint8_t)(i + p);
		vmt_copy_to_io(s->mem + p * 4096, page, sizeof(page));
	}
}

static uint32_t mem_crc(const struct ivsh *s)
{
	uint8_t buf[65536];
	uint64_t off;
	uint32_t crc = 0;

	for (off = 0; off < s->mem_size; off += sizeof(buf)) {
		size_t n = s->mem_size - off < sizeof(buf) ? s->mem_size - off : sizeof(buf);

		vmt_copy_from_io(buf, s->mem + off, n);
		crc = vmt_crc32c(crc, buf, n);
	}
	return crc;
}

static void show_sample(const char *who, const struct ivsh *s, uint64_t off)
{
	uint8_t b[64];
	unsigned int i, j;

	vmt_copy_from_io(b, s->mem + off, sizeof(b));
	printf("    %s BAR2, first bytes of page %llu:\n", who,
	       (unsigned long long)(off / 4096));
	for (i = 0; i < sizeof(b); i += 16) {
		printf("      %06llx  ", (unsigned long long)(off + i));
		for (j = 0; j < 16; j++)
			printf("%02x %s", b[i + j], j == 7 ? " " : "");
		printf(" |");
		for (j = 0; j < 16; j++)
			putchar(isprint(b[i + j]) ? b[i + j] : '.');
		printf("|\n");
	}
}

static void show_regs(const char *who, const struct ivsh *s)
{
	uint32_t mask = 0, status = 0;
	int ret = ivsh_get_regs(s, &mask, &status);

	if (ret)
		die("reading registers", ret);
	/* Reading INTRSTATUS cleared it; put it back. */
	ret = ivsh_wr(s, IVSHMEM_INTRSTATUS, status);
	if (ret)
		die("writing INTRSTATUS", ret);
	printf("    %s registers: INTRMASK=0x%08x INTRSTATUS=0x%08x\n", who, mask,
	       status);
}

static void set_state(struct ivsh *s, const char *name, uint32_t to, int *dfd)
{
	uint32_t from = 0;
	int ret;

	mig_get_state(s->dev.fd, &from);
	ret = mig_set_state(s->dev.fd, to, dfd);
	if (ret)
		die(name, ret);
	printf("    %s: %s -> %s", name, mig_state_name(from), mig_state_name(to));
	if (dfd && *dfd >= 0)
		printf("   (data fd %d)", *dfd);
	printf("\n");
}

struct progress {
	uint64_t total;
	uint64_t done;
	int shown;
	struct ivm_checker chk;
};

static void on_bytes(void *opaque, const void *p, size_t n)
{
	struct progress *pr = opaque;
	int pct, bars, i;
	char a[32], b[32];

	ivm_check_feed(&pr->chk, p, n);
	pr->done += n;
	pct = pr->total ? (int)(pr->done * 100 / pr->total) : 100;
	if (!tty && pct < pr->shown + 25 && pr->done != pr->total)
		return;
	pr->shown = pct;
	bars = pct / 5;
	human(a, sizeof(a), pr->done);
	human(b, sizeof(b), pr->total);
	printf("%s    transferring [", tty ? "\r" : "");
	for (i = 0; i < 20; i++)
		putchar(i < bars ? '#' : '.');
	printf("] %3d%%  %s of %s%s", pct, a, b, tty ? "" : "\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *bdf_a = argc > 2 ? argv[1] : vmt_env("IVSHMEM_BDF_A");
	const char *bdf_b = argc > 2 ? argv[2] : vmt_env("IVSHMEM_BDF_B");
	uint32_t crc_a, crc_b0, crc_b, mask = 0, status = 0;
	struct progress pr = { 0 };
	struct ivsh a, b;
	uint64_t size = 0;
	int sfd = -1, rfd = -1, where = 0, ret, bad = 0;
	char hs[32];
	double t0, dt;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	tty = isatty(1);
	if (!bdf_a || !bdf_b) {
		fprintf(stderr, "usage: demo BDF_A BDF_B (or set IVSHMEM_BDF_A and IVSHMEM_BDF_B)\n");
		return 2;
	}

	printf("ivshmem-vfio-pci: live migration of an ivshmem device, step by step\n\n");
	ret = ivsh_open(&a, bdf_a);
	if (ret)
		die(bdf_a, ret);
	ret = ivsh_open(&b, bdf_b);
	if (ret)
		die(bdf_b, ret);
	human(hs, sizeof(hs), a.mem_size);
	printf("[1] Devices (opened through VFIO)\n");
	printf("    source      A = %s  ivshmem %04x:%04x rev %u, BAR2 %s\n",
	       a.dev.bdf, a.dev.vendor, a.dev.device, a.dev.revision, hs);
	human(hs, sizeof(hs), b.mem_size);
	printf("    destination B = %s  ivshmem %04x:%04x rev %u, BAR2 %s\n\n",
	       b.dev.bdf, b.dev.vendor, b.dev.device, b.dev.revision, hs);

	printf("[2] Giving A a recognisable state\n");
	fill_pattern(&a);
	ret = ivsh_set_regs(&a, DEMO_MASK, DEMO_STATUS);
	if (ret)
		die("setting A's registers", ret);
	memset((void *)b.mem, 0, b.mem_size);
	ret = ivsh_set_regs(&b, 0, 0);
	if (ret)
		die("clearing B's registers", ret);
	show_sample("A", &a, 0);
	show_sample("A", &a, a.mem_size / 2);
	show_regs("A", &a);
	crc_a = mem_crc(&a);
	crc_b0 = mem_crc(&b);
	printf("    CRC32C of A's memory: 0x%08x   (B, cleared: 0x%08x)\n\n", crc_a,
	       crc_b0);

	printf("[3] Migrating A -> B\n");
	set_state(&a, "A", VFIO_DEVICE_STATE_STOP_COPY, &sfd);
	if (sfd < 0)
		die("no data fd from A", EPROTO);
	ret = mig_data_size(a.dev.fd, &size);
	if (ret)
		die("MIG_DATA_SIZE", ret);
	human(hs, sizeof(hs), size);
	printf("    A's device state is %s (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE)\n", hs);
	set_state(&b, "B", VFIO_DEVICE_STATE_RESUMING, &rfd);
	if (rfd < 0)
		die("no data fd from B", EPROTO);
	pr.total = size;
	ivm_check_init(&pr.chk);
	t0 = vmt_now();
	/* QEMU's way: read what the fd gives, write it in 32 KiB pieces. */
	n = mig_pipe(sfd, rfd, VMT_MiB, 32768, NULL, on_bytes, &pr, &where);
	dt = vmt_now() - t0;
	if (tty)
		printf("\n");
	if (n < 0)
		die(where ? "writing to B" : "reading from A", (int)n);
	human(hs, sizeof(hs), n);
	printf("    moved %s in %.3f s", hs, dt);
	if (!ivm_check_finish(&pr.chk))
		printf("; stream: header + %lu MEM and %lu ZERO records + REGS + END, CRC32C 0x%08x\n",
		       pr.chk.nmem, pr.chk.nzero, pr.chk.crc_stored);
	else
		printf("; stream check: %s\n", pr.chk.err);
	set_state(&b, "B", VFIO_DEVICE_STATE_RUNNING, NULL);
	set_state(&a, "A", VFIO_DEVICE_STATE_RUNNING, NULL);
	close(sfd);
	close(rfd);
	ivm_check_free(&pr.chk);
	printf("\n");

	printf("[4] What B holds now\n");
	show_sample("B", &b, 0);
	show_sample("B", &b, b.mem_size / 2);
	ret = ivsh_get_regs(&b, &mask, &status);
	if (ret)
		die("reading B's registers", ret);
	printf("    B registers: INTRMASK=0x%08x INTRSTATUS=0x%08x\n", mask, status);
	crc_b = mem_crc(&b);
	printf("    CRC32C of B's memory: 0x%08x   (A: 0x%08x)\n\n", crc_b, crc_a);

	if (crc_b != crc_a) {
		printf("    MISMATCH: B's memory differs from A's\n");
		bad++;
	}
	if (mask != DEMO_MASK || status != DEMO_STATUS) {
		printf("    MISMATCH: B's registers differ from A's (0x%08x 0x%08x)\n",
		       DEMO_MASK, DEMO_STATUS);
		bad++;
	}
	if (mem_crc(&a) != crc_a) {
		printf("    MISMATCH: the source changed during the save\n");
		bad++;
	}
	ivsh_close(&a);
	ivsh_close(&b);
	if (bad) {
		printf("RESULT: FAILED - B does not hold A's state\n");
		return 1;
	}
	printf("RESULT: OK - B holds exactly A's memory and registers\n");
	return 0;
}
