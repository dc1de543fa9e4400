// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-migctl - look at and drive the VFIO migration v2 state of a device,
 * save and load its state, decode saved ivshmem-vfio-pci streams.
 *
 *   vfio-migctl info DEVICE
 *   vfio-migctl state DEVICE [STATE...]
 *   vfio-migctl save DEVICE FILE
 *   vfio-migctl load [--force] DEVICE FILE
 *   vfio-migctl inspect FILE
 *
 * DEVICE is a PCI address, an mdev UUID or a sysfs device path, bound to a
 * VFIO driver.  The device, its group and container (or its cdev and an
 * iommufd, --iommufd) are the selftests' library (tools/selftests/lib), and
 * so is the stream checker.  See vfio-migctl.8 for the exit codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ivm_stream.h"
#include "vfio_dev.h"
#include "vfio_mig.h"
#include "vmt_util.h"

#ifndef IVM_VERSION
#define IVM_VERSION "unknown"
#endif

/* Exit codes (vfio-migctl.8, EXIT STATUS) */
enum {
	EX_OK = 0,
	EX_FAIL = 1,		/* the operation failed: ioctl, driver, I/O */
	EX_USAGE = 2,		/* bad command line */
	EX_NODEV = 3,		/* no such device, not bound to VFIO, busy */
	EX_NOMIG = 4,		/* no migration support, or not that state */
	EX_BADSTREAM = 5,	/* the file is no valid stream */
	EX_MISMATCH = 6,	/* valid stream of another kind of device */
};

#define IVSHMEM_VENDOR	0x1af4
#define IVSHMEM_DEVICE	0x1110
#define IO_CHUNK	(1UL << 20)

static const char *prog = "vfio-migctl";
static bool opt_quiet;
static bool opt_iommufd;

static void __attribute__((format(printf, 1, 2))) err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND ARGS\n"
		"\n"
		"Commands:\n"
		"  info DEVICE            migration flags, state, MIG_DATA_SIZE, pre-copy and DMA logging\n"
		"  state DEVICE [STATE...]  print the state; or set each STATE in turn and print it\n"
		"  save DEVICE FILE       STOP_COPY: write the device's state to FILE ('-': stdout)\n"
		"  load DEVICE FILE       RESUMING: feed FILE ('-': stdin) to the device, then STOP, RUNNING\n"
		"  inspect FILE           decode and verify an ivshmem-vfio-pci stream ('-': stdin)\n"
		"\n"
		"DEVICE: PCI address (0000:01:00.0 or 01:00.0), mdev UUID or sysfs device path,\n"
		"bound to a VFIO driver. STATE: RUNNING, STOP, RUNNING_P2P, STOP_COPY, RESUMING,\n"
		"PRE_COPY, PRE_COPY_P2P (any case). Every open of a device starts in RUNNING (VFIO\n"
		"uAPI): a state set here lasts until vfio-migctl exits and closes the device.\n"
		"\n"
		"Options:\n"
		"  -f, --force    load: give the device a file the checks would refuse\n"
		"  -q, --quiet    no progress, no record list\n"
		"  -I, --iommufd  open the device through its VFIO cdev and an iommufd\n"
		"  -h, --help     this help;  -V, --version  the version\n"
		"\n"
		"Exit status: 0 ok, 1 the operation failed, 2 usage, 3 no such device / not bound\n"
		"to VFIO / busy, 4 no migration support or state, 5 bad stream file, 6 stream of\n"
		"another device. See vfio-migctl(8).\n",
		prog);
}

/* ---- progress ------------------------------------------------------------------------------------------------- */

struct progress {
	const char *what;
	uint64_t total;		/* 0: unknown */
	uint64_t done;
	double t0;
	double last;
	int quarter;		/* plain mode: the last quarter reported */
	bool tty;
};

