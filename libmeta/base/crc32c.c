/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * crc32c (Castagnoli, reflected polynomial 0x82F63B78) in the raw form the
 * kernel's persistent-data uses: no pre- or post-inversion inside; callers seed
 * with ~0.  Hardware path: SSE4.2 crc32 instruction on x86-64, picked at run time.
 */
#include <libmeta/crc32c.h>

#include <string.h>

static uint32_t crc_table[8][256];
static uint32_t (*crc_impl)(uint32_t, const void *, size_t);

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		w ^= crc;
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
/*
 * The crc32 instruction has a latency of 3 cycles and a throughput of 1: three
 * independent streams over consecutive HW_LONG-byte pieces run three times as fast as
 * one.  The register is linear: crc(c, A||B) = Z_|B|(crc(c, A)) ^ crc(0, B), where Z_n
 * is the register after n zero bytes; zeros_long[k][byte] holds Z_HW_LONG of byte << 8k
 * (built at start-up from the 32 unit registers).
 */
#define HW_LONG 1360u /* 3 * 1360 + 8 = 4088: a block's checksummed bytes after alignment */
static uint32_t zeros_long[4][256];

static uint32_t shift_long(uint32_t c)
{
	return zeros_long[0][c & 0xff] ^ zeros_long[1][(c >> 8) & 0xff] ^
	       zeros_long[2][(c >> 16) & 0xff] ^ zeros_long[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint64_t crc_hw_words(uint64_t c, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	return c;
}

__attribute__((target("sse4.2"))) static void zeros_init(void)
{
	static const uint8_t zero[HW_LONG];
	uint32_t unit[32];
	for (int i = 0; i < 32; i++)
		unit[i] = (uint32_t)crc_hw_words(1u << i, zero, HW_LONG);
	for (int k = 0; k < 4; k++)
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t z = 0;
			for (int i = 0; i < 8; i++)
				if (b & (1u << i))
					z ^= unit[8 * k + i];
			zeros_long[k][b] = z;
		}
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = crc;
	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 3 * HW_LONG) {
		uint64_t c1 = 0, c2 = 0;
		for (size_t i = 0; i < HW_LONG; i += 8) {
			uint64_t w0, w1, w2;
			memcpy(&w0, p + i, 8);
			memcpy(&w1, p + HW_LONG + i, 8);
			memcpy(&w2, p + 2 * HW_LONG + i, 8);
			c = __builtin_ia32_crc32di(c, w0);
			c1 = __builtin_ia32_crc32di(c1, w1);
			c2 = __builtin_ia32_crc32di(c2, w2);
		}
		c = shift_long(shift_long((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * HW_LONG;
		len -= 3 * HW_LONG;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

__attribute__((constructor)) static void crc_init(void)
{
	table_init();
	crc_impl = crc_sw;
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		zeros_init();
		crc_impl = crc_hw;
	}
#endif
}

uint32_t meta_crc32c_sw(uint32_t seed, const void *buf, size_t len)
{
	return crc_sw(seed, buf, len);
}

uint32_t meta_crc32c(uint32_t seed, const void *buf, size_t len)
{
	return crc_impl(seed, buf, len);
}

uint32_t meta_block_csum(const void *block, size_t size, uint32_t xor_salt)
{
	return meta_crc32c(0xffffffffu, (const uint8_t *)block + 4, size - 4) ^ xor_salt;
}
