// SPDX-License-Identifier: GPL-2.0
/*
 * The pre-copy scenario shared by qemu_mig_precopy (switchover-ack, as
 * libvirt runs it) and qemu_mig_precopy_noack: the 256 MiB device BIG_A
 * migrates to BIG_B while the VM runs; while QEMU sends the device's pre-copy
 * data the guest writes BAR2 where that data was already sent (the driver
 * sends it in address order) and where it was not yet, and new register
 * values; the destination must hold the final values, and QEMU's counters
 * must show the device data moved before the switchover (query-migrate's
 * vfio bytes while active, the device still in "pre-copy").
 */
#include <stdio.h>
#include <string.h>

#include "e2e.h"
#include "vfio_dev.h"
#include "vfio_mig.h"
#include "vmt_util.h"

int pc_offers(const char *bdf)
{
	uint64_t flags = 0;
	struct vdev d;
	int ret;

	if (vdev_open(&d, bdf)) {
		diag("cannot open %s: %s", bdf, vmt_errstr());
		return -1;
	}
	ret = mig_get_flags(d.fd, &flags);
	if (ret)
		diag("VFIO_DEVICE_FEATURE_MIGRATION on %s: %s", bdf, vmt_errstr());
	else
		diag("%s: migration flags 0x%llx", bdf, (unsigned long long)flags);
	vdev_close(&d);
	return ret ? -1 : !!(flags & VFIO_MIGRATION_PRE_COPY);
}

int pc_wait_bytes(struct mig_ctx *x, long long bytes, const char *what)
{
	long long last = -1;
	char st[32], id[16];
	struct e2e_wait w;
	int i;

	wait_begin(&w, &x->src, what);
	while (!wait_check(&w)) {
		if (mig_wait(&x->src, "active", &x->res))
			return -1;
		/* every device of the VM */
		for (i = 0; i < x->c->ndev; i++) {
			snprintf(id, sizeof(id), "ivs%d", i);
			qmp_dev_state(&x->src, id, st, sizeof(st));
			if (strcmp(st, "pre-copy")) {
				diag("[src] device %s state '%s' (not pre-copy) after %lld of %lld bytes of device data",
				     id, st, x->res.vfio_bytes, bytes);
				return -1;
			}
		}
		if (x->res.vfio_bytes >= bytes) {
			mig_print("[src] in pre-copy", &x->res);
			return 0;
		}
		if (last >= 0 && x->res.vfio_bytes > last)
			prog_note(x->src.pid, "device data");
		last = x->res.vfio_bytes;
		vmt_sleep_ms(200);
	}
	return -1;
}

void pc_begin(struct mig_ctx *x, struct mig_case *c, const char *prog, int nplan)
{
	memset(x, 0, sizeof(*x));
	x->src.qmp = x->src.qt = x->dst.qmp = x->dst.qt = -1;
	e2e_init(prog, nplan);
	c->src_bdf[0] = e2e_env_bdf("BIG_A");
	c->dst_bdf[0] = e2e_env_bdf("BIG_B");
}

void pc_step_offers(const struct mig_case *c)
{
	if (t_begin("device_offers_precopy"))
		t_end(c->src_bdf[0] && pc_offers(c->src_bdf[0]) == 1, true);
}

int pc_start(struct mig_ctx *x)
{
	if (!mig_start(&x->src, x->uri) &&
	    !pc_wait_bytes(x, 16 * E2E_MiB, "pre-copy: the first 16 MiB of device data"))
		return 0;
	case_dump(x, "no pre-copy in flight");
	return -1;
}

int pc_write_around(struct mig_ctx *x, uint64_t sent, int round)
{
	uint64_t size = x->img[0].size, v, off;
	int k;

	regs_random(&x->regs[0]);
	if (l2_set_regs(&x->src, 0, &x->regs[0]))
		return -1;
	for (k = 0; k < 4; k++) {
		v = e2e_seed() * (round * 8 + k + 1) ^ 0x5eed;
		/* already sent: the first pages and pages just behind the front */
		off = k < 2 ? 0x1000ULL * k : (sent - 0x100000ULL) & ~0xfffULL;
		if (l2_write(&x->src, 0, &x->img[0], off + 8 * round, &v, 8))
			return -1;
		/* not yet sent: the last pages */
		off = size - 0x1000ULL * (k + 1);
		if (l2_write(&x->src, 0, &x->img[0], off + 8 * round, &v, 8))
			return -1;
	}
	return l2_scribble(&x->src, 0, &x->img[0], 4, 8);
}

