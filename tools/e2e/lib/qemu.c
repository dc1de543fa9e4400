// SPDX-License-Identifier: GPL-2.0
/*
 * e2e: the nested QEMU processes: starting one with the devices passed
 * through, stopping it, and what to show of it when a step fails.  See e2e.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vfio_uapi.h"

#include "e2e.h"
#include "vfio_dev.h"
#include "vmt_util.h"
#include "e2e_int.h"

static uint64_t bar2_size(const char *bdf)
{
	unsigned long long start, end, flags;
	char path[256], line[256];
	uint64_t size = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	f = fopen(path, "re");
	if (!f)
		return 0;
	for (i = 0; i <= 2 && fgets(line, sizeof(line), f); i++)
		if (i == 2 && sscanf(line, "%llx %llx %llx", &start, &end, &flags) == 3 && end > start)
			size = end - start + 1;
	fclose(f);
	return size;
}

static int connect_wait(struct e2e_qemu *q, const char *path, struct e2e_wait *w)
{
	while (!wait_check(w)) {
		int fd = unix_connect(path);

		if (fd >= 0)
			return fd;
		if (qemu_exited(q, 0))
			return -1;
		vmt_sleep_ms(50);
	}
	return -1;
}

int qemu_start(struct e2e_qemu *q, const char *name, const struct e2e_vm *vm)
{
	char devarg[E2E_MAX_DEVS][512], objarg[E2E_MAX_DEVS][512], qmparg[600], qtarg[600];
	const char *argv[64];
	char fw[300];
	long long t0 = now_ms();
	struct e2e_wait w;
	char *greeting;
	int argc = 0, i;
	pid_t pid;

	memset(q, 0, sizeof(*q));
	q->qmp = q->qt = -1;
	snprintf(q->name, sizeof(q->name), "%s", name);
	snprintf(q->log, sizeof(q->log), "%s/%s.log", g_dir, name);
	snprintf(q->qmp_path, sizeof(q->qmp_path), "%s/%s.qmp", g_dir, name);
	snprintf(q->qt_path, sizeof(q->qt_path), "%s/%s.qtest", g_dir, name);
	snprintf(fw, sizeof(fw), "%s/hlt.bin", g_dir);
	unlink(q->qmp_path);
	unlink(q->qt_path);
	q->ndev = vm->ndev;
	q->emu = vm->emu_size != 0;
	q->state_bytes = GUEST_RAM;
	for (i = 0; i < vm->ndev; i++)
		q->state_bytes += q->emu ? vm->emu_size : bar2_size(vm->bdf[i]);

	argv[argc++] = QEMU_BIN;
	argv[argc++] = "-accel";
	argv[argc++] = "tcg";
	argv[argc++] = "-machine";
	argv[argc++] = "pc";
	argv[argc++] = "-m";
	argv[argc++] = "32M";
	argv[argc++] = "-nodefaults";
	argv[argc++] = "-display";
	argv[argc++] = "none";
	argv[argc++] = "-bios";
	argv[argc++] = fw;
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", q->qmp_path);
	snprintf(qtarg, sizeof(qtarg), "unix:%s,server=on,wait=off", q->qt_path);
	argv[argc++] = "-qmp";
	argv[argc++] = qmparg;
	argv[argc++] = "-qtest";
	argv[argc++] = qtarg;
	argv[argc++] = "-qtest-log";	/* else every qtest command is echoed to stderr */
	argv[argc++] = "/dev/null";
	argv[argc++] = "-name";		/* thread names in the diagnostics of a hang */
	argv[argc++] = "debug-threads=on";
	for (i = 0; i < vm->ndev && q->emu; i++) {
		/*
		 * shared, as ivshmem memory is; master=on: QEMU migrates a
		 * master's memory as RAM (a peer's it refuses to migrate)
		 */
		q->bdf[i] = vm->bdf[i];
		snprintf(objarg[i], sizeof(objarg[i]),
			 "memory-backend-file,id=ivmem%d,size=%llu,mem-path=%s,share=on", i,
			 (unsigned long long)vm->emu_size, vm->bdf[i]);
		snprintf(devarg[i], sizeof(devarg[i]),
			 "ivshmem-plain,id=ivs%d,memdev=ivmem%d,master=on,addr=0x%x", i, i, L2_SLOT(i));
		argv[argc++] = "-object";
		argv[argc++] = objarg[i];
		argv[argc++] = "-device";
		argv[argc++] = devarg[i];
	}
	for (i = 0; i < vm->ndev && !q->emu; i++) {
		q->bdf[i] = vm->bdf[i];
		snprintf(devarg[i], sizeof(devarg[i]),
			 "vfio-pci,host=%s,id=ivs%d,addr=0x%x,migration-events=on%s",
			 vm->bdf[i], i, L2_SLOT(i), vm->vfio_opts ? vm->vfio_opts : "");
		argv[argc++] = "-device";
		argv[argc++] = devarg[i];
	}
	if (vm->incoming) {
		argv[argc++] = "-incoming";
		argv[argc++] = "defer";
	} else {
		argv[argc++] = "-S";
	}
	for (i = 0; vm->extra[i] && argc < 60; i++)
		argv[argc++] = vm->extra[i];
	/*
	 * E2E_QEMU_TRACE: trace point patterns (space separated) for a
	 * diagnosis, timestamped into the log (qemu_log_tail())
	 */
	if (getenv("E2E_QEMU_TRACE")) {
		static char trace[512];
		char *save = NULL, *tok;

		snprintf(trace, sizeof(trace), "%s", getenv("E2E_QEMU_TRACE"));
		argv[argc++] = "-msg";
		argv[argc++] = "timestamp=on";
		for (tok = strtok_r(trace, " ", &save); tok && argc < 62; tok = strtok_r(NULL, " ", &save)) {
			argv[argc++] = "-trace";
			argv[argc++] = tok;
		}
	}
	argv[argc] = NULL;

	{
		char cmdline[4096];
		int o = 0;

		for (i = 0; i < argc && o < (int)sizeof(cmdline) - 1; i++)
			o += snprintf(cmdline + o, sizeof(cmdline) - o, "%s%s", i ? " " : "", argv[i]);
		diag("[%s] %s", name, cmdline);
	}

	pid = fork();
	if (pid < 0) {
		diag("fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		int fd = open(q->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* a QEMU that dies (e.g. SIGBUS on a frozen BAR) leaves no core file */
		setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	q->pid = pid;
	child_add(pid);
	/* starting: no I/O to speak of, but a start-up that computes is progressing */
	prog_watch(pid, name);
	wait_begin(&w, q, "start-up");

	q->qmp = connect_wait(q, q->qmp_path, &w);
	if (q->qmp >= 0)
		q->qt = connect_wait(q, q->qt_path, &w);
	if (q->qmp < 0 || q->qt < 0) {
		qemu_dump(q, "did not open its QMP/qtest sockets");
		qemu_stop(q);
		return -1;
	}
	greeting = qmp_read(q, &w, 0);
	if (!greeting || !strstr(greeting, "\"QMP\"")) {
		free(greeting);
		qemu_dump(q, "sent no QMP greeting");
		qemu_stop(q);
		return -1;
	}
	free(greeting);
	if (qmp_ok(q, "{\"execute\":\"qmp_capabilities\"}")) {
		qemu_dump(q, "refused qmp_capabilities");
		qemu_stop(q);
		return -1;
	}
	diag("[%s] up in %lld ms (pid %d)", name, now_ms() - t0, (int)pid);
	return 0;
}

/* /proc/<pid>/stat state letter, or 0 */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

int qemu_attach(struct e2e_qemu *q, const char *name, pid_t pid, const char *qt_path,
		const char *log, const struct e2e_vm *vm)
{
	struct e2e_wait w;
	int i;

	memset(q, 0, sizeof(*q));
	q->qmp = q->qt = -1;
	q->foreign = true;
	q->pid = pid;
	snprintf(q->name, sizeof(q->name), "%s", name);
	snprintf(q->log, sizeof(q->log), "%s", log);
	snprintf(q->qt_path, sizeof(q->qt_path), "%s", qt_path);
	q->ndev = vm->ndev;
	q->state_bytes = GUEST_RAM;
	for (i = 0; i < vm->ndev; i++) {
		q->bdf[i] = vm->bdf[i];
		q->state_bytes += bar2_size(vm->bdf[i]);
	}
	prog_watch(pid, name);
	wait_begin(&w, q, "qtest socket");
	q->qt = connect_wait(q, q->qt_path, &w);
	if (q->qt < 0) {
		qemu_dump(q, "did not open its qtest socket");
		qemu_stop(q);
		return -1;
	}
	diag("[%s] attached to pid %d (qtest %s)", name, (int)pid, qt_path);
	return 0;
}

/* Cleanup, not a verdict: a QEMU that does not quit in a grace period is killed. */
void qemu_stop(struct e2e_qemu *q)
{
	if (q->foreign) {
		if (!q->exited && q->pid > 0)
			prog_unwatch(q->pid);
		q->exited = true;
	}
	if (q->pid > 0 && !qemu_exited(q, 0)) {
		char st = proc_state(q->pid);

		if (st == 'T' || st == 't') {
			/* stopped (SIGSTOP, a debugger): it cannot quit */
			diag("[%s] QEMU (pid %d) is stopped: killing it", q->name, (int)q->pid);
			kill(q->pid, SIGKILL);
			kill(q->pid, SIGCONT);
		} else if (q->qmp >= 0 && !q->hung) {
			char cmd[] = "{\"execute\":\"quit\"}\n";

			if (!write_all(q->qmp, cmd, sizeof(cmd) - 1, NULL, NULL))
				qmp_events(q, 500);
		} else if (q->hung) {
			diag("[%s] QEMU (pid %d) stalled earlier: killing it", q->name, (int)q->pid);
			kill(q->pid, SIGKILL);
		}
		if (!qemu_exited(q, 15000)) {
			diag("[%s] did not quit within 15 s: killing it", q->name);
			kill(q->pid, SIGKILL);
			qemu_exited(q, 10000);
		}
	}
	if (q->qmp >= 0)
		close(q->qmp);
	if (q->qt >= 0)
		close(q->qt);
	q->qmp = q->qt = -1;
}

bool qemu_log_has(struct e2e_qemu *q, const char *needle)
{
	char *s = read_file(q->log, 0);
	bool r = s && strstr(s, needle);

	free(s);
	return r;
}

/* Where a live QEMU's threads are: name, state, and their kernel stacks. */
static void dump_threads(struct e2e_qemu *q)
{
	char path[128], prefix[96], *comm, *stat, *stack;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)q->pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);
		char *st;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)q->pid, tid);
		comm = read_file(path, 0);
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)q->pid, tid);
		stat = read_file(path, 0);
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", (int)q->pid, tid);
		stack = read_file(path, 0);
		st = stat ? strrchr(stat, ')') : NULL;
		if (comm)
			comm[strcspn(comm, "\n")] = 0;
		diag("[%s thread %d %s] state %c", q->name, tid, comm ? comm : "?",
		     st && st[1] && st[2] ? st[2] : '?');
		/* the kernel stack of threads that sleep in the kernel in an uninterruptible or long wait */
		if (stack && *stack && st && st[2] != 'R') {
			snprintf(prefix, sizeof(prefix), "[%s thread %d stack] ", q->name, tid);
			diag_text(prefix, stack, 12);
		}
		free(comm);
		free(stat);
		free(stack);
	}
	closedir(d);
}

