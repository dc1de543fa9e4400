// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-vfio-pci: rejection of bad migration streams.
 *
 * Device C (IVSHMEM_BDF_C, 2 MiB: two MEM records, REGS, END) restores
 * mutated versions of its own stream: every header field altered in turn,
 * every record header field, payload bit flips, records missing, duplicated
 * or out of order, malformed ZERO records in place of the second MEM
 * record, trailing bytes, truncation at every record boundary and in the
 * middle of records.  Each must be refused with EINVAL by the write
 * that completes the bad piece (never earlier, never later), RESUMING -> STOP
 * must then fail into ERROR, and VFIO_DEVICE_RESET must bring back a device
 * that restores its good stream.  Streams of A (1 MiB) and C cross over for
 * the BAR size mismatch.
 *
 * Kept apart from ivshmem_mig_test so that each program stays well inside
 * the harness's per-program time limit under TCG.
 */
#include "lib/ivshmem_test.h"

/* ------------------------------------------------------------------------
 * Bad streams.  The device's own stream S (device C: two MEM records, REGS,
 * END) is mutated so that exactly one rule is broken, with the CRC fixed up
 * unless the CRC is the point.  Each mutation names the first bad byte (at)
 * and the window within which the driver must have noticed (win).
 */

enum mut_kind {
	M_HDR,		/* header field at off */
	M_REC_GAP,	/* record field at off: a valid record, but a page is
			 * never covered, so END is refused (stream v2) */
	M_REC,		/* record header field of record rec at off */
	M_ENDPAY,	/* END payload field at off (CRC fixed before) */
	M_FLIP,		/* flip bit val of payload byte off of record rec */
	M_END_EARLY,	/* END record right after the first MEM record */
	M_DROP_REGS,	/* no REGS record */
	M_DUP_REGS,	/* REGS record twice */
	M_REGS_FIRST,	/* REGS before the MEM records (version 1's order) */
	M_ZERO,		/* the second MEM record replaced by a ZERO record of
			 * the same range, with the field at off changed */
	M_ZERO_GAP,	/* as M_ZERO, a valid record leaving a page uncovered */
	M_ZERO_LATE,	/* a ZERO record after REGS */
	M_TRAIL_BYTE,	/* one byte after END */
	M_TRAIL_STREAM,	/* a second complete stream after END */
	M_NONE,
};

enum { OP_SET, OP_XOR, OP_ADD, OP_MUL, OP_DIV };

struct mutation {
	const char *name;
	int kind;
	int rec;	/* R_MEM1, R_MEM2, R_REGS, R_END */
	int off;	/* -1: last payload byte (M_FLIP) */
	int size;
	int op;
	uint64_t val;
};

/* S's records, in stream order */
enum { R_MEM1, R_MEM2, R_REGS, R_END };

