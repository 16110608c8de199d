/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta — thin-pool metadata size estimate (the computation behind
 * thin_metadata_size).  Pure arithmetic: no I/O, no allocation.
 *
 * The numbers follow thin-provisioning-tools 0.9.0 exactly, including its
 * 64-bit wrap-around, so that the tool prints what 0.9 prints.  Where 0.9's
 * arithmetic overflows, the functions still return 0.9's value and raise a
 * flag (META_TSZ_F_*) so the caller can say so.
 *
 * Size units (0.9 syntax): one letter of "bskKmMgGtTpPeEzZyY", or any non-empty
 * prefix of a unit name ("sec", "kibi", "megabytes"); the first name in table
 * order that the prefix matches wins.  Lower-case letters are binary (KiB...),
 * upper-case decimal (kB...); b = bytes, s = 512-byte sectors.
 */
#ifndef LIBMETA_THIN_SIZE_H
#define LIBMETA_THIN_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmeta/api.h>

enum meta_size_unit {
	META_UNIT_BYTES,
	META_UNIT_SECTORS,
	META_UNIT_KIB, META_UNIT_KB,
	META_UNIT_MIB, META_UNIT_MB,
	META_UNIT_GIB, META_UNIT_GB,
	META_UNIT_TIB, META_UNIT_TB,
	META_UNIT_PIB, META_UNIT_PB,
	META_UNIT_EIB, META_UNIT_EB,
	META_UNIT_ZIB, META_UNIT_ZB,
	META_UNIT_YIB, META_UNIT_YB,
	META_UNIT__COUNT
};

/* Overflow flags: set where 0.9's 64-bit arithmetic gives a meaningless value. */
enum {
	META_TSZ_F_DIGITS = 1u << 0,  /* the number does not fit in a signed 64-bit value */
	META_TSZ_F_WRAP = 1u << 1,    /* number x unit wrapped past 2^64 bytes */
	META_TSZ_F_FACTOR = 1u << 2,  /* unit z/Z/y/Y: its 64-bit factor wrapped */
	META_TSZ_F_SUM = 1u << 3,     /* the block count wrapped past 2^64 */
	META_TSZ_F_RESULT = 1u << 4,  /* result >= 2^64 in the output unit: printed as 0 */
};

/* The unit a string names (letter or name prefix, see above), or META_E_INVAL. */
META_API int meta_size_unit_lookup(const char *s, enum meta_size_unit *out);
/* Plural name ("sectors", "kibibytes", "zetabytes" — 0.9's spelling); NULL if out of range. */
META_API const char *meta_size_unit_name(enum meta_size_unit u);
/* The one-letter form ('s', 'k', 'K', ...); 0 if out of range. */
META_API char meta_size_unit_letter(enum meta_size_unit u);
/* The unit letters in table order: "bskKmMgGtTpPeEzZyY". */
META_API const char *meta_size_unit_letters(void);
/*
 * Bytes per unit as 0.9 holds it in 64 bits: exact up to EiB/EB; the zebi/yobi
 * factors wrap to 0 and the zetta/yotta ones wrap modulo 2^64 (flag
 * META_TSZ_F_FACTOR in *flags, which may be NULL).
 */
META_API uint64_t meta_size_unit_factor(enum meta_size_unit u, unsigned *flags);

/* What a size argument means: sectors (block and pool size) or a count (max thins). */
enum meta_size_kind {
	META_SIZE_SECTORS,
	META_SIZE_COUNT,
};

struct meta_size_arg {
	uint64_t value;     /* sectors, or the count for META_SIZE_COUNT (0.9 arithmetic) */
	size_t ndigits;     /* length of the leading decimal digits of the argument */
	int unit;           /* enum meta_size_unit of the suffix, or -1 when there is none */
	unsigned flags;     /* META_TSZ_F_DIGITS / _WRAP / _FACTOR */
};

/*
 * Parse "<digits>[<unit>]" as 0.9 does.  Without a unit the number is sectors
 * (or a plain count).  With a unit the value is number x factor bytes, divided
 * by 512 (rounding down) for META_SIZE_SECTORS and kept as is for
 * META_SIZE_COUNT (so `-m 1k` means 1024).  An empty or digit-less argument
 * gives 0.  Returns META_E_INVAL when the text after the digits is not a unit.
 */
META_API int meta_size_parse(const char *arg, enum meta_size_kind kind, struct meta_size_arg *out);

