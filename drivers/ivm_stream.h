/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ivshmem-vfio-pci: encoder and decoder of the migration stream.
 *
 * Pure logic with no device access and no locking of its own: the caller
 * serialises all calls on one cursor or parser.  The encoder emits the
 * header and then whatever the caller asks for next (a window of device
 * memory the caller has read, which it encodes as MEM and ZERO records; the
 * registers; the end); the decoder accepts MEM and ZERO records in any
 * order and any number of times and keeps a coverage bitmap.  The same
 * source builds into the kernel module and into userspace unit tests.
 */
#ifndef IVM_STREAM_H
#define IVM_STREAM_H

#include <linux/types.h>
#ifndef __KERNEL__
#include <stdbool.h>
#include <stddef.h>
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
#endif

#include <linux/ivshmem_vfio_mig.h>

/* Largest device register blob a REGS record may carry. */
#define IVM_REGS_MAX		64

/**
 * struct ivm_stream_desc - what a stream describes
 * @vendor: PCI vendor ID
 * @device: PCI device ID
 * @revision: PCI revision ID
 * @mem_size: bytes of device memory (ivshmem: BAR2 size), at least 1
 * @regs_size: bytes of the register blob carried by the REGS record
 */
struct ivm_stream_desc {
	u16 vendor;
	u16 device;
	u8 revision;
	u64 mem_size;
	u32 regs_size;
};

/* Pages of one window of device memory (ivm_save_window()). */
#define IVM_WIN_PAGES		(IVM_MEM_RECORD_MAX / IVM_STREAM_PAGE_SIZE)

/*
 * Room for the longest piece the encoder or decoder holds itself: a record
 * header followed by the largest register blob.
 */
#define IVM_META_MAX	(sizeof(struct ivm_record_header) + IVM_REGS_MAX)

enum ivm_seg_kind {
	IVM_SEG_META,	/* bytes the cursor or parser holds itself */
	IVM_SEG_MEM,	/* device memory at an offset */
	IVM_SEG_ZERO,	/* parse: device memory at an offset to set to zero */
	IVM_SEG_IDLE,	/* save: between records, the caller picks the next */
	IVM_SEG_DONE,	/* end of stream */
};

/**
 * struct ivm_seg - the piece of stream at the cursor
 * @kind: enum ivm_seg_kind
 * @data: IVM_SEG_META: the bytes still to emit; save IVM_SEG_MEM: the
 *	window's copy of the device memory at @offset
 * @offset: IVM_SEG_MEM, IVM_SEG_ZERO: device memory offset of the next byte
 * @len: bytes left in this segment
 */
struct ivm_seg {
	enum ivm_seg_kind kind;
	const u8 *data;
	u64 offset;
	u64 len;
};

enum ivm_save_phase {
	IVM_SAVE_HEADER,
	IVM_SAVE_REGS,
	IVM_SAVE_MEM_HDR,
	IVM_SAVE_MEM,
	IVM_SAVE_ZERO,
	IVM_SAVE_IDLE,
	IVM_SAVE_END,
	IVM_SAVE_DONE,
};

/**
 * struct ivm_save_cursor - position in a stream being produced
 * @desc: what is being saved
 * @phase: enum ivm_save_phase
 * @crc: running CRC32C (not inverted) of the bytes emitted so far
 * @pos: bytes emitted so far
 * @mem_next: offset of the next memory byte to emit
 * @rec_end: end offset of the current memory record
 * @win_next: offset where the next record of the window starts
 * @win_off: first byte of the window of device memory being encoded
 * @win_end: end offset of the window
 * @win_data: the caller's copy of the window's bytes
 * @win_zero: one bit per whole page of the window: the page is zero
 * @meta: bytes of the current META segment
 * @meta_len: valid bytes in @meta
 * @meta_pos: bytes of @meta already emitted
 */
