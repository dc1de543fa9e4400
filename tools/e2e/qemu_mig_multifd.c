// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration A -> B with multifd and VFIO's multifd device state
 * transfer (QEMU 10.0+: vfio-pci x-migration-multifd-transfer=on moves the
 * device state through the multifd channels, saved by a thread on the source
 * and loaded by a thread on the destination).  QEMU's trace points show that
 * the threads really ran.
 *
 * QEMU 10.0 sometimes loses a device state packet on the way (the source
 * completes, the destination waits forever for buffer idx 0): the test
 * recognises that from the destination's trace points, says so, and migrates
 * once more; twice in a row skips the device checks (nothing about the
 * driver can be learnt from it).
 */
#include <stdio.h>

#include "e2e.h"

int main(void)
{
	struct mig_case c = {
		.ndev = 1, .blocks = 8, .words = 16,
		.caps = "[{\"capability\":\"multifd\",\"state\":true}]",
		/* the trace points prove the threads ran and show how far a stuck load got */
		.src_extra = { "-trace", "vfio_save_complete_precopy_thread_*", NULL },
		.dst_extra = { "-trace", "vfio_load_bufs_thread_*", "-trace", "vfio_load_state_device_buffer_*",
			       NULL },
	};
	static char opts[256];
	char why[160];
	struct mig_ctx x;
	bool ok;

	e2e_init("qemu_mig_multifd", 8);
	c.src_bdf[0] = e2e_env_bdf("A");
	c.dst_bdf[0] = e2e_env_bdf("B");
	if (!e2e_vfio_has_prop("x-migration-multifd-transfer")) {
		char why[128];
		const char *names[] = { "setup", "migrate_completed", "multifd_device_state_used",
					"destination_running", "source_stopped", "destination_registers",
					"destination_bar2_via_qtest", "destination_bar2_via_l1_vfio" };
		unsigned int i;

		snprintf(why, sizeof(why), "QEMU %s has no vfio-pci x-migration-multifd-transfer (needs 10.0+)",
			 e2e_qemu_version());
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			t_skip(names[i], why);
		return t_exit();
	}
	if (t_begin("setup")) {
		ok = c.src_bdf[0] && c.dst_bdf[0];
		if (ok) {
			snprintf(opts, sizeof(opts), "%s,x-migration-multifd-transfer=on",
				 e2e_vfio_opts(c.src_bdf[0]));
			c.vfio_opts = opts;
			diag("QEMU %s", e2e_qemu_version());
			ok = !case_setup(&x, &c);
		}
		t_end(ok, true);
	}
	if (t_begin("migrate_completed"))
		t_end(!case_migrate(&x), true);
	if (t_begin("multifd_device_state_used")) {
		ok = qemu_log_has(&x.src, "vfio_save_complete_precopy_thread_start") &&
		     qemu_log_has(&x.dst, "vfio_load_bufs_thread_start");
		if (!ok)
			case_dump(&x, "no trace of VFIO's multifd save/load threads");
		else
			diag("trace: the source saved the device state in a multifd thread, the destination loaded it in one");
		t_end(ok, false);
	}
	if (t_begin("destination_running")) {
		int tries = 1, idx = -1;

		ok = !case_dst_running(&x);
		/*
		 * QEMU 10.0 now and then loses a device state packet: the source
		 * completes, the destination's load thread waits forever for a
		 * buffer that never comes and its main loop hangs.  That is QEMU's
		 * bug, not the driver's: say so and try once more.
		 */
		while (!ok && (idx = qemu_multifd_lost_packet(&x.dst)) >= 0 && tries < 2) {
			diag("QEMU BUG: the destination received no device state buffer idx %d (its load thread", idx);
			diag("  starves for it) although the source completed: QEMU's multifd device state");
			diag("  transfer lost a packet.  Not a driver failure; migrating once more.");
			qemu_dump(&x.src, "source of the migration that lost a packet");
			tries++;
			case_teardown(&x);
			ok = !case_setup(&x, &c) && !case_migrate(&x) && !case_dst_running(&x);
		}
		if (!ok && idx >= 0) {
			/* the same QEMU bug twice in a row: nothing about the driver can be checked */
			snprintf(why, sizeof(why), "QEMU %s lost multifd device state packet idx %d in %d tries",
				 e2e_qemu_version(), idx, tries);
			t_skip("destination_running", why);
			t_skip("source_stopped", why);
			t_skip("destination_registers", why);
			t_skip("destination_bar2_via_qtest", why);
			t_skip("destination_bar2_via_l1_vfio", why);
			case_teardown(&x);
			return t_exit();
		}
		t_end(ok, false);
	}
	if (t_begin("source_stopped"))
		t_end(!case_src_stopped(&x), false);
	if (t_begin("destination_registers"))
		t_end(!case_check_regs(&x, &x.dst, true), false);
	if (t_begin("destination_bar2_via_qtest"))
		t_end(!case_check_mem(&x, &x.dst), false);
	if (t_begin("destination_bar2_via_l1_vfio"))
		t_end(!case_check_l1(&x, c.dst_bdf), false);
	case_teardown(&x);
	return t_exit();
}
