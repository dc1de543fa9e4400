/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VMT_CRC32C_H
#define VMT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78), seed ~0 and final
 * xor ~0 as used by the ivshmem migration stream.  Chainable:
 * crc = vmt_crc32c(0, a, n); crc = vmt_crc32c(crc, b, m);
 * equals vmt_crc32c(0, a||b, n + m).
 */
uint32_t vmt_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
