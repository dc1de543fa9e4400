// SPDX-License-Identifier: GPL-2.0
/*
 * The steps most scenarios share: prepare a source VM with known device
 * state, a destination VM waiting for it, migrate, and compare.  See e2e.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void vm_from_case(struct e2e_vm *vm, const struct mig_case *c, const char *const *bdf,
			 bool incoming)
{
	const char *const *extra = incoming ? c->dst_extra : c->src_extra;
	int i;

	memset(vm, 0, sizeof(*vm));
	vm->ndev = c->ndev;
	for (i = 0; i < c->ndev; i++)
		vm->bdf[i] = bdf[i];
	vm->emu_size = c->emu_size;
	/* default: what this kernel needs (probed on the first source device) */
	if (!c->emu_size)
		vm->vfio_opts = c->vfio_opts ? c->vfio_opts : e2e_vfio_opts(c->src_bdf[0]);
	vm->incoming = incoming;
	for (i = 0; i < 8 && extra[i]; i++)
		vm->extra[i] = extra[i];
}

/* Fills BAR2 of a source or destination device with the pattern of @seed. */
static int dev_fill(const struct mig_case *c, const char *bdf, uint64_t seed, uint64_t *size)
{
	if (!c->emu_size)
		return l1_fill(bdf, seed, size);
	if (size)
		*size = c->emu_size;
	return emu_fill(bdf, c->emu_size, seed);
}

int case_start_dst(struct mig_ctx *x, const char *const *bdf)
{
	const struct mig_case *c = x->c;
	struct e2e_vm vm;

	/* a previous destination must be gone: a device has one user at a time */
	qemu_stop(&x->dst);
	vm_from_case(&vm, c, bdf, true);
	if (qemu_start(&x->dst, "dst", &vm))
		return -1;
	if (c->caps && mig_set_caps(&x->dst, c->caps))
		return -1;
	snprintf(x->uri, sizeof(x->uri), "unix:%s/mig.sock", e2e_dir());
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/mig.sock", e2e_dir());
		unlink(path);
	}
	return qmp_ok(&x->dst, "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"%s\"}}",
		      x->uri);
}

int case_setup(struct mig_ctx *x, const struct mig_case *c)
{
	struct e2e_vm vm;
	char st[64];
	int i;

	memset(x, 0, sizeof(*x));
	x->c = c;
	x->src.qmp = x->src.qt = x->dst.qmp = x->dst.qt = -1;
	for (i = 0; i < c->ndev; i++) {
		uint64_t seed = e2e_seed() + 0x1000 * (i + 1), size;

		if (!c->src_bdf[i]) {
			diag("device %d of the source is not set (IVSHMEM_BDF_* missing?)", i);
			return -1;
		}
		if (dev_fill(c, c->src_bdf[i], seed, &size))
			return -1;
		img_init(&x->img[i], size, seed);
		regs_random(&x->regs[i]);
		/* the destination starts from different contents, so nothing passes by chance */
		if (c->dst_bdf[i] && dev_fill(c, c->dst_bdf[i], ~seed, NULL))
			return -1;
		diag("device %d: %s -> %s, BAR2 %llu KiB, pattern seed 0x%llx, INTRMASK 0x%08x INTRSTATUS 0x%08x",
		     i, c->src_bdf[i], c->dst_bdf[i] ? c->dst_bdf[i] : "(file)",
		     (unsigned long long)size / 1024, (unsigned long long)seed,
		     x->regs[i].intrmask, x->regs[i].intrstatus);
	}

	vm_from_case(&vm, c, c->src_bdf, false);
	if (qemu_start(&x->src, "src", &vm))
		return -1;
	for (i = 0; i < c->ndev; i++) {
		if (l2_map_device(&x->src, i) || l2_set_regs(&x->src, i, &x->regs[i]) ||
		    l2_check_regs(&x->src, i, &x->regs[i], false) ||
		    l2_scribble(&x->src, i, &x->img[i], c->blocks, c->words) ||
		    l2_check_mem(&x->src, i, &x->img[i], false)) {
			qemu_dump(&x->src, "preparing the source failed");
			return -1;
		}
	}
	if (c->hold && l2_fill_ram(&x->src)) {
		qemu_dump(&x->src, "filling guest RAM failed");
		return -1;
	}
	if (qmp_ok(&x->src, "{\"execute\":\"cont\"}") ||
	    qmp_wait_status(&x->src, "running"))
		return -1;
	for (i = 0; i < c->ndev && !c->emu_size; i++) {
		char id[16];

		snprintf(id, sizeof(id), "ivs%d", i);
		qmp_dev_state(&x->src, id, st, sizeof(st));
		if (strcmp(st, "running")) {
			diag("[src] device %s: VFIO state '%s' after cont, expected running", id, st);
			return -1;
		}
	}
	if (c->caps && mig_set_caps(&x->src, c->caps))
		return -1;
	if (c->hold ? mig_set_hold(&x->src) : mig_set_fast(&x->src))
		return -1;
	if (c->dst_bdf[0] && case_start_dst(x, c->dst_bdf))
		return -1;
	return 0;
}

