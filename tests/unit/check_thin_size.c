/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the thin_metadata_size computation (libmeta/thin/thin_size.c):
 * unit table and lookup, argument parsing with 0.9's 64-bit wrap-around,
 * validation order, the block estimate and the printed number.  Expected
 * strings were measured with thin-provisioning-tools 0.9.0.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/thin_size.h>

#include "unit_base.h"

#define TIB_SECTORS (UINT64_C(1) << 31)

static enum meta_size_unit lookup(const char *s)
{
	enum meta_size_unit u = META_UNIT__COUNT;
	ck_assert_msg(meta_size_unit_lookup(s, &u) == META_OK, "lookup '%s' failed", s);
	return u;
}

START_TEST(unit_table)
{
	const char *letters = meta_size_unit_letters();
	unsigned i;

	ck_assert_str_eq(letters, "bskKmMgGtTpPeEzZyY");
	ck_assert_uint_eq(strlen(letters), META_UNIT__COUNT);
	for (i = 0; i < META_UNIT__COUNT; i++) {
		char one[2] = { letters[i], 0 };
		const char *name = meta_size_unit_name((enum meta_size_unit)i);
		ck_assert_ptr_nonnull(name);
		ck_assert_int_eq(meta_size_unit_letter((enum meta_size_unit)i), letters[i]);
		ck_assert_int_eq(lookup(one), (int)i);
		ck_assert_int_eq(lookup(name), (int)i);
	}
	ck_assert_str_eq(meta_size_unit_name(META_UNIT_SECTORS), "sectors");
	ck_assert_str_eq(meta_size_unit_name(META_UNIT_ZB), "zetabytes");
	ck_assert_ptr_null(meta_size_unit_name(META_UNIT__COUNT));
	ck_assert_int_eq(meta_size_unit_letter(META_UNIT__COUNT), 0);
}
END_TEST

START_TEST(unit_prefixes)
{
	enum meta_size_unit u;

	ck_assert_int_eq(lookup("sec"), META_UNIT_SECTORS);
	ck_assert_int_eq(lookup("by"), META_UNIT_BYTES);
	ck_assert_int_eq(lookup("ki"), META_UNIT_KIB);
	ck_assert_int_eq(lookup("kil"), META_UNIT_KB);
	ck_assert_int_eq(lookup("me"), META_UNIT_MIB);   /* first match wins */
	ck_assert_int_eq(lookup("meg"), META_UNIT_MB);
	ck_assert_int_eq(lookup("ze"), META_UNIT_ZIB);
	ck_assert_int_eq(lookup("zet"), META_UNIT_ZB);
	ck_assert_int_eq(lookup("ex"), META_UNIT_EB);
	ck_assert_int_eq(lookup("M"), META_UNIT_MB);
	ck_assert_int_eq(lookup("m"), META_UNIT_MIB);
	ck_assert_int_eq(lookup(""), META_UNIT_BYTES);   /* 0.9: empty prefix matches "bytes" */
	ck_assert_int_eq(meta_size_unit_lookup("x", &u), META_E_INVAL);
	ck_assert_int_eq(meta_size_unit_lookup("sectorsX", &u), META_E_INVAL);
	ck_assert_int_eq(meta_size_unit_lookup("Sectors", &u), META_E_INVAL);
	ck_assert_int_eq(meta_size_unit_lookup("KiB", &u), META_E_INVAL);
	ck_assert_int_eq(meta_size_unit_lookup("zettabytes", &u), META_E_INVAL);
	ck_assert_int_eq(meta_size_unit_lookup(NULL, &u), META_E_INVAL);
}
END_TEST

START_TEST(unit_factors)
{
	unsigned flags = 0;

	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_BYTES, &flags), 1);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_SECTORS, &flags), 512);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_KIB, &flags), 1024);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_KB, &flags), 1000);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_MIB, &flags), 1048576);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_GB, &flags), 1000000000);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_EIB, &flags), UINT64_C(1) << 60);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_EB, &flags),
			  UINT64_C(1000000000000000000));
	ck_assert_uint_eq(flags, 0);
	/* 0.9's wrapped factors. */
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_ZIB, &flags), 0);
	ck_assert_uint_eq(flags, META_TSZ_F_FACTOR);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_YIB, NULL), 0);
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_ZB, NULL),
			  UINT64_C(3875820019684212736)); /* 10^21 mod 2^64 */
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT_YB, NULL),
			  UINT64_C(1000000000000000000) * UINT64_C(1000000)); /* mod 2^64 */
	ck_assert_uint_eq(meta_size_unit_factor(META_UNIT__COUNT, NULL), 0);
}
END_TEST

