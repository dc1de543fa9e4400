// SPDX-License-Identifier: GPL-2.0
/*
 * Two devices, both in pre-copy: A (1 MiB) and BIG_A (256 MiB) in one VM
 * migrate to B and BIG_B with the capabilities libvirt sets (return-path,
 * switchover-ack).  QEMU switches over only once both devices have sent
 * their initial data, so both BAR2s move while the VM runs; the guest writes
 * both devices during the pre-copy; every byte arrives.  qemu_mig_two_devices
 * migrates the same pair with most of the state in stop-copy (tens of
 * seconds of downtime); this one's downtime is printed beside it.
 */
#include <string.h>

#include "e2e.h"

/* Both devices' last VFIO_MIGRATION state is "pre-copy". */
static bool both_precopy(struct mig_ctx *x, bool say)
{
	char a[32], b[32];

	qmp_dev_state(&x->src, "ivs0", a, sizeof(a));
	qmp_dev_state(&x->src, "ivs1", b, sizeof(b));
	if (say && (strcmp(a, "pre-copy") || strcmp(b, "pre-copy")))
		diag("[src] device states '%s' and '%s', not both pre-copy", a, b);
	return !strcmp(a, "pre-copy") && !strcmp(b, "pre-copy");
}

int main(void)
{
	struct mig_case c = { .ndev = 2, .blocks = 8, .words = 16, .caps = PC_ACK_CAPS };
	long long before_switch = -1, sum;
	struct mig_ctx x;
	int i;
	bool ok;

	memset(&x, 0, sizeof(x));
	x.src.qmp = x.src.qt = x.dst.qmp = x.dst.qt = -1;
	e2e_init("qemu_mig_precopy_two", 10);
	c.src_bdf[0] = e2e_env_bdf("A");
	c.dst_bdf[0] = e2e_env_bdf("B");
	c.src_bdf[1] = e2e_env_bdf("BIG_A");
	c.dst_bdf[1] = e2e_env_bdf("BIG_B");
	if (t_begin("devices_offer_precopy"))
		t_end(c.src_bdf[0] && c.src_bdf[1] && c.dst_bdf[0] && c.dst_bdf[1] &&
		      pc_offers(c.src_bdf[0]) == 1 && pc_offers(c.src_bdf[1]) == 1, true);
	if (t_begin("setup"))
		t_end(!case_setup(&x, &c), true);
	sum = (long long)(x.img[0].size + x.img[1].size);
	if (t_begin("precopy_in_flight_both")) {
		ok = !mig_start(&x.src, x.uri) &&
		     !pc_wait_bytes(&x, 16 * E2E_MiB, "pre-copy of both: the first 16 MiB of device data");
		if (!ok)
			case_dump(&x, "no pre-copy of both devices in flight");
		t_end(ok, true);
	}
	if (t_begin("guest_writes_both_during_precopy")) {
		ok = true;
		for (i = 0; i < 2 && ok; i++) {
			regs_random(&x.regs[i]);
			ok = !l2_set_regs(&x.src, i, &x.regs[i]) &&
			     !l2_scribble(&x.src, i, &x.img[i], 4, 8);
		}
		/* the writes count only if both were still in pre-copy after them */
		ok = ok && !mig_wait(&x.src, "active", &x.res) && both_precopy(&x, true);
		if (ok)
			diag("[src] writes to both devices during pre-copy at %lld bytes of device data",
			     x.res.vfio_bytes);
		else
			case_dump(&x, "writes during pre-copy failed");
		t_end(ok, true);
	}
	if (t_begin("migrate_completed"))
		t_end(!pc_wait_end(&x, &before_switch), true);
	if (t_begin("both_devices_sent_before_switchover")) {
		/* switchover-ack: QEMU waits for both; the last poll may be a little early */
		diag("[src] %lld bytes of device data sent in pre-copy (last seen), %lld in all, BAR2s %lld bytes; downtime %lld ms",
		     before_switch, x.res.vfio_bytes, sum, x.res.downtime_ms);
		t_end(before_switch >= sum / 2 + (long long)(16 * E2E_MiB) && x.res.vfio_bytes >= sum,
		      false);
	}
	case_final_checks(&x);
	case_teardown(&x);
	return t_exit();
}
