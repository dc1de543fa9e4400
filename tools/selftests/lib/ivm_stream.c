// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ivm_stream.h"
#include "vmt_crc32c.h"

enum {
	PH_HDR,
	PH_RECHDR,
	PH_REGS,
	PH_MEM,
	PH_END,
	PH_DONE,
	PH_FAILED,
};

static int fail(struct ivm_checker *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ivm_checker *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(c->err, sizeof(c->err), "at stream offset %llu: ",
		     (unsigned long long)c->pos);
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - n, fmt, ap);
	va_end(ap);
	c->failed = true;
	c->phase = PH_FAILED;
	return -1;
}

void ivm_check_init(struct ivm_checker *c)
{
	memset(c, 0, sizeof(*c));
	c->phase = PH_HDR;
}

void ivm_check_free(struct ivm_checker *c)
{
	free(c->recs);
	c->recs = NULL;
	c->nrecs = 0;
	c->recs_cap = 0;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int parse_header(struct ivm_checker *c)
{
	const uint8_t *b = c->small;
	struct ivm_hdr_info *h = &c->hdr;

	h->magic = ivm_get32(b + 0);
	h->version = ivm_get16(b + 4);
	h->header_size = ivm_get16(b + 6);
	h->flags = ivm_get32(b + 8);
	h->vendor = ivm_get16(b + 12);
	h->device = ivm_get16(b + 14);
	h->revision = b[16];
	memcpy(h->reserved0, b + 17, 3);
	h->page_size = ivm_get32(b + 20);
	h->bar2_size = ivm_get64(b + 24);
	h->reserved1 = ivm_get64(b + 32);
	c->have_hdr = true;

	if (h->magic != IVM_STREAM_MAGIC)
		return fail(c, "bad magic 0x%08x", h->magic);
	if (h->version != IVM_STREAM_VERSION)
		return fail(c, "bad version %u", h->version);
	if (h->header_size != IVM_HDR_LEN)
		return fail(c, "bad header_size %u", h->header_size);
	if (h->flags)
		return fail(c, "nonzero flags 0x%x", h->flags);
	if (h->reserved0[0] || h->reserved0[1] || h->reserved0[2])
		return fail(c, "nonzero reserved0");
	if (h->reserved1)
		return fail(c, "nonzero reserved1");
	if (!is_pow2(h->page_size))
		return fail(c, "page_size %u not a power of two", h->page_size);
	if (!h->bar2_size)
		return fail(c, "bar2_size is zero");
	return 0;
}

static int add_rec(struct ivm_checker *c, const struct ivm_rec_pos *r)
{
	if (c->nrecs == c->recs_cap) {
		size_t cap = c->recs_cap ? c->recs_cap * 2 : 64;
		struct ivm_rec_pos *n = realloc(c->recs, cap * sizeof(*n));

		if (!n)
			return fail(c, "out of memory");
		c->recs = n;
		c->recs_cap = cap;
	}
	c->recs[c->nrecs++] = *r;
	return 0;
}

static int parse_rechdr(struct ivm_checker *c)
{
	struct ivm_rec_pos r;
	const uint8_t *b = c->small;

	r.pos = c->pos - IVM_RECHDR_LEN;
	r.type = ivm_get32(b + 0);
	r.flags = ivm_get32(b + 4);
	r.offset = ivm_get64(b + 8);
	r.length = ivm_get64(b + 16);
	if (add_rec(c, &r))
		return -1;

	if (r.flags)
		return fail(c, "record type %u with flags 0x%x", r.type, r.flags);

	switch (r.type) {
	case IVM_REC_REGS:
		if (c->have_regs)
			return fail(c, "second REGS record");
		if (c->nmem)
			return fail(c, "REGS record after MEM records");
		if (r.offset || r.length != IVM_REGS_LEN)
			return fail(c, "REGS record offset %llu length %llu",
				    (unsigned long long)r.offset,
				    (unsigned long long)r.length);
		c->crc = vmt_crc32c(c->crc, b, IVM_RECHDR_LEN);
		c->phase = PH_REGS;
		c->left = IVM_REGS_LEN;
		return 0;
	case IVM_REC_MEM:
		if (!c->have_regs)
			return fail(c, "MEM record before REGS record");
		if (c->nmem && (c->last_mem_len % c->hdr.page_size))
			return fail(c, "MEM record after a short (%llu) one",
				    (unsigned long long)c->last_mem_len);
		if (r.offset != c->covered)
			return fail(c, "MEM record at %llu, expected %llu",
				    (unsigned long long)r.offset,
				    (unsigned long long)c->covered);
		if (r.offset % c->hdr.page_size)
			return fail(c, "MEM offset %llu not page aligned",
				    (unsigned long long)r.offset);
		if (!r.length || r.length > IVM_MEM_RECORD_MAX)
			return fail(c, "MEM record length %llu",
				    (unsigned long long)r.length);
		if (r.length > c->hdr.bar2_size - r.offset)
			return fail(c, "MEM record beyond BAR2 (%llu+%llu)",
				    (unsigned long long)r.offset,
				    (unsigned long long)r.length);
		c->crc = vmt_crc32c(c->crc, b, IVM_RECHDR_LEN);
		c->nmem++;
		c->last_mem_len = r.length;
		if (r.length > c->max_mem_len)
			c->max_mem_len = r.length;
		c->mem_off = r.offset;
		c->left = r.length;
		c->phase = PH_MEM;
		return 0;
	case IVM_REC_END:
		if (!c->have_regs)
			return fail(c, "END record without REGS record");
		if (c->covered != c->hdr.bar2_size)
			return fail(c, "END record after %llu of %llu BAR2 bytes",
				    (unsigned long long)c->covered,
				    (unsigned long long)c->hdr.bar2_size);
		if (r.offset || r.length != IVM_END_LEN)
			return fail(c, "END record offset %llu length %llu",
				    (unsigned long long)r.offset,
				    (unsigned long long)r.length);
		c->end_pos = r.pos;
		c->crc_calc = c->crc;
		c->phase = PH_END;
		c->left = IVM_END_LEN;
		return 0;
	default:
		return fail(c, "unknown record type %u", r.type);
	}
}

int ivm_check_feed(struct ivm_checker *c, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n) {
		size_t take;

		switch (c->phase) {
		case PH_FAILED:
			return -1;
		case PH_DONE:
			return fail(c, "%zu bytes after the END record", n);
		case PH_HDR:
		case PH_RECHDR: {
			size_t need = c->phase == PH_HDR ? IVM_HDR_LEN : IVM_RECHDR_LEN;

			take = need - c->have;
			if (take > n)
				take = n;
			memcpy(c->small + c->have, s, take);
			c->have += take;
			c->pos += take;
			s += take;
			n -= take;
			if (c->have < need)
				break;
			c->have = 0;
			if (c->phase == PH_HDR) {
				if (parse_header(c))
					return -1;
				c->crc = vmt_crc32c(0, c->small, IVM_HDR_LEN);
				c->phase = PH_RECHDR;
			} else if (parse_rechdr(c)) {
				return -1;
			}
			break;
		}
		case PH_REGS:
		case PH_END:
			take = c->left;
			if (take > n)
				take = n;
			memcpy(c->small + (8 - c->left), s, take);
			c->left -= take;
			c->pos += take;
			s += take;
			n -= take;
			if (c->left)
				break;
			if (c->phase == PH_REGS) {
				c->crc = vmt_crc32c(c->crc, c->small, IVM_REGS_LEN);
				c->intrmask = ivm_get32(c->small);
				c->intrstatus = ivm_get32(c->small + 4);
				c->have_regs = true;
				c->phase = PH_RECHDR;
			} else {
				c->crc_stored = ivm_get32(c->small);
				if (ivm_get32(c->small + 4))
					return fail(c, "END reserved 0x%x",
						    ivm_get32(c->small + 4));
				if (c->crc_stored != c->crc_calc)
					return fail(c, "CRC32C 0x%08x, computed 0x%08x",
						    c->crc_stored, c->crc_calc);
				c->done = true;
				c->phase = PH_DONE;
			}
			break;
		case PH_MEM:
			take = n < c->left ? n : (size_t)c->left;
			c->crc = vmt_crc32c(c->crc, s, take);
			if (c->mem_cb)
				c->mem_cb(c->opaque, c->mem_off, s, take);
			c->mem_off += take;
			c->covered += take;
			c->left -= take;
			c->pos += take;
			s += take;
			n -= take;
			if (!c->left)
				c->phase = PH_RECHDR;
			break;
		}
	}
	return 0;
}

