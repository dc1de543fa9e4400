// SPDX-License-Identifier: GPL-2.0
/*
 * A destination whose device does not match: C has a BAR2 of another size
 * than A.  The migration must fail with a clear error (the destination's
 * driver rejects the stream header), the source must run on with its state
 * intact and be able to migrate to a matching device afterwards, and the
 * kernel must not warn.
 */
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 4, .words = 8 };
	const char *good[E2E_MAX_DEVS] = { NULL };
	struct mig_ctx x;
	bool ok;

	e2e_init("qemu_mig_mismatch", 7);
	c.src_bdf[0] = e2e_env_bdf("A");
	c.dst_bdf[0] = e2e_env_bdf("C");
	good[0] = e2e_env_bdf("B");
	if (t_begin("setup")) {
		ok = c.src_bdf[0] && c.dst_bdf[0] && good[0];
		if (ok) {
			diag("source %s (%llu KiB) -> destination %s (%llu KiB)", c.src_bdf[0],
			     (unsigned long long)e2e_env_size("SMALL") / 1024, c.dst_bdf[0],
			     (unsigned long long)e2e_env_size("MISMATCH") / 1024);
			ok = !case_setup(&x, &c) &&
			     /* the later, matching destination starts from other contents too */
			     !l1_fill(good[0], ~e2e_seed(), NULL);
		}
		t_end(ok, true);
	}
	if (t_begin("migration_fails")) {
		ok = !mig_start(&x.src, x.uri) && !mig_wait(&x.src, NULL, &x.res);
		if (ok) {
			mig_print("[src] migration", &x.res);
			ok = !strcmp(x.res.status, "failed");
			if (!ok)
				diag("expected the migration to fail");
		}
		t_end(ok, true);
	}
	if (t_begin("clear_error")) {
		/* the destination names the device and the reason; the kernel log says which field */
		bool dst_exit = qemu_wait_exit(&x.dst, "destination exit after the failed load");

		qemu_dump(&x.dst, "destination of the mismatched migration");
		ok = dst_exit && x.dst.exited && WIFEXITED(x.dst.wstatus) && WEXITSTATUS(x.dst.wstatus);
		if (!ok)
			diag("expected the destination QEMU to exit with an error");
		diag_text("[dmesg] ", kmsg_since_mark(), 10);
		if (!kmsg_has("migration stream rejected") || !kmsg_has("bar2_size")) {
			diag("expected the driver's 'migration stream rejected: bar2_size ...' in the kernel log");
			ok = false;
		}
		if (!qemu_log_has(&x.dst, "0000:00:04.0") && !qemu_log_has(&x.dst, "vfio")) {
			diag("the destination's error does not name the vfio device");
			ok = false;
		}
		t_end(ok, false);
	}
	if (t_begin("source_runs_on_intact"))
		t_end(!case_src_running(&x) && !case_check_regs(&x, &x.src, false) &&
		      !case_check_mem(&x, &x.src), true);
	if (t_begin("no_kernel_warning")) {
		ok = !kmsg_has_report();
		if (!ok)
			kmsg_dump(40);
		t_end(ok, false);
	}
	if (t_begin("source_migrates_to_matching_device")) {
		ok = !case_start_dst(&x, good) && !case_migrate(&x) && !case_dst_running(&x);
		t_end(ok, true);
	}
	if (t_begin("matching_destination_state"))
		t_end(!case_check_regs(&x, &x.dst, true) && !case_check_mem(&x, &x.dst) &&
		      !case_check_l1(&x, good), false);
	case_teardown(&x);
	return t_exit();
}
