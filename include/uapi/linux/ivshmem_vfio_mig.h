/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem-vfio-pci migration stream format.
 *
 * The saving data fd of ivshmem-vfio-pci (from PRE_COPY or STOP_COPY to the
 * end of STOP_COPY) produces, and the RESUMING data fd consumes, one stream
 * in this format.  It is shared by the driver, the
 * selftests and any tool that wants to inspect or produce device state.
 *
 * Layout of version 2 (all integers little-endian, all structures naturally
 * aligned with explicit sizes and no implicit padding):
 *
 *   struct ivm_stream_header
 *   records, each a struct ivm_record_header and its payload:
 *     IVM_REC_MEM   offset O (a multiple of page_size), length L (a multiple
 *                   of page_size unless O + L is bar2_size), L bytes of BAR2
 *                   from O
 *     IVM_REC_ZERO  offset O (a multiple of page_size), length 8, struct
 *                   ivm_zero_payload: B bytes of BAR2 from O are zero (B a
 *                   multiple of page_size, 1..IVM_ZERO_RECORD_MAX, O + B at
 *                   most bar2_size); no memory payload follows
 *     MEM and ZERO records come in any number and any order and may
 *     overlap: a later record of a page replaces an earlier one
 *     IVM_REC_REGS  exactly once, after the last MEM or ZERO record, length
 *                   8, struct ivm_regs_payload captured when the device
 *                   stopped
 *   struct ivm_record_header  type IVM_REC_END, length 8, right after REGS
 *                             and only once MEM and ZERO records covered
 *                             every page
 *   struct ivm_end_payload    CRC32C of every byte before this END record
 *
 * What ivshmem-vfio-pci produces: runs of pages inside one
 * IVM_MEM_RECORD_MAX window (aligned to that size), each run read from BAR2
 * into a kernel buffer and sent as alternating MEM records (pages with a
 * non-zero byte, and a last partial page) and ZERO records (whole zero
 * pages); without pre-copy (STOP -> STOP_COPY) the windows of BAR2 in
 * ascending order, with pre-copy the first pass over BAR2 (ascending) and
 * the pages written since; then the REGS record and END.  No record crosses
 * an IVM_MEM_RECORD_MAX boundary.  Version 1 (REGS first, MEM records
 * contiguous and ascending, no ZERO) is refused.
 *
 * See Documentation/ivshmem-vfio-pci.rst for the validation rules.
 */
#ifndef _UAPI_LINUX_IVSHMEM_VFIO_MIG_H
#define _UAPI_LINUX_IVSHMEM_VFIO_MIG_H

#include <linux/types.h>

/* "IVMS" read as a little-endian u32 */
#define IVM_STREAM_MAGIC	0x534d5649U
#define IVM_STREAM_VERSION	2

/* Largest payload of one IVM_REC_MEM record produced by the driver. */
#define IVM_MEM_RECORD_MAX	(1U << 20)

/*
 * Granularity of memory records: every IVM_REC_MEM record but the last has a
 * length that is a multiple of it, so every record starts at a multiple of it.
 */
#define IVM_STREAM_PAGE_SIZE	4096U

/**
 * struct ivm_stream_header - first bytes of every stream
 * @magic: IVM_STREAM_MAGIC
 * @version: IVM_STREAM_VERSION
 * @header_size: sizeof(struct ivm_stream_header)
 * @flags: must be zero
 * @vendor: PCI vendor ID of the source device
 * @device: PCI device ID of the source device
 * @revision: PCI revision ID of the source device
 * @reserved0: must be zero
 * @page_size: IVM_STREAM_PAGE_SIZE, the granularity of memory records
 * @bar2_size: size in bytes of the source device's BAR2 (shared memory)
 * @reserved1: must be zero
 */
struct ivm_stream_header {
	__le32 magic;
	__le16 version;
	__le16 header_size;
	__le32 flags;
	__le16 vendor;
	__le16 device;
	__u8 revision;
	__u8 reserved0[3];
	__le32 page_size;
	__le64 bar2_size;
	__le64 reserved1;
};

enum ivm_record_type {
	IVM_REC_REGS = 1,
	IVM_REC_MEM = 2,
	IVM_REC_END = 3,
	IVM_REC_ZERO = 4,
};

/* Largest run of zero bytes one IVM_REC_ZERO record may describe. */
#define IVM_ZERO_RECORD_MAX	IVM_MEM_RECORD_MAX

/**
 * struct ivm_record_header - precedes the payload of every record
 * @type: enum ivm_record_type
 * @flags: must be zero
 * @offset: IVM_REC_MEM, IVM_REC_ZERO: byte offset in BAR2; zero for other
 *	records
 * @length: payload bytes following this header
 */
struct ivm_record_header {
	__le32 type;
	__le32 flags;
	__le64 offset;
	__le64 length;
};

/**
 * struct ivm_regs_payload - payload of IVM_REC_REGS
 * @intrmask: the INTRMASK register (BAR0 offset 0)
 * @intrstatus: the INTRSTATUS register (BAR0 offset 4)
 */
struct ivm_regs_payload {
	__le32 intrmask;
	__le32 intrstatus;
};

/**
 * struct ivm_zero_payload - payload of IVM_REC_ZERO
 * @bytes: bytes of BAR2 from the record's offset that are zero
 */
struct ivm_zero_payload {
	__le64 bytes;
};

/**
 * struct ivm_end_payload - payload of IVM_REC_END
 * @crc32c: CRC32C (Castagnoli, seed ~0, final xor ~0) of all stream bytes
 *	before the END record header
 * @reserved: must be zero
 */
struct ivm_end_payload {
	__le32 crc32c;
	__le32 reserved;
};

#endif /* _UAPI_LINUX_IVSHMEM_VFIO_MIG_H */