static struct meta_size_arg parse(const char *s, enum meta_size_kind kind)
{
	struct meta_size_arg a;
	memset(&a, 0xa5, sizeof(a));
	ck_assert_msg(meta_size_parse(s, kind, &a) == META_OK, "parse '%s' failed", s);
	return a;
}

START_TEST(parse_sizes)
{
	struct meta_size_arg a, junk;

	a = parse("128", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 128);
	ck_assert_int_eq(a.unit, -1);
	ck_assert_uint_eq(a.ndigits, 3);
	ck_assert_uint_eq(a.flags, 0);

	a = parse("64k", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 128);
	ck_assert_int_eq(a.unit, META_UNIT_KIB);
	ck_assert_uint_eq(a.ndigits, 2);

	a = parse("100G", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 195312500);
	a = parse("1000b", META_SIZE_SECTORS);   /* bytes round down to sectors */
	ck_assert_uint_eq(a.value, 1);
	a = parse("100b", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 0);
	a = parse("007sectors", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 7);
	ck_assert_int_eq(a.unit, META_UNIT_SECTORS);
	ck_assert_uint_eq(a.ndigits, 3);
	a = parse("", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 0);
	ck_assert_int_eq(a.unit, -1);
	a = parse("k", META_SIZE_SECTORS);       /* no digits: 0, like atoll("") */
	ck_assert_uint_eq(a.value, 0);
	ck_assert_int_eq(a.unit, META_UNIT_KIB);
	ck_assert_uint_eq(a.ndigits, 0);

	/* Counts: a unit multiplies the count by the unit's bytes. */
	a = parse("2", META_SIZE_COUNT);
	ck_assert_uint_eq(a.value, 2);
	a = parse("1k", META_SIZE_COUNT);
	ck_assert_uint_eq(a.value, 1024);
	a = parse("1s", META_SIZE_COUNT);
	ck_assert_uint_eq(a.value, 512);
	a = parse("3K", META_SIZE_COUNT);
	ck_assert_uint_eq(a.value, 3000);

	ck_assert_int_eq(meta_size_parse("1x", META_SIZE_SECTORS, &junk), META_E_INVAL);
	ck_assert_int_eq(meta_size_parse("-1", META_SIZE_SECTORS, &junk), META_E_INVAL);
	ck_assert_int_eq(meta_size_parse("+1", META_SIZE_COUNT, &junk), META_E_INVAL);
	ck_assert_int_eq(meta_size_parse(" 1", META_SIZE_COUNT, &junk), META_E_INVAL);
	ck_assert_int_eq(meta_size_parse("1k2", META_SIZE_COUNT, &junk), META_E_INVAL);
	ck_assert_int_eq(meta_size_parse("0x80", META_SIZE_SECTORS, &junk), META_E_INVAL);
	ck_assert_int_eq(meta_size_parse(NULL, META_SIZE_SECTORS, &junk), META_E_INVAL);
}
END_TEST

START_TEST(parse_overflow)
{
	struct meta_size_arg a;

	/* Saturates at 2^63-1 like atoll, then x512 wraps: 2^55 - 1 sectors. */
	a = parse("99999999999999999999", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, (UINT64_C(1) << 55) - 1);
	ck_assert(a.flags & META_TSZ_F_DIGITS);
	a = parse("9223372036854775807", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, (UINT64_C(1) << 55) - 1);
	ck_assert_uint_eq(a.flags, META_TSZ_F_WRAP);
	a = parse("36028797018963968", META_SIZE_SECTORS);  /* 2^55 x 512 = 2^64 -> 0 */
	ck_assert_uint_eq(a.value, 0);
	ck_assert_uint_eq(a.flags, META_TSZ_F_WRAP);
	a = parse("36028797018963967", META_SIZE_SECTORS);  /* largest exact bare value */
	ck_assert_uint_eq(a.value, (UINT64_C(1) << 55) - 1);
	ck_assert_uint_eq(a.flags, 0);
	a = parse("16e", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 0);
	ck_assert_uint_eq(a.flags, META_TSZ_F_WRAP);
	a = parse("15e", META_SIZE_COUNT);
	ck_assert_uint_eq(a.value, UINT64_C(15) << 60);
	ck_assert_uint_eq(a.flags, 0);
	a = parse("1z", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, 0);
	ck_assert_uint_eq(a.flags, META_TSZ_F_FACTOR);
	a = parse("1Z", META_SIZE_SECTORS);
	ck_assert_uint_eq(a.value, UINT64_C(3875820019684212736) / 512);
	ck_assert(a.flags & META_TSZ_F_FACTOR);
}
END_TEST

