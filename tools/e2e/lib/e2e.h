/* SPDX-License-Identifier: GPL-2.0 */
/*
 * End-to-end tests: nested QEMU (L2) instances with the ivshmem devices of the
 * test VM (L1) passed through with -device vfio-pci, migrated by QEMU itself.
 *
 * The L2 QEMUs run no guest OS: "-accel tcg" with a 64 KiB firmware of HLT
 * instructions, so the VM can really be "running" while its only vCPU sleeps,
 * and "-qtest unix:..." gives this program the guest's view of memory and I/O
 * ports: PCI config space through 0xcf8/0xcfc, BAR0 registers with
 * readl/writel, BAR2 with readq/writeq and b64read/b64write.  QMP drives the
 * migration.  From L1, devices that no L2 holds are filled and checked through
 * VFIO (tools/selftests/lib/vfio_dev.c).
 *
 * Every wait is judged by progress, not by the wall clock (progress.c): it
 * gives up only when no QEMU has moved anything for the stall time, or when
 * it exceeds a limit derived from the bytes at stake.  Every QEMU is killed
 * when the program ends (also on SIGTERM, a watchdog alarm or the death of
 * this process: PR_SET_PDEATHSIG), and the work directory is removed.  Output
 * is KTAP; diagnostics start with "# ".
 */
#ifndef E2E_H
#define E2E_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define E2E_MAX_DEVS	2
#define E2E_KiB		1024ULL
#define E2E_MiB		(1024ULL * 1024ULL)

/* Where the L2's BARs are placed (guest physical addresses), device i. */
#define L2_SLOT(i)	(4 + (i))
#define L2_BAR0(i)	(0xfeb00000ULL + (uint64_t)(i) * 0x1000ULL)
#define L2_BAR2(i)	(0x40000000ULL + (uint64_t)(i) * 0x40000000ULL)
#define L2_BAR2_MAX	0x40000000ULL	/* 1 GiB per device */

#define IVSHMEM_INTRMASK	0x0
#define IVSHMEM_INTRSTATUS	0x4

/* ---- KTAP ---------------------------------------------------------------- */

