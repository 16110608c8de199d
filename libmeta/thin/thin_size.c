/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin-pool metadata size estimate, compatible with thin-provisioning-tools
 * 0.9.0's thin_metadata_size (behaviour measured against its binary).
 *
 * 0.9's estimate, in 4 KiB metadata blocks, is
 *
 *     1 + floor(floor(pool_sectors / block_sectors) / 126) + max_thins
 *
 * where 126 is half of the (4096 - 64) / 16 = 252 16-byte entries 0.9 assumes
 * fit in a btree node after its 64-byte header (nodes half full on average).
 * Example: a 2 GiB pool of 64 KiB blocks with one thin: 16384 data blocks,
 * 1 + 130 + 1 = 132 blocks = 1056 sectors.
 *
 * thin-provisioning-tools 1.x (measured with 1.1.0) differs: it rounds the
 * middle term up, ceil(nr_data_blocks / 126), so the same example gives 133
 * blocks = 1064 sectors; it caps the result at 255 * 16320 blocks (33292800
 * sectors); it requires the block size to be a multiple of 64 KiB and at most
 * 1 GiB (the kernel's rule); and it prints "1064 sectors" instead of 0.9's
 * sentence.  thin_metadata_size follows 1.x (the *_v1 functions at the end of
 * this file); the 0.9 functions are kept for the library's users.
 *
 * 0.9 also does everything in unsigned 64-bit arithmetic without overflow
 * checks: the parsed number saturates at 2^63-1 (atoll), number x unit-factor
 * wraps modulo 2^64, the zebi/yobi factors wrap to 0 and the zetta/yotta ones
 * modulo 2^64, the block count sum wraps, and a result >= 2^64 in the output
 * unit prints as 0.  We reproduce all of that so the output is byte for byte
 * the same, and report each such event in a flag so the tool can warn.
 */
#include <libmeta/thin_size.h>
#include <libmeta/error.h>

#include <math.h> /* HUGE_VAL only: no libm calls */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR_BYTES 512u
#define META_BLOCK_BYTES 4096u
/*
 * 0.9's model of a mapping leaf: a 4096-byte node, a 64-byte header, 16-byte
 * entries (key + value): 252 entries; nodes are assumed half full on average,
 * so it counts 2 * data_blocks / 252, i.e. data_blocks / 126, leaves.
 */
#define ENTRIES_PER_NODE ((4096u - 64u) / 16u)

static const char unit_letters[] = "bskKmMgGtTpPeEzZyY";

static const char *const unit_names[META_UNIT__COUNT] = {
	"bytes",     "sectors",
	"kibibytes", "kilobytes",
	"mebibytes", "megabytes",
	"gibibytes", "gigabytes",
	"tebibytes", "terabytes",
	"pebibytes", "petabytes",
	"ebibytes",  "exabytes",
	"zebibytes", "zetabytes",  /* sic: 0.9 prints "zetabytes" */
	"yobibytes", "yottabytes",
};

_Static_assert(sizeof(unit_letters) - 1 == META_UNIT__COUNT, "one letter per unit");

META_API const char *meta_size_unit_letters(void)
{
	return unit_letters;
}

META_API const char *meta_size_unit_name(enum meta_size_unit u)
{
	if ((unsigned)u >= META_UNIT__COUNT)
		return NULL;
	return unit_names[u];
}

META_API char meta_size_unit_letter(enum meta_size_unit u)
{
	if ((unsigned)u >= META_UNIT__COUNT)
		return 0;
	return unit_letters[u];
}

META_API int meta_size_unit_lookup(const char *s, enum meta_size_unit *out)
{
	size_t len, i;

	if (!s)
		return META_E_INVAL;
	len = strlen(s);
	if (len == 1) {
		const char *p = strchr(unit_letters, s[0]);
		if (!p)
			return META_E_INVAL;
		*out = (enum meta_size_unit)(p - unit_letters);
		return META_OK;
	}
	/*
	 * A name prefix; as in 0.9 the empty string is a prefix of everything and
	 * so names the first unit, bytes.
	 */
	for (i = 0; i < META_UNIT__COUNT; i++) {
		if (strncmp(unit_names[i], s, len) == 0) {
			*out = (enum meta_size_unit)i;
			return META_OK;
		}
	}
	return META_E_INVAL;
}

META_API uint64_t meta_size_unit_factor(enum meta_size_unit u, unsigned *flags)
{
	uint64_t f;
	unsigned i, step;

	if ((unsigned)u >= META_UNIT__COUNT)
		return 0;
	switch (u) {
	case META_UNIT_BYTES:
		return 1;
	case META_UNIT_SECTORS:
		return SECTOR_BYTES;
	default:
		break;
	}
	/* Binary units sit at even indexes from 2, decimal ones at odd indexes from 3. */
	step = (u % 2 == 0) ? 1024u : 1000u;
	f = step;
	for (i = (u % 2 == 0) ? META_UNIT_KIB : META_UNIT_KB; i < (unsigned)u; i += 2)
		f *= step; /* wraps modulo 2^64 for zebi/zetta and beyond, as 0.9 does */
	if (u >= META_UNIT_ZIB && flags)
		*flags |= META_TSZ_F_FACTOR;
	return f;
}

META_API int meta_size_parse(const char *arg, enum meta_size_kind kind, struct meta_size_arg *out)
{
	const char *suffix;
	size_t n, i;
	uint64_t num = 0, factor, bytes;
	unsigned flags = 0;
	enum meta_size_unit unit;
	int have_unit = 0;

	if (!arg || !out)
		return META_E_INVAL;
	n = strspn(arg, "0123456789");
	suffix = arg + n;
	if (*suffix) {
		if (meta_size_unit_lookup(suffix, &unit))
			return META_E_INVAL;
		have_unit = 1;
	} else {
		unit = META_UNIT_SECTORS;
	}

	/* Decimal digits, saturating at 2^63 - 1 like atoll()/strtoll(). */
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(arg[i] - '0');
		if (num > (UINT64_C(0x7fffffffffffffff) - d) / 10) {
			num = UINT64_C(0x7fffffffffffffff);
			flags |= META_TSZ_F_DIGITS;
			break;
		}
		num = num * 10 + d;
	}

	factor = meta_size_unit_factor(unit, &flags);
	bytes = num * factor; /* modulo 2^64, as 0.9 */
	if (factor && num > UINT64_MAX / factor)
		flags |= META_TSZ_F_WRAP;

	/* Without a suffix 0.9 multiplies by 512 and divides again: it still wraps. */
	if (!have_unit || kind == META_SIZE_SECTORS)
		out->value = bytes / SECTOR_BYTES;
	else
		out->value = bytes;
	out->ndigits = n;
	out->unit = have_unit ? (int)unit : -1;
	out->flags = flags;
	return META_OK;
}

