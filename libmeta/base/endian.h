/* SPDX-License-Identifier: GPL-2.0-only */
/* Little-endian accessors for on-disk fields (private to libmeta and test tools). */
#ifndef LIBMETA_ENDIAN_H
#define LIBMETA_ENDIAN_H

#include <stdint.h>
#include <string.h>

/* On-disk field types: distinct structs so a native integer cannot be stored by mistake. */
typedef struct { uint8_t b[2]; } le16_t;
typedef struct { uint8_t b[4]; } le32_t;
typedef struct { uint8_t b[8]; } le64_t;

static inline uint32_t get_le32p(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline uint64_t get_le64p(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void put_le32p(void *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, 4);
}

static inline void put_le64p(void *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

static inline uint16_t le16_get(le16_t x) { return (uint16_t)(x.b[0] | (x.b[1] << 8)); }
static inline uint32_t le32_get(le32_t x) { return get_le32p(x.b); }
static inline uint64_t le64_get(le64_t x) { return get_le64p(x.b); }
static inline le16_t le16_of(uint16_t v) { le16_t x = {{(uint8_t)v, (uint8_t)(v >> 8)}}; return x; }
static inline le32_t le32_of(uint32_t v) { le32_t x; put_le32p(x.b, v); return x; }
static inline le64_t le64_of(uint64_t v) { le64_t x; put_le64p(x.b, v); return x; }

#endif