void ktap_plan(int n);
/* "1..0 # SKIP <why>" and exit 4 (KSFT_SKIP); "Bail out! <why>" and exit 1 */
void ktap_skip_all(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void ktap_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a block of text (e.g. a log tail) as diagnostic lines with a prefix. */
void diag_text(const char *prefix, const char *text, int max_lines);

/*
 * Steps: t_begin() returns false (and reports the step as skipped) when an
 * earlier essential step failed; t_end() reports the result.  A failed step
 * with essential=true makes every later step skip.
 */
bool t_begin(const char *name);
void t_end(bool pass, bool essential);
void t_skip(const char *name, const char *reason);
/* Exit status for the end of main(): 1 if any step failed. */
int t_exit(void);

/* ---- setup ----------------------------------------------------------------- */

/*
 * Creates the work directory and the HLT firmware, installs the cleanup
 * handlers and the watchdog (E2E_TIMEOUT seconds, default 1500), starts the
 * kernel log capture.  Prints the plan (none if @nplan < 0).  Exits with a
 * KTAP bail-out if it cannot, and with "1..0 # SKIP" and status 4 if QEMU's
 * vfio-pci has no enable-migration property (QEMU older than 8.1).
 */
void e2e_init(const char *prog, int nplan);
const char *e2e_dir(void);
const char *e2e_env_bdf(const char *name);	/* IVSHMEM_BDF_<name> or NULL */
uint64_t e2e_env_size(const char *name);	/* IVSHMEM_SIZE_<name> or 0 */
uint64_t e2e_seed(void);

/*
 * vfio-pci options that make the device migratable on this kernel: "" (QEMU's
 * defaults) where the device offers DMA logging and the kernel can report it,
 * ",enable-migration=on" where the device offers none, and
 * ",enable-migration=on,x-device-dirty-page-tracking=off" where it offers
 * logging that the kernel cannot report (see README).
 * E2E_VFIO_OPTS overrides.  Probes the device once (it must not be open).
 */
const char *e2e_vfio_opts(const char *probe_bdf);
/*
 * Can QEMU use the device's DMA logging?  Asks for a REPORT without START:
 * E2E_DMALOG_OK: the driver answered (EINVAL), so the vfio core can report;
 * E2E_DMALOG_NO_CORE: EOPNOTSUPP from a core without CONFIG_IOMMUFD_DRIVER;
 * E2E_DMALOG_NO_DRIVER: ENOTTY, the device offers no DMA logging; <0: the
 * probe failed (diagnosed).
 */
#define E2E_DMALOG_NO_CORE	0
#define E2E_DMALOG_OK		1
#define E2E_DMALOG_NO_DRIVER	2
int e2e_can_report(const char *probe_bdf);
/* A file's contents, malloc'd and NUL-terminated (its last @max bytes if @max), or NULL. */
char *read_file(const char *path, size_t max);
/* Writes @len bytes to @path (created or truncated); 0 or -1. */
int write_file(const char *path, const void *data, size_t len);
/*
 * Runs @argv (stdout and stderr into *@out, malloc'd, if @out), judged by
 * progress like every wait; its exit status (128 + signal if killed by one),
 * or -1 if it could not run or stalled (killed, diagnosed).
 */
int e2e_run(char *const argv[], char **out);
/* The same for a command that moves @stake bytes (a migration): its overall limit grows with them (e2e_limit_ms()). */
int e2e_run_stake(char *const argv[], char **out, uint64_t stake);
/* Does this QEMU's vfio-pci have property @prop? */
bool e2e_vfio_has_prop(const char *prop);
/* Does this QEMU have the user-creatable object type @type ("-object help")? */
bool e2e_qemu_has_object(const char *type);
/* QEMU version string ("10.0.13"). */
const char *e2e_qemu_version(void);

/* ---- expected device memory ----------------------------------------------- */

/* BAR2 contents: the position-addressed pattern of @seed plus later writes. */
struct e2e_image {
	uint64_t size;
	uint64_t seed;
	struct e2e_overlay {
		uint64_t off;
		uint32_t len;
		uint8_t *data;
	} *ov;
	int nov, cap;
};

void img_init(struct e2e_image *img, uint64_t size, uint64_t seed);
void img_free(struct e2e_image *img);
void img_record(struct e2e_image *img, uint64_t off, const void *data, uint32_t len);
/* Fills buf with what BAR2 must hold in [off, off + len). */
void img_expect(const struct e2e_image *img, uint64_t off, void *buf, size_t len);

struct e2e_regs {
	uint32_t intrmask;
	uint32_t intrstatus;
};

/* Random register values with (mask & status) == 0 (no interrupt raised). */
void regs_random(struct e2e_regs *r);

/* ---- L1 access through VFIO (device must not be held by an L2) ------------- */

/* Fills BAR2 with the pattern of @seed; returns 0 or -1 (diagnosed). */
int l1_fill(const char *bdf, uint64_t seed, uint64_t *size);
/* Compares all of BAR2 with @img; returns 0 if equal, -1 otherwise (diagnosed). */
int l1_check(const char *bdf, const struct e2e_image *img);

/*
 * Sets module parameter @param (if not NULL) of the driver @bdf is bound to
 * to @value, then unbinds @bdf and binds it to that driver again (its
 * driver_override keeps it there), so that the driver probes it anew; 0 or
 * -1 (diagnosed).
 */
int l1_rebind(const char *bdf, const char *param, const char *value);
/* The driver @bdf is bound to, into @drv ("" if none); 0, or -1 if @drv is too short. */
int l1_driver(const char *bdf, char *drv, size_t len);
/* Unbinds @bdf from its driver (if any) and clears its driver_override; 0 or -1 (diagnosed). */
int l1_unbind(const char *bdf);
/* Binds @bdf to driver @drv through driver_override; 0 or -1 (diagnosed). */
int l1_bind(const char *bdf, const char *drv);

/* ---- emulated ivshmem-plain devices (emu.c): QEMU migrates their BAR2 as RAM --- */

/*
 * A tmpfs of at least @bytes in the work directory for their backing files
 * (mounted on first use, made bigger if needed); its path or NULL (diagnosed).
 */
const char *emu_dir(uint64_t bytes);
void emu_cleanup(void);
/* Creates @path (@size bytes, all reserved) holding the pattern of @seed; 0 or -1. */
int emu_fill(const char *path, uint64_t size, uint64_t seed);
/* Compares the file @path with @img; 0 if equal, -1 otherwise (diagnosed). */
int emu_check(const char *path, const struct e2e_image *img);

/* ---- L2 QEMU ----------------------------------------------------------------- */

struct e2e_lbuf {
	char *b;
	size_t len, cap;
};

struct e2e_qemu {
	char name[16];
	pid_t pid;
	int qmp, qt;
	struct e2e_lbuf qmp_in, qt_in;
	char *reply;		/* last QMP reply line (owned) */
	char *qt_reply;		/* last qtest reply line (owned) */
	char *events;		/* every QMP event line, '\n' separated */
	size_t events_len;
	char log[512];		/* stdout + stderr of QEMU */
	char qmp_path[512], qt_path[512];
	int ndev;
	const char *bdf[E2E_MAX_DEVS];
	bool emu;		/* its devices are emulated ivshmem-plain (e2e_vm.emu_size) */
	bool exited;
	int wstatus;
	bool foreign;		/* started by someone else (qemu_attach()): watched, never signalled */
	bool hung;		/* a command went unanswered: fail the next ones at once */
	bool threads_dumped;
	uint64_t state_bytes;	/* guest RAM + BAR2 of its devices: what a migration moves */
	size_t qmp_sent, qmp_recvd, qt_sent, qt_recvd;	/* our conversation with it */
};

struct e2e_vm {
	int ndev;
	const char *bdf[E2E_MAX_DEVS];
	const char *vfio_opts;		/* appended to each -device vfio-pci,... */
	/*
	 * Non-zero: the devices are emulated ivshmem-plain with a BAR2 of this
	 * size, bdf[i] the path of each one's backing file (emu_fill()).
	 */
	uint64_t emu_size;
	bool incoming;			/* -incoming defer (else -S) */
	const char *extra[16];		/* more arguments, NULL terminated */
};

int qemu_start(struct e2e_qemu *q, const char *name, const struct e2e_vm *vm);
/*
 * Takes on a QEMU someone else started (libvirt) as @name: process @pid,
 * its qtest socket @qt_path (QMP is its starter's), its output in @log, the
 * devices of @vm; waits for the socket judged by progress.  0 or -1
 * (diagnosed).  qemu_stop() only lets go of it.
 */
int qemu_attach(struct e2e_qemu *q, const char *name, pid_t pid, const char *qt_path,
		const char *log, const struct e2e_vm *vm);
/* QMP quit (or SIGKILL after a grace period); idempotent. */
void qemu_stop(struct e2e_qemu *q);
/* Has it exited (within @wait_ms, a short grace, not a verdict)?  Reaps it. */
bool qemu_exited(struct e2e_qemu *q, int wait_ms);
/* Waits until it exits, judged by progress; true if it exited, false if it stalled (diagnosed). */
bool qemu_wait_exit(struct e2e_qemu *q, const char *what);
/*
 * QEMU 10.0's multifd device state transfer now and then loses a packet: the
 * buffer index the destination's load thread starves for and never received
 * (from its trace points vfio_load_state_device_buffer_*), or -1.
 */
int qemu_multifd_lost_packet(struct e2e_qemu *dst);
/* Prints the tail of its output and its events as diagnostics. */
void qemu_dump(struct e2e_qemu *q, const char *why);
/*
 * Prints the last @lines lines of its output, e.g. the trace points that
 * E2E_QEMU_TRACE (a -trace pattern, "vfio_*" say) turned on in every QEMU.
 */
void qemu_log_tail(struct e2e_qemu *q, int lines);
/* Does its output (stderr) contain @needle? */
bool qemu_log_has(struct e2e_qemu *q, const char *needle);

/* Sends a QMP command (printf format); returns the reply line or NULL. */
const char *qmp(struct e2e_qemu *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, 0 if the reply is a "return", -1 otherwise (diagnosed). */
int qmp_ok(struct e2e_qemu *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads pending events for up to @ms milliseconds. */
void qmp_events(struct e2e_qemu *q, int ms);
/* runstate ("running", "postmigrate", ...) into buf; 0 or -1. */
int qmp_status(struct e2e_qemu *q, char *buf, size_t len);
/* Waits until the runstate is @want (judged by progress); 0 or -1 (diagnosed). */
int qmp_wait_status(struct e2e_qemu *q, const char *want);
/* Last VFIO_MIGRATION device-state of device @id ("ivs0"), or "" if none. */
const char *qmp_dev_state(struct e2e_qemu *q, const char *id, char *buf, size_t len);

/* qtest: reply line or NULL. */
const char *qt(struct e2e_qemu *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qt_readl(struct e2e_qemu *q, uint64_t addr, uint32_t *v);
int qt_writel(struct e2e_qemu *q, uint64_t addr, uint32_t v);
int qt_readq(struct e2e_qemu *q, uint64_t addr, uint64_t *v);
int qt_writeq(struct e2e_qemu *q, uint64_t addr, uint64_t v);
int qt_read(struct e2e_qemu *q, uint64_t addr, void *buf, size_t len);
int qt_write(struct e2e_qemu *q, uint64_t addr, const void *buf, size_t len);
int qt_cfg_read32(struct e2e_qemu *q, int slot, int reg, uint32_t *v);
int qt_cfg_write32(struct e2e_qemu *q, int slot, int reg, uint32_t v);

/* ---- what the scenarios share ----------------------------------------------- */

/* Programs BAR0/BAR2 and the command register of device i of a -S VM. */
int l2_map_device(struct e2e_qemu *q, int i);
/* Writes the registers of device i (INTRMASK, INTRSTATUS). */
int l2_set_regs(struct e2e_qemu *q, int i, const struct e2e_regs *r);
/*
 * Reads back INTRMASK and INTRSTATUS of device i (a read clears INTRSTATUS,
 * so it is written back unless @consume) and compares; 0 or -1 (diagnosed).
 */
int l2_check_regs(struct e2e_qemu *q, int i, const struct e2e_regs *want, bool consume);
/* Writes @len bytes through qtest into BAR2 of device i and records them. */
int l2_write(struct e2e_qemu *q, int i, struct e2e_image *img, uint64_t off,
	     const void *data, size_t len);
/* "Guest activity": @nblocks random 4 KiB blocks and @nwords random qwords. */
int l2_scribble(struct e2e_qemu *q, int i, struct e2e_image *img, int nblocks, int nwords);
/*
 * Compares BAR2 of device i through qtest: everything if @full, else the
 * first and last 64 KiB, every recorded write and 16 random 4 KiB blocks.
 */
int l2_check_mem(struct e2e_qemu *q, int i, const struct e2e_image *img, bool full);

/* Migration parameters. */
int mig_set_fast(struct e2e_qemu *q);		/* converge at the first chance */
int mig_set_hold(struct e2e_qemu *q);		/* stay active (see l2_fill_ram) */
/* Random data in guest RAM, so that the first pass of a held migration is slow. */
#define E2E_HOLD_RAM		(8 * E2E_MiB)
#define E2E_HOLD_RAM_AT		0x400000ULL
#define E2E_HOLD_BW		(64 * E2E_KiB)	/* bytes/s; see mig_set_hold() */
int l2_fill_ram(struct e2e_qemu *q);
int mig_set_caps(struct e2e_qemu *q, const char *caps_json);
/* Starts "migrate" to @uri; 0 or -1. */
int mig_start(struct e2e_qemu *src, const char *uri);

struct mig_result {
	char status[32];
	char error[512];
	long long downtime_ms, total_ms, setup_ms;
	long long vfio_bytes, ram_bytes;	/* ram: all of the stream (QEMU 8.1+) */
	long long ram_normal_bytes;		/* guest RAM pages sent whole (ram.normal-bytes) */
};

/*
 * Polls query-migrate until the status is one of @final ("completed|failed|
 * cancelled" if NULL; matched as whole words) or a final state; 0 if a state
 * of @final was reached, -1 otherwise (diagnosed).  Judged by progress: its
 * counters (transferred, remaining, dirty syncs, VFIO bytes) and the I/O of
 * every QEMU; see progress.c.
 */
int mig_wait(struct e2e_qemu *q, const char *final, struct mig_result *r);
/*
 * After a migrate_cancel: waits for the end; 0 if "cancelled", or "failed"
 * with the one error a cancel itself causes when it races the migration
 * thread (QEMU shuts the return path down first: see l2.c); -1 otherwise.
 */
int mig_wait_cancelled(struct e2e_qemu *q, struct mig_result *r);
void mig_print(const char *what, const struct mig_result *r);

/* Kernel log lines since e2e_init() (or since the last kmsg_mark()). */
void kmsg_mark(void);
const char *kmsg_since_mark(void);
bool kmsg_has(const char *needle);
/* Prints the kernel log lines since the mark (last @max lines). */
void kmsg_dump(int max);
/* Any WARNING/BUG/Oops/Call Trace since the mark? */
bool kmsg_has_report(void);

/* Milliseconds since an arbitrary point (monotonic). */
long long now_ms(void);
/* A signal or the watchdog ended the program: 1 (signal), 2 (watchdog), else 0. */
int e2e_aborting(void);

/* ---- waits: progress, not wall clock (progress.c) ------------------------------ */

/*
 * Every process this program starts (the L2 QEMUs, the QEMU probes) is
 * watched: prog_watch() when it starts, prog_unwatch() when it is reaped.
 * A wait gives up when NO watched process made progress for the stall time
 * (E2E_STALL seconds, default 60 scaled by E2E_TIMEOUT / 270), or when it
 * lasted longer than its limit, 60 s + 4 s per MiB of the waited-for QEMU's
 * state_bytes (a minimum rate of 256 KiB/s; scaled by E2E_TIMEOUT / 270).
 */
void prog_watch(pid_t pid, const char *name);
void prog_unwatch(pid_t pid);
/* A QMP/qtest exchange with @pid: its I/O for it is not progress. */
void prog_ours(pid_t pid, size_t sent, size_t received);
/* Progress seen another way (e.g. migration counters). */
void prog_note(pid_t pid, const char *what);
/* Prints who made progress when (e.g. when the watchdog fired). */
void prog_report(const char *why);
long long e2e_stall_ms(void);
long long e2e_limit_ms(uint64_t bytes);
unsigned int e2e_watchdog_s(void);

struct e2e_wait {
	struct e2e_qemu *q;	/* the QEMU waited for (its state_bytes set the limit), or NULL */
	long long t0, rx;	/* start; last bytes received for this wait */
	long long limit_ms;
	uint64_t stake;		/* the bytes at stake that set limit_ms (wait_set_stake()) */
	char what[96];
	bool gave_up;
};

void wait_begin(struct e2e_wait *w, struct e2e_qemu *q, const char *what);
/* The overall limit of @w for @bytes at stake (what a migration moves), not its QEMU's. */
void wait_set_stake(struct e2e_wait *w, uint64_t bytes);
/* Bytes for this wait arrived (part of a long reply): progress of this wait. */
void wait_rx(struct e2e_wait *w);
/* 0: go on waiting; -1: give up (stall or limit: diagnosed, naming who stalled). */
int wait_check(struct e2e_wait *w);

/* ---- one migration from a source VM to a destination VM (scenario.c) ---------- */

struct mig_case {
	int ndev;
	const char *src_bdf[E2E_MAX_DEVS];
	const char *dst_bdf[E2E_MAX_DEVS];	/* NULL: no destination VM yet */
	const char *vfio_opts;		/* NULL: e2e_vfio_opts(src_bdf[0]) */
	/* non-zero: emulated devices of this BAR2 size, src_bdf/dst_bdf their files */
	uint64_t emu_size;
	const char *src_extra[8], *dst_extra[8];
	const char *caps;		/* migrate-set-capabilities list for both, or NULL */
	bool hold;			/* start with mig_set_hold() instead of mig_set_fast() */
	int blocks, words;		/* qtest writes on the source before migration */
};

struct mig_ctx {
	const struct mig_case *c;
	struct e2e_qemu src, dst;
	struct e2e_image img[E2E_MAX_DEVS];
	struct e2e_regs regs[E2E_MAX_DEVS];
	struct mig_result res;
	char uri[600];
	long long t_migrate;		/* when "migrate" was sent */
};

/*
 * L1 fills the source devices with a pattern and the destination devices
 * with another; the source VM starts (-S), maps its devices, gets registers
 * and qtest writes, is checked, and runs; the destination VM (if any) starts
 * with -incoming defer and listens on ctx->uri.  0 or -1 (diagnosed).
 */
int case_setup(struct mig_ctx *x, const struct mig_case *c);
/* Starts (another) destination VM on @bdf[] listening on ctx->uri. */
int case_start_dst(struct mig_ctx *x, const char *const *bdf);
/* "migrate" to ctx->uri and wait for the end; 0 if completed. */
int case_migrate(struct mig_ctx *x);
/* Destination runs, every device's last VFIO state is "running". */
int case_dst_running(struct mig_ctx *x);
/* Source is in "postmigrate", every device's last VFIO state is "stop". */
int case_src_stopped(struct mig_ctx *x);
/* Source runs again with every device "running". */
int case_src_running(struct mig_ctx *x);
/* Registers / BAR2 of every device of @q compared with the source's. */
int case_check_regs(struct mig_ctx *x, struct e2e_qemu *q, bool consume);
int case_check_mem(struct mig_ctx *x, struct e2e_qemu *q);
/* Stops both VMs and compares BAR2 of @bdf[] from L1 through VFIO. */
int case_check_l1(struct mig_ctx *x, const char *const *bdf);
/*
 * The four closing steps after a migration with guest writes: destination
 * running, its final registers, its BAR2 through qtest and through L1.
 */
void case_final_checks(struct mig_ctx *x);
void case_dump(struct mig_ctx *x, const char *why);
/* The destination of a cancelled migration fails its load and exits: waits for that, then stops it. */
void case_dst_gone(struct mig_ctx *x);
void case_teardown(struct mig_ctx *x);

/*
 * The pre-copy scenario (precopy.c) as program @prog, with the capabilities
 * return-path and switchover-ack if @ack; returns the exit status.
 */
int precopy_main(const char *prog, bool ack);
/* The capabilities libvirt sets for a migration with pre-copy: return-path and switchover-ack. */
#define PC_ACK_CAPS "[{\"capability\":\"return-path\",\"state\":true}," \
		    "{\"capability\":\"switchover-ack\",\"state\":true}]"
/* Does the device offer VFIO_MIGRATION_PRE_COPY?  1, 0, or -1 (diagnosed). */
int pc_offers(const char *bdf);
/* A pre-copy program's start: @x cleared, e2e_init(@prog, @nplan), @c migrates BIG_A -> BIG_B. */
void pc_begin(struct mig_ctx *x, struct mig_case *c, const char *prog, int nplan);
/* The essential step "device_offers_precopy" (BIG_A offers VFIO_MIGRATION_PRE_COPY). */
void pc_step_offers(const struct mig_case *c);
/*
 * Polls the source until QEMU has sent at least @bytes of device data while
 * the migration is active and every device still in pre-copy; 0 or -1
 * (diagnosed: it switched over, ended, or stalled first).
 */
int pc_wait_bytes(struct mig_ctx *x, long long bytes, const char *what);
/* "migrate", then pc_wait_bytes() for the first 16 MiB: 0 or -1 (diagnosed, dumped). */
int pc_start(struct mig_ctx *x);
/* New registers, writes where the device data was sent (below @sent) and where not yet (the last pages). */
int pc_write_around(struct mig_ctx *x, uint64_t sent, int round);
/*
 * Waits for the migration to end, judged by progress; 0 if it completed.
 * @before_switch: the device data QEMU had sent when it last saw the device
 * in pre-copy (-1: never).
 */
int pc_wait_end(struct mig_ctx *x, long long *before_switch);

#endif /* E2E_H */
