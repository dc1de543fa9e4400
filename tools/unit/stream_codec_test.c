// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace unit tests of the driver's own stream codec (drivers/ivm_stream.c,
 * compiled unchanged): encoder and decoder against each other with random
 * chunking, and every kind of damage a stream can suffer.  Runs on the host,
 * no device needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "../../drivers/ivm_stream.h"

/* CRC32C, reflected polynomial 0x82f63b78, no pre/post inversion here. */
u32 ivm_crc32c(u32 crc, const void *data, size_t len)
{
	static u32 table[256];
	const u8 *p = data;
	u32 i, j, c;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			c = i;
			for (j = 0; j < 8; j++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
			table[i] = c;
		}
	}
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static unsigned int rnd_state = 12345;

static unsigned int rnd(void)
{
	rnd_state = rnd_state * 1103515245U + 12345U;
	return rnd_state >> 8;
}

static size_t chunk(int mode)
{
	switch (mode) {
	case 0:
		return 1;
	case 1:
		return 7;
	case 2:
		return 4096;
	case 3:
		return 1 << 20;
	default:
		return 1 + rnd() % 70000;
	}
}

/* Encode a stream of @mem into a malloc'd buffer; returns its length. */
static u8 *encode(const struct ivm_stream_desc *d, const u8 *mem,
		  const u8 *regs, int mode, u64 *len)
{
	struct ivm_save_cursor cur;
	u64 cap = ivm_stream_size(d), pos = 0, n;
	u8 *out = malloc(cap + 1);
	struct ivm_seg seg;

	u64 next = 0, win = 0;
	bool regs_sent = false;

	/*
	 * What the driver sends without pre-copy: windows of memory (MEM and
	 * ZERO records), REGS, END.  ivm_save_pending() must be exactly what
	 * the queued records still emit.
	 */
	ivm_save_init(&cur, d);
	for (;;) {
		ivm_save_peek(&cur, &seg);
		if (seg.kind == IVM_SEG_DONE)
			break;
		if (seg.kind == IVM_SEG_IDLE) {
			if (win && win != pos)
				break;	/* pending was wrong: a short stream */
			if (next < d->mem_size) {
				n = d->mem_size - next < IVM_MEM_RECORD_MAX ?
				    d->mem_size - next : IVM_MEM_RECORD_MAX;
				ivm_save_window(&cur, next, n, mem + next);
				win = pos + ivm_save_pending(&cur);
				if (win > pos + ivm_window_bound(n))
					break;
				next += n;
			} else if (!regs_sent) {
				ivm_save_regs(&cur, regs);
				regs_sent = true;
				win = 0;
			} else {
				ivm_save_end(&cur);
			}
			continue;
		}
		n = chunk(mode);	/* once: random in mode 4 */
		n = seg.len < n ? seg.len : n;
		if (pos + n > cap)
			break;
		memcpy(out + pos, seg.data, n);
		ivm_save_advance(&cur, out + pos, n);
		pos += n;
	}
	*len = pos;
	return out;
}

/*
 * Feed @len bytes of @s to a parser in chunks; memory payload lands in @mem.
 * Returns 0 if the stream was accepted completely, -1 if it was rejected by
 * a write, -2 if it was only rejected by ivm_parse_finish().
 */