/* name, kind, rec, off, size, op, val */
#define MUTATIONS(X)							\
	X(magic_byte0,		M_HDR, 0, 0, 1, OP_XOR, 0x01)		\
	X(magic_zero,		M_HDR, 0, 0, 4, OP_SET, 0)		\
	X(magic_byteswapped,	M_HDR, 0, 0, 4, OP_SET, 0x49564d53)	\
	X(magic_last_byte,	M_HDR, 0, 3, 1, OP_XOR, 0x80)		\
	X(version_zero,		M_HDR, 0, 4, 2, OP_SET, 0)		\
	X(version_one,		M_HDR, 0, 4, 2, OP_SET, 1)		\
	X(version_next,		M_HDR, 0, 4, 2, OP_SET, IVM_STREAM_VERSION + 1) \
	X(version_max,		M_HDR, 0, 4, 2, OP_SET, 0xffff)		\
	X(header_size_short,	M_HDR, 0, 6, 2, OP_SET, 32)		\
	X(header_size_long,	M_HDR, 0, 6, 2, OP_SET, 48)		\
	X(header_size_zero,	M_HDR, 0, 6, 2, OP_SET, 0)		\
	X(flags_bit0,		M_HDR, 0, 8, 4, OP_SET, 1)		\
	X(flags_bit31,		M_HDR, 0, 8, 4, OP_SET, 0x80000000)	\
	X(vendor,		M_HDR, 0, 12, 2, OP_XOR, 1)		\
	X(device,		M_HDR, 0, 14, 2, OP_XOR, 1)		\
	X(revision,		M_HDR, 0, 16, 1, OP_XOR, 1)		\
	X(reserved0_first,	M_HDR, 0, 17, 1, OP_SET, 1)		\
	X(reserved0_last,	M_HDR, 0, 19, 1, OP_SET, 0x80)		\
	X(page_size_zero,	M_HDR, 0, 20, 4, OP_SET, 0)		\
	X(page_size_half,	M_HDR, 0, 20, 4, OP_DIV, 2)		\
	X(page_size_double,	M_HDR, 0, 20, 4, OP_MUL, 2)		\
	X(page_size_odd,	M_HDR, 0, 20, 4, OP_ADD, 1)		\
	X(bar2_size_zero,	M_HDR, 0, 24, 8, OP_SET, 0)		\
	X(bar2_size_half,	M_HDR, 0, 24, 8, OP_DIV, 2)		\
	X(bar2_size_double,	M_HDR, 0, 24, 8, OP_MUL, 2)		\
	X(bar2_size_plus_page,	M_HDR, 0, 24, 8, OP_ADD, 4096)		\
	X(bar2_size_huge,	M_HDR, 0, 24, 8, OP_SET, 1ULL << 62)	\
	X(reserved1_first,	M_HDR, 0, 32, 1, OP_SET, 1)		\
	X(reserved1_last,	M_HDR, 0, 39, 1, OP_SET, 0x80)		\
	X(regs_type_zero,	M_REC, R_REGS, 0, 4, OP_SET, 0)		\
	X(regs_type_unknown,	M_REC, R_REGS, 0, 4, OP_SET, 5)		\
	X(regs_type_max,	M_REC, R_REGS, 0, 4, OP_SET, 0xffffffff)	\
	X(regs_flags,		M_REC, R_REGS, 4, 4, OP_SET, 1)		\
	X(regs_offset,		M_REC, R_REGS, 8, 8, OP_SET, 8)		\
	X(regs_length_short,	M_REC, R_REGS, 16, 8, OP_SET, 4)		\
	X(regs_length_long,	M_REC, R_REGS, 16, 8, OP_SET, 16)		\
	X(mem_type_unknown,	M_REC, R_MEM1, 0, 4, OP_SET, 9)		\
	X(mem_type_end,		M_REC, R_MEM1, 0, 4, OP_SET, IVM_REC_END)	\
	X(mem_flags,		M_REC, R_MEM1, 4, 4, OP_SET, 1)		\
	X(mem_flags_high,	M_REC, R_MEM1, 4, 4, OP_SET, 0x80000000)	\
	X(mem_first_offset,	M_REC_GAP, R_MEM1, 8, 8, OP_SET, 4096)	\
	X(mem_length_zero,	M_REC, R_MEM1, 16, 8, OP_SET, 0)		\
	X(mem_length_beyond_bar, M_REC, R_MEM1, 16, 8, OP_SET, 1ULL << 40)	\
	X(mem_length_wrap,	M_REC, R_MEM1, 16, 8, OP_SET, 0xfffffffffffff000ULL) \
	X(mem2_offset_wrap,	M_REC, R_MEM2, 8, 8, OP_SET, 0xfffffffffffff000ULL) \
	X(mem2_backwards,	M_REC_GAP, R_MEM2, 8, 8, OP_SET, 0)		\
	X(mem2_gap,		M_REC, R_MEM2, 8, 8, OP_ADD, 4096)		\
	X(mem2_overlap,		M_REC_GAP, R_MEM2, 8, 8, OP_ADD, (uint64_t)-4096) \
	X(mem2_beyond_bar,	M_REC, R_MEM2, 8, 8, OP_ADD, 1ULL << 20)	\
	X(mem2_length_long,	M_REC, R_MEM2, 16, 8, OP_ADD, 4096)		\
	X(end_type,		M_REC, R_END, 0, 4, OP_SET, 5)		\
	X(end_flags,		M_REC, R_END, 4, 4, OP_SET, 1)		\
	X(end_offset,		M_REC, R_END, 8, 8, OP_SET, 8)		\
	X(end_length_short,	M_REC, R_END, 16, 8, OP_SET, 4)		\
	X(end_length_long,	M_REC, R_END, 16, 8, OP_SET, 16)		\
	X(end_crc_bit,		M_ENDPAY, R_END, 0, 4, OP_XOR, 1)		\
	X(end_crc_zero,		M_ENDPAY, R_END, 0, 4, OP_XOR, 0xffffffff)	\
	X(end_reserved,		M_ENDPAY, R_END, 4, 4, OP_SET, 1)		\
	X(flip_regs_payload,	M_FLIP, R_REGS, 0, 0, 0, 0)			\
	X(flip_regs_status,	M_FLIP, R_REGS, 7, 0, 0, 7)			\
	X(flip_mem_first_byte,	M_FLIP, R_MEM1, 0, 0, 0, 3)			\
	X(flip_mem_middle,	M_FLIP, R_MEM1, 300001, 0, 0, 5)		\
	X(flip_mem_last_byte,	M_FLIP, R_MEM2, -1, 0, 0, 7)			\
	X(end_early,		M_END_EARLY, 0, 0, 0, 0, 0)		\
	X(drop_regs,		M_DROP_REGS, 0, 0, 0, 0, 0)		\
	X(dup_regs,		M_DUP_REGS, 0, 0, 0, 0, 0)		\
	X(trailing_byte,	M_TRAIL_BYTE, 0, 0, 0, 0, 0)		\
	X(trailing_stream,	M_TRAIL_STREAM, 0, 0, 0, 0, 0)		\
	X(regs_first,		M_REGS_FIRST, 0, 0, 0, 0, 0)		\
	X(zero_flags,		M_ZERO, 0, 4, 4, OP_SET, 1)		\
	X(zero_offset_unaligned, M_ZERO, 0, 8, 8, OP_ADD, 1)		\
	X(zero_offset_beyond_bar, M_ZERO, 0, 8, 8, OP_SET, 1ULL << 40)	\
	X(zero_offset_wrap,	M_ZERO, 0, 8, 8, OP_SET, 0xfffffffffffff000ULL) \
	X(zero_range_past_bar,	M_ZERO, 0, 8, 8, OP_ADD, 4096)		\
	X(zero_length_zero,	M_ZERO, 0, 16, 8, OP_SET, 0)		\
	X(zero_length_long,	M_ZERO, 0, 16, 8, OP_SET, 16)		\
	X(zero_bytes_zero,	M_ZERO, 0, 24, 8, OP_SET, 0)		\
	X(zero_bytes_unaligned,	M_ZERO, 0, 24, 8, OP_ADD, 1)		\
	X(zero_bytes_past_bar,	M_ZERO, 0, 24, 8, OP_ADD, 4096)		\
	X(zero_bytes_wrap,	M_ZERO, 0, 24, 8, OP_SET, 0xfffffffffffff000ULL) \
	X(zero_leaves_gap,	M_ZERO_GAP, 0, 24, 8, OP_SET, 4096)	\
	X(zero_after_regs,	M_ZERO_LATE, 0, 0, 0, 0, 0)

