// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal ivshmem server, enough for QEMU to realize an ivshmem-doorbell
 * device (Debian's QEMU packages do not ship ivshmem-server).  The harness
 * uses it to check that ivshmem-vfio-pci binds such a device without
 * migration support.
 *
 * Protocol (QEMU docs/specs/ivshmem-spec.rst): every message is a
 * little-endian int64, optionally with one file descriptor attached.  To each
 * client in turn: protocol version 0; the client's ID; -1 with the shared
 * memory fd; then the client's own ID with one eventfd per vector.
 *
 * usage: ivshmem-stub-server SOCKET_PATH SIZE_BYTES VECTORS
 * Runs until killed.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int send_msg(int sock, int64_t val, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	int64_t le = (int64_t)htole64((uint64_t)val);
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, 0) == sizeof(le) ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	long long size;
	int64_t id = 0;
	int lsock, shm, vectors, i;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SOCKET_PATH SIZE_BYTES VECTORS\n",
			argv[0]);
		return 2;
	}
	size = atoll(argv[2]);
	vectors = atoi(argv[3]);
	if (size <= 0 || vectors < 0 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "%s: bad arguments\n", argv[0]);
		return 2;
	}
	shm = memfd_create("ivshmem-stub", 0);
	if (shm < 0 || ftruncate(shm, size)) {
		perror("shared memory");
		return 1;
	}
	strcpy(addr.sun_path, argv[1]);
	unlink(argv[1]);
	lsock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(lsock, 4)) {
		perror(argv[1]);
		return 1;
	}
	for (;;) {
		int c = accept(lsock, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		if (send_msg(c, 0, -1) || send_msg(c, id, -1) ||
		    send_msg(c, -1, shm)) {
			perror("send");
			close(c);
			continue;
		}
		for (i = 0; i < vectors; i++) {
			int efd = eventfd(0, 0);

			if (efd < 0 || send_msg(c, id, efd))
				perror("vector");
			if (efd >= 0)
				close(efd);
		}
		/* Keep the connection: QEMU treats a hang-up as server loss. */
		id++;
	}
}