static int decode(struct ivm_parser *p, const struct ivm_stream_desc *d,
		  const u8 *s, u64 len, u8 *mem, int mode)
{
	static u8 cover[1 << 16];
	struct ivm_seg seg;
	u64 pos = 0, n;
	long used;

	if (ivm_cover_size(d) > sizeof(cover))
		return -3;
	ivm_parse_init(p, d, cover);
	while (pos < len) {
		n = chunk(mode);
		n = len - pos < n ? len - pos : n;
		ivm_parse_peek(p, &seg);
		if (seg.kind == IVM_SEG_ZERO) {
			memset(mem + seg.offset, 0, seg.len);
			ivm_parse_zero_done(p, seg.len);
			continue;
		}
		if (seg.kind == IVM_SEG_MEM) {
			if (n > seg.len)
				n = seg.len;
			memcpy(mem + seg.offset, s + pos, n);
			ivm_parse_mem_done(p, s + pos, n);
			used = n;
		} else if (mode == 5 && ivm_parse_meta_want(p)) {
			/* as the driver copies: exactly what completes the piece */
			n = ivm_parse_meta_want(p);
			if (n > IVM_META_MAX)
				return -4;
			n = len - pos < n ? len - pos : n;
			used = ivm_parse_meta(p, s + pos, n);
			if (used < 0)
				return -1;
			if ((u64)used != n)
				return -4;	/* wanted more or less than it took */
		} else {
			used = ivm_parse_meta(p, s + pos, n);
			if (used < 0)
				return -1;
		}
		pos += used;
	}
	return ivm_parse_finish(p) ? -2 : 0;
}

FIXTURE(codec) {
	struct ivm_stream_desc desc;
	u8 *mem;
	u8 *dst;
	u8 regs[8];
	u8 *stream;
	u64 len;
	struct ivm_parser parser;
};

enum content { RANDOM, ALL_ZERO, MIXED, LAST_BYTE };

FIXTURE_VARIANT(codec) {
	u64 mem_size;
	int mode;
	enum content content;
};

FIXTURE_VARIANT_ADD(codec, page_bytewise) { .mem_size = 4096, .mode = 0 };
FIXTURE_VARIANT_ADD(codec, zero_page_bytewise) {
	.mem_size = 4096, .mode = 0, .content = ALL_ZERO };
FIXTURE_VARIANT_ADD(codec, zero_odd_size_by7) {
	.mem_size = 12345, .mode = 1, .content = ALL_ZERO };
FIXTURE_VARIANT_ADD(codec, zero_three_and_half_mib_random) {
	.mem_size = 7 << 19, .mode = 4, .content = ALL_ZERO };
FIXTURE_VARIANT_ADD(codec, mixed_two_mib_random) {
	.mem_size = 2 << 20, .mode = 4, .content = MIXED };
FIXTURE_VARIANT_ADD(codec, mixed_odd_size_pages) {
	.mem_size = (1 << 20) + 12345, .mode = 2, .content = MIXED };
FIXTURE_VARIANT_ADD(codec, last_byte_set_random) {
	.mem_size = 1 << 20, .mode = 4, .content = LAST_BYTE };
FIXTURE_VARIANT_ADD(codec, two_pages_by7) { .mem_size = 8192, .mode = 1 };
FIXTURE_VARIANT_ADD(codec, odd_size_random) { .mem_size = 12345, .mode = 4 };
FIXTURE_VARIANT_ADD(codec, mib_pages) { .mem_size = 1 << 20, .mode = 2 };
FIXTURE_VARIANT_ADD(codec, mib_plus_page_random) {
	.mem_size = (1 << 20) + 4096, .mode = 4 };
FIXTURE_VARIANT_ADD(codec, three_and_half_mib_big) {
	.mem_size = 7 << 19, .mode = 3 };
/* meta in exactly the pieces ivm_parse_meta_want() names, as ivm_resume_write() */
FIXTURE_VARIANT_ADD(codec, mixed_two_mib_meta_want) {
	.mem_size = 2 << 20, .mode = 5, .content = MIXED };
FIXTURE_VARIANT_ADD(codec, odd_size_meta_want) { .mem_size = 12345, .mode = 5 };