/*
 * floor() of a positive double (or +inf) without libm, which the tools do not
 * link: every double >= 2^52 is already an integer.
 */
static double floor_pos(double r)
{
	if (!(r < 4503599627370496.0))
		return r;
	return (double)(uint64_t)r;
}

/* floor(P/B/126) + M modulo 2^64: the part of 0.9's formula done in integers. */
static uint64_t int_part(uint64_t b, uint64_t p, uint64_t m, unsigned *flags)
{
	/*
	 * 0.9 computes 2 * p / b / 252, which is floor(floor(p / b) / 126) as
	 * long as 2 * p does not wrap; it cannot for a p from meta_size_parse()
	 * (a 64-bit byte count in sectors is < 2^55).  Larger p wrap as in 0.9.
	 */
	uint64_t x = 2 * p / b / ENTRIES_PER_NODE;
	uint64_t s = x + m;

	if (p > UINT64_MAX / 2 || s < x)
		*flags |= META_TSZ_F_SUM;
	return s;
}

META_API int meta_thin_size_estimate(uint64_t block_sectors, uint64_t pool_sectors,
				     uint64_t max_thins, uint64_t *nr_blocks, unsigned *flags)
{
	unsigned f = 0;
	uint64_t s;

	if (meta_thin_size_validate(block_sectors, pool_sectors, max_thins) != META_TSZ_OK)
		return META_E_INVAL;
	s = int_part(block_sectors, pool_sectors, max_thins, &f);
	if (s == UINT64_MAX)
		f |= META_TSZ_F_SUM;
	if (nr_blocks)
		*nr_blocks = s + 1;
	if (flags)
		*flags |= f;
	return META_OK;
}