static void human(char *buf, size_t len, double v)
{
	if (v >= 1 << 30)
		snprintf(buf, len, "%.1f GiB", v / (1 << 30));
	else if (v >= 1 << 20)
		snprintf(buf, len, "%.1f MiB", v / (1 << 20));
	else if (v >= 1 << 10)
		snprintf(buf, len, "%.1f KiB", v / (1 << 10));
	else
		snprintf(buf, len, "%.0f B", v);
}

static void progress_start(struct progress *p, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->t0 = vmt_now();
	p->tty = isatty(STDERR_FILENO);
}

static void progress_line(struct progress *p, bool final)
{
	double dt = vmt_now() - p->t0;
	char done[32], total[32], rate[32];

	human(done, sizeof(done), (double)p->done);
	human(total, sizeof(total), (double)p->total);
	human(rate, sizeof(rate), dt > 0 ? p->done / dt : 0);
	if (p->tty) {
		int width = 30, fill = 0, i;
		char bar[64];

		if (p->total)
			fill = (int)(width * (p->done > p->total ? 1 : (double)p->done / p->total));
		for (i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : (p->total ? '-' : ' ');
		bar[width] = 0;
		if (p->total)
			fprintf(stderr, "\r%s [%s] %3d%% %s / %s, %s/s ", p->what, bar,
				(int)(100.0 * p->done / p->total), done, total, rate);
		else
			fprintf(stderr, "\r%s %s, %s/s ", p->what, done, rate);
		if (final)
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "%s: %s%s%s in %.2f s, %s/s\n", p->what, done,
			p->total ? " of " : "", p->total ? total : "", dt, rate);
	}
	fflush(stderr);
}

static void progress_add(struct progress *p, uint64_t n)
{
	double now;

	p->done += n;
	if (opt_quiet)
		return;
	now = vmt_now();
	if (p->tty) {
		if (now - p->last >= 0.1) {
			p->last = now;
			progress_line(p, false);
		}
	} else if (p->total && p->done < p->total &&
		   (int)(4 * p->done / p->total) > p->quarter) {
		/* plain lines: one at each quarter */
		p->quarter = (int)(4 * p->done / p->total);
		progress_line(p, false);
	}
}

static void progress_end(struct progress *p)
{
	if (!opt_quiet)
		progress_line(p, true);
}

/* ---- devices -------------------------------------------------------------------------------------------------- */

/*
 * Opens @spec with the library; on failure says why in terms of what the
 * user can do (no such device, no driver, not a VFIO driver, busy) and
 * returns the exit code.
 */
static int open_dev(struct vdev *d, const char *spec)
{
	char name[64], sysfs[PATH_MAX], path[PATH_MAX + 16], drv[PATH_MAX];
	ssize_t n;
	int ret;

	if (vdev_resolve(spec, name, sizeof(name), sysfs, sizeof(sysfs))) {
		err("%s", vmt_errstr());
		return EX_NODEV;
	}
	if (access(sysfs, F_OK)) {
		err("%s: no such device (%s does not exist)", spec, sysfs);
		return EX_NODEV;
	}
	snprintf(path, sizeof(path), "%s/driver", sysfs);
	n = readlink(path, drv, sizeof(drv) - 1);
	if (n < 0) {
		err("%s: not bound to any driver: bind it to a VFIO driver first (e.g. scripts/bind.sh bind %s)",
		    name, name);
		return EX_NODEV;
	}
	drv[n] = 0;
	ret = vdev_open_mode(d, spec, opt_iommufd ? VDEV_MODE_IOMMUFD : VDEV_MODE_GROUP);
	if (ret) {
		const char *base = strrchr(drv, '/') ? strrchr(drv, '/') + 1 : drv;

		if (ret == -EBUSY)
			err("%s: busy: %s (is another program, e.g. QEMU, using it?)", name,
			    vmt_errstr());
		else if (!strstr(base, "vfio") && !strstr(base, "mdev"))
			err("%s: bound to %s, which is not a VFIO driver: %s", name, base,
			    vmt_errstr());
		else
			err("%s: cannot open it through VFIO: %s", name, vmt_errstr());
		return EX_NODEV;
	}
	return EX_OK;
}