#define MUT_ENTRY(n, k_, r_, o_, s_, op_, v_) \
	{ .name = #n, .kind = k_, .rec = r_, .off = o_, .size = s_, .op = op_, .val = v_ },

static const struct mutation mutations[] = { MUTATIONS(MUT_ENTRY) };

static uint64_t apply_op(uint64_t v, int op, uint64_t x)
{
	switch (op) {
	case OP_SET: return x;
	case OP_XOR: return v ^ x;
	case OP_ADD: return v + x;
	case OP_MUL: return v * x;
	case OP_DIV: return v / x;
	}
	return v;
}

static void patch_field(uint8_t *p, int size, int op, uint64_t val)
{
	uint64_t v;

	switch (size) {
	case 1:
		*p = (uint8_t)apply_op(*p, op, val);
		break;
	case 2:
		v = apply_op(ivm_get16(p), op, val);
		ivm_put16(p, (uint16_t)v);
		break;
	case 4:
		v = apply_op(ivm_get32(p), op, val);
		ivm_put32(p, (uint32_t)v);
		break;
	case 8:
		v = apply_op(ivm_get64(p), op, val);
		ivm_put64(p, v);
		break;
	}
}

/* A ZERO record (header and payload) of @bytes zeros at BAR2 @off. */
static void zero_record(uint8_t *p, uint64_t off, uint64_t bytes)
{
	ivm_put32(p, IVM_REC_ZERO);
	ivm_put32(p + 4, 0);
	ivm_put64(p + 8, off);
	ivm_put64(p + 16, IVM_ZERO_LEN);
	ivm_put64(p + 24, bytes);
}

/*
 * Builds the mutated stream.  @idx is the checker that validated S and holds
 * its record positions.  Returns 0 or -1 when S does not have the expected
 * shape (MEM, MEM, REGS, END).
 */
static int mutate(const struct vmt_buf *s, const struct ivm_checker *idx,
		  const struct mutation *m, struct vmt_buf *out, uint64_t *at,
		  uint64_t *win)
{
	const struct ivm_rec_pos *r = idx->recs;
	uint64_t end = idx->end_pos, p;
	uint64_t regs = r[R_END].pos - r[R_REGS].pos;	/* REGS record bytes */
	uint8_t z[IVM_RECHDR_LEN + IVM_ZERO_LEN];

	if (idx->nrecs != 4 || r[R_MEM1].type != IVM_REC_MEM ||
	    r[R_MEM2].type != IVM_REC_MEM || r[R_REGS].type != IVM_REC_REGS ||
	    r[R_END].type != IVM_REC_END)
		return -1;
	zero_record(z, r[R_MEM2].offset, r[R_MEM2].length);
	out->len = 0;
	switch (m->kind) {
	case M_HDR:
		vmt_buf_set(out, s->p, s->len);
		patch_field(out->p + m->off, m->size, m->op, m->val);
		ivm_fix_crc(out->p, end);
		*at = m->off;
		*win = IVM_HDR_LEN - m->off;
		return 0;
	case M_REC:
		vmt_buf_set(out, s->p, s->len);
		p = r[m->rec].pos + m->off;
		patch_field(out->p + p, m->size, m->op, m->val);
		ivm_fix_crc(out->p, end);
		*at = p;
		*win = IVM_RECHDR_LEN - m->off;
		return 0;
	case M_REC_GAP:
		/* MEM records may come in any order: only END sees the gap. */
		vmt_buf_set(out, s->p, s->len);
		patch_field(out->p + r[m->rec].pos + m->off, m->size, m->op,
			    m->val);
		ivm_fix_crc(out->p, end);
		*at = end;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_ENDPAY:
		vmt_buf_set(out, s->p, s->len);
		p = end + IVM_RECHDR_LEN + m->off;
		patch_field(out->p + p, m->size, m->op, m->val);
		*at = p;
		*win = IVM_END_LEN - m->off;
		return 0;
	case M_FLIP: {
		uint64_t start = r[m->rec].pos + IVM_RECHDR_LEN;

		p = m->off >= 0 ? start + m->off : start + r[m->rec].length - 1;
		vmt_buf_set(out, s->p, s->len);
		out->p[p] ^= (uint8_t)(1u << m->val);
		/* Detectable only by the CRC at the END payload. */
		*at = end + IVM_RECHDR_LEN;
		*win = IVM_END_LEN;
		return 0;
	}
	case M_END_EARLY:
		vmt_buf_append(out, s->p, r[R_MEM2].pos);
		vmt_buf_append(out, s->p + end, s->len - end);
		ivm_fix_crc(out->p, r[R_MEM2].pos);
		*at = r[R_MEM2].pos;
		*win = IVM_RECHDR_LEN + IVM_END_LEN;
		return 0;
	case M_DROP_REGS:
		vmt_buf_append(out, s->p, r[R_REGS].pos);
		vmt_buf_append(out, s->p + end, s->len - end);
		ivm_fix_crc(out->p, r[R_REGS].pos);
		/* END sees REGS missing. */
		*at = r[R_REGS].pos;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_DUP_REGS:
		vmt_buf_append(out, s->p, end);
		vmt_buf_append(out, s->p + r[R_REGS].pos, regs);
		vmt_buf_append(out, s->p + end, s->len - end);
		ivm_fix_crc(out->p, end + regs);
		*at = end;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_REGS_FIRST:
		/* Version 1's order: the first MEM record after REGS is refused. */
		vmt_buf_append(out, s->p, IVM_HDR_LEN);
		vmt_buf_append(out, s->p + r[R_REGS].pos, regs);
		vmt_buf_append(out, s->p + IVM_HDR_LEN, r[R_REGS].pos - IVM_HDR_LEN);
		vmt_buf_append(out, s->p + end, s->len - end);
		ivm_fix_crc(out->p, end);
		*at = IVM_HDR_LEN + regs;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_ZERO:
	case M_ZERO_GAP:
		patch_field(z + m->off, m->size, m->op, m->val);
		vmt_buf_append(out, s->p, r[R_MEM2].pos);
		vmt_buf_append(out, z, sizeof(z));
		vmt_buf_append(out, s->p + r[R_REGS].pos, s->len - r[R_REGS].pos);
		p = r[R_MEM2].pos + sizeof(z) + regs;	/* the END record */
		ivm_fix_crc(out->p, p);
		if (m->kind == M_ZERO_GAP) {
			*at = p;
			*win = IVM_RECHDR_LEN;
		} else {
			/* header fields at the header, the payload at its end */
			*at = r[R_MEM2].pos + m->off;
			*win = sizeof(z) - m->off;
		}
		return 0;
	case M_ZERO_LATE:
		vmt_buf_append(out, s->p, end);
		vmt_buf_append(out, z, sizeof(z));
		vmt_buf_append(out, s->p + end, s->len - end);
		ivm_fix_crc(out->p, end + sizeof(z));
		*at = end;
		*win = IVM_RECHDR_LEN;
		return 0;
	case M_TRAIL_BYTE:
		vmt_buf_set(out, s->p, s->len);
		vmt_buf_append(out, "\0", 1);
		*at = s->len;
		*win = 1;
		return 0;
	case M_TRAIL_STREAM:
		vmt_buf_set(out, s->p, s->len);
		vmt_buf_append(out, s->p, s->len);
		*at = s->len;
		*win = 1;
		return 0;
	}
	return -1;
}

FIXTURE(bad) {
	struct selfdev c;
	uint64_t at, win;
};

FIXTURE_VARIANT(bad) {
	const struct mutation *mut;
};

#define MUT_INDEX(n, k, r, o, s, op, v) MUT_IDX_##n,
enum { MUTATIONS(MUT_INDEX) MUT_COUNT };

#define MUT_VARIANT(n, k, r, o, s, op, v)				\
	FIXTURE_VARIANT_ADD(bad, n) {					\
		.mut = &mutations[MUT_IDX_##n],				\
	};

MUTATIONS(MUT_VARIANT)

FIXTURE_SETUP(bad)
{
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
	ASSERT_EQ(0, mutate(&self->c.s, &self->c.idx, variant->mut, &self->c.m,
			    &self->at, &self->win)) {
		TH_LOG("%s: own stream does not have 2 MEM records (BAR2 %llu)",
		       self->c.d.dev.bdf,
		       (unsigned long long)self->c.d.mem_size);
	}
	TH_LOG("mutation %s: first bad byte %llu, window %llu",
	       variant->mut->name, (unsigned long long)self->at,
	       (unsigned long long)self->win);
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->c.rfd));
	ASSERT_LE(0, self->c.rfd);
}

