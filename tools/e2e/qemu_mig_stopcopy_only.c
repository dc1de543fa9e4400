// SPDX-License-Identifier: GPL-2.0
/*
 * The STOP_COPY-only path, which a VMM takes with a device that offers no
 * pre-copy: A and B are bound again with the module parameter precopy=0
 * (read when a device is bound), so the driver offers STOP_COPY and P2P only;
 * QEMU live-migrates A to B with the capabilities libvirt sets
 * (switchover-ack: without a pre-copy device nothing waits for an ack); the
 * source device never enters pre-copy, and every byte arrives.  Then
 * precopy=1 and another rebind give PRE_COPY back, also when a step failed
 * (at exit).
 */
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "vfio_dev.h"
#include "vfio_mig.h"
#include "vmt_util.h"

static const char *g_a, *g_b;
static bool g_changed;

static int flags_of(const char *bdf, uint64_t *flags)
{
	struct vdev d;
	int ret;

	if (vdev_open(&d, bdf)) {
		diag("cannot open %s: %s", bdf, vmt_errstr());
		return -1;
	}
	ret = mig_get_flags(d.fd, flags);
	if (ret)
		diag("VFIO_DEVICE_FEATURE_MIGRATION on %s: %s", bdf, vmt_errstr());
	vdev_close(&d);
	return ret;
}

/* precopy=@on for A and B; 0 if both then offer exactly @want (diagnosed). */
static int set_precopy(bool on, uint64_t want)
{
	const char *const bdf[2] = { g_a, g_b };
	uint64_t flags;
	int i, ret = 0;

	for (i = 0; i < 2; i++) {
		if (l1_rebind(bdf[i], i ? NULL : "precopy", on ? "Y" : "N") ||
		    flags_of(bdf[i], &flags)) {
			ret = -1;
			continue;
		}
		diag("%s bound again with precopy=%d: migration flags 0x%llx", bdf[i], on,
		     (unsigned long long)flags);
		if (flags != want) {
			diag("%s: expected migration flags 0x%llx", bdf[i], (unsigned long long)want);
			ret = -1;
		}
	}
	return ret;
}

static void restore(void)
{
	if (g_changed && g_a && g_b) {
		g_changed = false;
		set_precopy(true, VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			    VFIO_MIGRATION_PRE_COPY);
	}
}

int main(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 8, .words = 16, .caps = PC_ACK_CAPS };
	const uint64_t stop_copy = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;
	uint64_t flags = 0;
	struct mig_ctx x;
	const char *ev;

	/* case_teardown() must find nothing to free if the set-up never ran */
	memset(&x, 0, sizeof(x));
	x.src.qmp = x.src.qt = x.dst.qmp = x.dst.qt = -1;
	e2e_init("qemu_mig_stopcopy_only", 9);
	g_a = c.src_bdf[0] = e2e_env_bdf("A");
	g_b = c.dst_bdf[0] = e2e_env_bdf("B");
	if (!g_a || !g_b || flags_of(g_a, &flags))
		ktap_bail("needs the devices A and B (IVSHMEM_BDF_A, IVSHMEM_BDF_B)");
	/* PRE_COPY is offered where the driver owns the BAR mappings (6.10+) */
	if (!(flags & VFIO_MIGRATION_PRE_COPY))
		ktap_skip_all("A offers no PRE_COPY on this kernel (0x%llx): every migration here is STOP_COPY only",
			      (unsigned long long)flags);
	atexit(restore);
	if (t_begin("precopy_hidden_after_rebind")) {
		g_changed = true;
		t_end(!set_precopy(false, stop_copy), true);
	}
	if (t_begin("setup"))
		t_end(!case_setup(&x, &c), true);
	if (t_begin("migrate_completed"))
		t_end(!case_migrate(&x), true);
	if (t_begin("source_device_never_in_precopy")) {
		/* VFIO_MIGRATION events of the source: stop-copy, and no pre-copy */
		ev = x.src.events ? x.src.events : "";
		if (strstr(ev, "\"pre-copy\""))
			diag("[src] the device entered pre-copy although it does not offer it");
		else if (!strstr(ev, "\"stop-copy\""))
			diag("[src] no stop-copy among the device's VFIO_MIGRATION events");
		t_end(!strstr(ev, "\"pre-copy\"") && strstr(ev, "\"stop-copy\""), false);
	}
	case_final_checks(&x);
	case_teardown(&x);
	if (t_begin("precopy_back_after_rebind")) {
		g_changed = false;
		t_end(!set_precopy(true, stop_copy | VFIO_MIGRATION_PRE_COPY), false);
	}
	return t_exit();
}