/* Migration flags, or EX_NOMIG with the reason said. */
static int need_mig(struct vdev *d, uint64_t *flags)
{
	int ret = mig_get_flags(d->fd, flags);

	if (ret) {
		err("%s (driver %s): no VFIO migration support (VFIO_DEVICE_FEATURE_MIGRATION: %s)",
		    d->bdf, d->driver[0] ? d->driver : "?", strerror(-ret));
		return EX_NOMIG;
	}
	return EX_OK;
}

/* open_dev() and need_mig(): the device open with its migration flags, or the exit code. */
static int open_mig(struct vdev *d, const char *spec, uint64_t *flags)
{
	int ret = open_dev(d, spec);

	if (ret)
		return ret;
	ret = need_mig(d, flags);
	if (ret)
		vdev_close(d);
	return ret;
}

static bool parse_state(const char *s, uint32_t *state)
{
	uint32_t i;

	for (i = 0; i < MIG_NUM_STATES; i++) {
		if (!strcasecmp(s, mig_state_name(i))) {
			*state = i;
			return true;
		}
	}
	return false;
}

static void print_flags(uint64_t flags)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} names[] = {
		{ VFIO_MIGRATION_STOP_COPY, "STOP_COPY" },
		{ VFIO_MIGRATION_P2P, "P2P" },
		{ VFIO_MIGRATION_PRE_COPY, "PRE_COPY" },
	};
	uint64_t rest = flags;
	size_t i;

	printf("migration:    0x%" PRIx64, flags);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (flags & names[i].bit) {
			printf(" %s", names[i].name);
			rest &= ~names[i].bit;
		}
	}
	if (rest)
		printf(" (unknown 0x%" PRIx64 ")", rest);
	printf("\n");
}

/* ---- info ----------------------------------------------------------------------------------------------------- */

static int cmd_info(const char *spec)
{
	uint64_t flags, size, initial, dirty;
	struct vdev d;
	uint32_t state;
	int ret, dfd;

	ret = open_dev(&d, spec);
	if (ret)
		return ret;
	printf("device:       %s (%s)\n", d.bdf, d.sysfs);
	printf("driver:       %s\n", d.driver[0] ? d.driver : "(none)");
	printf("opened:       %s, IOMMU group %d\n", vdev_mode_name(d.mode), d.groupno);
	if (d.pci)
		printf("pci:          %04x:%04x rev %02x, BAR2 %" PRIu64 " bytes\n",
		       d.vendor, d.device, d.revision,
		       vdev_region_size(&d, VFIO_PCI_BAR2_REGION_INDEX));
	ret = need_mig(&d, &flags);
	if (ret) {
		vdev_close(&d);
		return ret;
	}
	print_flags(flags);
	if (mig_get_state(d.fd, &state))
		printf("state:        (unreadable: %s)\n", vmt_errstr());
	else
		printf("state:        %s\n", mig_state_name(state));
	ret = mig_data_size(d.fd, &size);
	if (ret)
		printf("data size:    not reported (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: %s)\n",
		       strerror(-ret));
	else
		printf("data size:    %" PRIu64 " bytes (STOP_COPY estimate)\n", size);
	if (flags & VFIO_MIGRATION_PRE_COPY) {
		/* the pre-copy info lives on the data fd of a PRE_COPY session */
		ret = mig_set_state(d.fd, VFIO_DEVICE_STATE_PRE_COPY, &dfd);
		if (!ret && dfd >= 0 && !mig_precopy_info(dfd, &initial, &dirty))
			printf("pre-copy:     initial %" PRIu64 " bytes, dirty %" PRIu64 " bytes\n",
			       initial, dirty);
		else
			printf("pre-copy:     offered, info unavailable (%s)\n", vmt_errstr());
		if (dfd >= 0)
			close(dfd);
		mig_set_state_nofd(d.fd, VFIO_DEVICE_STATE_RUNNING);
	} else {
		printf("pre-copy:     not offered\n");
	}
	ret = vfio_feature_probe(d.fd, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 VFIO_DEVICE_FEATURE_SET);
	printf("dma logging:  %s\n", ret ? "not offered" : "offered");
	vdev_close(&d);
	return EX_OK;
}