FIXTURE_TEARDOWN(bad)
{
	SELFDEV_TEARDOWN(&self->c);
}

/* Good prefix in one write, then the window in one write: refused. */
TEST_F(bad, rejected_at_boundary)
{
	const uint8_t *m = self->c.m.p;
	size_t acc = 0;
	int r;

	r = mig_write_all(self->c.rfd, m, self->at, VMT_MiB, NULL, &acc);
	ASSERT_EQ(0, r) {
		TH_LOG("good prefix refused at %zu: %s", acc, vmt_errstr());
	}
	r = mig_write_all(self->c.rfd, m + self->at, self->win, self->win, NULL,
			  &acc);
	ASSERT_EQ(-EINVAL, r) {
		TH_LOG("write of bytes %llu..%llu: %d (%s)",
		       (unsigned long long)self->at,
		       (unsigned long long)(self->at + self->win), r,
		       r ? vmt_errstr() : "accepted");
	}
	ASSERT_GT(self->win, acc);
	/* Later writes keep failing. */
	ASSERT_EQ(-EINVAL, vmt_write1(self->c.rfd));
	if (self->at + self->win < self->c.m.len) {
		r = mig_write_all(self->c.rfd, m + self->at + self->win,
				  self->c.m.len - self->at - self->win,
				  VMT_MiB, NULL, &acc);
		ASSERT_EQ(-EINVAL, r);
		ASSERT_EQ(0, acc);
	}
	expect_failed_resume(_metadata, &self->c);
	expect_recovery(_metadata, &self->c);
}