START_TEST(validate_order)
{
	ck_assert_int_eq(meta_thin_size_validate(0, 0, 0), META_TSZ_NO_BLOCK_SIZE);
	ck_assert_int_eq(meta_thin_size_validate(100, 0, 0), META_TSZ_NO_POOL_SIZE);
	ck_assert_int_eq(meta_thin_size_validate(100, 5, 0), META_TSZ_NO_MAX_THINS);
	ck_assert_int_eq(meta_thin_size_validate(100, 5, 1), META_TSZ_BLOCK_NOT_POW2);
	ck_assert_int_eq(meta_thin_size_validate(128, 128, 1), META_TSZ_POOL_TOO_SMALL);
	ck_assert_int_eq(meta_thin_size_validate(128, 5, 1), META_TSZ_POOL_TOO_SMALL);
	ck_assert_int_eq(meta_thin_size_validate(128, 129, 1), META_TSZ_OK);
	ck_assert_int_eq(meta_thin_size_validate(1, 2, 1), META_TSZ_OK);   /* 0.9 allows it */
	ck_assert_int_eq(meta_thin_size_validate(64, 1u << 21, 1), META_TSZ_OK);
	ck_assert_int_eq(meta_thin_size_validate(UINT64_C(1) << 63, UINT64_MAX, 1), META_TSZ_OK);
	ck_assert_int_eq(meta_thin_size_validate(192, 1u << 21, 1), META_TSZ_BLOCK_NOT_POW2);
}
END_TEST

