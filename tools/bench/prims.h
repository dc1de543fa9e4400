/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-ins for what the driver's data fd does per byte, so that
 * each component can be timed on its own in the same guest (perf does not
 * work under TCG):
 *
 *   memcpy_fromio() / memcpy_toio()  x86: "rep movsl"           (arch/x86/lib/iomem.c)
 *   copy_to_user() / copy_from_user() x86 with FSRM or ERMS: "rep movsb"
 *                                     (copy_user_generic, rep_movs_alternative)
 *   crc32c()                         crc32c-intel: the SSE4.2 "crc32" instruction
 *                                     (crc32c-generic: a slicing-by-8 table)
 */
#ifndef BENCH_PRIMS_H
#define BENCH_PRIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* False where the string instructions below are not available (non-x86). */
bool prim_have_rep_movs(void);
void prim_rep_movsb(void *dst, const volatile void *src, size_t n);
/* n must be a multiple of 4 / 8. */
void prim_rep_movsl(volatile void *dst, const volatile void *src, size_t n);
void prim_rep_movsq(void *dst, const void *src, size_t n);

/* True when the CPU has SSE4.2 (crc32 instruction). */
bool prim_have_crc32_insn(void);
/* CRC32C, seed ~0 / final xor ~0, chainable like vmt_crc32c(). */
uint32_t prim_crc32c_insn(uint32_t crc, const void *buf, size_t len);

#endif /* BENCH_PRIMS_H */