/* One byte per write(): the first refused byte lies inside the window. */
TEST_F(bad, rejected_bytewise)
{
	uint64_t start = self->at > 64 ? self->at - 64 : 0, i;
	const uint8_t *m = self->c.m.p;
	int err = 0;

	ASSERT_OK(mig_write_all(self->c.rfd, m, start, VMT_MiB, NULL, NULL));
	for (i = start; i < self->at + self->win; i++) {
		if (write(self->c.rfd, m + i, 1) != 1) {
			err = errno;
			break;
		}
	}
	ASSERT_LT(i, self->at + self->win) {
		TH_LOG("bad stream accepted byte by byte up to %llu",
		       (unsigned long long)i);
	}
	ASSERT_LE(self->at, i) {
		TH_LOG("good byte %llu refused (%s)", (unsigned long long)i,
		       strerror(err));
	}
	ASSERT_EQ(EINVAL, err);
	expect_failed_resume(_metadata, &self->c);
}

/* The whole bad stream in one write(). */
TEST_F(bad, rejected_in_one_write)
{
	size_t acc = 0;
	int r;

	r = mig_write_all(self->c.rfd, self->c.m.p, self->c.m.len,
			  self->c.m.len, NULL, &acc);
	ASSERT_EQ(-EINVAL, r);
	/* Short writes may accept the good prefix, never the bad bytes. */
	ASSERT_GT(self->at + self->win, acc);
	expect_failed_resume(_metadata, &self->c);
}

