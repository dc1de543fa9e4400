// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshot to a file and back: the running source VM migrates to a file
 * ("file:" URI), then continues (its device state must be what it was: saving
 * must not change the source), and a new VM on another device restores the
 * file and must hold the saved state.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.h"

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16 };
	const char *restore[E2E_MAX_DEVS] = { NULL };
	struct e2e_regs saved;
	struct mig_ctx x;
	char path[512];
	struct stat sb;
	bool ok;

	e2e_init("qemu_mig_snapshot", 8);
	c.src_bdf[0] = e2e_env_bdf("A");
	restore[0] = e2e_env_bdf("B");
	if (t_begin("setup")) {
		ok = c.src_bdf[0] && restore[0] && !case_setup(&x, &c) &&
		     !l1_fill(restore[0], ~e2e_seed(), NULL);
		t_end(ok, true);
	}
	if (t_begin("save_to_file")) {
		snprintf(path, sizeof(path), "%s/snapshot.mig", e2e_dir());
		snprintf(x.uri, sizeof(x.uri), "file:%s", path);
		ok = !case_migrate(&x);
		if (ok && !stat(path, &sb)) {
			diag("%s: %lld bytes", path, (long long)sb.st_size);
			ok = (uint64_t)sb.st_size > x.img[0].size;
		}
		t_end(ok, true);
	}
	if (t_begin("source_stopped_after_save"))
		t_end(!case_src_stopped(&x), false);
	if (t_begin("source_continues_with_state_intact")) {
		ok = !qmp_ok(&x.src, "{\"execute\":\"cont\"}") && !case_src_running(&x) &&
		     !case_check_regs(&x, &x.src, false) && !case_check_mem(&x, &x.src);
		t_end(ok, false);
	}
	if (t_begin("restore_on_another_device")) {
		struct e2e_vm vm = { .ndev = 1, .incoming = true,
				   .vfio_opts = e2e_vfio_opts(c.src_bdf[0]) };
		long long t0;

		/* the saved device state, before the source changes on */
		saved = x.regs[0];
		qemu_stop(&x.src);
		vm.bdf[0] = restore[0];
		t0 = now_ms();
		ok = !qemu_start(&x.dst, "dst", &vm) &&
		     !qmp_ok(&x.dst, "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"file:%s\"}}", path) &&
		     !case_dst_running(&x);
		if (ok)
			diag("[dst] restored and running %lld ms after its start", now_ms() - t0);
		else
			qemu_dump(&x.dst, "restore failed");
		t_end(ok, true);
	}
	if (t_begin("restored_registers")) {
		x.regs[0] = saved;
		t_end(!case_check_regs(&x, &x.dst, true), false);
	}
	if (t_begin("restored_bar2_via_qtest"))
		t_end(!case_check_mem(&x, &x.dst), false);
	if (t_begin("restored_bar2_via_l1_vfio"))
		t_end(!case_check_l1(&x, restore), false);
	case_teardown(&x);
	return t_exit();
}