struct ivm_save_cursor {
	struct ivm_stream_desc desc;
	enum ivm_save_phase phase;
	u32 crc;
	u64 pos;
	u64 mem_next;
	u64 rec_end;
	u64 win_next;
	u64 win_off;
	u64 win_end;
	const u8 *win_data;
	u64 win_zero[IVM_WIN_PAGES / 64];
	u8 meta[IVM_META_MAX];
	u32 meta_len;
	u32 meta_pos;
};

enum ivm_parse_phase {
	IVM_PARSE_HEADER,
	IVM_PARSE_REC_HDR,
	IVM_PARSE_REGS,
	IVM_PARSE_MEM,
	IVM_PARSE_ZERO_PAY,
	IVM_PARSE_ZERO,
	IVM_PARSE_END,
	IVM_PARSE_DONE,
	IVM_PARSE_ERROR,
};

/**
 * struct ivm_parser - position in a stream being consumed
 * @desc: what the destination device is; the stream must match it
 * @phase: enum ivm_parse_phase
 * @crc: running CRC32C (not inverted) of the bytes consumed before the END
 *	record
 * @pos: bytes consumed so far
 * @mem_next: offset the next memory byte must have (MEM), or of the next
 *	byte to set to zero (ZERO)
 * @rec_end: end offset of the current MEM or ZERO record
 * @want: size of the fixed-size piece being collected in @buf
 * @have: bytes of it collected so far
 * @have_regs: a REGS record was consumed
 * @cover: one bit per IVM_STREAM_PAGE_SIZE page of device memory, set once
 *	a MEM or ZERO record covered it (ivm_cover_size() bytes, owned by the caller)
 * @npages: pages of device memory
 * @covered: bits set in @cover
 * @buf: collects fixed-size pieces that may arrive split across writes
 * @regs: register blob from the REGS record
 * @err: what was wrong, once @phase is IVM_PARSE_ERROR
 */
struct ivm_parser {
	struct ivm_stream_desc desc;
	enum ivm_parse_phase phase;
	u32 crc;
	u64 pos;
	u64 mem_next;
	u64 rec_end;
	u32 want;
	u32 have;
	bool have_regs;
	u8 *cover;
	u64 npages;
	u64 covered;
	u8 buf[IVM_META_MAX];
	u8 regs[IVM_REGS_MAX];
	char err[96];
};

u64 ivm_stream_size(const struct ivm_stream_desc *desc);
u64 ivm_stream_tail_size(const struct ivm_stream_desc *desc);
u64 ivm_window_bound(u64 len);
u64 ivm_stream_pages(const struct ivm_stream_desc *desc);
size_t ivm_cover_size(const struct ivm_stream_desc *desc);
bool ivm_desc_valid(const struct ivm_stream_desc *desc);

void ivm_save_init(struct ivm_save_cursor *cur,
		   const struct ivm_stream_desc *desc);
void ivm_save_peek(struct ivm_save_cursor *cur, struct ivm_seg *seg);
void ivm_save_advance(struct ivm_save_cursor *cur, const void *data, u64 n);
void ivm_save_regs(struct ivm_save_cursor *cur, const void *regs);
void ivm_save_window(struct ivm_save_cursor *cur, u64 offset, u64 len,
		     const void *data);
void ivm_save_end(struct ivm_save_cursor *cur);
u64 ivm_save_pending(const struct ivm_save_cursor *cur);

void ivm_parse_init(struct ivm_parser *p, const struct ivm_stream_desc *desc,
		    u8 *cover);
long ivm_parse_meta(struct ivm_parser *p, const void *data, size_t len);
size_t ivm_parse_meta_want(const struct ivm_parser *p);
void ivm_parse_peek(const struct ivm_parser *p, struct ivm_seg *seg);
void ivm_parse_mem_done(struct ivm_parser *p, const void *data, u64 n);
void ivm_parse_zero_done(struct ivm_parser *p, u64 n);
int ivm_parse_finish(struct ivm_parser *p);
void ivm_parse_fail(struct ivm_parser *p, const char *why);

/* Provided by the environment: the kernel's crc32c(), or a userspace one. */
u32 ivm_crc32c(u32 crc, const void *data, size_t len);

#endif /* IVM_STREAM_H */
