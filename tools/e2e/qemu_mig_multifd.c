// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration A -> B with multifd and VFIO's multifd device state
 * transfer (QEMU 10.0+: vfio-pci x-migration-multifd-transfer=on moves the
 * device state through the multifd channels, saved by a thread on the source
 * and loaded by a thread on the destination).  QEMU's trace points show that
 * the threads really ran.
 */
#include <stdio.h>
#include <string.h>

#include "e2e.h"

int main(void)
{
	struct mig_case c = {
		.ndev = 1, .blocks = 8, .words = 16,
		.caps = "[{\"capability\":\"multifd\",\"state\":true}]",
		.src_extra = { "-trace", "vfio_save_complete_precopy_thread_start", NULL },
		.dst_extra = { "-trace", "vfio_load_bufs_thread_start", NULL },
	};
	static char opts[256];
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
		t_end(!case_migrate(&x, 120000), true);
	if (t_begin("multifd_device_state_used")) {
		ok = qemu_log_has(&x.src, "vfio_save_complete_precopy_thread_start") &&
		     qemu_log_has(&x.dst, "vfio_load_bufs_thread_start");
		if (!ok)
			case_dump(&x, "no trace of VFIO's multifd save/load threads");
		else
			diag("trace: the source saved the device state in a multifd thread, the destination loaded it in one");
		t_end(ok, false);
	}
	if (t_begin("destination_running"))
		t_end(!case_dst_running(&x), false);
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