int pc_wait_end(struct mig_ctx *x, long long *before_switch)
{
	struct e2e_wait w;
	char st[32];
	int r = -1;

	/* the last poll that still saw pre-copy: what moved before the switchover */
	*before_switch = -1;
	wait_begin(&w, &x->src, "pre-copy: until the migration ends");
	while (!wait_check(&w)) {
		r = mig_wait(&x->src, "active|completed", &x->res);
		if (r || strcmp(x->res.status, "active"))
			break;
		if (!strcmp(qmp_dev_state(&x->src, "ivs0", st, sizeof(st)), "pre-copy")) {
			if (*before_switch >= 0 && x->res.vfio_bytes > *before_switch)
				prog_note(x->src.pid, "device data");
			*before_switch = x->res.vfio_bytes;
		}
		r = -1;
		vmt_sleep_ms(200);
	}
	mig_print("[src] migration", &x->res);
	if (!r && !strcmp(x->res.status, "completed"))
		return 0;
	case_dump(x, "migration did not complete");
	return -1;
}

int precopy_main(const char *prog, bool ack)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16, .caps = ack ? PC_ACK_CAPS : NULL };
	long long before_switch = -1;
	struct mig_ctx x;
	uint64_t size;
	char st[32];
	bool ok;

	pc_begin(&x, &c, prog, 10);
	pc_step_offers(&c);
	/*
	 * Without switchover-ack QEMU switches over as soon as what is left
	 * seems to fit into downtime-limit at avail-switchover-bandwidth: 64 MiB
	 * here, more than the L2's 32 MiB of RAM (the container reports all of
	 * it dirty in every pass), so the device's pre-copy data goes first.
	 */
	if (t_begin("setup"))
		t_end(c.dst_bdf[0] && !case_setup(&x, &c) &&
		      (ack || !qmp_ok(&x.src, "{\"execute\":\"migrate-set-parameters\",\"arguments\":"
				      "{\"avail-switchover-bandwidth\":67108864,\"downtime-limit\":1000}}")),
		      true);
	size = x.img[0].size;
	if (t_begin("precopy_in_flight"))
		t_end(!pc_start(&x), true);
	if (t_begin("guest_writes_during_precopy")) {
		/* once near the start, once past the middle of the device data */
		ok = !pc_write_around(&x, (uint64_t)x.res.vfio_bytes, 1) &&
		     !pc_wait_bytes(&x, (long long)(size / 2 + 16 * E2E_MiB),
					 "pre-copy: past the middle of the device data") &&
		     !pc_write_around(&x, (uint64_t)x.res.vfio_bytes, 2);
		/* the writes count only if the device was still in pre-copy after them */
		if (ok && strcmp(qmp_dev_state(&x.src, "ivs0", st, sizeof(st)), "pre-copy")) {
			diag("[src] device state '%s' after the writes, not pre-copy", st);
			ok = false;
		}
		if (ok)
			diag("[src] writes during pre-copy done at %lld bytes of device data, %d writes recorded",
			     x.res.vfio_bytes, x.img[0].nov);
		else
			case_dump(&x, "writes during pre-copy failed");
		t_end(ok, true);
	}
	if (t_begin("migrate_completed"))
		t_end(!pc_wait_end(&x, &before_switch), true);
	if (t_begin("device_data_sent_before_switchover")) {
		/* with switchover-ack all initial data precedes the switchover, else most of it */
		diag("[src] %lld bytes of device data sent in pre-copy (last seen), %lld in all, BAR2 %llu bytes",
		     before_switch, x.res.vfio_bytes, (unsigned long long)size);
		t_end(before_switch >= (long long)(size / 2 + 16 * E2E_MiB) &&
		      x.res.vfio_bytes >= (long long)size, false);
	}
	case_final_checks(&x);
	case_teardown(&x);
	return t_exit();
}