/* ---- state ---------------------------------------------------------------------------------------------------- */

static int cmd_state(const char *spec, char **states, int n)
{
	uint32_t state, want = 0;
	uint64_t flags;
	struct vdev d;
	int i, ret, dfd;
	bool session;

	for (i = 0; i < n; i++) {
		if (!parse_state(states[i], &want)) {
			err("unknown state '%s' (RUNNING, STOP, RUNNING_P2P, STOP_COPY, RESUMING, PRE_COPY, PRE_COPY_P2P)",
			    states[i]);
			return EX_USAGE;
		}
	}
	ret = open_mig(&d, spec, &flags);
	if (ret)
		return ret;
	if (mig_get_state(d.fd, &state)) {
		err("%s: GET of the migration state: %s", d.bdf, vmt_errstr());
		ret = EX_FAIL;
		goto out;
	}
	printf("%s\n", mig_state_name(state));
	for (i = 0; i < n; i++) {
		parse_state(states[i], &want);
		if (!mig_state_supported(flags, want)) {
			err("%s: the device does not offer %s (migration flags 0x%" PRIx64 ")",
			    d.bdf, mig_state_name(want), flags);
			ret = EX_NOMIG;
			goto out;
		}
		if (mig_set_state(d.fd, want, &dfd)) {
			err("%s: %s -> %s: %s", d.bdf, mig_state_name(state),
			    mig_state_name(want), vmt_errstr());
			if (!mig_get_state(d.fd, &state))
				err("%s: the device is now in %s", d.bdf, mig_state_name(state));
			ret = EX_FAIL;
			goto out;
		}
		session = dfd >= 0;
		if (session)
			close(dfd);	/* a data session: nothing is transferred here */
		if (mig_get_state(d.fd, &state)) {
			err("%s: GET of the migration state: %s", d.bdf, vmt_errstr());
			ret = EX_FAIL;
			goto out;
		}
		printf("%s%s\n", mig_state_name(state), session ? " (data fd opened and closed)" : "");
	}
	ret = EX_OK;
out:
	vdev_close(&d);
	return ret;
}

/* ---- files ---------------------------------------------------------------------------------------------------- */

static int open_file(const char *path, bool out)
{
	int fd;

	if (!strcmp(path, "-"))
		return out ? STDOUT_FILENO : STDIN_FILENO;
	fd = out ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) :
		   open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err("%s: %s", path, strerror(errno));
	return fd;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= w;
	}
	return 0;
}

/* Reads the whole file, or NULL with the reason said. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct vmt_buf b = { 0 };
	uint8_t chunk[1 << 16];
	int fd = open_file(path, false);
	ssize_t n;

	if (fd < 0)
		return NULL;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err("%s: %s", path, strerror(errno));
			goto fail;
		}
		if (!n)
			break;
		if (vmt_buf_append(&b, chunk, n)) {
			err("%s: out of memory", path);
			goto fail;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	*len = b.len;
	if (!b.p)
		b.p = malloc(1);
	return b.p;
fail:
	if (fd != STDIN_FILENO)
		close(fd);
	vmt_buf_free(&b);
	return NULL;
}

/* ---- save ----------------------------------------------------------------------------------------------------- */