int ivm_check_finish(struct ivm_checker *c)
{
	if (c->failed)
		return -1;
	if (!c->done)
		return fail(c, "stream truncated (no complete END record)");
	return 0;
}

int ivm_check_buf(struct ivm_checker *c, const void *p, size_t n)
{
	ivm_check_init(c);
	if (ivm_check_feed(c, p, n))
		return -1;
	return ivm_check_finish(c);
}

uint64_t ivm_stream_len(uint64_t bar2_size, uint64_t rec_max)
{
	uint64_t nrec;

	if (!rec_max)
		rec_max = IVM_MEM_RECORD_MAX;
	nrec = (bar2_size + rec_max - 1) / rec_max;
	return IVM_HDR_LEN + IVM_RECHDR_LEN + IVM_REGS_LEN +
	       nrec * IVM_RECHDR_LEN + bar2_size + IVM_RECHDR_LEN + IVM_END_LEN;
}

static void put_rechdr(uint8_t *p, uint32_t type, uint64_t off, uint64_t len)
{
	ivm_put32(p, type);
	ivm_put32(p + 4, 0);
	ivm_put64(p + 8, off);
	ivm_put64(p + 16, len);
}

int ivm_build(struct vmt_buf *out, const struct ivm_build_params *bp)
{
	uint64_t rec = bp->rec_len ? bp->rec_len : IVM_MEM_RECORD_MAX;
	uint64_t len = ivm_stream_len(bp->bar2_size, rec);
	uint8_t *p;
	uint64_t off;
	int ret;

	ret = vmt_buf_reserve(out, len);
	if (ret)
		return ret;
	p = out->p;
	memset(p, 0, IVM_HDR_LEN);
	ivm_put32(p + 0, IVM_STREAM_MAGIC);
	ivm_put16(p + 4, IVM_STREAM_VERSION);
	ivm_put16(p + 6, IVM_HDR_LEN);
	ivm_put16(p + 12, bp->vendor);
	ivm_put16(p + 14, bp->device);
	p[16] = bp->revision;
	ivm_put32(p + 20, bp->page_size);
	ivm_put64(p + 24, bp->bar2_size);
	p += IVM_HDR_LEN;
	put_rechdr(p, IVM_REC_REGS, 0, IVM_REGS_LEN);
	ivm_put32(p + IVM_RECHDR_LEN, bp->intrmask);
	ivm_put32(p + IVM_RECHDR_LEN + 4, bp->intrstatus);
	p += IVM_RECHDR_LEN + IVM_REGS_LEN;
	for (off = 0; off < bp->bar2_size; off += rec) {
		uint64_t n = bp->bar2_size - off < rec ? bp->bar2_size - off : rec;

		put_rechdr(p, IVM_REC_MEM, off, n);
		p += IVM_RECHDR_LEN;
		if (bp->mem)
			memcpy(p, (const uint8_t *)bp->mem + off, n);
		else
			vmt_pattern_fill(p, off, n, bp->seed);
		p += n;
	}
	put_rechdr(p, IVM_REC_END, 0, IVM_END_LEN);
	memset(p + IVM_RECHDR_LEN, 0, IVM_END_LEN);
	out->len = len;
	ivm_fix_crc(out->p, (uint64_t)(p - out->p));
	return 0;
}

void ivm_fix_crc(uint8_t *stream, uint64_t end_pos)
{
	ivm_put32(stream + end_pos + IVM_RECHDR_LEN,
		  vmt_crc32c(0, stream, end_pos));
}