META_API int meta_thin_size_format(uint64_t block_sectors, uint64_t pool_sectors,
				   uint64_t max_thins, enum meta_size_unit unit, char *buf,
				   size_t len, unsigned *flags)
{
	unsigned f = 0;
	uint64_t factor;
	double r, whole;
	int n;

	if ((unsigned)unit >= META_UNIT__COUNT ||
	    meta_thin_size_validate(block_sectors, pool_sectors, max_thins) != META_TSZ_OK)
		return -1;

	factor = meta_size_unit_factor(unit, &f);
	r = 1.0 + (double)int_part(block_sectors, pool_sectors, max_thins, &f);
	r *= (double)META_BLOCK_BYTES;
	if (factor == 0) {
		/* 0.9 divides by zero here: +inf, which it prints as 0. */
		r = HUGE_VAL;
	} else {
		r /= (double)factor;
	}

	whole = floor_pos(r);
	if (r == whole) {
		uint64_t v = 0;
		/* 2^64 as a double; 0.9's (unsigned long long) cast yields 0 from here up. */
		if (r < 18446744073709551616.0)
			v = (uint64_t)r;
		else
			f |= META_TSZ_F_RESULT;
		n = snprintf(buf, len, "%llu", (unsigned long long)v);
	} else if (r - whole < 1e-2) {
		n = snprintf(buf, len, "%0.2e", r);
	} else {
		n = snprintf(buf, len, "%0.2f", r);
	}
	if (flags)
		*flags |= f;
	return n;
}

/* ---- thin-provisioning-tools 1.x / kernel rules ---- */

#define V1_BLOCK_MULTIPLE 128u        /* 64 KiB: dm-thin's DATA_DEV_BLOCK_SIZE_MIN_SECTORS */
#define V1_BLOCK_MAX UINT64_C(2097152) /* 1 GiB: DATA_DEV_BLOCK_SIZE_MAX_SECTORS */

/*
 * Both rule sets: a zero block size, pool size or thin count first, then 0.9's
 * rules (v1 false: a power-of-two block, a pool larger than one block) or 1.x's
 * and the kernel's.
 */
static enum meta_thin_size_problem validate(uint64_t block_sectors, uint64_t pool_sectors,
					    uint64_t max_thins, bool v1)
{
	if (!block_sectors)
		return META_TSZ_NO_BLOCK_SIZE;
	if (!pool_sectors)
		return META_TSZ_NO_POOL_SIZE;
	if (!max_thins)
		return META_TSZ_NO_MAX_THINS;
	if (!v1) {
		if (block_sectors & (block_sectors - 1))
			return META_TSZ_BLOCK_NOT_POW2;
		return pool_sectors <= block_sectors ? META_TSZ_POOL_TOO_SMALL : META_TSZ_OK;
	}
	if (block_sectors % V1_BLOCK_MULTIPLE)
		return META_TSZ_BLOCK_NOT_MULTIPLE;
	if (block_sectors > V1_BLOCK_MAX)
		return META_TSZ_BLOCK_TOO_LARGE;
	return pool_sectors < block_sectors ? META_TSZ_POOL_TOO_SMALL : META_TSZ_OK;
}

META_API enum meta_thin_size_problem meta_thin_size_validate(uint64_t block_sectors,
							     uint64_t pool_sectors,
							     uint64_t max_thins)
{
	return validate(block_sectors, pool_sectors, max_thins, false);
}

META_API enum meta_thin_size_problem meta_thin_size_validate_v1(uint64_t block_sectors,
								uint64_t pool_sectors,
								uint64_t max_thins)
{
	return validate(block_sectors, pool_sectors, max_thins, true);
}