/*
 * Truncated streams: every prefix is accepted, RESUMING -> STOP fails into
 * ERROR, reset recovers.
 */

enum cut_base { CUT_ABS, CUT_REC, CUT_LEN };

FIXTURE(trunc) {
	struct selfdev c;
	uint64_t cut;
};

FIXTURE_VARIANT(trunc) {
	int base;	/* CUT_ABS: delta is absolute; CUT_REC: record rec + delta */
	int rec;
	int64_t delta;
};

FIXTURE_VARIANT_ADD(trunc, empty) { .base = CUT_ABS, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, mid_header) { .base = CUT_ABS, .delta = 20 };
FIXTURE_VARIANT_ADD(trunc, header_only) { .base = CUT_ABS, .delta = 40 };
FIXTURE_VARIANT_ADD(trunc, mid_mem_header) { .base = CUT_REC, .rec = R_MEM1, .delta = 12 };
FIXTURE_VARIANT_ADD(trunc, mem_header_only) { .base = CUT_REC, .rec = R_MEM1, .delta = 24 };
FIXTURE_VARIANT_ADD(trunc, mid_mem_payload) { .base = CUT_REC, .rec = R_MEM1, .delta = 24 + 500001 };
FIXTURE_VARIANT_ADD(trunc, after_first_mem) { .base = CUT_REC, .rec = R_MEM2, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, second_mem_one_byte) { .base = CUT_REC, .rec = R_MEM2, .delta = 25 };
FIXTURE_VARIANT_ADD(trunc, before_regs) { .base = CUT_REC, .rec = R_REGS, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, mid_regs_header) { .base = CUT_REC, .rec = R_REGS, .delta = 12 };
FIXTURE_VARIANT_ADD(trunc, regs_header_only) { .base = CUT_REC, .rec = R_REGS, .delta = 24 };
FIXTURE_VARIANT_ADD(trunc, mid_regs_payload) { .base = CUT_REC, .rec = R_REGS, .delta = 28 };
FIXTURE_VARIANT_ADD(trunc, before_end) { .base = CUT_REC, .rec = R_END, .delta = 0 };
FIXTURE_VARIANT_ADD(trunc, mid_end_header) { .base = CUT_REC, .rec = R_END, .delta = 12 };
FIXTURE_VARIANT_ADD(trunc, end_header_only) { .base = CUT_REC, .rec = R_END, .delta = 24 };
FIXTURE_VARIANT_ADD(trunc, mid_end_payload) { .base = CUT_REC, .rec = R_END, .delta = 28 };
FIXTURE_VARIANT_ADD(trunc, one_byte_short) { .base = CUT_LEN, .delta = -1 };

FIXTURE_SETUP(trunc)
{
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
	ASSERT_EQ(4, self->c.idx.nrecs);
	switch (variant->base) {
	case CUT_ABS:
		self->cut = variant->delta;
		break;
	case CUT_REC:
		self->cut = self->c.idx.recs[variant->rec].pos + variant->delta;
		break;
	default:
		self->cut = self->c.s.len + variant->delta;
	}
	ASSERT_GT(self->c.s.len, self->cut);
	ASSERT_OK(mig_set_state(self->c.d.dev.fd, STATE(RESUMING), &self->c.rfd));
}

