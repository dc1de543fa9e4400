// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include "prims.h"

#if defined(__x86_64__)
#include <nmmintrin.h>

bool prim_have_rep_movs(void)
{
	return true;
}

void prim_rep_movsb(void *dst, const volatile void *src, size_t n)
{
	asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

void prim_rep_movsl(volatile void *dst, const volatile void *src, size_t n)
{
	size_t q = n / 4;

	asm volatile("rep movsl" : "+D"(dst), "+S"(src), "+c"(q) : : "memory");
}

void prim_rep_movsq(void *dst, const void *src, size_t n)
{
	size_t q = n / 8;

	asm volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(q) : : "memory");
}

bool prim_have_crc32_insn(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2")))
uint32_t prim_crc32c_insn(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

#else

bool prim_have_rep_movs(void)
{
	return false;
}

void prim_rep_movsb(void *dst, const volatile void *src, size_t n)
{
	memcpy(dst, (const void *)src, n);
}

void prim_rep_movsl(volatile void *dst, const volatile void *src, size_t n)
{
	memcpy((void *)dst, (const void *)src, n);
}

void prim_rep_movsq(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

bool prim_have_crc32_insn(void)
{
	return false;
}

uint32_t prim_crc32c_insn(uint32_t crc, const void *buf, size_t len)
{
	(void)buf;
	(void)len;
	return crc;
}

#endif