static int cmd_save(const char *spec, const char *path)
{
	uint64_t flags, size = 0;
	uint8_t *buf = NULL;
	struct progress p;
	struct vdev d;
	int ret, dfd = -1, out = -1;

	ret = open_mig(&d, spec, &flags);
	if (ret)
		return ret;
	if (mig_data_size(d.fd, &size))
		size = 0;
	buf = malloc(IO_CHUNK);
	out = open_file(path, true);
	if (!buf || out < 0) {
		ret = EX_FAIL;
		goto out;
	}
	ret = mig_set_state(d.fd, VFIO_DEVICE_STATE_STOP_COPY, &dfd);
	if (ret || dfd < 0) {
		err("%s: RUNNING -> STOP_COPY: %s", d.bdf, ret ? vmt_errstr() : "no data fd");
		ret = EX_FAIL;
		goto out;
	}
	progress_start(&p, "save", size);
	for (;;) {
		ssize_t n = read(dfd, buf, IO_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!opt_quiet && p.tty)
				fputc('\n', stderr);
			err("%s: read of the STOP_COPY data fd at byte %" PRIu64 ": %s", d.bdf,
			    p.done, strerror(errno));
			ret = EX_FAIL;
			goto out;
		}
		if (!n)
			break;
		ret = write_full(out, buf, n);
		if (ret) {
			err("%s: write at byte %" PRIu64 ": %s", path, p.done, strerror(-ret));
			ret = EX_FAIL;
			goto out;
		}
		progress_add(&p, n);
	}
	progress_end(&p);
	if (out != STDOUT_FILENO && fsync(out) && errno != EINVAL) {
		err("%s: %s", path, strerror(errno));
		ret = EX_FAIL;
		goto out;
	}
	close(dfd);
	dfd = -1;
	/* STOP_COPY -> STOP -> RUNNING: the device runs on (it would on close as well) */
	if (mig_set_state_nofd(d.fd, VFIO_DEVICE_STATE_STOP) ||
	    mig_set_state_nofd(d.fd, VFIO_DEVICE_STATE_RUNNING)) {
		err("%s: back to RUNNING: %s", d.bdf, vmt_errstr());
		ret = EX_FAIL;
		goto out;
	}
	if (!opt_quiet)
		fprintf(stderr, "%s: saved %" PRIu64 " bytes to %s\n", d.bdf, p.done, path);
	ret = EX_OK;
out:
	if (dfd >= 0)
		close(dfd);
	if (out >= 0 && out != STDOUT_FILENO)
		close(out);
	free(buf);
	vdev_close(&d);
	return ret;
}

/* ---- inspect, and the checks before a load -------------------------------------------------------------------- */

static const char *rec_name(uint32_t type)
{
	switch (type) {
	case IVM_REC_REGS:
		return "REGS";
	case IVM_REC_MEM:
		return "MEM";
	case IVM_REC_END:
		return "END";
	case IVM_REC_ZERO:
		return "ZERO";
	}
	return "?";
}

static int cmd_inspect(const char *path)
{
	const struct ivm_hdr_info *h;
	struct ivm_checker c;
	uint8_t *buf;
	size_t len, i;
	int bad;

	buf = slurp(path, &len);
	if (!buf)
		return EX_FAIL;
	ivm_check_init(&c);
	bad = ivm_check_feed(&c, buf, len) || ivm_check_finish(&c);
	h = &c.hdr;
	if (!opt_quiet) {
		printf("%s: %zu bytes\n", path, len);
		if (c.have_hdr) {
			printf("header (offset 0, %zu bytes)\n", IVM_HDR_LEN);
			printf("  magic        0x%08x%s\n", h->magic,
			       h->magic == IVM_STREAM_MAGIC ? " (IVMS)" : "");
			printf("  version      %u\n", h->version);
			printf("  header_size  %u\n", h->header_size);
			printf("  flags        0x%x\n", h->flags);
			printf("  device       %04x:%04x rev %02x\n", h->vendor, h->device,
			       h->revision);
			printf("  page_size    %u\n", h->page_size);
			printf("  bar2_size    %" PRIu64 "\n", h->bar2_size);
		}
		if (c.nrecs)
			printf("records\n");
		for (i = 0; i < c.nrecs; i++) {
			const struct ivm_rec_pos *r = &c.recs[i];

			printf("  offset %-10" PRIu64 " %-4s", r->pos, rec_name(r->type));
			if (r->type == IVM_REC_MEM)
				printf("  BAR2 0x%" PRIx64 " + %" PRIu64 " bytes", r->offset,
				       r->length);
			else if (r->type == IVM_REC_ZERO && r->bytes)
				printf("  BAR2 0x%" PRIx64 " + %" PRIu64 " bytes of zeros",
				       r->offset, r->bytes);
			else if (r->type == IVM_REC_REGS && c.have_regs)
				printf("  intrmask 0x%08x intrstatus 0x%08x", c.intrmask,
				       c.intrstatus);
			else if (r->type == IVM_REC_END && c.done)
				printf("  crc32c 0x%08x (computed 0x%08x)", c.crc_stored,
				       c.crc_calc);
			else
				printf("  offset %" PRIu64 ", length %" PRIu64, r->offset,
				       r->length);
			printf("\n");
		}
	}
	if (bad) {
		err("%s: not a valid ivshmem-vfio-pci stream: %s", path, c.err);
		ivm_check_free(&c);
		free(buf);
		return EX_BADSTREAM;
	}
	printf("%s: valid: %lu MEM and %lu ZERO record(s) cover all %" PRIu64 " bytes of BAR2, CRC32C 0x%08x ok\n",
	       path, c.nmem, c.nzero, c.covered, c.crc_stored);
	ivm_check_free(&c);
	free(buf);
	return EX_OK;
}

