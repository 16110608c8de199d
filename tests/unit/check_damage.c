/* SPDX-License-Identifier: GPL-2.0-only */
/* The damage table (include/libmeta/damage.h): every kind fully worded, names unique. */
#include <check.h>
#include <string.h>

#include <libmeta/damage.h>

#include "unit_base.h"

static void nonempty(const char *what, int k, const char *s)
{
	ck_assert_msg(s && s[0], "%s of kind %d (%s) is empty", what, k,
		      meta_damage_name((enum meta_damage_kind)k));
}

START_TEST(test_every_kind_worded)
{
	for (int k = 0; k < META_DMG__COUNT; k++) {
		enum meta_damage_kind dk = (enum meta_damage_kind)k;
		nonempty("name", k, meta_damage_name(dk));
		nonempty("description", k, meta_damage_text(dk));
		nonempty("phrase", k, meta_damage_phrase(dk));
		nonempty("advice", k, meta_damage_advice(dk));
		nonempty("range label", k, meta_damage_range_label(dk));
		ck_assert_int_le(meta_damage_default_severity(dk), META_SEV_FATAL);
		ck_assert_int_le(meta_damage_locus(dk), META_LOCUS_STORE);
	}
}
END_TEST

START_TEST(test_names_unique)
{
	for (int a = 0; a < META_DMG__COUNT; a++)
		for (int b = a + 1; b < META_DMG__COUNT; b++)
			ck_assert_msg(strcmp(meta_damage_name((enum meta_damage_kind)a),
					     meta_damage_name((enum meta_damage_kind)b)) != 0,
				      "kinds %d and %d share the name %s", a, b,
				      meta_damage_name((enum meta_damage_kind)a));
}
END_TEST

START_TEST(test_known_rows)
{
	/* the words lvm2, scripts and the goldens rely on */
	ck_assert_str_eq(meta_damage_name(META_DMG_NODE_CHECKSUM), "NODE_CHECKSUM");
	ck_assert_str_eq(meta_damage_phrase(META_DMG_SB_CHECKSUM), "bad checksum in superblock");
	ck_assert_str_eq(meta_damage_phrase(META_DMG_NODE_CHECKSUM),
			 meta_damage_text(META_DMG_NODE_CHECKSUM));
	ck_assert_str_eq(meta_damage_advice(META_DMG_NODE_CHECKSUM), "run thin_repair");
	ck_assert_str_eq(meta_damage_range_label(META_DMG_DATA_LEAK), "data block");
	ck_assert_str_eq(meta_damage_range_label(META_DMG_MAPPING_PAST_END), "virtual block");
	ck_assert_str_eq(meta_damage_range_label(META_DMG_NODE_KEY_ORDER), "key");
	ck_assert_str_eq(meta_damage_range_label(META_DMG_SNAP_DUP_NEW), "record");
	/* out of range: still words, never NULL */
	nonempty("advice", -1, meta_damage_advice((enum meta_damage_kind)META_DMG__COUNT));
	nonempty("range label", -1, meta_damage_range_label((enum meta_damage_kind)-1));
	nonempty("phrase", -1, meta_damage_phrase((enum meta_damage_kind)META_DMG__COUNT));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("damage");
	TCase *tc = ub_tcase(s, "damage", 0);
	tcase_add_test(tc, test_every_kind_worded);
	tcase_add_test(tc, test_names_unique);
	tcase_add_test(tc, test_known_rows);
	return ub_run(s);
}
