/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace view of the ivshmem-vfio-pci migration stream
 * (include/uapi/linux/ivshmem_vfio_mig.h): an incremental checker that
 * validates a stream by the rules of version 2 and of what the driver
 * produces (no MEM or ZERO record longer than IVM_MEM_RECORD_MAX), and a
 * builder that produces valid streams from a description (used to craft
 * bad ones).
 */
#ifndef IVM_STREAM_H
#define IVM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/ivshmem_vfio_mig.h>

#include "vmt_util.h"

#define IVM_HDR_LEN	sizeof(struct ivm_stream_header)
#define IVM_RECHDR_LEN	sizeof(struct ivm_record_header)
#define IVM_REGS_LEN	sizeof(struct ivm_regs_payload)
#define IVM_END_LEN	sizeof(struct ivm_end_payload)
#define IVM_ZERO_LEN	sizeof(struct ivm_zero_payload)

_Static_assert(sizeof(struct ivm_stream_header) == 40, "stream header size");
_Static_assert(sizeof(struct ivm_record_header) == 24, "record header size");
_Static_assert(sizeof(struct ivm_regs_payload) == 8, "regs payload size");
_Static_assert(sizeof(struct ivm_end_payload) == 8, "end payload size");
_Static_assert(sizeof(struct ivm_zero_payload) == 8, "zero payload size");

static inline uint16_t ivm_get16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t ivm_get32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t ivm_get64(const void *p)
{
	return ivm_get32(p) | (uint64_t)ivm_get32((const uint8_t *)p + 4) << 32;
}

static inline void ivm_put16(void *p, uint16_t v)
{
	uint8_t *b = p;

	b[0] = v;
	b[1] = v >> 8;
}

static inline void ivm_put32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v;
	b[1] = v >> 8;
	b[2] = v >> 16;
	b[3] = v >> 24;
}

static inline void ivm_put64(void *p, uint64_t v)
{
	ivm_put32(p, (uint32_t)v);
	ivm_put32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* Position of one record inside a stream. */
struct ivm_rec_pos {
	uint64_t pos;		/* stream offset of the record header */
	uint32_t type;
	uint32_t flags;
	uint64_t offset;
	uint64_t length;
	uint64_t bytes;		/* ZERO: its payload, bytes of zeros */
};

/* Decoded header (host order). */
struct ivm_hdr_info {
	uint32_t magic;
	uint16_t version;
	uint16_t header_size;
	uint32_t flags;
	uint16_t vendor;
	uint16_t device;
	uint8_t revision;
	uint8_t reserved0[3];
	uint32_t page_size;
	uint64_t bar2_size;
	uint64_t reserved1;
};

struct ivm_checker {
	/* optional: called with every MEM payload piece (BAR2 offset, data) */
	void (*mem_cb)(void *opaque, uint64_t bar_off, const void *p, size_t n);
	/* optional: called with every ZERO record (BAR2 offset, bytes) */
	void (*zero_cb)(void *opaque, uint64_t bar_off, uint64_t n);
	void *opaque;

	/* results */
	struct ivm_hdr_info hdr;
	bool have_hdr;
	bool have_regs;
	uint32_t intrmask;
	uint32_t intrstatus;
	unsigned long nmem;
	unsigned long nzero;	/* ZERO records */
	uint64_t mem_bytes;	/* MEM payload bytes, repeats included */
	uint64_t zero_bytes;	/* bytes ZERO records set, repeats included */
	uint64_t covered;	/* BAR2 bytes covered by MEM or ZERO records */
	bool ascending;		/* each MEM/ZERO record starts where the last ended */
	uint64_t max_mem_len;
	uint64_t end_pos;	/* stream offset of the END record header */
	uint32_t crc_stored;
	uint32_t crc_calc;
	bool done;		/* complete END record seen */
	uint64_t pos;		/* bytes consumed */
	struct ivm_rec_pos *recs;
	size_t nrecs;
	size_t recs_cap;
	bool failed;
	/*
	 * "at stream offset N (field): what" -- N and the field (e.g.
	 * "header.bar2_size", "MEM.length", "END.crc32c") where one field's
	 * value broke a rule, else the offset reached and "" (truncation,
	 * bytes after the END record).
	 */
	char err[256];
	uint64_t err_pos;
	char err_field[32];

	/* internal */
	int phase;
	uint8_t small[IVM_HDR_LEN];
	size_t have;
	uint64_t left;
	uint64_t mem_off;
	uint64_t next_off;	/* end of the last MEM or ZERO record */
	uint8_t *cover;		/* one bit per page_size page of BAR2 */
	uint32_t crc;
};

void ivm_check_init(struct ivm_checker *c);
/* 0, or -1 with c->err set when the stream breaks a rule. */
int ivm_check_feed(struct ivm_checker *c, const void *p, size_t n);
/* 0 when a complete, valid stream has been fed. */
int ivm_check_finish(struct ivm_checker *c);
void ivm_check_free(struct ivm_checker *c);
/* init + feed + finish for a stream held in memory; keeps the results. */
int ivm_check_buf(struct ivm_checker *c, const void *p, size_t n);

/*
 * Length of the stream the driver produces for a BAR2 size when no page is
 * zero (records of rec_max, 0: IVM_MEM_RECORD_MAX); with zero pages it is
 * shorter, so this is the bound MIG_DATA_SIZE reports.
 */
uint64_t ivm_stream_len(uint64_t bar2_size, uint64_t rec_max);

struct ivm_build_params {
	uint16_t vendor;
	uint16_t device;
	uint8_t revision;
	uint32_t page_size;
	uint64_t bar2_size;
	uint32_t intrmask;
	uint32_t intrstatus;
	uint64_t rec_len;	/* MEM payload per record; 0: IVM_MEM_RECORD_MAX */
	const void *mem;	/* BAR2 contents, or NULL: vmt_pattern(seed) */
	uint64_t seed;
	bool zero_runs;		/* whole zero pages as ZERO records, like the driver */
};

/* Builds a valid stream into @out: MEM (and ZERO) records, REGS, END. */
int ivm_build(struct vmt_buf *out, const struct ivm_build_params *p);

/* Recomputes the END record's CRC of a stream whose END header is at end_pos. */
void ivm_fix_crc(uint8_t *stream, uint64_t end_pos);

#endif /* IVM_STREAM_H */