FIXTURE_SETUP(codec)
{
	u64 i;

	self->desc = (struct ivm_stream_desc){
		.vendor = 0x1af4, .device = 0x1110, .revision = 1,
		.mem_size = variant->mem_size, .regs_size = 8,
	};
	self->mem = malloc(variant->mem_size);
	self->dst = calloc(1, variant->mem_size);
	ASSERT_NE(NULL, self->mem);
	ASSERT_NE(NULL, self->dst);
	for (i = 0; i < variant->mem_size; i++)
		self->mem[i] = rnd() | 1;
	for (i = 0; i < variant->mem_size; i += 4096) {
		u64 n = variant->mem_size - i < 4096 ? variant->mem_size - i : 4096;

		/* MIXED: runs of zero pages of random lengths, some whole */
		if (variant->content == ALL_ZERO ||
		    (variant->content == MIXED && (rnd() % 3 || i / 4096 % 97 < 40)))
			memset(self->mem + i, 0, n);
		else if (variant->content == LAST_BYTE)
			memset(self->mem + i, 0, n - 1);
	}
	/* the destination holds other data: zeros must be written */
	memset(self->dst, 0xa5, variant->mem_size);
	for (i = 0; i < sizeof(self->regs); i++)
		self->regs[i] = rnd();
	self->stream = encode(&self->desc, self->mem, self->regs,
			      variant->mode, &self->len);
}

FIXTURE_TEARDOWN(codec)
{
	free(self->mem);
	free(self->dst);
	free(self->stream);
}

