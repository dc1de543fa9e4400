// SPDX-License-Identifier: GPL-2.0
/*
 * Cancelling a migration in flight, twice: once while RAM is being sent
 * (the VM and its device still run), once at the switchover point with
 * pause-before-switchover (the VM is stopped and the device is in STOP with
 * its BARs frozen).  Each time the source must run on with its device state
 * intact, and finally migrate successfully to a fresh destination.
 */
#include <string.h>

#include "e2e.h"
#include "vmt_util.h"

static int source_intact(struct mig_ctx *x)
{
	int ret = case_src_running(x);

	ret |= case_check_regs(x, &x->src, false);
	ret |= case_check_mem(x, &x->src);
	return ret;
}

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16, .hold = true };
	struct mig_ctx x;
	char st[64];
	bool ok;

	e2e_init("qemu_mig_cancel", 9);
	c.src_bdf[0] = e2e_env_bdf("A");
	c.dst_bdf[0] = e2e_env_bdf("B");
	if (t_begin("setup"))
		t_end(c.src_bdf[0] && c.dst_bdf[0] && !case_setup(&x, &c), true);
	if (t_begin("cancel_while_sending_ram")) {
		ok = !mig_start(&x.src, x.uri) && !mig_wait(&x.src, "active", &x.res);
		if (ok) {
			vmt_sleep_ms(300);
			mig_print("[src] before the cancel", &x.res);
			ok = !qmp_ok(&x.src, "{\"execute\":\"migrate_cancel\"}") &&
			     !mig_wait(&x.src, "cancelled", &x.res);
		}
		if (!ok)
			case_dump(&x, "cancel while active failed");
		case_dst_gone(&x);
		t_end(ok, true);
	}
	if (t_begin("source_intact_after_first_cancel"))
		t_end(!source_intact(&x), true);
	if (t_begin("cancel_at_switchover_with_device_stopped")) {
		ok = !case_start_dst(&x, c.dst_bdf) &&
		     !mig_set_caps(&x.src, "[{\"capability\":\"pause-before-switchover\",\"state\":true}]") &&
		     !mig_set_fast(&x.src) && !mig_start(&x.src, x.uri) &&
		     !mig_wait(&x.src, "pre-switchover", &x.res);
		if (ok) {
			/*
			 * Paused before the device state moves: the VM and the
			 * device are stopped. A device that pre-copies goes
			 * from PRE_COPY_P2P straight to STOP_COPY when the VM
			 * stops; one that does not waits in STOP.
			 */
			qmp_status(&x.src, st, sizeof(st));
			diag("[src] at pre-switchover: runstate %s, device %s", st,
			     qmp_dev_state(&x.src, "ivs0", st + 32, 32));
			ok = !strcmp(st, "finish-migrate") &&
			     (!strcmp(st + 32, "stop") || !strcmp(st + 32, "stop-copy"));
			if (!ok)
				diag("expected runstate finish-migrate and device stop or stop-copy");
			ok = !qmp_ok(&x.src, "{\"execute\":\"migrate_cancel\"}") &&
			     !mig_wait(&x.src, "cancelled", &x.res) && ok;
		}
		if (!ok)
			case_dump(&x, "cancel at switchover failed");
		case_dst_gone(&x);
		t_end(ok, true);
	}
	if (t_begin("source_intact_after_second_cancel"))
		t_end(!source_intact(&x), true);
	if (t_begin("migrate_again_completed")) {
		ok = !mig_set_caps(&x.src, "[{\"capability\":\"pause-before-switchover\",\"state\":false}]") &&
		     !case_start_dst(&x, c.dst_bdf) && !case_migrate(&x);
		t_end(ok, true);
	}
	if (t_begin("destination_running_source_stopped"))
		t_end(!case_dst_running(&x) && !case_src_stopped(&x), false);
	if (t_begin("destination_registers_and_bar2"))
		t_end(!case_check_regs(&x, &x.dst, true) && !case_check_mem(&x, &x.dst), false);
	if (t_begin("destination_bar2_via_l1_vfio"))
		t_end(!case_check_l1(&x, c.dst_bdf), false);
	case_teardown(&x);
	return t_exit();
}