/* Why an estimate cannot be made, checked in this order (0.9's order). */
enum meta_thin_size_problem {
	META_TSZ_OK,
	META_TSZ_NO_BLOCK_SIZE,     /* block size is 0 sectors */
	META_TSZ_NO_POOL_SIZE,      /* pool size is 0 sectors */
	META_TSZ_NO_MAX_THINS,      /* max thins is 0 */
	META_TSZ_BLOCK_NOT_POW2,    /* block size is not a power of two (in sectors) */
	META_TSZ_POOL_TOO_SMALL,    /* pool size <= block size (1.x rules: pool < block) */
	META_TSZ_BLOCK_NOT_MULTIPLE, /* 1.x/kernel rules: not a multiple of 128 sectors (64 KiB) */
	META_TSZ_BLOCK_TOO_LARGE,   /* 1.x/kernel rules: more than 2097152 sectors (1 GiB) */
};

META_API enum meta_thin_size_problem meta_thin_size_validate(uint64_t block_sectors,
							     uint64_t pool_sectors,
							     uint64_t max_thins);

/*
 * The estimate in 4 KiB metadata blocks, 0.9's formula:
 *     1 + floor(pool_sectors / block_sectors / 126) + max_thins
 * (1.x rounds the middle term up; see libmeta/thin_size.c) computed modulo 2^64 (META_TSZ_F_SUM when it wrapped; flags may be NULL).
 * META_E_INVAL if meta_thin_size_validate() objects.
 */
META_API int meta_thin_size_estimate(uint64_t block_sectors, uint64_t pool_sectors,
				     uint64_t max_thins, uint64_t *nr_blocks, unsigned *flags);

/*
 * The estimate expressed in `unit`, as text exactly as 0.9 prints the number.
 * 0.9 works in doubles here: r = (1.0 + (double)(floor(P/B/126) + M mod 2^64))
 * x 4096 / factor(unit).  An integral r prints as a plain integer (0 when
 * r >= 2^64, which is what 0.9 prints on x86-64: META_TSZ_F_RESULT), otherwise
 * "%.2f", or "%.2e" when the fraction is below 0.01.  Writes at most `len`
 * bytes including the NUL and returns the length of the full text (snprintf
 * convention), or -1 when the unit is out of range or the inputs do not
 * validate (meta_thin_size_validate()).  flags (may be NULL) collects
 * META_TSZ_F_SUM, META_TSZ_F_FACTOR and META_TSZ_F_RESULT.
 */
META_API int meta_thin_size_format(uint64_t block_sectors, uint64_t pool_sectors,
				   uint64_t max_thins, enum meta_size_unit unit, char *buf,
				   size_t len, unsigned *flags);

/*
 * The 1.x/kernel rules (what thin_metadata_size uses).  The block size must be
 * what dm-thin accepts for a pool, a multiple of 128 sectors (64 KiB) from 128
 * to 2097152 sectors (1 GiB), so 384 is valid and 64 or any power of two above
 * 1 GiB is not; the pool must be at least one block; max_thins must not be 0.
 * Checked in the order of enum meta_thin_size_problem.
 */
META_API enum meta_thin_size_problem meta_thin_size_validate_v1(uint64_t block_sectors,
								uint64_t pool_sectors,
								uint64_t max_thins);

/*
 * thin-provisioning-tools 1.x's estimate, in sectors:
 *     8 x (1 + ceil(floor(pool_sectors / block_sectors) / 126) + max_thins)
 * capped at META_THIN_SIZE_V1_MAX_SECTORS (the largest metadata device the
 * kernel uses).  Never overflows.  META_E_INVAL if meta_thin_size_validate_v1()
 * objects.
 */
#define META_THIN_SIZE_V1_MAX_SECTORS UINT64_C(33292800) /* 255 x 16320 blocks of 4 KiB */
META_API int meta_thin_size_estimate_v1(uint64_t block_sectors, uint64_t pool_sectors,
					uint64_t max_thins, uint64_t *sectors);

/*
 * Unit names as 1.x prints them: 0.9's names, except "exbibytes" for e (0.9:
 * "ebibytes").  NULL out of range.
 */
META_API const char *meta_size_unit_name_v1(enum meta_size_unit u);

/*
 * The 1.x estimate expressed in `unit` (up to e/E), as 1.x prints the number:
 * an integral value as an integer, a value >= 1 with two decimals ("%.2f"),
 * a value below 1 as the shortest decimal that reads back as the same double,
 * without an exponent ("0.0004960410296916962"; a tie in the last digit is
 * rounded up).  snprintf convention; -1 on a bad unit or invalid inputs.
 */
META_API int meta_thin_size_format_v1(uint64_t block_sectors, uint64_t pool_sectors,
				      uint64_t max_thins, enum meta_size_unit unit, char *buf,
				      size_t len);

#endif