FIXTURE_TEARDOWN(trunc)
{
	SELFDEV_TEARDOWN(&self->c);
}

TEST_F(trunc, stop_fails_then_reset_recovers)
{
	TH_LOG("stream cut after %llu of %zu bytes",
	       (unsigned long long)self->cut, self->c.s.len);
	ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, self->cut,
				VMT_CHUNK_RANDOM, &self->c.rng, NULL));
	expect_failed_resume(_metadata, &self->c);
	expect_recovery(_metadata, &self->c);
}

/*
 * Loops over every mutation and every record boundary on one device: the
 * random-chunk counterpart of the per-variant tests above.
 */
FIXTURE(badloop) {
	struct selfdev c;
};

FIXTURE_SETUP(badloop)
{
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
}

FIXTURE_TEARDOWN(badloop)
{
	SELFDEV_TEARDOWN(&self->c);
}

TEST_F(badloop, every_mutation_random_chunks)
{
	int fd = self->c.d.dev.fd;
	unsigned int i, fails = 0;

	for (i = 0; i < ARRAY_SIZE(mutations); i++) {
		const struct mutation *mu = &mutations[i];
		uint64_t at = 0, win = 0, pos = 0, wend = 0;
		const uint8_t *m;
		int err = 0, r;

		ASSERT_EQ(0, mutate(&self->c.s, &self->c.idx, mu, &self->c.m,
				    &at, &win));
		m = self->c.m.p;
		ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &self->c.rfd));
		while (pos < self->c.m.len) {
			size_t want = vmt_chunk(VMT_CHUNK_RANDOM, &self->c.rng,
						self->c.m.len - pos);
			ssize_t n = write(self->c.rfd, m + pos, want);

			if (n <= 0) {
				err = n < 0 ? errno : EPROTO;
				wend = pos + want;
				break;
			}
			pos += n;
		}
		/* Refused, with EINVAL, by a write that contained bad bytes. */
		if (!err || err != EINVAL || wend <= at || pos >= at + win) {
			fails++;
			TH_LOG("%s: err %d, accepted %llu, failing write ends %llu, bad bytes %llu..%llu",
			       mu->name, err, (unsigned long long)pos,
			       (unsigned long long)wend,
			       (unsigned long long)at,
			       (unsigned long long)(at + win));
		}
		r = mig_set_state_nofd(fd, STATE(STOP));
		if (r == 0) {
			fails++;
			TH_LOG("%s: RESUMING -> STOP succeeded", mu->name);
		}
		ASSERT_OK(vdev_reset(&self->c.d.dev));
		vmt_close(&self->c.rfd);
	}
	ASSERT_EQ(0, fails);
	expect_recovery(_metadata, &self->c);
}

TEST_F(badloop, truncated_at_every_record_boundary)
{
	static const int deltas[] = { -1, 0, 1, 23, 24, 25 };
	int fd = self->c.d.dev.fd;
	unsigned int i, j, fails = 0;

	for (i = 0; i < self->c.idx.nrecs; i++) {
		for (j = 0; j < ARRAY_SIZE(deltas); j++) {
			int64_t cut = (int64_t)self->c.idx.recs[i].pos + deltas[j];
			int r;

			if (cut < 0 || cut >= (int64_t)self->c.s.len)
				continue;
			ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &self->c.rfd));
			ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, cut,
						VMT_CHUNK_RANDOM, &self->c.rng,
						NULL));
			r = mig_set_state_nofd(fd, STATE(STOP));
			if (r == 0) {
				fails++;
				TH_LOG("stream cut at %lld accepted", (long long)cut);
			} else {
				ASSERT_STATE(fd, STATE(ERROR));
			}
			ASSERT_OK(vdev_reset(&self->c.d.dev));
			ASSERT_STATE(fd, STATE(RUNNING));
			vmt_close(&self->c.rfd);
		}
	}
	ASSERT_EQ(0, fails);
	expect_recovery(_metadata, &self->c);
}

/*
 * The control for the ZERO mutations: the second MEM record replaced by a
 * valid ZERO record of its range is accepted, and that MiB ends zero while
 * it held other data before.
 */