static bool zero_page(const u8 *p)
{
	u64 i;

	for (i = 0; i < 4096; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * The length the format's rules give: per 1 MiB window, a ZERO record of
 * 32 bytes per run of whole zero pages, a MEM record per run of others.
 */
static u64 model_len(const struct ivm_stream_desc *d, const u8 *mem)
{
	u64 len = sizeof(struct ivm_stream_header), off;
	int prev = -1;

	for (off = 0; off < d->mem_size; off += 4096) {
		u64 n = d->mem_size - off < 4096 ? d->mem_size - off : 4096;
		int zero = n == 4096 && zero_page(mem + off);

		if (off % IVM_MEM_RECORD_MAX == 0 || zero != prev)
			len += sizeof(struct ivm_record_header) +
			       (zero ? sizeof(struct ivm_zero_payload) : 0);
		if (!zero)
			len += n;
		prev = zero;
	}
	return len + ivm_stream_tail_size(d);
}

TEST_F(codec, size_is_exact)
{
	/* ivm_stream_size(): exact without zero pages, else a bound */
	if (variant->content == RANDOM || variant->content == LAST_BYTE) {
		EXPECT_EQ(ivm_stream_size(&self->desc), self->len);
	} else {
		EXPECT_GT(ivm_stream_size(&self->desc), self->len);
	}
	EXPECT_EQ(model_len(&self->desc, self->mem), self->len);
}

TEST_F(codec, round_trip)
{
	ASSERT_EQ(0, decode(&self->parser, &self->desc, self->stream,
			    self->len, self->dst, variant->mode))
		TH_LOG("%s", self->parser.err);
	EXPECT_EQ(0, memcmp(self->mem, self->dst, variant->mem_size));
	EXPECT_EQ(0, memcmp(self->regs, self->parser.regs, 8));
}

TEST_F(codec, every_truncation_rejected)
{
	/* every byte of small streams; about 64 odd-spaced cuts of big ones */
	u64 cut, step = self->len <= 20000 ? 1 :
			self->len / 64 > 4093 ? self->len / 64 | 1 : 4093;

	for (cut = 0; cut < self->len; cut += step)
		ASSERT_GT(0, decode(&self->parser, &self->desc, self->stream,
				    cut, self->dst, 4))
			TH_LOG("truncated at %llu accepted",
			       (unsigned long long)cut);
}

TEST_F(codec, trailing_byte_rejected)
{
	self->stream[self->len] = 0;
	EXPECT_EQ(-1, decode(&self->parser, &self->desc, self->stream,
			     self->len + 1, self->dst, variant->mode));
	EXPECT_NE(NULL, strstr(self->parser.err, "after the END"));
}

TEST_F(codec, every_bit_flip_rejected)
{
	u64 pos, step = self->len <= 20000 ? 1 :
			self->len / 64 > 8191 ? self->len / 64 | 1 : 8191;
	int bit = 0;

	for (pos = 0; pos < self->len; pos += step) {
		self->stream[pos] ^= 1 << bit;
		ASSERT_GT(0, decode(&self->parser, &self->desc, self->stream,
				    self->len, self->dst, 4))
			TH_LOG("flip at byte %llu accepted",
			       (unsigned long long)pos);
		self->stream[pos] ^= 1 << bit;
		bit = (bit + 1) % 8;
	}
}

struct field_case {
	const char *name;
	u64 vendor, device, revision, mem_size;
};

TEST_F(codec, identity_mismatch_names_field)
{
	const struct field_case cases[] = {
		{ "vendor", 0x1af5, 0x1110, 1, self->desc.mem_size },
		{ "device", 0x1af4, 0x1111, 1, self->desc.mem_size },
		{ "revision", 0x1af4, 0x1110, 2, self->desc.mem_size },
		{ "bar2_size", 0x1af4, 0x1110, 1, self->desc.mem_size * 2 },
	};
	struct ivm_stream_desc d;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		d = self->desc;
		d.vendor = cases[i].vendor;
		d.device = cases[i].device;
		d.revision = cases[i].revision;
		d.mem_size = cases[i].mem_size;
		ASSERT_EQ(-1, decode(&self->parser, &d, self->stream,
				     self->len, self->dst, variant->mode));
		EXPECT_EQ(0, strncmp(self->parser.err, cases[i].name,
				     strlen(cases[i].name)))
			TH_LOG("%s: %s", cases[i].name, self->parser.err);
		/* Rejected on the header, before any memory was written. */
		EXPECT_GE(sizeof(struct ivm_stream_header), self->parser.pos);
	}
}

TEST(desc_limits)
{
	struct ivm_stream_desc d = { .mem_size = 0, .regs_size = 8 };

	EXPECT_FALSE(ivm_desc_valid(&d));
	d.mem_size = 1;
	EXPECT_TRUE(ivm_desc_valid(&d));
	d.regs_size = IVM_REGS_MAX + 1;
	EXPECT_FALSE(ivm_desc_valid(&d));
	d.regs_size = 8;
	d.mem_size = 1ULL << 49;
	EXPECT_FALSE(ivm_desc_valid(&d));
}

/* A MEM record whose length overflows offset + length is refused. */
TEST(mem_length_overflow)
{
	struct ivm_stream_desc d = {
		.vendor = 0x1af4, .device = 0x1110, .revision = 1,
		.mem_size = 8192, .regs_size = 8,
	};
	u8 mem[8192], regs[8] = { 0 }, dst[8192];
	struct ivm_parser p;
	struct ivm_record_header *r;
	u64 len;
	u8 *s;

	memset(mem, 1, sizeof(mem));
	s = encode(&d, mem, regs, 2, &len);
	r = (void *)(s + sizeof(struct ivm_stream_header));
	ASSERT_EQ(IVM_REC_MEM, r->type);
	r->length = ~0ULL;
	EXPECT_EQ(-1, decode(&p, &d, s, len, dst, 2));
	EXPECT_NE(NULL, strstr(p.err, "MEM length")) TH_LOG("%s", p.err);
	free(s);
}

/* Build a record header at @p; returns its size. */
static size_t rec(u8 *p, u32 type, u64 off, u64 len)
{
	struct ivm_record_header *r = (void *)p;

	memset(r, 0, sizeof(*r));
	r->type = type;
	r->offset = off;
	r->length = len;
	return sizeof(*r);
}

/*
 * Version 2: a stream of 3 pages sent as page 2, pages 0-1, page 1 again,
 * REGS, END.  @skip_page0 leaves page 0 out, @twice_regs sends REGS twice.
 */
static u8 *build_v2(const struct ivm_stream_desc *d, const u8 *mem,
		    bool skip_page0, bool twice_regs, u64 *len)
{
	u8 *s = calloc(1, 1 << 16), *p;
	struct ivm_save_cursor cur;
	struct ivm_seg seg;

	/* The header as the encoder makes it. */
	ivm_save_init(&cur, d);
	ivm_save_peek(&cur, &seg);
	memcpy(s, seg.data, seg.len);
	p = s + seg.len;
	p += rec(p, IVM_REC_MEM, 8192, 4096);
	memcpy(p, mem + 8192, 4096);
	p += 4096;
	if (!skip_page0) {
		p += rec(p, IVM_REC_MEM, 0, 8192);
		memcpy(p, mem, 8192);
		p += 8192;
	}
	p += rec(p, IVM_REC_MEM, 4096, 4096);
	memcpy(p, mem + 4096, 4096);
	p += 4096;
	p += rec(p, IVM_REC_REGS, 0, 8);
	memset(p, 0x5a, 8);
	p += 8;
	if (twice_regs) {
		p += rec(p, IVM_REC_REGS, 0, 8);
		p += 8;
	}
	p += rec(p, IVM_REC_END, 0, 8);
	*(u32 *)p = ~ivm_crc32c(~0U, s, p - s - sizeof(struct ivm_record_header));
	*(u32 *)(p + 4) = 0;
	*len = p + 8 - s;
	return s;
}

static const struct ivm_stream_desc v2_desc = {
	.vendor = 0x1af4, .device = 0x1110, .revision = 1,
	.mem_size = 3 * 4096, .regs_size = 8,
};

/* Out of order and repeated MEM records, REGS last: accepted. */
TEST(v2_out_of_order_repeated)
{
	u8 mem[3 * 4096], dst[3 * 4096] = { 0 };
	struct ivm_parser p;
	u64 len, i;
	u8 *s;

	for (i = 0; i < sizeof(mem); i++)
		mem[i] = rnd();
	s = build_v2(&v2_desc, mem, false, false, &len);
	ASSERT_EQ(0, decode(&p, &v2_desc, s, len, dst, 1)) TH_LOG("%s", p.err);
	EXPECT_EQ(0, memcmp(mem, dst, sizeof(mem)));
	EXPECT_EQ(0x5a, p.regs[7]);
	free(s);
}

/* END before every page arrived: refused at the END record. */
TEST(v2_coverage_incomplete)
{
	u8 mem[3 * 4096] = { 0 }, dst[3 * 4096];
	struct ivm_parser p;
	u64 len;
	u8 *s = build_v2(&v2_desc, mem, true, false, &len);

	EXPECT_EQ(-1, decode(&p, &v2_desc, s, len, dst, 4));
	EXPECT_NE(NULL, strstr(p.err, "pages received")) TH_LOG("%s", p.err);
	free(s);
}

/* A second REGS record is refused. */
TEST(v2_second_regs)
{
	u8 mem[3 * 4096] = { 0 }, dst[3 * 4096];
	struct ivm_parser p;
	u64 len;
	u8 *s = build_v2(&v2_desc, mem, false, true, &len);

	EXPECT_EQ(-1, decode(&p, &v2_desc, s, len, dst, 0));
	EXPECT_NE(NULL, strstr(p.err, "second REGS")) TH_LOG("%s", p.err);
	free(s);
}

/* A version 1 stream is refused with a message that says so. */
TEST(v1_refused)
{
	u8 mem[3 * 4096] = { 0 }, dst[3 * 4096];
	struct ivm_parser p;
	u64 len;
	u8 *s = build_v2(&v2_desc, mem, false, false, &len);

	s[4] = 1;
	s[5] = 0;
	EXPECT_EQ(-1, decode(&p, &v2_desc, s, len, dst, 2));
	EXPECT_NE(NULL, strstr(p.err, "v1 streams")) TH_LOG("%s", p.err);
	free(s);
}

/* One record of a hand-made stream; ZERO: @bytes is the payload. */
struct hrec {
	u32 type;
	u32 flags;
	u64 off;
	u64 len;
	u64 bytes;
};

/*
 * A stream of @d with the header the encoder makes and then @n records:
 * MEM payload from @mem, ZERO payload @bytes, REGS payload 0x5a; END with
 * its CRC is appended.  Sets @at[i] to the stream offset of record i.
 */
static u8 *build_recs(const struct ivm_stream_desc *d, const u8 *mem,
		      const struct hrec *r, int n, u64 *at, u64 *len)
{
	u8 *s = calloc(1, 1 << 20), *p;
	struct ivm_save_cursor cur;
	struct ivm_seg seg;
	int i;

	ivm_save_init(&cur, d);
	ivm_save_peek(&cur, &seg);
	memcpy(s, seg.data, seg.len);
	p = s + seg.len;
	for (i = 0; i < n; i++) {
		if (at)
			at[i] = p - s;
		p += rec(p, r[i].type, r[i].off, r[i].len);
		((struct ivm_record_header *)(p - 24))->flags = r[i].flags;
		switch (r[i].type) {
		case IVM_REC_MEM:
			memcpy(p, mem + r[i].off, r[i].len);
			p += r[i].len;
			break;
		case IVM_REC_ZERO:
			memcpy(p, &r[i].bytes, 8);
			p += 8;
			break;
		default:
			memset(p, 0x5a, 8);
			p += 8;
		}
	}
	p += rec(p, IVM_REC_END, 0, 8);
	*(u32 *)p = ~ivm_crc32c(~0U, s, p - s - sizeof(struct ivm_record_header));
	*(u32 *)(p + 4) = 0;
	*len = p + 8 - s;
	return s;
}

/* MEM all, ZERO page 1, REGS: page 1 ends zero, the others as sent. */
TEST(zero_record_writes_zeros)
{
	const struct hrec r[] = {
		{ IVM_REC_MEM, 0, 0, 3 * 4096, 0 },
		{ IVM_REC_ZERO, 0, 4096, 8, 4096 },
		{ IVM_REC_REGS, 0, 0, 8, 0 },
	};
	u8 mem[3 * 4096], dst[3 * 4096], zero[4096] = { 0 };
	struct ivm_parser p;
	u64 len, i;
	u8 *s;

	for (i = 0; i < sizeof(mem); i++)
		mem[i] = rnd() | 1;
	memset(dst, 0xa5, sizeof(dst));
	s = build_recs(&v2_desc, mem, r, 3, NULL, &len);
	ASSERT_EQ(0, decode(&p, &v2_desc, s, len, dst, 1)) TH_LOG("%s", p.err);
	EXPECT_EQ(0, memcmp(mem, dst, 4096));
	EXPECT_EQ(0, memcmp(zero, dst + 4096, 4096));
	EXPECT_EQ(0, memcmp(mem + 8192, dst + 8192, 4096));
	free(s);
}

/* ZERO records alone may cover the memory; a later MEM replaces one. */
TEST(zero_then_mem_covers)
{
	const struct hrec r[] = {
		{ IVM_REC_ZERO, 0, 0, 8, 3 * 4096 },
		{ IVM_REC_MEM, 0, 8192, 4096, 0 },
		{ IVM_REC_REGS, 0, 0, 8, 0 },
	};
	u8 mem[3 * 4096], dst[3 * 4096];
	struct ivm_parser p;
	u64 len;
	u8 *s;

	memset(mem, 7, sizeof(mem));
	memset(dst, 0xa5, sizeof(dst));
	s = build_recs(&v2_desc, mem, r, 3, NULL, &len);
	ASSERT_EQ(0, decode(&p, &v2_desc, s, len, dst, 4)) TH_LOG("%s", p.err);
	EXPECT_EQ(0, dst[0]);
	EXPECT_EQ(0, dst[8191]);
	EXPECT_EQ(7, dst[8192]);
	EXPECT_EQ(7, dst[3 * 4096 - 1]);
	free(s);
}

struct bad_zero {
	const char *name;
	struct hrec z;
	const char *says;
	int field;	/* byte of the record where the error is found */
};

/*
 * Malformed ZERO records (record 1, after a MEM record of all memory):
 * each refused when the piece that breaks the rule is complete, with a
 * message naming it, and before any zero is written.
 */
TEST(zero_malformed_refused)
{
	const struct bad_zero cases[] = {
		{ "zero bytes", { IVM_REC_ZERO, 0, 4096, 8, 0 },
		  "ZERO bytes is 0", 32 },
		{ "bytes not a page multiple", { IVM_REC_ZERO, 0, 4096, 8, 4095 },
		  "ZERO bytes (page multiple)", 32 },
		{ "past the end of BAR2", { IVM_REC_ZERO, 0, 8192, 8, 8192 },
		  "ZERO bytes (past the end of BAR2)", 32 },
		{ "longer than a record may be", { IVM_REC_ZERO, 0, 0, 8, 2 << 20 },
		  "ZERO bytes (at most", 32 },
		{ "bytes overflow the offset", { IVM_REC_ZERO, 0, 4096, 8, ~0ULL - 4095 },
		  "ZERO bytes (at most", 32 },
		{ "offset beyond BAR2", { IVM_REC_ZERO, 0, 3 * 4096, 8, 4096 },
		  "ZERO offset (inside BAR2)", 24 },
		{ "offset wraps", { IVM_REC_ZERO, 0, ~0ULL - 4095, 8, 8192 },
		  "ZERO offset (inside BAR2)", 24 },
		{ "offset not a page multiple", { IVM_REC_ZERO, 0, 100, 8, 4096 },
		  "ZERO offset (page multiple)", 24 },
		{ "record length not 8", { IVM_REC_ZERO, 0, 4096, 16, 4096 },
		  "ZERO length", 24 },
		{ "record length 0", { IVM_REC_ZERO, 0, 4096, 0, 4096 },
		  "ZERO length", 24 },
		{ "flags", { IVM_REC_ZERO, 1, 4096, 8, 4096 },
		  "record flags", 24 },
	};
	u8 mem[3 * 4096], dst[3 * 4096];
	struct ivm_parser p;
	unsigned int i;
	u64 len, at[3];
	u8 *s;
	int mode;

	memset(mem, 3, sizeof(mem));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct hrec r[] = {
			{ IVM_REC_MEM, 0, 0, 3 * 4096, 0 }, cases[i].z,
			{ IVM_REC_REGS, 0, 0, 8, 0 },
		};

		s = build_recs(&v2_desc, mem, r, 3, at, &len);
		for (mode = 0; mode < 5; mode += 4) {
			memset(dst, 0xa5, sizeof(dst));
			EXPECT_EQ(-1, decode(&p, &v2_desc, s, len, dst, mode))
				TH_LOG("%s: accepted", cases[i].name);
			EXPECT_NE(NULL, strstr(p.err, cases[i].says))
				TH_LOG("%s: %s", cases[i].name, p.err);
			EXPECT_EQ(at[1] + cases[i].field, p.pos)
				TH_LOG("%s: refused at byte %llu: %s", cases[i].name,
				       (unsigned long long)p.pos, p.err);
			/* the MEM record landed, no zero did */
			EXPECT_EQ(3, dst[4096]);
			EXPECT_EQ(3, dst[8192]);
		}
		free(s);
	}
}

