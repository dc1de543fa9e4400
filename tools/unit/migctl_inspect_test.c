// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-migctl inspect (tools/vfio-migctl) on streams made here with the
 * selftests' builder (tools/selftests/lib/ivm_stream.c): a valid one is
 * decoded and accepted; a damaged or cut one gets exit status 5 and a
 * message naming the stream offset and the field.  No device needed: it
 * runs wherever the program builds.  VFIO_MIGCTL=<path> names another
 * build of the program.  Its files are made in the current directory (the
 * harness runs it in a chroot of the cached image: not in its /tmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "ivm_stream.h"

#define BAR2	(2UL << 20)	/* two MEM records of 1 MiB */

static const char *migctl(void)
{
	const char *p = getenv("VFIO_MIGCTL");

	return p && *p ? p : "../vfio-migctl/vfio-migctl";
}

/* inspect @path: the exit status, stdout and stderr (their starts) */
static int inspect(const char *path, char *out, size_t olen, char *err, size_t elen)
{
	char to[] = "inspect-out-XXXXXX", te[] = "inspect-err-XXXXXX";
	int fo = mkstemp(to), fe = mkstemp(te), st;
	ssize_t n;
	pid_t pid;

	if (fo < 0 || fe < 0)
		return -1;
	unlink(to);
	unlink(te);
	pid = fork();
	if (!pid) {
		dup2(fo, 1);
		dup2(fe, 2);
		execl(migctl(), migctl(), "inspect", path, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", migctl(), strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	n = pread(fo, out, olen - 1, 0);
	out[n > 0 ? n : 0] = 0;
	n = pread(fe, err, elen - 1, 0);
	err[n > 0 ? n : 0] = 0;
	close(fo);
	close(fe);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

FIXTURE(inspect) {
	struct vmt_buf stream;
	char path[64];
	char out[8192];
	char err[2048];
};

FIXTURE_SETUP(inspect)
{
	struct ivm_build_params p = {
		.vendor = 0x1af4, .device = 0x1110, .revision = 1,
		.page_size = IVM_STREAM_PAGE_SIZE, .bar2_size = BAR2,
		.intrmask = 0x5, .intrstatus = 0, .seed = 42,
	};
	int fd;

	memset(&self->stream, 0, sizeof(self->stream));
	ASSERT_EQ(0, access(migctl(), X_OK)) TH_LOG("%s: %s", migctl(), strerror(errno));
	ASSERT_EQ(0, ivm_build(&self->stream, &p));
	snprintf(self->path, sizeof(self->path), "inspect-XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	close(fd);
}

FIXTURE_TEARDOWN(inspect)
{
	unlink(self->path);
	vmt_buf_free(&self->stream);
}

/* Writes the first @len bytes of the stream, with byte @flip (if >= 0) changed. */
static int put(FIXTURE_DATA(inspect) *self, size_t len, long flip)
{
	int fd = open(self->path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -1;
	if (flip >= 0)
		self->stream.p[flip] ^= 0x5a;
	n = write(fd, self->stream.p, len);
	if (flip >= 0)
		self->stream.p[flip] ^= 0x5a;
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

TEST_F(inspect, valid_stream)
{
	ASSERT_EQ(0, put(self, self->stream.len, -1));
	EXPECT_EQ(0, inspect(self->path, self->out, sizeof(self->out), self->err,
			     sizeof(self->err))) TH_LOG("%s", self->err);
	EXPECT_NE(NULL, strstr(self->out, "magic        0x534d5649 (IVMS)")) TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "bar2_size    2097152")) TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "offset 40         MEM   BAR2 0x0 + 1048576 bytes"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "offset 1048640    MEM   BAR2 0x100000 + 1048576 bytes"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "offset 2097240    REGS  intrmask 0x00000005"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, ": valid: 2 MEM and 0 ZERO record(s) cover all 2097152 bytes"))
		TH_LOG("%s", self->out);
}

/* Every kind of damage: exit status 5 and where and what, in the message. */
TEST_F(inspect, bad_streams)
{
	const long end = (long)self->stream.len;
	const struct {
		long cut;	/* 0: whole; > 0: first N bytes; < 0: without the last -N */
		long flip;	/* byte changed, -1 none */
		const char *says;
	} cases[] = {
		{ 0, 0, "at stream offset 0 (header.magic): bad magic" },
		{ 0, 4, "at stream offset 4 (header.version): bad version" },
		{ 0, 6, "at stream offset 6 (header.header_size)" },
		{ 0, 8, "at stream offset 8 (header.flags)" },
		{ 0, 17, "at stream offset 17 (header.reserved0)" },
		{ 0, 20, "at stream offset 20 (header.page_size)" },
		{ 0, 32, "at stream offset 32 (header.reserved1)" },
		{ 0, 40, "at stream offset 40 (record.type): unknown record type" },
		{ 0, 44, "at stream offset 44 (record.flags)" },
		{ 0, 48, "at stream offset 48 (MEM.offset)" },
		{ 0, 56, "at stream offset 56 (MEM.length)" },
		{ 0, 1048648, "at stream offset 1048648 (MEM.offset)" },
		{ 0, 2097248, "at stream offset 2097248 (REGS.offset)" },
		{ 0, 2097256, "at stream offset 2097256 (REGS.length)" },
		{ 0, 1000, "(END.crc32c): CRC32C" },
		{ 0, end - 8, "(END.crc32c): CRC32C" },
		{ 0, end - 4, "(END.reserved)" },
		{ 20, -1, "at stream offset 20: stream truncated in the header (20 of 40 bytes)" },
		{ 50, -1, "stream truncated in a record header (10 of 24 bytes)" },
		{ 1000, -1, "stream truncated in the MEM record at offset 40" },
		{ -4, -1, "stream truncated in the END record" },
		{ -32, -1, "stream truncated: it ends after a record, without an END record" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long len = cases[i].cut > 0 ? cases[i].cut : end + cases[i].cut;

		ASSERT_EQ(0, put(self, len, cases[i].flip));
		EXPECT_EQ(5, inspect(self->path, self->out, sizeof(self->out), self->err,
				     sizeof(self->err))) TH_LOG("case %zu: %s", i, self->err);
		EXPECT_NE(NULL, strstr(self->err, cases[i].says))
			TH_LOG("case %zu: want '%s' in: %s", i, cases[i].says, self->err);
	}
}

/*
 * A BAR2 of zeros but its first page: MEM of that page, a ZERO record for
 * the rest of each 1 MiB window, REGS, END.  Decoded, and malformed ZERO
 * records named by their field.
 */
TEST_F(inspect, zero_records)
{
	uint8_t *mem = calloc(1, BAR2);
	struct ivm_build_params p = {
		.vendor = 0x1af4, .device = 0x1110, .revision = 1,
		.page_size = IVM_STREAM_PAGE_SIZE, .bar2_size = BAR2,
		.intrmask = 0x5, .mem = mem, .zero_runs = true,
	};
	const struct {
		long at;	/* le64 field changed */
		uint64_t val;
		const char *says;
	} cases[] = {
		{ 4168, 0x1001, "at stream offset 4168 (ZERO.offset): ZERO offset 4097 not page aligned" },
		{ 4168, 0x200000, "at stream offset 4168 (ZERO.offset): ZERO offset 2097152 beyond BAR2" },
		{ 4176, 16, "at stream offset 4176 (ZERO.length): ZERO record length 16, expected 8" },
		{ 4184, 0, "at stream offset 4184 (ZERO.bytes): ZERO record of 0 bytes" },
		{ 4184, 4095, "at stream offset 4184 (ZERO.bytes): ZERO record of 4095 bytes" },
		{ 4184, 2 << 20, "at stream offset 4184 (ZERO.bytes): ZERO record of 2097152 bytes, more than" },
		{ 4200, 0x101000, "at stream offset 4216 (ZERO.bytes): ZERO record beyond BAR2" },
		{ 4200, 0xfffffffffffff000ULL, "at stream offset 4200 (ZERO.offset)" },
		{ 4216, 0xfffffffffffff000ULL, "(ZERO.bytes): ZERO record of 18446744073709547520 bytes, more than" },
	};
	uint64_t keep;
	size_t i;

	ASSERT_NE(NULL, mem);
	memset(mem, 0x11, 4096);
	vmt_buf_free(&self->stream);
	ASSERT_EQ(0, ivm_build(&self->stream, &p));
	ASSERT_EQ(4288, self->stream.len);
	ASSERT_EQ(0, put(self, self->stream.len, -1));
	EXPECT_EQ(0, inspect(self->path, self->out, sizeof(self->out), self->err,
			     sizeof(self->err))) TH_LOG("%s", self->err);
	EXPECT_NE(NULL, strstr(self->out, "offset 40         MEM   BAR2 0x0 + 4096 bytes"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "offset 4160       ZERO  BAR2 0x1000 + 1044480 bytes of zeros"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "offset 4192       ZERO  BAR2 0x100000 + 1048576 bytes of zeros"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "offset 4224       REGS"))
		TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, ": valid: 1 MEM and 2 ZERO record(s) cover all 2097152 bytes"))
		TH_LOG("%s", self->out);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		keep = ivm_get64(self->stream.p + cases[i].at);
		ivm_put64(self->stream.p + cases[i].at, cases[i].val);
		ivm_fix_crc(self->stream.p, self->stream.len - 32);
		ASSERT_EQ(0, put(self, self->stream.len, -1));
		ivm_put64(self->stream.p + cases[i].at, keep);
		EXPECT_EQ(5, inspect(self->path, self->out, sizeof(self->out), self->err,
				     sizeof(self->err))) TH_LOG("case %zu: %s", i, self->err);
		EXPECT_NE(NULL, strstr(self->err, cases[i].says))
			TH_LOG("case %zu: want '%s' in: %s", i, cases[i].says, self->err);
	}
	/* a ZERO record cut in its payload */
	ASSERT_EQ(0, put(self, 4188, -1));
	EXPECT_EQ(5, inspect(self->path, self->out, sizeof(self->out), self->err,
			     sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "stream truncated in the ZERO record at offset 4160"))
		TH_LOG("%s", self->err);
	free(mem);
}

TEST_F(inspect, bytes_after_the_end)
{
	ASSERT_EQ(0, vmt_buf_append(&self->stream, "x", 1));
	ASSERT_EQ(0, put(self, self->stream.len, -1));
	EXPECT_EQ(5, inspect(self->path, self->out, sizeof(self->out), self->err,
			     sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "1 bytes after the END record")) TH_LOG("%s", self->err);
}

TEST_HARNESS_MAIN
