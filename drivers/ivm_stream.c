// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: encoder and decoder of the migration stream.
 *
 * The format is described in include/uapi/linux/ivshmem_vfio_mig.h and
 * Documentation/ivshmem-vfio-pci.rst.  Both directions work as cursors over a
 * sequence of segments: small fixed-size pieces (headers, register blob) that
 * the cursor holds itself, and device memory ranges that the caller moves
 * between the device and the user in chunks of its own choosing.  This keeps
 * the memory needed independent of the device memory size.
 */
#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/overflow.h>
#include <linux/string.h>
#else
#include <stdio.h>
#include <string.h>
#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#endif

#include "ivm_stream.h"

#define HDR_SIZE	sizeof(struct ivm_stream_header)
#define REC_SIZE	sizeof(struct ivm_record_header)
#define END_SIZE	sizeof(struct ivm_end_payload)
#define ZERO_SIZE	sizeof(struct ivm_zero_payload)
#define PAGE		IVM_STREAM_PAGE_SIZE

static void put16(u8 *p, u16 v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32(u8 *p, u32 v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void put64(u8 *p, u64 v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static u16 get16(const u8 *p)
{
	return p[0] | (u16)p[1] << 8;
}

static u32 get32(const u8 *p)
{
	return get16(p) | (u32)get16(p + 2) << 16;
}

static u64 get64(const u8 *p)
{
	return get32(p) | (u64)get32(p + 4) << 32;
}

/* Field offsets, written out so that both sides agree on the byte layout. */
#define H_MAGIC		0
#define H_VERSION	4
#define H_HEADER_SIZE	6
#define H_FLAGS		8
#define H_VENDOR	12
#define H_DEVICE	14
#define H_REVISION	16
#define H_RESERVED0	17
#define H_PAGE_SIZE	20
#define H_BAR2_SIZE	24
#define H_RESERVED1	32

#define R_TYPE		0
#define R_FLAGS		4
#define R_OFFSET	8
#define R_LENGTH	16

static u64 min64(u64 a, u64 b)
{
	return a < b ? a : b;
}

static u64 mem_records(u64 mem_size)
{
	return mem_size / IVM_MEM_RECORD_MAX +
	       !!(mem_size % IVM_MEM_RECORD_MAX);
}

/**
 * ivm_desc_valid - check that a stream description can be encoded
 * @desc: the description
 *
 * Return: true if ivm_stream_size() of @desc cannot overflow and the register
 * blob fits a REGS record.
 */
bool ivm_desc_valid(const struct ivm_stream_desc *desc)
{
	return desc->mem_size && desc->mem_size <= (1ULL << 48) &&
	       desc->regs_size <= IVM_REGS_MAX;
}

/**
 * ivm_stream_pages - pages of device memory a stream covers
 * @desc: what the stream describes
 *
 * Return: @desc->mem_size in IVM_STREAM_PAGE_SIZE pages, the last one
 * possibly partial.
 */
u64 ivm_stream_pages(const struct ivm_stream_desc *desc)
{
	return desc->mem_size / IVM_STREAM_PAGE_SIZE +
	       !!(desc->mem_size % IVM_STREAM_PAGE_SIZE);
}

/**
 * ivm_cover_size - bytes of the coverage bitmap a parser needs
 * @desc: what the stream describes; must satisfy ivm_desc_valid()
 *
 * Return: one bit per page of device memory, rounded up to bytes.
 */
size_t ivm_cover_size(const struct ivm_stream_desc *desc)
{
	return ivm_stream_pages(desc) / 8 + !!(ivm_stream_pages(desc) % 8);
}

/**
 * ivm_stream_tail_size - bytes of the REGS and END records
 * @desc: what the stream describes
 *
 * Return: what a stream still needs after its last MEM record.
 */
u64 ivm_stream_tail_size(const struct ivm_stream_desc *desc)
{
	return REC_SIZE + desc->regs_size + REC_SIZE + END_SIZE;
}

/**
 * ivm_window_bound - most stream bytes the records of one window can take
 * @len: bytes of the window, at most IVM_MEM_RECORD_MAX
 *
 * A window without a zero page is one MEM record.  Each run of k >= 1 zero
 * pages that ivm_save_window() splits off removes k * IVM_STREAM_PAGE_SIZE
 * payload bytes and adds at most a ZERO record (32 bytes) and the header of
 * the MEM record after it (24 bytes), so no window takes more than this.
 *
 * Return: the bytes of the window as one MEM record.
 */
u64 ivm_window_bound(u64 len)
{
	return REC_SIZE + len;
}

/**
 * ivm_stream_size - byte length of a stream without pre-copy, as if no page
 *	were zero
 * @desc: what the stream describes; must satisfy ivm_desc_valid()
 *
 * A save that starts with the device stopped sends every page once, in
 * windows of IVM_MEM_RECORD_MAX bytes aligned to that size.  Without a zero
 * page each window is one MEM record and this is the exact length; every
 * zero page makes the stream shorter (ivm_window_bound()).
 *
 * Return: the number of bytes such a save of @desc produces at most.
 */
u64 ivm_stream_size(const struct ivm_stream_desc *desc)
{
	return HDR_SIZE + mem_records(desc->mem_size) * REC_SIZE +
	       desc->mem_size + ivm_stream_tail_size(desc);
}

static u32 build_record(u8 *p, u32 type, u64 offset, u64 length)
{
	memset(p, 0, REC_SIZE);
	put32(p + R_TYPE, type);
	put64(p + R_OFFSET, offset);
	put64(p + R_LENGTH, length);
	return REC_SIZE;
}

static void save_enter(struct ivm_save_cursor *cur, enum ivm_save_phase phase)
{
	const struct ivm_stream_desc *d = &cur->desc;
	u8 *m = cur->meta;

	cur->phase = phase;
	cur->meta_pos = 0;
	cur->meta_len = 0;

	switch (phase) {
	case IVM_SAVE_HEADER:
		memset(m, 0, HDR_SIZE);
		put32(m + H_MAGIC, IVM_STREAM_MAGIC);
		put16(m + H_VERSION, IVM_STREAM_VERSION);
		put16(m + H_HEADER_SIZE, HDR_SIZE);
		put16(m + H_VENDOR, d->vendor);
		put16(m + H_DEVICE, d->device);
		m[H_REVISION] = d->revision;
		put32(m + H_PAGE_SIZE, IVM_STREAM_PAGE_SIZE);
		put64(m + H_BAR2_SIZE, d->mem_size);
		cur->meta_len = HDR_SIZE;
		break;
	case IVM_SAVE_END:
		cur->meta_len = build_record(m, IVM_REC_END, 0, END_SIZE);
		put32(m + cur->meta_len, ~cur->crc);
		put32(m + cur->meta_len + 4, 0);
		cur->meta_len += END_SIZE;
		break;
	case IVM_SAVE_REGS:
	case IVM_SAVE_MEM_HDR:
	case IVM_SAVE_MEM:
	case IVM_SAVE_ZERO:
	case IVM_SAVE_IDLE:
	case IVM_SAVE_DONE:
		break;
	}
}

/**
 * ivm_save_init - start producing a stream
 * @cur: the cursor
 * @desc: what is saved; must satisfy ivm_desc_valid()
 *
 * The cursor emits the header, then stands at IVM_SEG_IDLE until the caller
 * queues the next records with ivm_save_window(), ivm_save_regs() or
 * ivm_save_end().
 */
void ivm_save_init(struct ivm_save_cursor *cur,
		   const struct ivm_stream_desc *desc)
{
	memset(cur, 0, sizeof(*cur));
	cur->desc = *desc;
	cur->crc = ~0U;
	save_enter(cur, IVM_SAVE_HEADER);
}

/**
 * ivm_save_regs - queue the REGS record
 * @cur: the cursor, at IVM_SEG_IDLE
 * @regs: @cur->desc.regs_size bytes of register state, copied
 */
void ivm_save_regs(struct ivm_save_cursor *cur, const void *regs)
{
	u32 n = cur->desc.regs_size;

	save_enter(cur, IVM_SAVE_REGS);
	cur->meta_len = build_record(cur->meta, IVM_REC_REGS, 0, n);
	memcpy(cur->meta + cur->meta_len, regs, n);
	cur->meta_len += n;
}

static bool page_is_zero(const u8 *p)
{
#ifdef __KERNEL__
	return !memchr_inv(p, 0, PAGE);
#else
	static const u8 zero_page[PAGE];

	return !memcmp(p, zero_page, PAGE);
#endif
}

/* Page @pg of the window is a whole page of zeros. */
static bool win_zero(const struct ivm_save_cursor *cur, u32 pg)
{
	return cur->win_zero[pg / 64] >> (pg % 64) & 1;
}

/* End offset of the run of pages like page @pg (zero or not) in the window. */
static u64 win_run_end(const struct ivm_save_cursor *cur, u32 pg, bool zero)
{
	u64 end = cur->win_off + (u64)pg * PAGE;

	while (end < cur->win_end && win_zero(cur, pg) == zero) {
		end = min64(end + PAGE, cur->win_end);
		pg++;
	}
	return end;
}

/* Stream bytes of the window's records from @cur->win_next on. */
static u64 win_rest(const struct ivm_save_cursor *cur)
{
	u64 off = cur->win_next, end, n = 0;

	while (off < cur->win_end) {
		u32 pg = (off - cur->win_off) / PAGE;
		bool zero = win_zero(cur, pg);

		end = win_run_end(cur, pg, zero);
		n += zero ? REC_SIZE + ZERO_SIZE : REC_SIZE + end - off;
		off = end;
	}
	return n;
}

/* Queue the next record of the window, or stand idle after its last. */
static void save_next_record(struct ivm_save_cursor *cur)
{
	u64 off = cur->win_next, end;
	u32 pg = (off - cur->win_off) / PAGE;
	bool zero;

	if (off >= cur->win_end) {
		save_enter(cur, IVM_SAVE_IDLE);
		return;
	}
	zero = win_zero(cur, pg);
	end = win_run_end(cur, pg, zero);
	cur->win_next = end;
	if (zero) {
		save_enter(cur, IVM_SAVE_ZERO);
		cur->meta_len = build_record(cur->meta, IVM_REC_ZERO, off,
					     ZERO_SIZE);
		put64(cur->meta + cur->meta_len, end - off);
		cur->meta_len += ZERO_SIZE;
	} else {
		save_enter(cur, IVM_SAVE_MEM_HDR);
		cur->mem_next = off;
		cur->rec_end = end;
		cur->meta_len = build_record(cur->meta, IVM_REC_MEM, off,
					     end - off);
	}
}

/**
 * ivm_save_window - queue the records of a window of device memory
 * @cur: the cursor, at IVM_SEG_IDLE
 * @offset: first byte of the window; a multiple of IVM_STREAM_PAGE_SIZE
 * @len: bytes, at least 1 and at most IVM_MEM_RECORD_MAX, a multiple of
 *	IVM_STREAM_PAGE_SIZE unless the window ends device memory
 * @data: the caller's copy of the @len bytes at @offset; must stay valid
 *	until the cursor is idle again
 *
 * Finds the whole zero pages of @data, once, and then emits the window as
 * alternating runs: a ZERO record for each run of zero pages, a MEM record
 * (header, then IVM_SEG_MEM segments pointing into @data) for each run of
 * other pages.  A partial last page always goes into a MEM record.
 */
void ivm_save_window(struct ivm_save_cursor *cur, u64 offset, u64 len,
		     const void *data)
{
	const u8 *d = data;
	u32 i, full = min64(len, IVM_MEM_RECORD_MAX) / PAGE;

	memset(cur->win_zero, 0, sizeof(cur->win_zero));
	for (i = 0; i < full; i++)
		if (page_is_zero(d + (u64)i * PAGE))
			cur->win_zero[i / 64] |= 1ULL << (i % 64);
	cur->win_off = offset;
	cur->win_end = offset + len;
	cur->win_next = offset;
	cur->win_data = d;
	save_next_record(cur);
}

/**
 * ivm_save_end - queue the END record, the last bytes of the stream
 * @cur: the cursor, at IVM_SEG_IDLE
 */
void ivm_save_end(struct ivm_save_cursor *cur)
{
	save_enter(cur, IVM_SAVE_END);
}

/**
 * ivm_save_pending - bytes queued but not yet emitted
 * @cur: the cursor
 *
 * Return: the rest of the current record (header and payload) and of the
 * records still to come from the current window, exactly.
 */
u64 ivm_save_pending(const struct ivm_save_cursor *cur)
{
	u64 rest;

	switch (cur->phase) {
	case IVM_SAVE_MEM_HDR:
		rest = cur->meta_len - cur->meta_pos + cur->rec_end -
		       cur->mem_next;
		break;
	case IVM_SAVE_MEM:
		rest = cur->rec_end - cur->mem_next;
		break;
	case IVM_SAVE_IDLE:
	case IVM_SAVE_DONE:
		return 0;
	default:
		rest = cur->meta_len - cur->meta_pos;
		break;
	}
	return rest + win_rest(cur);
}

/**
 * ivm_save_peek - describe the segment at the cursor
 * @cur: the cursor
 * @seg: filled in; for IVM_SEG_MEM the caller takes @seg->len bytes (or
 *	fewer) of the window's copy at @seg->data and passes them to
 *	ivm_save_advance()
 */
void ivm_save_peek(struct ivm_save_cursor *cur, struct ivm_seg *seg)
{
	memset(seg, 0, sizeof(*seg));
	switch (cur->phase) {
	case IVM_SAVE_MEM:
		seg->kind = IVM_SEG_MEM;
		seg->data = cur->win_data + (cur->mem_next - cur->win_off);
		seg->offset = cur->mem_next;
		seg->len = cur->rec_end - cur->mem_next;
		break;
	case IVM_SAVE_IDLE:
		seg->kind = IVM_SEG_IDLE;
		break;
	case IVM_SAVE_DONE:
		seg->kind = IVM_SEG_DONE;
		break;
	default:
		seg->kind = IVM_SEG_META;
		seg->data = cur->meta + cur->meta_pos;
		seg->len = cur->meta_len - cur->meta_pos;
		break;
	}
}

/**
 * ivm_save_advance - account for bytes handed to the reader
 * @cur: the cursor
 * @data: the bytes, as returned by ivm_save_peek()
 * @n: how many; at most the length ivm_save_peek() reported
 */
void ivm_save_advance(struct ivm_save_cursor *cur, const void *data, u64 n)
{
	if (cur->phase != IVM_SAVE_END)
		cur->crc = ivm_crc32c(cur->crc, data, n);
	cur->pos += n;

	if (cur->phase == IVM_SAVE_MEM) {
		cur->mem_next += n;
		if (cur->mem_next == cur->rec_end)
			save_next_record(cur);
		return;
	}

	cur->meta_pos += n;
	if (cur->meta_pos < cur->meta_len)
		return;

	switch (cur->phase) {
	case IVM_SAVE_MEM_HDR:
		cur->phase = IVM_SAVE_MEM;
		break;
	case IVM_SAVE_END:
		save_enter(cur, IVM_SAVE_DONE);
		break;
	default:
		/* the header, REGS, or a ZERO record of the window */
		save_next_record(cur);
		break;
	}
}

/**
 * ivm_parse_fail - put a parser into the error state
 * @p: the parser
 * @why: what was wrong, for the kernel log and the caller
 */
void ivm_parse_fail(struct ivm_parser *p, const char *why)
{
	if (p->phase == IVM_PARSE_ERROR)
		return;
	p->phase = IVM_PARSE_ERROR;
	snprintf(p->err, sizeof(p->err), "%s", why);
}

static void parse_expect(struct ivm_parser *p, enum ivm_parse_phase phase,
			 u32 want)
{
	p->phase = phase;
	p->want = want;
	p->have = 0;
}

static int bad_field(struct ivm_parser *p, const char *field, u64 got,
		     u64 expected)
{
	char why[sizeof(p->err)];

	snprintf(why, sizeof(why), "%s is %#llx, expected %#llx at byte %llu",
		 field, (unsigned long long)got, (unsigned long long)expected,
		 (unsigned long long)p->pos);
	ivm_parse_fail(p, why);
	return -1;
}

static int check_header(struct ivm_parser *p)
{
	const struct ivm_stream_desc *d = &p->desc;
	const u8 *b = p->buf;

	if (get32(b + H_MAGIC) != IVM_STREAM_MAGIC)
		return bad_field(p, "magic", get32(b + H_MAGIC),
				 IVM_STREAM_MAGIC);
	if (get16(b + H_VERSION) == 1)
		return bad_field(p, "version (v1 streams are no longer accepted)",
				 1, IVM_STREAM_VERSION);
	if (get16(b + H_VERSION) != IVM_STREAM_VERSION)
		return bad_field(p, "version", get16(b + H_VERSION),
				 IVM_STREAM_VERSION);
	if (get16(b + H_HEADER_SIZE) != HDR_SIZE)
		return bad_field(p, "header_size", get16(b + H_HEADER_SIZE),
				 HDR_SIZE);
	if (get32(b + H_FLAGS))
		return bad_field(p, "flags", get32(b + H_FLAGS), 0);
	if (get16(b + H_VENDOR) != d->vendor)
		return bad_field(p, "vendor", get16(b + H_VENDOR), d->vendor);
	if (get16(b + H_DEVICE) != d->device)
		return bad_field(p, "device", get16(b + H_DEVICE), d->device);
	if (b[H_REVISION] != d->revision)
		return bad_field(p, "revision", b[H_REVISION], d->revision);
	if (b[H_RESERVED0] || b[H_RESERVED0 + 1] || b[H_RESERVED0 + 2])
		return bad_field(p, "reserved0", get32(b + H_RESERVED0 - 1) >> 8,
				 0);
	if (get32(b + H_PAGE_SIZE) != IVM_STREAM_PAGE_SIZE)
		return bad_field(p, "page_size", get32(b + H_PAGE_SIZE),
				 IVM_STREAM_PAGE_SIZE);
	if (get64(b + H_BAR2_SIZE) != d->mem_size)
		return bad_field(p, "bar2_size", get64(b + H_BAR2_SIZE),
				 d->mem_size);
	if (get64(b + H_RESERVED1))
		return bad_field(p, "reserved1", get64(b + H_RESERVED1), 0);
	return 0;
}

/* Mark the pages [@off, @end) of device memory as received. */
static void cover_pages(struct ivm_parser *p, u64 off, u64 end)
{
	u64 pg = off / IVM_STREAM_PAGE_SIZE;
	u64 last = (end - 1) / IVM_STREAM_PAGE_SIZE;

	for (; pg <= last; pg++) {
		u8 bit = 1U << (pg % 8);

		if (p->cover[pg / 8] & bit)
			continue;
		p->cover[pg / 8] |= bit;
		p->covered++;
	}
}

static int check_mem(struct ivm_parser *p, u64 off, u64 len)
{
	u64 end;

	if (off % IVM_STREAM_PAGE_SIZE)
		return bad_field(p, "MEM offset (page multiple)", off,
				 off - off % IVM_STREAM_PAGE_SIZE);
	if (!len)
		return bad_field(p, "MEM length", 0, IVM_STREAM_PAGE_SIZE);
	if (check_add_overflow(off, len, &end) || end > p->desc.mem_size)
		return bad_field(p, "MEM length", len,
				 off < p->desc.mem_size ?
				 p->desc.mem_size - off : 0);
	if (end != p->desc.mem_size && len % IVM_STREAM_PAGE_SIZE)
		return bad_field(p, "MEM length (page multiple)", len,
				 len - len % IVM_STREAM_PAGE_SIZE);
	cover_pages(p, off, end);
	p->mem_next = off;
	p->rec_end = end;
	return 0;
}

/* The payload of a ZERO record at @off: @bytes of zeros. */
static int check_zero(struct ivm_parser *p, u64 off, u64 bytes)
{
	u64 end;

	if (!bytes)
		return bad_field(p, "ZERO bytes", 0, PAGE);
	if (bytes % PAGE)
		return bad_field(p, "ZERO bytes (page multiple)", bytes,
				 bytes - bytes % PAGE);
	if (bytes > IVM_ZERO_RECORD_MAX)
		return bad_field(p, "ZERO bytes (at most IVM_ZERO_RECORD_MAX)",
				 bytes, IVM_ZERO_RECORD_MAX);
	if (check_add_overflow(off, bytes, &end) || end > p->desc.mem_size)
		return bad_field(p, "ZERO bytes (past the end of BAR2)", bytes,
				 p->desc.mem_size - off);
	cover_pages(p, off, end);
	p->mem_next = off;
	p->rec_end = end;
	return 0;
}

/*
 * Version 2: MEM and ZERO records anywhere before REGS, any number of times
 * (a later record of a page replaces an earlier one), REGS exactly once
 * after them, END right after REGS and only once every page was covered.
 */
static int check_record(struct ivm_parser *p)
{
	const u8 *b = p->buf;
	u32 type = get32(b + R_TYPE);
	u64 off = get64(b + R_OFFSET);
	u64 len = get64(b + R_LENGTH);

	if (type != IVM_REC_REGS && type != IVM_REC_MEM &&
	    type != IVM_REC_END && type != IVM_REC_ZERO)
		return bad_field(p, "record type (REGS 1, MEM 2, END 3, ZERO 4)",
				 type, p->have_regs ? IVM_REC_END : IVM_REC_MEM);
	if (get32(b + R_FLAGS))
		return bad_field(p, "record flags", get32(b + R_FLAGS), 0);
	if (p->have_regs && type == IVM_REC_REGS)
		return bad_field(p, "record type (second REGS)", type,
				 IVM_REC_END);
	if (p->have_regs && type != IVM_REC_END)
		return bad_field(p, "record type (only END after REGS)", type,
				 IVM_REC_END);

	switch (type) {
	case IVM_REC_REGS:
		if (off)
			return bad_field(p, "REGS offset", off, 0);
		if (len != p->desc.regs_size)
			return bad_field(p, "REGS length", len,
					 p->desc.regs_size);
		p->crc = ivm_crc32c(p->crc, b, REC_SIZE);
		if (!len) {
			p->have_regs = true;
			parse_expect(p, IVM_PARSE_REC_HDR, REC_SIZE);
		} else {
			parse_expect(p, IVM_PARSE_REGS, len);
		}
		return 0;
	case IVM_REC_MEM:
		if (check_mem(p, off, len))
			return -1;
		p->crc = ivm_crc32c(p->crc, b, REC_SIZE);
		parse_expect(p, IVM_PARSE_MEM, 0);
		return 0;
	case IVM_REC_ZERO:
		if (off % PAGE)
			return bad_field(p, "ZERO offset (page multiple)", off,
					 off - off % PAGE);
		if (off >= p->desc.mem_size)
			return bad_field(p, "ZERO offset (inside BAR2)", off,
					 p->desc.mem_size - 1);
		if (len != ZERO_SIZE)
			return bad_field(p, "ZERO length", len, ZERO_SIZE);
		p->crc = ivm_crc32c(p->crc, b, REC_SIZE);
		p->mem_next = off;
		parse_expect(p, IVM_PARSE_ZERO_PAY, ZERO_SIZE);
		return 0;
	default:
		if (!p->have_regs)
			return bad_field(p, "record type (END before REGS)",
					 type, IVM_REC_REGS);
		if (p->covered != p->npages)
			return bad_field(p, "END record: pages received",
					 p->covered, p->npages);
		if (off)
			return bad_field(p, "END offset", off, 0);
		if (len != END_SIZE)
			return bad_field(p, "END length", len, END_SIZE);
		parse_expect(p, IVM_PARSE_END, END_SIZE);
		return 0;
	}
}

static int complete_piece(struct ivm_parser *p)
{
	switch (p->phase) {
	case IVM_PARSE_HEADER:
		if (check_header(p))
			return -1;
		p->crc = ivm_crc32c(p->crc, p->buf, HDR_SIZE);
		parse_expect(p, IVM_PARSE_REC_HDR, REC_SIZE);
		return 0;
	case IVM_PARSE_REC_HDR:
		return check_record(p);
	case IVM_PARSE_REGS:
		memcpy(p->regs, p->buf, p->desc.regs_size);
		p->crc = ivm_crc32c(p->crc, p->buf, p->desc.regs_size);
		p->have_regs = true;
		parse_expect(p, IVM_PARSE_REC_HDR, REC_SIZE);
		return 0;
	case IVM_PARSE_ZERO_PAY:
		if (check_zero(p, p->mem_next, get64(p->buf)))
			return -1;
		p->crc = ivm_crc32c(p->crc, p->buf, ZERO_SIZE);
		parse_expect(p, IVM_PARSE_ZERO, 0);
		return 0;
	case IVM_PARSE_END:
		if (get32(p->buf + 4))
			return bad_field(p, "END reserved", get32(p->buf + 4), 0);
		if (get32(p->buf) != ~p->crc)
			return bad_field(p, "crc32c", get32(p->buf), ~p->crc);
		parse_expect(p, IVM_PARSE_DONE, 0);
		return 0;
	default:
		return -1;
	}
}

/**
 * ivm_parse_init - start consuming a stream
 * @p: the parser
 * @desc: the destination device; the stream header must match it
 * @cover: ivm_cover_size(@desc) bytes for the coverage bitmap, cleared here
 */
void ivm_parse_init(struct ivm_parser *p, const struct ivm_stream_desc *desc,
		    u8 *cover)
{
	memset(p, 0, sizeof(*p));
	p->desc = *desc;
	p->cover = cover;
	p->npages = ivm_stream_pages(desc);
	memset(cover, 0, ivm_cover_size(desc));
	p->crc = ~0U;
	parse_expect(p, IVM_PARSE_HEADER, HDR_SIZE);
}

/**
 * ivm_parse_meta - consume bytes of headers and small payloads
 * @p: the parser
 * @data: bytes from the user
 * @len: how many
 *
 * Consumes bytes while the parser is collecting a fixed-size piece and
 * validates each piece as soon as it is complete.  Stops without consuming
 * anything at a memory payload or at zeros still to write (see
 * ivm_parse_peek()).
 *
 * Return: bytes consumed (0 at a memory payload or zeros to write), or -1
 * when the stream is
 * invalid; @p->err then says why and the parser stays in the error state.
 */
long ivm_parse_meta(struct ivm_parser *p, const void *data, size_t len)
{
	const u8 *src = data;
	size_t done = 0;
	u32 n;

	while (done < len) {
		switch (p->phase) {
		case IVM_PARSE_MEM:
		case IVM_PARSE_ZERO:
			return done;
		case IVM_PARSE_DONE:
			ivm_parse_fail(p, "data after the END record");
			return -1;
		case IVM_PARSE_ERROR:
			return -1;
		default:
			break;
		}
		n = min64(p->want - p->have, len - done);
		memcpy(p->buf + p->have, src + done, n);
		p->have += n;
		p->pos += n;
		done += n;
		if (p->have == p->want && complete_piece(p))
			return -1;
	}
	return done;
}

/**
 * ivm_parse_meta_want - bytes that complete the parser's current piece
 * @p: the parser
 *
 * What a caller copies from the user for the next ivm_parse_meta(), so that
 * a stream of small records is not copied many times over.
 *
 * Return: 1 to IVM_META_MAX while collecting a header or a small payload;
 * 0 at a memory payload, at zeros to write, after the END record and after
 * an error (ivm_parse_meta() then consumes nothing or fails).
 */
size_t ivm_parse_meta_want(const struct ivm_parser *p)
{
	switch (p->phase) {
	case IVM_PARSE_MEM:
	case IVM_PARSE_ZERO:
	case IVM_PARSE_DONE:
	case IVM_PARSE_ERROR:
		return 0;
	default:
		return p->want - p->have;
	}
}

/**
 * ivm_parse_peek - describe what the parser expects next
 * @p: the parser
 * @seg: IVM_SEG_MEM with the device memory range the next bytes belong to,
 *	IVM_SEG_ZERO with a device memory range the caller must set to zero
 *	(no stream bytes belong to it), IVM_SEG_DONE after a valid END record,
 *	IVM_SEG_META otherwise
 */
void ivm_parse_peek(const struct ivm_parser *p, struct ivm_seg *seg)
{
	memset(seg, 0, sizeof(*seg));
	if (p->phase == IVM_PARSE_MEM || p->phase == IVM_PARSE_ZERO) {
		seg->kind = p->phase == IVM_PARSE_MEM ? IVM_SEG_MEM :
			    IVM_SEG_ZERO;
		seg->offset = p->mem_next;
		seg->len = p->rec_end - p->mem_next;
	} else if (p->phase == IVM_PARSE_DONE) {
		seg->kind = IVM_SEG_DONE;
	} else {
		seg->kind = IVM_SEG_META;
	}
}

/**
 * ivm_parse_mem_done - account for memory payload written to the device
 * @p: the parser, at an IVM_SEG_MEM segment
 * @data: the payload bytes
 * @n: how many; at most the segment length ivm_parse_peek() reported
 */
void ivm_parse_mem_done(struct ivm_parser *p, const void *data, u64 n)
{
	p->crc = ivm_crc32c(p->crc, data, n);
	p->mem_next += n;
	p->pos += n;
	if (p->mem_next == p->rec_end)
		parse_expect(p, IVM_PARSE_REC_HDR, REC_SIZE);
}

/**
 * ivm_parse_zero_done - account for zeros written to the device
 * @p: the parser, at an IVM_SEG_ZERO segment
 * @n: bytes set to zero; at most the segment length ivm_parse_peek()
 *	reported
 */
void ivm_parse_zero_done(struct ivm_parser *p, u64 n)
{
	p->mem_next += n;
	if (p->mem_next == p->rec_end)
		parse_expect(p, IVM_PARSE_REC_HDR, REC_SIZE);
}

/**
 * ivm_parse_finish - check that the whole stream arrived
 * @p: the parser
 *
 * Return: 0 if a valid END record was consumed, -1 otherwise (@p->err says
 * why).
 */
int ivm_parse_finish(struct ivm_parser *p)
{
	char why[sizeof(p->err)];

	if (p->phase == IVM_PARSE_DONE)
		return 0;
	if (p->phase != IVM_PARSE_ERROR) {
		snprintf(why, sizeof(why),
			 "stream truncated after %llu bytes (%llu of %llu pages)",
			 (unsigned long long)p->pos,
			 (unsigned long long)p->covered,
			 (unsigned long long)p->npages);
		ivm_parse_fail(p, why);
	}
	return -1;
}
