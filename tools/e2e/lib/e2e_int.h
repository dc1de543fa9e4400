/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of tools/e2e/lib share among themselves and not with the
 * scenarios (those use e2e.h).
 */
#ifndef E2E_INT_H
#define E2E_INT_H

#include <signal.h>
#include <stdarg.h>
#include "e2e.h"
#include "vmt_util.h"

#define QEMU_BIN	"qemu-system-x86_64"
#define GUEST_RAM	(32 * E2E_MiB)	/* -m 32M */

/* ktap.c */
extern const char *g_prog;			/* the program's name (e2e_init) */

/* proc.c */
extern char g_dir[256];				/* the program's work directory */
extern volatile sig_atomic_t g_abort;		/* 1: signal, 2: watchdog */
extern uint64_t g_seed;				/* e2e_seed() */
void child_add(pid_t pid);
void child_del(pid_t pid);

/* qmp.c: line I/O on QEMU's sockets and the JSON of QMP replies */
int write_all(int fd, const char *s, size_t len, struct e2e_wait *w, size_t *sent);
char *read_line(int fd, struct e2e_lbuf *lb, struct e2e_wait *w, long long until, size_t *recvd);
int unix_connect(const char *path);
char *qmp_read(struct e2e_qemu *q, struct e2e_wait *w, long long until);
bool json_str(const char *s, const char *key, char *out, size_t len);
bool json_int(const char *s, const char *key, long long *v);

/* image.c: reports the first differences of @got from @want; 0 if equal */
int compare_report(const char *what, uint64_t off, const uint8_t *got, const uint8_t *want, size_t len, long long *bad_bytes);

#endif /* E2E_INT_H */
