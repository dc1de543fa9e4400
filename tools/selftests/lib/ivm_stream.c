// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "ivm_stream.h"
#include "vmt_crc32c.h"

enum {
	PH_HDR,
	PH_RECHDR,
	PH_REGS,
	PH_MEM,
	PH_ZERO,
	PH_END,
	PH_DONE,
	PH_FAILED,
};

static int vfail(struct ivm_checker *c, uint64_t pos, const char *field,
		 const char *fmt, va_list ap)
{
	int n;

	c->err_pos = pos;
	snprintf(c->err_field, sizeof(c->err_field), "%s", field ? field : "");
	if (field)
		n = snprintf(c->err, sizeof(c->err), "at stream offset %llu (%s): ",
			     (unsigned long long)pos, field);
	else
		n = snprintf(c->err, sizeof(c->err), "at stream offset %llu: ",
			     (unsigned long long)pos);
	vsnprintf(c->err + n, sizeof(c->err) - n, fmt, ap);
	c->failed = true;
	c->phase = PH_FAILED;
	return -1;
}

/* A rule broken where the stream stands (c->pos), by no one field. */
static int fail(struct ivm_checker *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ivm_checker *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, c->pos, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* A field's value broke a rule: @pos is the field's own stream offset. */
static int fail_field(struct ivm_checker *c, uint64_t pos, const char *field,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_field(struct ivm_checker *c, uint64_t pos, const char *field,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, pos, field, fmt, ap);
	va_end(ap);
	return -1;
}

#define HDR_AT(f)	offsetof(struct ivm_stream_header, f)
#define REC_AT(r, f)	((r)->pos + offsetof(struct ivm_record_header, f))

void ivm_check_init(struct ivm_checker *c)
{
	memset(c, 0, sizeof(*c));
	c->phase = PH_HDR;
	c->ascending = true;
}

void ivm_check_free(struct ivm_checker *c)
{
	free(c->recs);
	c->recs = NULL;
	c->nrecs = 0;
	c->recs_cap = 0;
	free(c->cover);
	c->cover = NULL;
}

/* Marks BAR2 [off, end) received; counts the bytes not covered before. */
static void cover(struct ivm_checker *c, uint64_t off, uint64_t end)
{
	uint64_t ps = c->hdr.page_size, pg;

	for (pg = off / ps; pg * ps < end; pg++) {
		uint8_t bit = 1u << (pg % 8);
		uint64_t last = (pg + 1) * ps;

		if (c->cover[pg / 8] & bit)
			continue;
		c->cover[pg / 8] |= bit;
		c->covered += (last < c->hdr.bar2_size ? last : c->hdr.bar2_size) -
			      pg * ps;
	}
	if (off != c->next_off)
		c->ascending = false;
	c->next_off = end;
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
		return fail_field(c, HDR_AT(magic), "header.magic",
				  "bad magic 0x%08x, expected 0x%08x (\"IVMS\")",
				  h->magic, IVM_STREAM_MAGIC);
	if (h->version != IVM_STREAM_VERSION)
		return fail_field(c, HDR_AT(version), "header.version",
				  "bad version %u, expected %u", h->version,
				  IVM_STREAM_VERSION);
	if (h->header_size != IVM_HDR_LEN)
		return fail_field(c, HDR_AT(header_size), "header.header_size",
				  "bad header_size %u, expected %zu",
				  h->header_size, IVM_HDR_LEN);
	if (h->flags)
		return fail_field(c, HDR_AT(flags), "header.flags",
				  "nonzero flags 0x%x", h->flags);
	if (h->reserved0[0] || h->reserved0[1] || h->reserved0[2])
		return fail_field(c, HDR_AT(reserved0), "header.reserved0",
				  "nonzero reserved0");
	if (h->reserved1)
		return fail_field(c, HDR_AT(reserved1), "header.reserved1",
				  "nonzero reserved1");
	if (!is_pow2(h->page_size))
		return fail_field(c, HDR_AT(page_size), "header.page_size",
				  "page_size %u not a power of two",
				  h->page_size);
	if (!h->bar2_size)
		return fail_field(c, HDR_AT(bar2_size), "header.bar2_size",
				  "bar2_size is zero");
	if (h->bar2_size > (1ULL << 48))
		return fail_field(c, HDR_AT(bar2_size), "header.bar2_size",
				  "bar2_size %llu beyond 2^48",
				  (unsigned long long)h->bar2_size);
	c->cover = calloc(1, h->bar2_size / h->page_size / 8 + 1);
	if (!c->cover)
		return fail(c, "out of memory for the coverage bitmap");
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

/* REGS and END: offset 0 and a payload of fixed length. */
static int check_fixed(struct ivm_checker *c, const struct ivm_rec_pos *r,
		       const char *name, size_t len)
{
	char field[16];

	if (r->offset) {
		snprintf(field, sizeof(field), "%s.offset", name);
		return fail_field(c, REC_AT(r, offset), field,
				  "%s record offset %llu, expected 0", name,
				  (unsigned long long)r->offset);
	}
	if (r->length != len) {
		snprintf(field, sizeof(field), "%s.length", name);
		return fail_field(c, REC_AT(r, length), field,
				  "%s record length %llu, expected %zu", name,
				  (unsigned long long)r->length, len);
	}
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
		return fail_field(c, REC_AT(&r, flags), "record.flags",
				  "record type %u with flags 0x%x", r.type,
				  r.flags);

	if (c->have_regs && r.type != IVM_REC_END)
		return fail_field(c, REC_AT(&r, type), "record.type",
				  r.type == IVM_REC_REGS ? "second REGS record" :
				  "record type %u after REGS: only END may follow",
				  r.type);

	switch (r.type) {
	case IVM_REC_REGS:
		if (check_fixed(c, &r, "REGS", IVM_REGS_LEN))
			return -1;
		c->crc = vmt_crc32c(c->crc, b, IVM_RECHDR_LEN);
		c->phase = PH_REGS;
		c->left = IVM_REGS_LEN;
		return 0;
	case IVM_REC_MEM:
		if (r.offset % c->hdr.page_size)
			return fail_field(c, REC_AT(&r, offset), "MEM.offset",
					  "MEM offset %llu not page aligned",
					  (unsigned long long)r.offset);
		if (r.offset >= c->hdr.bar2_size)
			return fail_field(c, REC_AT(&r, offset), "MEM.offset",
					  "MEM offset %llu beyond BAR2 (%llu)",
					  (unsigned long long)r.offset,
					  (unsigned long long)c->hdr.bar2_size);
		if (!r.length || r.length > IVM_MEM_RECORD_MAX)
			return fail_field(c, REC_AT(&r, length), "MEM.length",
					  "MEM record length %llu, expected 1..%u",
					  (unsigned long long)r.length,
					  IVM_MEM_RECORD_MAX);
		if (r.length > c->hdr.bar2_size - r.offset)
			return fail_field(c, REC_AT(&r, length), "MEM.length",
					  "MEM record beyond BAR2 (%llu+%llu > %llu)",
					  (unsigned long long)r.offset,
					  (unsigned long long)r.length,
					  (unsigned long long)c->hdr.bar2_size);
		if (r.length % c->hdr.page_size &&
		    r.offset + r.length != c->hdr.bar2_size)
			return fail_field(c, REC_AT(&r, length), "MEM.length",
					  "MEM record length %llu not a page multiple and not the end of BAR2",
					  (unsigned long long)r.length);
		c->crc = vmt_crc32c(c->crc, b, IVM_RECHDR_LEN);
		c->nmem++;
		c->mem_bytes += r.length;
		if (r.length > c->max_mem_len)
			c->max_mem_len = r.length;
		cover(c, r.offset, r.offset + r.length);
		c->mem_off = r.offset;
		c->left = r.length;
		c->phase = PH_MEM;
		return 0;
	case IVM_REC_ZERO:
		if (r.offset % c->hdr.page_size)
			return fail_field(c, REC_AT(&r, offset), "ZERO.offset",
					  "ZERO offset %llu not page aligned",
					  (unsigned long long)r.offset);
		if (r.offset >= c->hdr.bar2_size)
			return fail_field(c, REC_AT(&r, offset), "ZERO.offset",
					  "ZERO offset %llu beyond BAR2 (%llu)",
					  (unsigned long long)r.offset,
					  (unsigned long long)c->hdr.bar2_size);
		if (r.length != IVM_ZERO_LEN)
			return fail_field(c, REC_AT(&r, length), "ZERO.length",
					  "ZERO record length %llu, expected %zu",
					  (unsigned long long)r.length, IVM_ZERO_LEN);
		c->crc = vmt_crc32c(c->crc, b, IVM_RECHDR_LEN);
		c->mem_off = r.offset;
		c->left = IVM_ZERO_LEN;
		c->phase = PH_ZERO;
		return 0;
	case IVM_REC_END:
		if (!c->have_regs)
			return fail_field(c, REC_AT(&r, type), "record.type",
					  "END record without REGS record");
		if (c->covered != c->hdr.bar2_size)
			return fail_field(c, REC_AT(&r, type), "record.type",
					  "END record after %llu of %llu BAR2 bytes",
					  (unsigned long long)c->covered,
					  (unsigned long long)c->hdr.bar2_size);
		if (check_fixed(c, &r, "END", IVM_END_LEN))
			return -1;
		c->end_pos = r.pos;
		c->crc_calc = c->crc;
		c->phase = PH_END;
		c->left = IVM_END_LEN;
		return 0;
	default:
		return fail_field(c, REC_AT(&r, type), "record.type",
				  "unknown record type %u", r.type);
	}
}

/* The payload of the ZERO record just read: bytes of zeros at mem_off. */
static int check_zero(struct ivm_checker *c)
{
	struct ivm_rec_pos *r = &c->recs[c->nrecs - 1];
	uint64_t n = ivm_get64(c->small), at = r->pos + IVM_RECHDR_LEN;

	r->bytes = n;
	if (!n || n % c->hdr.page_size)
		return fail_field(c, at, "ZERO.bytes",
				  "ZERO record of %llu bytes, not a non-zero multiple of page_size %u",
				  (unsigned long long)n, c->hdr.page_size);
	if (n > IVM_ZERO_RECORD_MAX)
		return fail_field(c, at, "ZERO.bytes",
				  "ZERO record of %llu bytes, more than %u",
				  (unsigned long long)n, IVM_ZERO_RECORD_MAX);
	if (n > c->hdr.bar2_size - c->mem_off)
		return fail_field(c, at, "ZERO.bytes",
				  "ZERO record beyond BAR2 (%llu+%llu > %llu)",
				  (unsigned long long)c->mem_off,
				  (unsigned long long)n,
				  (unsigned long long)c->hdr.bar2_size);
	c->crc = vmt_crc32c(c->crc, c->small, IVM_ZERO_LEN);
	c->nzero++;
	c->zero_bytes += n;
	cover(c, c->mem_off, c->mem_off + n);
	if (c->zero_cb)
		c->zero_cb(c->opaque, c->mem_off, n);
	c->phase = PH_RECHDR;
	return 0;
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
		case PH_ZERO:
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
			if (c->phase == PH_ZERO) {
				if (check_zero(c))
					return -1;
			} else if (c->phase == PH_REGS) {
				c->crc = vmt_crc32c(c->crc, c->small, IVM_REGS_LEN);
				c->intrmask = ivm_get32(c->small);
				c->intrstatus = ivm_get32(c->small + 4);
				c->have_regs = true;
				c->phase = PH_RECHDR;
			} else {
				uint64_t pl = c->end_pos + IVM_RECHDR_LEN;

				c->crc_stored = ivm_get32(c->small);
				if (ivm_get32(c->small + 4))
					return fail_field(c, pl + offsetof(struct ivm_end_payload, reserved),
							  "END.reserved", "END reserved 0x%x",
							  ivm_get32(c->small + 4));
				if (c->crc_stored != c->crc_calc)
					return fail_field(c, pl + offsetof(struct ivm_end_payload, crc32c),
							  "END.crc32c",
							  "CRC32C 0x%08x, computed 0x%08x",
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
	static const char *const payload[] = {
		[PH_REGS] = "REGS", [PH_MEM] = "MEM", [PH_ZERO] = "ZERO",
		[PH_END] = "END",
	};

	if (c->failed)
		return -1;
	if (c->done)
		return 0;
	switch (c->phase) {
	case PH_HDR:
		return fail(c, "stream truncated in the header (%zu of %zu bytes)",
			    c->have, IVM_HDR_LEN);
	case PH_RECHDR:
		if (!c->have)
			return fail(c, "stream truncated: it ends after a record, without an END record");
		return fail(c, "stream truncated in a record header (%zu of %zu bytes)",
			    c->have, IVM_RECHDR_LEN);
	default:
		return fail(c, "stream truncated in the %s record at offset %llu (%llu payload bytes missing)",
			    payload[c->phase],
			    (unsigned long long)c->recs[c->nrecs - 1].pos,
			    (unsigned long long)c->left);
	}
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

static bool zero_page(const uint8_t *p, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Records for BAR2 [off, off + n) at @p, the bytes in @mem: one MEM record,
 * or with @zero_runs, like the driver, a ZERO record per run of whole zero
 * pages and a MEM record per run of others.  Returns the bytes written.
 */
static uint64_t put_window(uint8_t *p, const uint8_t *mem, uint64_t off,
			   uint64_t n, uint64_t ps, bool zero_runs)
{
	uint64_t pos = 0, o = 0;

	while (o < n) {
		uint64_t e = o;
		bool z = zero_runs && n - o >= ps && zero_page(mem + o, ps);

		while (e < n) {
			uint64_t pe = n - e < ps ? n : e + ps;
			bool pz = zero_runs && pe - e == ps && zero_page(mem + e, ps);

			if (pz != z)
				break;
			e = pe;
		}
		if (z) {
			put_rechdr(p + pos, IVM_REC_ZERO, off + o, IVM_ZERO_LEN);
			ivm_put64(p + pos + IVM_RECHDR_LEN, e - o);
			pos += IVM_RECHDR_LEN + IVM_ZERO_LEN;
		} else {
			put_rechdr(p + pos, IVM_REC_MEM, off + o, e - o);
			memcpy(p + pos + IVM_RECHDR_LEN, mem + o, e - o);
			pos += IVM_RECHDR_LEN + e - o;
		}
		o = e;
	}
	return pos;
}

int ivm_build(struct vmt_buf *out, const struct ivm_build_params *bp)
{
	uint64_t rec = bp->rec_len ? bp->rec_len : IVM_MEM_RECORD_MAX;
	uint64_t len = ivm_stream_len(bp->bar2_size, rec);
	uint8_t *p, *win = NULL;
	uint64_t off;
	int ret;

	ret = vmt_buf_reserve(out, len);
	if (ret)
		return ret;
	if (!bp->mem) {
		win = malloc(rec);
		if (!win)
			return -ENOMEM;
	}
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
	for (off = 0; off < bp->bar2_size; off += rec) {
		uint64_t n = bp->bar2_size - off < rec ? bp->bar2_size - off : rec;
		const uint8_t *m = win;

		if (bp->mem)
			m = (const uint8_t *)bp->mem + off;
		else
			vmt_pattern_fill(win, off, n, bp->seed);
		p += put_window(p, m, off, n, bp->page_size, bp->zero_runs);
	}
	free(win);
	put_rechdr(p, IVM_REC_REGS, 0, IVM_REGS_LEN);
	ivm_put32(p + IVM_RECHDR_LEN, bp->intrmask);
	ivm_put32(p + IVM_RECHDR_LEN + 4, bp->intrstatus);
	p += IVM_RECHDR_LEN + IVM_REGS_LEN;
	put_rechdr(p, IVM_REC_END, 0, IVM_END_LEN);
	memset(p + IVM_RECHDR_LEN, 0, IVM_END_LEN);
	out->len = (size_t)(p - out->p) + IVM_RECHDR_LEN + IVM_END_LEN;
	ivm_fix_crc(out->p, (uint64_t)(p - out->p));
	return 0;
}

void ivm_fix_crc(uint8_t *stream, uint64_t end_pos)
{
	ivm_put32(stream + end_pos + IVM_RECHDR_LEN,
		  vmt_crc32c(0, stream, end_pos));
}
