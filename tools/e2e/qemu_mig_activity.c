// SPDX-License-Identifier: GPL-2.0
/*
 * Guest activity during a live migration: while the migration is in flight
 * (held by downtime-limit 0, so QEMU cannot switch over yet) the source VM
 * keeps writing device memory and registers through qtest, some places over
 * and over.  Then the migration may converge; the destination must hold the
 * final values of every write.
 */
#include <string.h>

#include "e2e.h"
#include "vmt_util.h"

#define ROUNDS	6

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 4, .words = 8, .hold = true };
	struct mig_ctx x;
	bool ok;

	e2e_init("qemu_mig_activity", 8);
	c.src_bdf[0] = e2e_env_bdf("A");
	c.dst_bdf[0] = e2e_env_bdf("B");
	if (t_begin("setup"))
		t_end(c.src_bdf[0] && c.dst_bdf[0] && !case_setup(&x, &c), true);
	if (t_begin("migration_in_flight")) {
		ok = !mig_start(&x.src, x.uri) &&
		     !mig_wait(&x.src, "active", &x.res);
		if (ok) {
			/* let it send a first pass of RAM */
			vmt_sleep_ms(500);
			ok = !mig_wait(&x.src, "active", &x.res);
			mig_print("[src] while held", &x.res);
		}
		if (!ok)
			case_dump(&x, "migration not in flight");
		t_end(ok, true);
	}
	if (t_begin("guest_writes_while_migrating")) {
		long long before = x.res.ram_bytes;
		int r;

		ok = true;
		for (r = 0; r < ROUNDS && ok; r++) {
			uint64_t hot = 0x1000 * (r % 3), v = e2e_seed() * (r + 3);

			/* new registers each round: the last ones must arrive */
			regs_random(&x.regs[0]);
			ok = !l2_set_regs(&x.src, 0, &x.regs[0]) &&
			     !l2_scribble(&x.src, 0, &x.img[0], 2, 6) &&
			     /* the same three qwords rewritten again and again */
			     !l2_write(&x.src, 0, &x.img[0], hot + 8, &v, 8) &&
			     !mig_wait(&x.src, "active", &x.res);
			vmt_sleep_ms(100);
		}
		if (ok) {
			diag("[src] %d rounds of writes while the migration was active; ram sent %lld -> %lld bytes",
			     ROUNDS, before, x.res.ram_bytes);
			diag("[src] final registers: INTRMASK 0x%08x INTRSTATUS 0x%08x, %d writes recorded",
			     x.regs[0].intrmask, x.regs[0].intrstatus, x.img[0].nov);
		} else {
			case_dump(&x, "writes while migrating failed (or the migration stopped being active)");
		}
		t_end(ok, true);
	}
	if (t_begin("migrate_completed")) {
		/* let it converge now */
		ok = !mig_set_fast(&x.src) && !mig_wait(&x.src, NULL, &x.res);
		if (ok) {
			mig_print("[src] migration", &x.res);
			ok = !strcmp(x.res.status, "completed");
		}
		if (!ok)
			case_dump(&x, "migration did not complete");
		t_end(ok, true);
	}
	case_final_checks(&x);
	case_teardown(&x);
	return t_exit();
}