TEST_F(badloop, zero_record_accepted)
{
	const struct ivm_rec_pos *r = self->c.idx.recs;
	uint8_t z[IVM_RECHDR_LEN + IVM_ZERO_LEN];
	struct vmt_buf m = { 0 };
	uint64_t i, nz = 0;

	ASSERT_EQ(4, self->c.idx.nrecs);
	zero_record(z, r[R_MEM2].offset, r[R_MEM2].length);
	vmt_buf_append(&m, self->c.s.p, r[R_MEM2].pos);
	vmt_buf_append(&m, z, sizeof(z));
	vmt_buf_append(&m, self->c.s.p + r[R_REGS].pos,
		       self->c.s.len - r[R_REGS].pos);
	ivm_fix_crc(m.p, m.len - IVM_RECHDR_LEN - IVM_END_LEN);
	ivsh_fill(&self->c.d, self->c.seed ^ 1);
	ASSERT_EQ(0, ivsh_restore(&self->c.d, m.p, m.len, VMT_CHUNK_RANDOM,
				  &self->c.rng)) {
		TH_LOG("%s", vmt_errstr());
	}
	ASSERT_EQ(UINT64_MAX, vmt_pattern_check((const void *)self->c.d.mem, 0,
						r[R_MEM2].offset, self->c.seed));
	for (i = r[R_MEM2].offset; i < r[R_MEM2].offset + r[R_MEM2].length; i++)
		nz += self->c.d.mem[i] != 0;
	ASSERT_EQ(0, nz) {
		TH_LOG("%llu bytes of the ZERO record's range are not zero",
		       (unsigned long long)nz);
	}
	ASSERT_REGS(&self->c.d, self->c.mask, self->c.status);
	vmt_buf_free(&m);
	expect_recovery(_metadata, &self->c);
}

TEST_F(badloop, good_stream_after_many_failures)
{
	int fd = self->c.d.dev.fd;
	int i;

	/* Failed sessions leave no residue that breaks a later good one. */
	for (i = 0; i < 5; i++) {
		ASSERT_OK(mig_set_state(fd, STATE(RESUMING), &self->c.rfd));
		ASSERT_OK(mig_write_all(self->c.rfd, self->c.s.p, 100 + i * 1000,
					7, NULL, NULL));
		ASSERT_GT(0, mig_set_state_nofd(fd, STATE(STOP)));
		ASSERT_OK(vdev_reset(&self->c.d.dev));
		vmt_close(&self->c.rfd);
	}
	expect_recovery(_metadata, &self->c);
}

/* ------------------------------------------------------------------------
 * BAR2 size mismatch: streams of A (1 MiB) and C (2 MiB) cross over.
 */

FIXTURE(mismatch) {
	struct selfdev a, c;
};

FIXTURE_SETUP(mismatch)
{
	SELFDEV_SETUP(&self->a, "IVSHMEM_BDF_A");
	SELFDEV_SETUP(&self->c, "IVSHMEM_BDF_C");
	ASSERT_NE(self->a.d.mem_size, self->c.d.mem_size);
}

FIXTURE_TEARDOWN(mismatch)
{
	selfdev_free(&self->c);
	vmt_kmsg_close(&self->c.kmsg);
	SELFDEV_TEARDOWN(&self->a);
}

static void cross_restore(struct __test_metadata *_metadata,
			  struct selfdev *src, struct selfdev *dst, size_t chunk)
{
	size_t acc = 0;
	int r;

	ASSERT_OK(mig_set_state(dst->d.dev.fd, STATE(RESUMING), &dst->rfd));
	r = mig_write_all(dst->rfd, src->s.p, src->s.len, chunk, NULL, &acc);
	ASSERT_EQ(-EINVAL, r);
	ASSERT_GT(IVM_HDR_LEN, acc) {
		TH_LOG("header of a %llu byte BAR accepted by a %llu byte BAR",
		       (unsigned long long)src->d.mem_size,
		       (unsigned long long)dst->d.mem_size);
	}
	expect_failed_resume(_metadata, dst);
	/* Nothing of the foreign stream reached the device. */
	ASSERT_PATTERN(&dst->d, dst->seed);
	expect_recovery(_metadata, dst);
}

TEST_F(mismatch, small_stream_into_large_device)
{
	cross_restore(_metadata, &self->a, &self->c, 32768);
}

TEST_F(mismatch, large_stream_into_small_device)
{
	cross_restore(_metadata, &self->c, &self->a, 32768);
}

TEST_F(mismatch, header_bytewise)
{
	cross_restore(_metadata, &self->c, &self->a, 1);
}

VMT_TEST_MAIN