START_TEST(estimate_blocks)
{
	uint64_t nb = 0;
	unsigned flags = 0;

	/* The reference note's example: 1 + 130 + 1 (1.x rounds up: 133). */
	ck_assert_int_eq(meta_thin_size_estimate(128, 2097152, 1, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 132);
	/* Rounding down at the 126-blocks-per-leaf boundary. */
	ck_assert_int_eq(meta_thin_size_estimate(1, 125, 1, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 2);
	ck_assert_int_eq(meta_thin_size_estimate(1, 126, 1, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 3);
	ck_assert_int_eq(meta_thin_size_estimate(1, 251, 1, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 3);
	ck_assert_int_eq(meta_thin_size_estimate(1, 252, 1, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 4);
	ck_assert_int_eq(meta_thin_size_estimate(128, 16256, 1, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 3);
	ck_assert_int_eq(meta_thin_size_estimate(4096, 195312500, 100000, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 100379);
	ck_assert_uint_eq(flags, 0);
	ck_assert_int_eq(meta_thin_size_estimate(128, 128, 1, &nb, &flags), META_E_INVAL);

	/* The count wraps modulo 2^64 like 0.9's. */
	ck_assert_int_eq(meta_thin_size_estimate(1, 252, UINT64_MAX - 1, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 1);
	ck_assert(flags & META_TSZ_F_SUM);
	flags = 0;
	ck_assert_int_eq(meta_thin_size_estimate(1, 2, UINT64_MAX, &nb, &flags), META_OK);
	ck_assert_uint_eq(nb, 0);
	ck_assert(flags & META_TSZ_F_SUM);
}
END_TEST

/* Against a brute-force model of the formula over many inputs. */
START_TEST(estimate_model)
{
	uint64_t seed = 0x9e3779b97f4a7c15u, nb;
	unsigned i;

	for (i = 0; i < 200000; i++) {
		uint64_t b, p, m, expect;
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		b = UINT64_C(1) << ((seed >> 33) % 40);
		p = b + 1 + ((seed >> 7) % (UINT64_C(1) << ((seed >> 50) % 48)));
		m = 1 + (seed % 100000);
		/* floor(p / (b * 126)) — the closed form of 0.9's 2p/b/252 */
		expect = 1 + p / (b * 126) + m;
		ck_assert_int_eq(meta_thin_size_estimate(b, p, m, &nb, NULL), META_OK);
		ck_assert_uint_eq(nb, expect);
	}
}
END_TEST

static void fmt_is(uint64_t b, uint64_t p, uint64_t m, enum meta_size_unit u,
		   const char *expect, unsigned expect_flags)
{
	char buf[64];
	unsigned flags = 0;
	int n = meta_thin_size_format(b, p, m, u, buf, sizeof(buf), &flags);

	ck_assert_int_eq(n, (int)strlen(expect));
	ck_assert_str_eq(buf, expect);
	ck_assert_uint_eq(flags, expect_flags);
}

/* Expected strings measured with pdata_tools 0.9.0 thin_metadata_size -n. */
START_TEST(format_09)
{
	fmt_is(128, 2097152, 1, META_UNIT_SECTORS, "1056", 0);
	fmt_is(4096, 195312500, 100000, META_UNIT_MB, "411.15", 0);       /* -b 2m -s 100G */
	fmt_is(128, TIB_SECTORS, 1, META_UNIT_KB, "545398.78", 0);
	fmt_is(128, TIB_SECTORS, 1, META_UNIT_BYTES, "545398784", 0);
	fmt_is(128, TIB_SECTORS, 1, META_UNIT_SECTORS, "1065232", 0);
	fmt_is(128, TIB_SECTORS, 512, META_UNIT_KIB, "534660", 0);
	fmt_is(1, 2, 1, META_UNIT_GB, "8.19e-06", 0);
	fmt_is(1, 2, 1, META_UNIT_GIB, "7.63e-06", 0);
	fmt_is(1, 2, 72, META_UNIT_KB, "2.99e+02", 0);    /* 299.008: fraction < 0.01 */
	fmt_is(1, 2, 197, META_UNIT_KB, "8.11e+02", 0);
	fmt_is(1, 2, 1, META_UNIT_KB, "8.19", 0);
	fmt_is(128, TIB_SECTORS, 1000, META_UNIT_ZB, "1.42e-10", META_TSZ_F_FACTOR);
	fmt_is(128, TIB_SECTORS, 1000, META_UNIT_YB, "2.74e-10", META_TSZ_F_FACTOR);
	/* zebi/yobi factors are 0 in 0.9: +inf, printed as 0. */
	fmt_is(128, TIB_SECTORS, 1000, META_UNIT_ZIB, "0", META_TSZ_F_FACTOR | META_TSZ_F_RESULT);
	fmt_is(128, TIB_SECTORS, 1000, META_UNIT_YIB, "0", META_TSZ_F_FACTOR | META_TSZ_F_RESULT);
	/* Around 2^64 bytes. */
	fmt_is(1, 2, UINT64_C(1) << 51, META_UNIT_BYTES, "9223372036854779904", 0);
	fmt_is(1, 2, UINT64_C(3) << 50, META_UNIT_BYTES, "13835058055282167808", 0);
	fmt_is(1, 2, UINT64_C(4503599627370494), META_UNIT_BYTES, "18446744073709547520", 0);
	fmt_is(1, 2, UINT64_C(4503599627370495), META_UNIT_BYTES, "0", META_TSZ_F_RESULT);
	fmt_is(1, 2, UINT64_C(4) << 50, META_UNIT_SECTORS, "36028797018963976", 0);
	fmt_is(1, 2, UINT64_C(4) << 50, META_UNIT_KIB, "18014398509481988", 0);
	fmt_is(128, TIB_SECTORS, UINT64_C(15) << 60, META_UNIT_SECTORS, "0", META_TSZ_F_RESULT);
	fmt_is(1, (UINT64_C(1) << 55) - 1, 1, META_UNIT_SECTORS, "2287542667870744", 0);
	fmt_is(128, 3875820019684212736u / 512, 1, META_UNIT_SECTORS, "3754940960304", 0);
	/* -b 64 (below 128 sectors) is accepted by 0.9. */
	fmt_is(64, 2097152, 1, META_UNIT_SECTORS, "2096", 0);
}
END_TEST

START_TEST(format_edges)
{
	char buf[4];
	unsigned flags = 0;

	/* snprintf convention: full length returned, output truncated. */
	ck_assert_int_eq(meta_thin_size_format(128, 2097152, 1, META_UNIT_BYTES, buf, sizeof(buf),
					       &flags), 6);
	ck_assert_str_eq(buf, "540");
	ck_assert_int_eq(meta_thin_size_format(128, 2097152, 1, META_UNIT_BYTES, NULL, 0, NULL), 6);
	/* Invalid inputs and units. */
	ck_assert_int_lt(meta_thin_size_format(100, 2097152, 1, META_UNIT_BYTES, buf, sizeof(buf),
					       NULL), 0);
	ck_assert_int_lt(meta_thin_size_format(128, 2097152, 0, META_UNIT_BYTES, buf, sizeof(buf),
					       NULL), 0);
	ck_assert_int_lt(meta_thin_size_format(128, 2097152, 1, META_UNIT__COUNT, buf, sizeof(buf),
					       NULL), 0);
}
END_TEST

/* 1.x/kernel rules: block sizes are multiples of 128 sectors from 128 to 2097152. */
START_TEST(validate_v1)
{
	ck_assert_int_eq(meta_thin_size_validate_v1(384, 2097152, 1), META_TSZ_OK);
	ck_assert_int_eq(meta_thin_size_validate_v1(2097152, 2097152, 1), META_TSZ_OK);
	ck_assert_int_eq(meta_thin_size_validate_v1(64, 2097152, 1), META_TSZ_BLOCK_NOT_MULTIPLE);
	ck_assert_int_eq(meta_thin_size_validate_v1(100, 2097152, 1), META_TSZ_BLOCK_NOT_MULTIPLE);
	ck_assert_int_eq(meta_thin_size_validate_v1(2097280, 1u << 30, 1), META_TSZ_BLOCK_TOO_LARGE);
	ck_assert_int_eq(meta_thin_size_validate_v1(4194304, 1u << 30, 1), META_TSZ_BLOCK_TOO_LARGE);
	ck_assert_int_eq(meta_thin_size_validate_v1(128, 127, 1), META_TSZ_POOL_TOO_SMALL);
	ck_assert_int_eq(meta_thin_size_validate_v1(0, 127, 1), META_TSZ_NO_BLOCK_SIZE);
	ck_assert_int_eq(meta_thin_size_validate_v1(128, 0, 1), META_TSZ_NO_POOL_SIZE);
	ck_assert_int_eq(meta_thin_size_validate_v1(128, 128, 0), META_TSZ_NO_MAX_THINS);
}
END_TEST

static void fmt_v1_is(uint64_t b, uint64_t p, uint64_t m, enum meta_size_unit u, const char *want)
{
	char buf[64];
	int n = meta_thin_size_format_v1(b, p, m, u, buf, sizeof(buf));

	ck_assert_int_eq(n, (int)strlen(want));
	ck_assert_str_eq(buf, want);
}

/* Values measured with thin-provisioning-tools 1.1.0. */
START_TEST(format_v1)
{
	uint64_t sectors = 0;

	ck_assert_int_eq(meta_thin_size_estimate_v1(128, 2097152, 1, &sectors), META_OK);
	ck_assert_uint_eq(sectors, 1064);
	ck_assert_int_eq(meta_thin_size_estimate_v1(128, UINT64_C(1) << 54, 1, &sectors), META_OK);
	ck_assert_uint_eq(sectors, META_THIN_SIZE_V1_MAX_SECTORS);
	ck_assert_int_eq(meta_thin_size_estimate_v1(128, 2097152, UINT64_MAX, &sectors), META_OK);
	ck_assert_uint_eq(sectors, META_THIN_SIZE_V1_MAX_SECTORS);
	ck_assert_int_eq(meta_thin_size_estimate_v1(64, 2097152, 1, &sectors), META_E_INVAL);
	fmt_v1_is(128, TIB_SECTORS, 1000, META_UNIT_SECTORS, "1073232");
	fmt_v1_is(384, TIB_SECTORS, 1000, META_UNIT_SECTORS, "363088");
	fmt_v1_is(128, TIB_SECTORS, 1000, META_UNIT_MIB, "524.04");
	fmt_v1_is(128, TIB_SECTORS, 1000, META_UNIT_GIB, "0.5117568969726563");
	fmt_v1_is(128, TIB_SECTORS, 1, META_UNIT_TIB, "0.0004960410296916962");
	fmt_v1_is(128, TIB_SECTORS, 1, META_UNIT_PIB, "0.000000484415068058297");
	fmt_v1_is(128, TIB_SECTORS, 1, META_UNIT_EB, "0.00000000054540288");
	fmt_v1_is(128, 2048, 1, META_UNIT_GB, "0.000012288");
	fmt_v1_is(128, 2097152, 1, META_UNIT_MIB, "0.51953125");
	ck_assert_str_eq(meta_size_unit_name_v1(META_UNIT_EIB), "exbibytes");
	ck_assert_str_eq(meta_size_unit_name_v1(META_UNIT_TIB), "tebibytes");
	ck_assert_int_lt(meta_thin_size_format_v1(128, 2097152, 1, META_UNIT_ZIB, NULL, 0), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("thin_size");
	TCase *tc = ub_tcase(s, "core", 0);
	tcase_add_test(tc, unit_table);
	tcase_add_test(tc, unit_prefixes);
	tcase_add_test(tc, unit_factors);
	tcase_add_test(tc, parse_sizes);
	tcase_add_test(tc, parse_overflow);
	tcase_add_test(tc, validate_order);
	tcase_add_test(tc, estimate_blocks);
	tcase_add_test(tc, estimate_model);
	tcase_add_test(tc, format_09);
	tcase_add_test(tc, format_edges);
	tcase_add_test(tc, validate_v1);
	tcase_add_test(tc, format_v1);
	return s;
}

int main(void)
{
	return ub_run(suite());
}
