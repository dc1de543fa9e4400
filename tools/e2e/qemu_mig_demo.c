// SPDX-License-Identifier: GPL-2.0
/*
 * "make demo": a live migration by QEMU of a VM with a passed-through
 * ivshmem device, narrated for people.  Not a test (it prints no KTAP, but
 * exits non-zero if the destination does not hold the source's state).
 *
 * IVM_DEMO_E2E_BIG=1 migrates the BIG pair (256 MiB) instead of A/B.  Then,
 * where the device offers PRE_COPY (Linux 6.12+), a second migration of the
 * BIG pair with QEMU's pre-copy, narrated as it goes: device data sent while
 * the VM runs, the guest writing meanwhile, the switchover and its downtime
 * (IVM_DEMO_PRECOPY=0 leaves it out).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "vmt_util.h"

static long long t0;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	long long t = now_ms() - t0;
	va_list ap;

	printf("[%3lld.%lld s] ", t / 1000, (t % 1000) / 100);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *kib(long long b, char *buf)
{
	if (b < 0)
		return "?";
	if (b >= 10 * 1024 * 1024)
		sprintf(buf, "%lld MiB", b >> 20);
	else
		sprintf(buf, "%lld KiB", b >> 10);
	return buf;
}

/*
 * Part 3: BIG_A -> BIG_B with pre-copy and switchover-ack (as libvirt
 * migrates); 0 if the destination holds the source's state, or if there is
 * nothing to show (no BIG pair, no PRE_COPY: said why).
 */
static int demo_precopy(void)
{
	struct mig_case c = { .ndev = 1, .blocks = 4, .words = 8, .caps = PC_ACK_CAPS };
	long long last = -1, said = 0, before_switch = -1;
	char b1[32], b2[32], b3[32], st[32], prev[32] = "";
	uint64_t counter = 0, size;
	struct e2e_wait w;
	struct mig_ctx x;
	int ret = -1;

	memset(&x, 0, sizeof(x));
	x.src.qmp = x.src.qt = x.dst.qmp = x.dst.qt = -1;
	c.src_bdf[0] = e2e_env_bdf("BIG_A");
	c.dst_bdf[0] = e2e_env_bdf("BIG_B");
	if (!c.src_bdf[0] || !c.dst_bdf[0]) {
		say("(no BIG pair in this VM: no pre-copy part)");
		return 0;
	}
	if (pc_offers(c.src_bdf[0]) != 1) {
		say("(%s does not offer PRE_COPY on this kernel (Linux 6.1): no pre-copy part)", c.src_bdf[0]);
		return 0;
	}
	printf("\n=== Part 3: pre-copy: the device's memory moves while the VM runs ===\n\n");
	say("source device %s, destination device %s: %s of shared memory each", c.src_bdf[0], c.dst_bdf[0],
	    kib((long long)e2e_env_size("BIG"), b1));
	say("without pre-copy all of it would move while the VM is stopped; with it, QEMU reads the device's");
	say("pre-copy data while the guest runs, and the driver tracks the pages the guest writes meanwhile");
	if (case_setup(&x, &c)) {
		say("setting up the VMs failed (see above)");
		goto out;
	}
	size = x.img[0].size;
	say("migrating with switchover-ack (as libvirt does): QEMU stops the VM only when the destination has");
	say("all of the initial data ...");
	if (mig_start(&x.src, x.uri))
		goto out;
	wait_begin(&w, &x.src, "the demo's pre-copy migration");
	while (!wait_check(&w)) {
		if (mig_wait(&x.src, "active|completed", &x.res))
			break;
		if (strcmp(x.res.status, "active"))
			break;
		qmp_dev_state(&x.src, "ivs0", st, sizeof(st));
		if (strcmp(st, prev)) {
			if (!strcmp(st, "pre-copy"))
				say("  device state %s: QEMU reads the device's data while the VM runs", st);
			else if (prev[0])
				say("  switchover: the VM stops, device state %s (the pages written last, the registers)",
				    st);
			snprintf(prev, sizeof(prev), "%s", st);
		}
		if (!strcmp(st, "pre-copy"))
			before_switch = x.res.vfio_bytes;
		if (last >= 0 && x.res.vfio_bytes > last)
			prog_note(x.src.pid, "device data");
		last = x.res.vfio_bytes;
		if (now_ms() - said >= 3000 && !strcmp(st, "pre-copy")) {
			/* the guest keeps working: a page sent long ago, written again */
			counter++;
			if (l2_write(&x.src, 0, &x.img[0], 0, &counter, 8))
				break;
			say("  %s of %s device data sent, %s of RAM; the guest writes counter = %llu", kib(last, b1),
			    kib((long long)size, b2), kib(x.res.ram_bytes, b3), (unsigned long long)counter);
			said = now_ms();
		}
		vmt_sleep_ms(250);
	}
	if (strcmp(x.res.status, "completed")) {
		case_dump(&x, "migration did not complete");
		goto out;
	}
	say("migration completed: downtime %lld ms, total time %lld ms; device data %s in all, %s of it",
	    x.res.downtime_ms, x.res.total_ms, kib(x.res.vfio_bytes, b1), kib(before_switch, b2));
	say("sent before the VM stopped (the guest's rewritten pages were sent again)");
	if (case_dst_running(&x) || case_check_regs(&x, &x.dst, true) || case_check_mem(&x, &x.dst) ||
	    case_check_l1(&x, c.dst_bdf)) {
		say("MISMATCH: the destination does not hold the source's state (see above)");
		goto out;
	}
	say("identical: %s of device memory (counter = %llu included) and both registers arrived",
	    kib((long long)size, b1), (unsigned long long)counter);
	ret = 0;
out:
	case_teardown(&x);
	return ret;
}