META_API int meta_thin_size_estimate_v1(uint64_t block_sectors, uint64_t pool_sectors,
					uint64_t max_thins, uint64_t *sectors)
{
	const uint64_t cap = META_THIN_SIZE_V1_MAX_SECTORS / 8;
	uint64_t nr_data, blocks;

	if (meta_thin_size_validate_v1(block_sectors, pool_sectors, max_thins) != META_TSZ_OK)
		return META_E_INVAL;
	nr_data = pool_sectors / block_sectors;
	/* ceil(nr_data / 126) + 1 + max_thins, saturating at the cap (no overflow). */
	blocks = nr_data / (ENTRIES_PER_NODE / 2) + (nr_data % (ENTRIES_PER_NODE / 2) != 0) + 1;
	if (blocks > cap || max_thins > cap - blocks)
		blocks = cap;
	else
		blocks += max_thins;
	if (sectors)
		*sectors = blocks * 8;
	return META_OK;
}

META_API const char *meta_size_unit_name_v1(enum meta_size_unit u)
{
	if (u == META_UNIT_EIB)
		return "exbibytes";
	return meta_size_unit_name(u);
}

/*
 * r in (0, 1): the shortest decimal that reads back as r, digits rounded half
 * up, printed as "0.000ddd".  glibc prints the exact expansion for any
 * precision, so the digit after the cut decides the rounding.
 */
static int format_shortest_fraction(double r, char *buf, size_t len)
{
	char exact[64], digits[24], out[64];
	int exp10, prec, i, nd;

	/* d.ddd...e-XX with 40 significant digits (exact up to the 41st). */
	snprintf(exact, sizeof(exact), "%.40e", r);
	exp10 = atoi(strchr(exact, 'e') + 1);
	for (prec = 1; prec <= 17; prec++) {
		int carry = 0, e = exp10;
		char tmp[48];

		/* mantissa digits: exact[0], exact[2..] */
		digits[0] = exact[0];
		memcpy(digits + 1, exact + 2, (size_t)prec - 1);
		if (exact[prec + 1] >= '5')
			carry = 1;
		for (i = prec - 1; carry && i >= 0; i--) {
			if (digits[i] == '9') {
				digits[i] = '0';
			} else {
				digits[i]++;
				carry = 0;
			}
		}
		if (carry) { /* 9.99 -> 10.0: one more power of ten */
			memmove(digits + 1, digits, (size_t)prec - 1);
			digits[0] = '1';
			e++;
		}
		digits[prec] = '\0';
		snprintf(tmp, sizeof(tmp), "%c.%se%d", digits[0], digits + 1, e);
		if (strtod(tmp, NULL) == r) {
			exp10 = e;
			break;
		}
	}
	if (prec > 17)
		prec = 17;
	nd = (int)strlen(digits);
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';
	/* r < 1, so exp10 <= -1 (or 0 after rounding up to exactly 1). */
	if (exp10 >= 0)
		return snprintf(buf, len, "%s", digits);
	memset(out, '0', (size_t)(-exp10 - 1));
	out[-exp10 - 1] = '\0';
	return snprintf(buf, len, "0.%s%s", out, digits);
}

META_API int meta_thin_size_format_v1(uint64_t block_sectors, uint64_t pool_sectors,
				      uint64_t max_thins, enum meta_size_unit unit, char *buf,
				      size_t len)
{
	uint64_t sectors, factor, bytes;
	double r;

	if ((unsigned)unit > META_UNIT_EB ||
	    meta_thin_size_estimate_v1(block_sectors, pool_sectors, max_thins, &sectors) != META_OK)
		return -1;
	factor = meta_size_unit_factor(unit, NULL);
	bytes = sectors * SECTOR_BYTES; /* < 2^35 */
	if (bytes % factor == 0)
		return snprintf(buf, len, "%llu", (unsigned long long)(bytes / factor));
	r = (double)bytes / (double)factor;
	if (r >= 1.0)
		return snprintf(buf, len, "%.2f", r);
	return format_shortest_fraction(r, buf, len);
}