void qemu_dump(struct e2e_qemu *q, const char *why)
{
	char prefix[64], *s;

	qemu_exited(q, 0);
	if (q->exited) {
		if (WIFSIGNALED(q->wstatus))
			diag("[%s] %s; QEMU was killed by signal %d", q->name, why, WTERMSIG(q->wstatus));
		else
			diag("[%s] %s; QEMU exited with status %d", q->name, why, WEXITSTATUS(q->wstatus));
	} else {
		diag("[%s] %s; QEMU (pid %d) still running", q->name, why, (int)q->pid);
	}
	snprintf(prefix, sizeof(prefix), "[%s stderr] ", q->name);
	s = read_file(q->log, 16384);
	if (s && *s)
		diag_text(prefix, s, 40);
	else
		diag("[%s] (no output)", q->name);
	free(s);
	snprintf(prefix, sizeof(prefix), "[%s event] ", q->name);
	diag_text(prefix, q->events, 12);
	if (!q->exited && !q->threads_dumped) {
		q->threads_dumped = true;
		dump_threads(q);
	}
}

void qemu_log_tail(struct e2e_qemu *q, int lines)
{
	char prefix[64], *s = read_file(q->log, 256 * 1024);

	snprintf(prefix, sizeof(prefix), "[%s log] ", q->name);
	if (s && *s)
		diag_text(prefix, s, lines);
	free(s);
}

int qemu_multifd_lost_packet(struct e2e_qemu *dst)
{
	FILE *f = fopen(dst->log, "r");
	char line[512], pat[64];
	int starved = -1, got = -1;
	unsigned int n;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, ") idx ");

		if (!p || sscanf(p, ") idx %u", &n) != 1)
			continue;
		if (strstr(line, "vfio_load_state_device_buffer_starved"))
			starved = n;
	}
	if (starved >= 0) {
		rewind(f);
		snprintf(pat, sizeof(pat), ") idx %d\n", starved);
		while (fgets(line, sizeof(line), f))
			if (strstr(line, "vfio_load_state_device_buffer_incoming") && strstr(line, pat))
				got = starved;
	}
	fclose(f);
	return starved >= 0 && got < 0 ? starved : -1;
}