int main(void)
{
	const bool big = getenv("IVM_DEMO_E2E_BIG") && atoi(getenv("IVM_DEMO_E2E_BIG"));
	struct mig_case c = { .ndev = 1, .blocks = 4, .words = 8, .hold = true };
	static const char hello[] = "Hello from the source VM! This text was written by its guest.";
	struct mig_ctx x;
	char b1[32], b2[32], st[64];
	uint64_t counter = 0, v;
	int ret = 1, i;

	t0 = now_ms();
	setvbuf(stdout, NULL, _IOLBF, 0);
	e2e_init("qemu_mig_demo", -1);	/* no KTAP plan: not a test */
	c.src_bdf[0] = e2e_env_bdf(big ? "BIG_A" : "A");
	c.dst_bdf[0] = e2e_env_bdf(big ? "BIG_B" : "B");
	if (!c.src_bdf[0] || !c.dst_bdf[0]) {
		say("IVSHMEM_BDF_%s / IVSHMEM_BDF_%s are not set: run me in the test VM", big ? "BIG_A" : "A",
		    big ? "BIG_B" : "B");
		return 1;
	}
	printf("\n=== Live migration of a VM with a passed-through ivshmem device, done by QEMU %s ===\n\n",
	       e2e_qemu_version());
	say("source device %s, destination device %s, both bound to %s", c.src_bdf[0], c.dst_bdf[0],
	    getenv("IVSHMEM_DRIVER") ? getenv("IVSHMEM_DRIVER") : "ivshmem_vfio_pci");
	c.vfio_opts = e2e_vfio_opts(c.src_bdf[0]);
	say("filling the source's shared memory with a pattern and the destination's with another,");
	say("starting the source VM (-device vfio-pci,host=%s) and the destination VM (-incoming) ...",
	    c.src_bdf[0]);
	if (case_setup(&x, &c)) {
		say("setting up the VMs failed (see above)");
		goto out;
	}
	if (l2_write(&x.src, 0, &x.img[0], 4096, hello, sizeof(hello))) {
		say("writing into the device failed");
		goto out;
	}
	say("the source VM runs; its guest wrote \"%s\" into BAR2 at 0x1000", hello);
	say("and set the device registers INTRMASK=0x%08x INTRSTATUS=0x%08x", x.regs[0].intrmask,
	    x.regs[0].intrstatus);

	say("migrating over a unix socket (bandwidth held low for a moment, so we can watch) ...");
	if (mig_start(&x.src, x.uri) || mig_wait(&x.src, "active", &x.res)) {
		case_dump(&x, "migration did not start");
		goto out;
	}
	for (i = 0; i < 8; i++) {
		/* the guest keeps working during the migration */
		counter++;
		if (l2_write(&x.src, 0, &x.img[0], 0, &counter, 8) ||
		    mig_wait(&x.src, "active", &x.res))
			break;
		say("  migration %s, %s of RAM sent; the guest keeps writing: counter = %llu", x.res.status,
		    kib(x.res.ram_bytes, b1), (unsigned long long)counter);
		vmt_sleep_ms(300);
	}
	say("letting it converge: the VM stops, the device state moves (STOP_COPY -> RESUMING) ...");
	if (mig_set_fast(&x.src) || mig_wait(&x.src, NULL, &x.res) ||
	    strcmp(x.res.status, "completed")) {
		case_dump(&x, "migration did not complete");
		goto out;
	}
	say("migration completed: downtime %lld ms, total time %lld ms, device state %s, RAM %s",
	    x.res.downtime_ms, x.res.total_ms, kib(x.res.vfio_bytes, b1), kib(x.res.ram_bytes, b2));
	qmp_status(&x.src, st, sizeof(st));
	say("source VM: %s, device %s", st, qmp_dev_state(&x.src, "ivs0", b1, sizeof(b1)));
	if (case_dst_running(&x))
		goto out;
	qmp_status(&x.dst, st, sizeof(st));
	say("destination VM: %s, device %s", st, qmp_dev_state(&x.dst, "ivs0", b1, sizeof(b1)));
	{
		char text[sizeof(hello)];

		if (qt_read(&x.dst, L2_BAR2(0) + 4096, text, sizeof(text)) || qt_readq(&x.dst, L2_BAR2(0), &v))
			goto out;
		text[sizeof(text) - 1] = 0;
		say("the destination's guest reads at 0x1000: \"%s\"", text);
		say("and the counter: %llu (the source's last value: %llu)", (unsigned long long)v,
		    (unsigned long long)counter);
	}
	say("comparing registers and every byte of BAR2 with what the source had ...");
	if (case_check_regs(&x, &x.dst, true) || case_check_mem(&x, &x.dst) ||
	    case_check_l1(&x, c.dst_bdf)) {
		say("MISMATCH: the destination does not hold the source's state (see above)");
		goto out;
	}
	say("identical: %s of device memory and both registers arrived", kib(x.img[0].size, b1));
	ret = 0;
out:
	case_teardown(&x);
	if (!ret && !big && (!getenv("IVM_DEMO_PRECOPY") || atoi(getenv("IVM_DEMO_PRECOPY"))))
		ret = demo_precopy() ? 1 : 0;
	printf("\n=== %s ===\n", ret ? "FAILED" : "done");
	return ret;
}