/* After REGS only END: a ZERO or MEM record there is refused. */
TEST(zero_after_regs_refused)
{
	const struct hrec r[] = {
		{ IVM_REC_MEM, 0, 0, 3 * 4096, 0 },
		{ IVM_REC_REGS, 0, 0, 8, 0 },
		{ IVM_REC_ZERO, 0, 0, 8, 4096 },
	};
	u8 mem[3 * 4096] = { 0 }, dst[3 * 4096];
	struct ivm_parser p;
	u64 len, at[3];
	u8 *s = build_recs(&v2_desc, mem, r, 3, at, &len);

	EXPECT_EQ(-1, decode(&p, &v2_desc, s, len, dst, 0));
	EXPECT_NE(NULL, strstr(p.err, "only END after REGS")) TH_LOG("%s", p.err);
	EXPECT_EQ(at[2] + 24, p.pos);
	free(s);
}

/*
 * Zero pages shrink the stream: all zero, 32 bytes per MiB (a partial last
 * page is a MEM record); decoded over other data, all zero again.
 */
TEST(zero_runs_shrink)
{
	static const u64 sizes[] = { 4096, 7 << 19, (3 << 20) + 100 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct ivm_stream_desc d = {
			.vendor = 0x1af4, .device = 0x1110, .revision = 1,
			.mem_size = sizes[i], .regs_size = 8,
		};
		u8 *mem = calloc(1, sizes[i]), *dst = malloc(sizes[i]);
		u8 regs[8] = { 1 };
		struct ivm_parser p;
		u64 len, pages = sizes[i] / 4096, tail = sizes[i] % 4096;
		u8 *s;

		ASSERT_NE(NULL, mem);
		ASSERT_NE(NULL, dst);
		s = encode(&d, mem, regs, 4, &len);
		EXPECT_EQ(sizeof(struct ivm_stream_header) +
			  (pages + 255) / 256 * 32 + (tail ? 24 + tail : 0) +
			  ivm_stream_tail_size(&d), len);
		memset(dst, 0xa5, sizes[i]);
		EXPECT_EQ(0, decode(&p, &d, s, len, dst, 4)) TH_LOG("%s", p.err);
		EXPECT_EQ(0, memcmp(mem, dst, sizes[i]));
		free(s);
		free(dst);
		free(mem);
	}
}

