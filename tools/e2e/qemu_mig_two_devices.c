// SPDX-License-Identifier: GPL-2.0
/*
 * Two passed-through devices in one VM (QEMU migrates several VFIO devices
 * only if all of them support P2P): the 1 MiB device A and the 256 MiB device
 * BIG_A migrate together to B and BIG_B.  The big BAR2 needs QEMU to accept a
 * long switchover: avail-switchover-bandwidth and downtime-limit are raised.
 */
#include <string.h>

#include "e2e.h"

int main(void)
{
	struct mig_case c = { .ndev = 2, .blocks = 8, .words = 16 };
	struct mig_ctx x;
	bool ok;

	/* case_teardown() must find nothing to free if the set-up never ran */
	memset(&x, 0, sizeof(x));
	x.src.qmp = x.src.qt = x.dst.qmp = x.dst.qt = -1;
	e2e_init("qemu_mig_two_devices", 7);
	c.src_bdf[0] = e2e_env_bdf("A");
	c.dst_bdf[0] = e2e_env_bdf("B");
	c.src_bdf[1] = e2e_env_bdf("BIG_A");
	c.dst_bdf[1] = e2e_env_bdf("BIG_B");
	if (t_begin("setup"))
		t_end(c.src_bdf[0] && c.dst_bdf[0] && c.src_bdf[1] && c.dst_bdf[1] &&
		      !case_setup(&x, &c), true);
	if (t_begin("migrate_completed")) {
		ok = !case_migrate(&x);
		if (ok && x.res.vfio_bytes >= 0 &&
		    (unsigned long long)x.res.vfio_bytes < x.img[0].size + x.img[1].size) {
			diag("only %lld bytes of VFIO device state for %llu bytes of BAR2", x.res.vfio_bytes,
			     (unsigned long long)(x.img[0].size + x.img[1].size));
			ok = false;
		}
		t_end(ok, true);
	}
	if (t_begin("destination_running_both_devices"))
		t_end(!case_dst_running(&x), false);
	if (t_begin("source_stopped_both_devices"))
		t_end(!case_src_stopped(&x), false);
	if (t_begin("destination_registers_both_devices"))
		t_end(!case_check_regs(&x, &x.dst, true), false);
	if (t_begin("destination_bar2_via_qtest"))
		t_end(!case_check_mem(&x, &x.dst), false);
	if (t_begin("destination_bar2_via_l1_vfio_both_devices"))
		t_end(!case_check_l1(&x, c.dst_bdf), false);
	case_teardown(&x);
	return t_exit();
}