/*
 * Before a load into an ivshmem-plain: the file must be a valid stream
 * (the checker) of a device like this one (what the driver's parser will
 * hold it against).  EX_OK, EX_BADSTREAM or EX_MISMATCH, said.
 */
static int check_for_device(const struct vdev *d, const char *path, const uint8_t *buf,
			    size_t len)
{
	uint64_t bar2 = vdev_region_size(d, VFIO_PCI_BAR2_REGION_INDEX);
	const struct ivm_hdr_info *h;
	struct ivm_checker c;
	int ret = EX_OK;

	if (ivm_check_buf(&c, buf, len)) {
		err("%s: not a valid ivshmem-vfio-pci stream: %s (--force gives it to the device anyway)",
		    path, c.err);
		ivm_check_free(&c);
		return EX_BADSTREAM;
	}
	h = &c.hdr;
#define MISMATCH(field, fmt, got, want) \
	do { \
		err("%s: at stream offset %zu (header." #field "): the stream is of a device with " #field " " fmt ", %s has " fmt " (--force gives it to the device anyway)", \
		    path, offsetof(struct ivm_stream_header, field), got, d->bdf, want); \
		ret = EX_MISMATCH; \
	} while (0)
	if (h->vendor != d->vendor)
		MISMATCH(vendor, "%04x", h->vendor, d->vendor);
	else if (h->device != d->device)
		MISMATCH(device, "%04x", h->device, d->device);
	else if (h->revision != d->revision)
		MISMATCH(revision, "%02x", h->revision, d->revision);
	else if (h->bar2_size != bar2)
		MISMATCH(bar2_size, "%" PRIu64, h->bar2_size, bar2);
#undef MISMATCH
	ivm_check_free(&c);
	return ret;
}

/* ---- load ----------------------------------------------------------------------------------------------------- */

