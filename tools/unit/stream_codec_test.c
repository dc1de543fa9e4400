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

	u64 next = 0;
	bool regs_sent = false;

	/* What the driver sends without pre-copy: REGS, memory, END. */
	ivm_save_init(&cur, d);
	for (;;) {
		ivm_save_peek(&cur, &seg);
		if (seg.kind == IVM_SEG_DONE)
			break;
		if (seg.kind == IVM_SEG_IDLE) {
			if (!regs_sent) {
				ivm_save_regs(&cur, regs);
				regs_sent = true;
			} else if (next < d->mem_size) {
				n = d->mem_size - next < IVM_MEM_RECORD_MAX ?
				    d->mem_size - next : IVM_MEM_RECORD_MAX;
				ivm_save_mem(&cur, next, n);
				next += n;
			} else {
				ivm_save_end(&cur);
			}
			continue;
		}
		n = seg.len < chunk(mode) ? seg.len : chunk(mode);
		if (pos + n > cap)
			break;
		if (seg.kind == IVM_SEG_META)
			memcpy(out + pos, seg.data, n);
		else
			memcpy(out + pos, mem + seg.offset, n);
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
		n = len - pos < chunk(mode) ? len - pos : chunk(mode);
		ivm_parse_peek(p, &seg);
		if (seg.kind == IVM_SEG_MEM) {
			if (n > seg.len)
				n = seg.len;
			memcpy(mem + seg.offset, s + pos, n);
			ivm_parse_mem_done(p, s + pos, n);
			used = n;
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

FIXTURE_VARIANT(codec) {
	u64 mem_size;
	int mode;
};

FIXTURE_VARIANT_ADD(codec, page_bytewise) { .mem_size = 4096, .mode = 0 };
FIXTURE_VARIANT_ADD(codec, two_pages_by7) { .mem_size = 8192, .mode = 1 };
FIXTURE_VARIANT_ADD(codec, odd_size_random) { .mem_size = 12345, .mode = 4 };
FIXTURE_VARIANT_ADD(codec, mib_pages) { .mem_size = 1 << 20, .mode = 2 };
FIXTURE_VARIANT_ADD(codec, mib_plus_page_random) {
	.mem_size = (1 << 20) + 4096, .mode = 4 };
FIXTURE_VARIANT_ADD(codec, three_and_half_mib_big) {
	.mem_size = 7 << 19, .mode = 3 };

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
		self->mem[i] = rnd();
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

TEST_F(codec, size_is_exact)
{
	EXPECT_EQ(ivm_stream_size(&self->desc), self->len);
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
	u64 cut, step = self->len > 20000 ? 4093 : 1;

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
	u64 pos, step = self->len > 20000 ? 8191 : 1;
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
	u8 mem[8192] = { 0 }, regs[8] = { 0 }, dst[8192];
	struct ivm_parser p;
	struct ivm_record_header *r;
	u64 len;
	u8 *s = encode(&d, mem, regs, 2, &len);

	r = (void *)(s + sizeof(struct ivm_stream_header) +
		     sizeof(struct ivm_record_header) + 8);
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

TEST_HARNESS_MAIN
