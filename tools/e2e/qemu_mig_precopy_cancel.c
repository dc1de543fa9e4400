// SPDX-License-Identifier: GPL-2.0
/*
 * Cancelling a migration during the device's pre-copy, then migrating
 * again: BIG_A (256 MiB) -> BIG_B with switchover-ack, as libvirt runs it.
 * The guest writes BAR2 during the first pre-copy, the migration is
 * cancelled while the device is still in pre-copy: the device must return
 * to running with everything the guest wrote; the guest writes again; a
 * second migration (a new save, a new pre-copy, more writes during it) must
 * bring every byte to a fresh destination.  What it catches: a save that
 * cancelling leaves behind (tracking still armed, a stale dirty log, a data
 * fd that keeps the device), and a second pre-copy that trusts the first.
 */
#include <string.h>

#include "e2e.h"
#include "vmt_util.h"

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16, .caps = PC_ACK_CAPS };
	long long before_switch = -1;
	struct mig_ctx x;
	uint64_t size;
	char st[32];
	bool ok;

	pc_begin(&x, &c, "qemu_mig_precopy_cancel", 13);
	pc_step_offers(&c);
	if (t_begin("setup"))
		t_end(c.dst_bdf[0] && !case_setup(&x, &c), true);
	size = x.img[0].size;
	if (t_begin("precopy_in_flight"))
		t_end(!pc_start(&x), true);
	if (t_begin("guest_writes_during_precopy"))
		t_end(!pc_write_around(&x, (uint64_t)x.res.vfio_bytes, 1), true);
	if (t_begin("cancel_during_precopy")) {
		/* the cancel counts only if it came while the device was in pre-copy */
		ok = !strcmp(qmp_dev_state(&x.src, "ivs0", st, sizeof(st)), "pre-copy");
		if (!ok)
			diag("[src] device state '%s' before the cancel, not pre-copy", st);
		mig_print("[src] before the cancel", &x.res);
		ok = ok && !qmp_ok(&x.src, "{\"execute\":\"migrate_cancel\"}") &&
		     !mig_wait_cancelled(&x.src, &x.res);
		if (!ok)
			case_dump(&x, "cancel during pre-copy failed");
		case_dst_gone(&x);
		t_end(ok, true);
	}
	if (t_begin("source_intact_after_cancel"))
		t_end(!case_src_running(&x) && !case_check_regs(&x, &x.src, false) &&
		      !case_check_mem(&x, &x.src), true);
	if (t_begin("guest_writes_after_cancel"))
		t_end(!pc_write_around(&x, size / 2, 2), true);
	if (t_begin("second_precopy_with_guest_writes")) {
		ok = !case_start_dst(&x, c.dst_bdf) && !pc_start(&x) &&
		     !pc_write_around(&x, (uint64_t)x.res.vfio_bytes, 3);
		t_end(ok, true);
	}
	if (t_begin("migrate_again_completed"))
		t_end(!pc_wait_end(&x, &before_switch), true);
	case_final_checks(&x);
	case_teardown(&x);
	return t_exit();
}