static int cmd_load(const char *spec, const char *path, bool force)
{
	uint32_t state;
	uint64_t flags;
	struct progress p;
	struct vdev d;
	uint8_t *buf;
	size_t len, off = 0;
	int ret, dfd = -1;

	buf = slurp(path, &len);
	if (!buf)
		return EX_FAIL;
	ret = open_mig(&d, spec, &flags);
	if (ret) {
		free(buf);
		return ret;
	}
	/* an ivshmem-plain takes our format only: check it first */
	if (!force && d.pci && d.vendor == IVSHMEM_VENDOR && d.device == IVSHMEM_DEVICE) {
		ret = check_for_device(&d, path, buf, len);
		if (ret)
			goto out;
	}
	ret = mig_set_state(d.fd, VFIO_DEVICE_STATE_RESUMING, &dfd);
	if (ret || dfd < 0) {
		err("%s: RUNNING -> RESUMING: %s", d.bdf, ret ? vmt_errstr() : "no data fd");
		ret = EX_FAIL;
		goto out;
	}
	progress_start(&p, "load", len);
	while (off < len) {
		size_t n = len - off < IO_CHUNK ? len - off : IO_CHUNK;
		ssize_t w = write(dfd, buf + off, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;

			if (!opt_quiet && p.tty)
				fputc('\n', stderr);
			err("%s: the device refused the stream at or after byte %zu of %s: %s%s",
			    d.bdf, off, path, strerror(e),
			    e == EINVAL ? " (its driver's kernel message names the field: dmesg)" : "");
			ret = EX_FAIL;
			goto out;
		}
		off += w;
		progress_add(&p, w);
	}
	progress_end(&p);
	close(dfd);
	dfd = -1;
	/* RESUMING -> STOP is where a driver judges the whole stream */
	if (mig_set_state_nofd(d.fd, VFIO_DEVICE_STATE_STOP)) {
		err("%s: RESUMING -> STOP, the end of the stream, refused: %s%s", d.bdf,
		    vmt_errstr(), " (incomplete or corrupt: dmesg has the driver's reason)");
		if (!mig_get_state(d.fd, &state))
			err("%s: the device is now in %s", d.bdf, mig_state_name(state));
		ret = EX_FAIL;
		goto out;
	}
	if (mig_set_state_nofd(d.fd, VFIO_DEVICE_STATE_RUNNING)) {
		err("%s: STOP -> RUNNING: %s", d.bdf, vmt_errstr());
		ret = EX_FAIL;
		goto out;
	}
	if (!opt_quiet)
		fprintf(stderr, "%s: loaded %zu bytes from %s, device RUNNING\n", d.bdf, len, path);
	ret = EX_OK;
out:
	if (dfd >= 0)
		close(dfd);
	free(buf);
	vdev_close(&d);
	return ret;
}

/* ---- main ----------------------------------------------------------------------------------------------------- */

static int nargs(int have, int want_min, int want_max, const char *cmd)
{
	if (have >= want_min && (want_max < 0 || have <= want_max))
		return 0;
	err("%s: wrong number of arguments (--help shows the usage)", cmd);
	return EX_USAGE;
}

/* Options up to the first non-option; -1 to go on, else the exit code. */
static int parse_opts(int argc, char **argv, bool *force)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "iommufd", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int o;

	while ((o = getopt_long(argc, argv, "+fqIhV", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			*force = true;
			break;
		case 'q':
			opt_quiet = true;
			break;
		case 'I':
			opt_iommufd = true;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("vfio-migctl %s\n", IVM_VERSION);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	bool force = false;
	const char *cmd;
	char **a;
	int n, ret;

	ret = parse_opts(argc, argv, &force);
	if (ret >= 0)
		return ret;
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind];
	/* options may follow the command too: vfio-migctl load --force DEV FILE */
	optind++;
	ret = parse_opts(argc, argv, &force);
	if (ret >= 0)
		return ret;
	a = argv + optind;
	n = argc - optind;
	if (!strcmp(cmd, "info"))
		return nargs(n, 1, 1, cmd) ? EX_USAGE : cmd_info(a[0]);
	if (!strcmp(cmd, "state"))
		return nargs(n, 1, -1, cmd) ? EX_USAGE : cmd_state(a[0], a + 1, n - 1);
	if (!strcmp(cmd, "save"))
		return nargs(n, 2, 2, cmd) ? EX_USAGE : cmd_save(a[0], a[1]);
	if (!strcmp(cmd, "load"))
		return nargs(n, 2, 2, cmd) ? EX_USAGE : cmd_load(a[0], a[1], force);
	if (!strcmp(cmd, "inspect"))
		return nargs(n, 1, 1, cmd) ? EX_USAGE : cmd_inspect(a[0]);
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return EX_OK;
	}
	err("unknown command '%s' (--help shows the usage)", cmd);
	return EX_USAGE;
}