int case_migrate(struct mig_ctx *x)
{
	x->t_migrate = now_ms();
	if (mig_start(&x->src, x->uri))
		return -1;
	if (mig_wait(&x->src, NULL, &x->res)) {
		case_dump(x, "migration did not end");
		return -1;
	}
	mig_print("[src] migration", &x->res);
	if (strcmp(x->res.status, "completed")) {
		case_dump(x, "migration did not complete");
		return -1;
	}
	return 0;
}

static int all_dev_state(struct e2e_qemu *q, int ndev, const char *want)
{
	char id[16], st[64];
	int i, ret = 0;

	/* an emulated ivshmem-plain has no VFIO migration state */
	for (i = 0; i < ndev && !q->emu; i++) {
		snprintf(id, sizeof(id), "ivs%d", i);
		qmp_dev_state(q, id, st, sizeof(st));
		if (strcmp(st, want)) {
			diag("[%s] device %s (%s): last VFIO_MIGRATION state '%s', expected '%s'", q->name,
			     id, q->bdf[i], st[0] ? st : "(none)", want);
			ret = -1;
		} else {
			diag("[%s] device %s (%s): VFIO state %s", q->name, id, q->bdf[i], st);
		}
	}
	return ret;
}

int case_dst_running(struct mig_ctx *x)
{
	if (qmp_wait_status(&x->dst, "running")) {
		qemu_dump(&x->dst, "destination not running");
		return -1;
	}
	return all_dev_state(&x->dst, x->c->ndev, "running");
}

int case_src_stopped(struct mig_ctx *x)
{
	if (qmp_wait_status(&x->src, "postmigrate"))
		return -1;
	return all_dev_state(&x->src, x->c->ndev, "stop");
}

int case_src_running(struct mig_ctx *x)
{
	if (qmp_wait_status(&x->src, "running")) {
		qemu_dump(&x->src, "source not running");
		return -1;
	}
	return all_dev_state(&x->src, x->c->ndev, "running");
}

int case_check_regs(struct mig_ctx *x, struct e2e_qemu *q, bool consume)
{
	int i, ret = 0;

	for (i = 0; i < x->c->ndev; i++)
		ret |= l2_check_regs(q, i, &x->regs[i], consume);
	return ret;
}

int case_check_mem(struct mig_ctx *x, struct e2e_qemu *q)
{
	int i, ret = 0;

	/* whole BAR2 through qtest up to 16 MiB, samples beyond (L1 checks all) */
	for (i = 0; i < x->c->ndev; i++)
		ret |= l2_check_mem(q, i, &x->img[i], x->img[i].size <= 16 * E2E_MiB);
	return ret;
}

int case_check_l1(struct mig_ctx *x, const char *const *bdf)
{
	int i, ret = 0;

	qemu_stop(&x->dst);
	qemu_stop(&x->src);
	for (i = 0; i < x->c->ndev; i++) {
		long long t0 = now_ms();

		if (x->c->emu_size ? emu_check(bdf[i], &x->img[i]) : l1_check(bdf[i], &x->img[i]))
			ret = -1;
		else
			diag("L1: %s: all %llu KiB of BAR2 as expected (%lld ms)", bdf[i],
			     (unsigned long long)x->img[i].size / 1024, now_ms() - t0);
	}
	return ret;
}

void case_dump(struct mig_ctx *x, const char *why)
{
	if (x->src.pid)
		qemu_dump(&x->src, why);
	if (x->dst.pid)
		qemu_dump(&x->dst, why);
	kmsg_dump(15);
}

void case_final_checks(struct mig_ctx *x)
{
	if (t_begin("destination_running"))
		t_end(!case_dst_running(x), false);
	if (t_begin("destination_final_registers"))
		t_end(!case_check_regs(x, &x->dst, true), false);
	if (t_begin("destination_final_bar2_via_qtest"))
		t_end(!case_check_mem(x, &x->dst), false);
	if (t_begin("destination_final_bar2_via_l1_vfio"))
		t_end(!case_check_l1(x, x->c->dst_bdf), false);
}

void case_dst_gone(struct mig_ctx *x)
{
	if (!qemu_wait_exit(&x->dst, "destination exit after the cancel"))
		diag("[dst] still running after the cancel");
	else
		diag("[dst] exited after the cancel, as expected");
	qemu_stop(&x->dst);
}

void case_teardown(struct mig_ctx *x)
{
	int i;

	qemu_stop(&x->dst);
	qemu_stop(&x->src);
	for (i = 0; i < E2E_MAX_DEVS; i++)
		img_free(&x->img[i]);
}