/* The encoder splits a window into MEM and ZERO runs and says so exactly. */
TEST(window_runs_and_pending)
{
	static const struct ivm_stream_desc d = {
		.vendor = 0x1af4, .device = 0x1110, .revision = 1,
		.mem_size = 6 * 4096 + 100, .regs_size = 8,
	};
	u8 mem[6 * 4096 + 100] = { 0 }, out[8 * 4096];
	struct ivm_save_cursor cur;
	struct ivm_seg seg;
	u64 pos = 0, types[8], nrec = 0;

	mem[4096 + 5] = 1;		/* page 1 */
	mem[4 * 4096] = 2;		/* page 4 */
	/* pages 0, 2-3 and 5 zero; the partial last page goes as MEM */
	ivm_save_init(&cur, &d);
	ivm_save_peek(&cur, &seg);
	ivm_save_advance(&cur, seg.data, seg.len);
	ivm_save_window(&cur, 0, d.mem_size, mem);
	EXPECT_EQ(32 + (24 + 4096) + 32 + (24 + 4096) + 32 + (24 + 100),
		  ivm_save_pending(&cur));
	for (;;) {
		ivm_save_peek(&cur, &seg);
		if (seg.kind == IVM_SEG_IDLE)
			break;
		if (cur.phase == IVM_SAVE_MEM_HDR || cur.phase == IVM_SAVE_ZERO)
			if (cur.meta_pos == 0 && nrec < 8)
				types[nrec++] = cur.meta[0];
		memcpy(out + pos, seg.data, seg.len > 1000 ? 1000 : seg.len);
		ivm_save_advance(&cur, out + pos, seg.len > 1000 ? 1000 : seg.len);
		pos += seg.len > 1000 ? 1000 : seg.len;
	}
	EXPECT_EQ(32 + (24 + 4096) + 32 + (24 + 4096) + 32 + (24 + 100), pos);
	ASSERT_EQ(6, nrec);
	EXPECT_EQ(IVM_REC_ZERO, types[0]);
	EXPECT_EQ(IVM_REC_MEM, types[1]);
	EXPECT_EQ(IVM_REC_ZERO, types[2]);
	EXPECT_EQ(IVM_REC_MEM, types[3]);
	EXPECT_EQ(IVM_REC_ZERO, types[4]);
	EXPECT_EQ(IVM_REC_MEM, types[5]);
	/* ZERO of pages 2-3: offset 8192, 8192 bytes */
	EXPECT_EQ(8192, *(u64 *)(out + 32 + 24 + 4096 + 8));
	EXPECT_EQ(8192, *(u64 *)(out + 32 + 24 + 4096 + 24));
}

TEST_HARNESS_MAIN
