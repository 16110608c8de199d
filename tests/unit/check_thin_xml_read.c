/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the thin XML reader's fast path for mapping elements: for every
 * document, the emitter calls, the status and the error message (with its line
 * number) must be exactly those of expat alone, with any read-buffer size.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_xml_read.h>

#include "base/xml_util.h"
#include "unit_base.h"

/* ---- a recording emitter ---------------------------------------------------------- */

struct rec {
	FILE *log;
	char *buf;
	size_t len;
};

static int r_sb(void *c, const struct meta_thin_xml_sb *sb)
{
	struct rec *r = c;
	fprintf(r->log, "sb uuid=%s time=%" PRIu32 " tr=%" PRIu64 " flags=%" PRIu32 " v=%" PRIu32
			" bs=%" PRIu32 " nr=%" PRIu64 " msnap=%d/%" PRIu64 "\n",
		sb->uuid, sb->time, sb->transaction, sb->flags, sb->version, sb->data_block_size,
		sb->nr_data_blocks, sb->has_metadata_snap, sb->metadata_snap);
	return 0;
}

static int r_end_sb(void *c)
{
	fprintf(((struct rec *)c)->log, "end sb\n");
	return 0;
}

static int r_dev(void *c, const struct meta_thin_details *d)
{
	fprintf(((struct rec *)c)->log, "dev %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu32 "\n",
		d->dev_id, d->mapped_blocks, d->transaction_id, d->creation_time,
		d->snapshotted_time);
	return 0;
}

static int r_end_dev(void *c)
{
	fprintf(((struct rec *)c)->log, "end dev\n");
	return 0;
}

static int r_def(void *c, const char *name)
{
	fprintf(((struct rec *)c)->log, "def %s\n", name);
	return 0;
}

static int r_end_def(void *c)
{
	fprintf(((struct rec *)c)->log, "end def\n");
	return 0;
}

static int r_ref(void *c, const char *name)
{
	fprintf(((struct rec *)c)->log, "ref %s\n", name);
	return 0;
}

/* origin 4242 is refused by the emitter: an emitter error on a mapping */
static int r_range(void *c, uint64_t ob, uint64_t db, uint32_t t, uint64_t len)
{
	fprintf(((struct rec *)c)->log, "range %" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu64 "\n", ob,
		db, t, len);
	return ob == 4242 ? META_E_INVAL : 0;
}

static int r_single(void *c, uint64_t ob, uint64_t db, uint32_t t)
{
	fprintf(((struct rec *)c)->log, "single %" PRIu64 " %" PRIu64 " %" PRIu32 "\n", ob, db, t);
	return ob == 4242 ? META_E_INVAL : 0;
}

static const char *r_msg(void *c)
{
	(void)c;
	return "the emitter refuses origin 4242";
}

static const struct meta_thin_emitter_ops rec_ops = {r_sb, r_end_sb, r_dev, r_end_dev, r_def,
						    r_end_def, r_ref, r_range, r_single};

struct result {
	int rc;
	char err[256];
	char *log;
	uint64_t fast;
};

static void parse(const char *doc, size_t len, bool fast, size_t bufsize, struct result *res)
{
	struct rec r;
	struct meta_thin_emitter e = {&rec_ops, &r};
	FILE *in = fmemopen((void *)doc, len, "r");
	struct meta_thin_xml_knobs k = {bufsize, fast, 0};
	ck_assert_ptr_nonnull(in);
	r.log = open_memstream(&r.buf, &r.len);
	ck_assert_ptr_nonnull(r.log);
	meta_thin_xml_knobs = &k;
	res->rc = meta_thin_xml_parse(in, &e, r_msg, res->err, sizeof(res->err));
	meta_thin_xml_knobs = NULL;
	fclose(in);
	fclose(r.log);
	res->log = r.buf;
	res->fast = k.fast_count;
}

/*
 * Parse doc with expat alone, then with the fast path and several buffer
 * sizes: everything must match.  Returns expat's result and the fast path's
 * hand-over count with the default buffer (caller frees ref->log).
 */
static uint64_t same_len(const char *doc, size_t len, struct result *ref)
{
	static const size_t sizes[] = {1 << 20, 16, 17, 31, 64, 97, 128, 255, 1000, 4096};
	uint64_t fast_default = 0;
	parse(doc, len, false, 1 << 20, ref);
	ck_assert_uint_eq(ref->fast, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct result got;
		parse(doc, len, true, sizes[i], &got);
		if (got.rc != ref->rc || strcmp(got.err, ref->err) || strcmp(got.log, ref->log))
			ck_abort_msg("buffer %zu: fast path differs from expat\n--- expat rc=%d err=%s\n%s"
				     "--- fast rc=%d err=%s\n%s--- document\n%.*s",
				     sizes[i], ref->rc, ref->err, ref->log, got.rc, got.err, got.log,
				     len > 2000 ? 2000 : (int)len, doc);
		if (i == 0)
			fast_default = got.fast;
		free(got.log);
	}
	return fast_default;
}

static uint64_t same(const char *doc, struct result *ref)
{
	return same_len(doc, strlen(doc), ref);
}

#define SB "<superblock uuid=\"\" time=\"1\" transaction=\"2\" data_block_size=\"128\" nr_data_blocks=\"100000\">\n"
#define DEV "  <device dev_id=\"1\" mapped_blocks=\"5\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"

START_TEST(test_plain)
{
	struct result ref;
	const char *doc = SB DEV
		"    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"3\" time=\"1\"/>\n"
		"    <single_mapping origin_block=\"7\" data_block=\"99\" time=\"0\"/>\n"
		"  </device>\n"
		"  <device dev_id=\"2\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
		"  </device>\n"
		"</superblock>\n";
	ck_assert_uint_eq(same(doc, &ref), 2);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_str_eq(ref.log,
			 "sb uuid= time=1 tr=2 flags=0 v=2 bs=128 nr=100000 msnap=0/0\n"
			 "dev 1 5 0 0 0\nrange 0 10 1 3\nsingle 7 99 0\nend dev\n"
			 "dev 2 0 0 0 0\nend dev\nend sb\n");
	free(ref.log);
}
END_TEST

START_TEST(test_def_ref)
{
	struct result ref;
	const char *doc = SB
		"  <def name=\"a b>c\">\n"
		"    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"3\" time=\"1\"/>\n"
		"  </def>\n" DEV "    <ref name=\"a b>c\"/>\n"
		"    <single_mapping origin_block=\"7\" data_block=\"99\" time=\"0\"/>\n"
		"  </device>\n</superblock>\n";
	ck_assert_uint_eq(same(doc, &ref), 2);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_ptr_nonnull(strstr(ref.log, "def a b>c\nrange 0 10 1 3\nend def\n"));
	free(ref.log);
}
END_TEST

/* Mapping-like text that is not a mapping element must not be handed over. */
START_TEST(test_not_elements)
{
	struct result ref;
	const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" SB DEV
		"    <!-- <single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/> -->\n"
		"    <![CDATA[ <single_mapping origin_block=\"2\" data_block=\"2\" time=\"0\"/> ]]>\n"
		"    <?pi <single_mapping origin_block=\"3\" data_block=\"3\" time=\"0\"/> ?>\n"
		"    <single_mapping origin_block=\"4\" data_block=\"4\" time=\"0\"/>\n"
		"  </device>\n</superblock>\n<!-- <single_mapping origin_block=\"5\" data_block=\"5\" time=\"0\"/> -->\n";
	ck_assert_uint_eq(same(doc, &ref), 1);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_ptr_nonnull(strstr(ref.log, "dev 1 5 0 0 0\nsingle 4 4 0\nend dev\n"));
	free(ref.log);
}
END_TEST

/* Unusual but valid forms: same calls, through whichever path. */
START_TEST(test_forms)
{
	struct result ref;
	const char *doc = SB DEV
		"    <single_mapping time='3' data_block='5' origin_block='1'/>\n"
		"    <single_mapping\torigin_block = \"2\"\tdata_block=\"6\"  time=\"0\"   />\n"
		"    <single_mapping origin_block=\"3\"\n data_block=\"7\" time=\"0\"/>\n"
		"    <single_mapping origin_block=\"&#52;\" data_block=\"8\" time=\"0\"/>\n"
		"    <single_mapping origin_block=\"0005\" data_block=\"9\" time=\"0\"></single_mapping>\n"
		"    text between <range_mapping origin_begin=\"6\" data_begin=\"20\" length=\"2\" time=\"4294967295\"/>\n"
		"    <range_mapping origin_begin=\"18446744073709551614\" data_begin=\"30\" length=\"1\" time=\"0\"/>\n"
		"  </device>\n</superblock>\n";
	ck_assert_uint_eq(same(doc, &ref), 4);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_ptr_nonnull(strstr(ref.log, "single 1 5 3\nsingle 2 6 0\nsingle 3 7 0\nsingle 4 8 0\n"
					     "single 5 9 0\nrange 6 20 4294967295 2\n"
					     "range 18446744073709551614 30 0 1\n"));
	free(ref.log);
}
END_TEST

/* Errors: same status, message and line, whatever path saw them. */
START_TEST(test_errors)
{
	static const char *bad[] = {
		"<single_mapping origin_block=\"x\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"0x10\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"-1\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"18446744073709551616\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"1\" data_block=\"1\" time=\"4294967296\"/>",
		"<single_mapping origin_block=\"\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\" extra=\"1\"/>",
		"<single_mapping origin_block=\"1\" origin_block=\"2\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"1\" data_block=\"1\"/>",
		"<single_mapping origin_block=\"1\"data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/ >",
		"<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\">",
		"<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0>",
		"<single_mappingx origin_block=\"1\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping origin_blockx=\"1\" data_block=\"1\" time=\"0\"/>",
		"<single_mapping/>",
		"<range_mapping origin_begin=\"1\" data_begin=\"1\" length=\"0\" time=\"0\"/>",
		"<range_mapping origin_begin=\"18446744073709551615\" data_begin=\"1\" length=\"2\" time=\"0\"/>",
		"<range_mapping origin_begin=\"1\" data_begin=\"18446744073709551615\" length=\"2\" time=\"0\"/>",
		"<range_mapping origin_begin=\"1\" data_begin=\"1\" time=\"0\"/>",
		"<single_mapping origin_block=\"4242\" data_block=\"1\" time=\"0\"/>",
		"<range_mapping origin_begin=\"4242\" data_begin=\"1\" length=\"2\" time=\"0\"/>",
		"<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/><</device>",
		"&bogus;<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct result ref;
		char doc[1024];
		snprintf(doc, sizeof(doc),
			 SB DEV "    <single_mapping origin_block=\"0\" data_block=\"0\" time=\"0\"/>\n\n"
				"    %s\n  </device>\n</superblock>\n",
			 bad[i]);
		same(doc, &ref);
		/* an unclosed element or quote shows at the next line's markup */
		if (!ref.rc || strncmp(ref.err, i == 11 || i == 12 ? "line 6: " : "line 5: ", 8))
			ck_abort_msg("case %zu: rc %d, err \"%s\"", i, ref.rc, ref.err);
		free(ref.log);
	}
}
END_TEST

/* Mappings where no mapping may be: the state checks still apply. */
START_TEST(test_misplaced)
{
	static const char *docs[] = {
		SB "  <single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/>\n</superblock>\n",
		SB DEV "  </device>\n</superblock>\n<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/>\n",
		"<single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/>\n",
		SB DEV "  <ref name=\"x\"><single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/></ref>\n"
		       "  </device>\n</superblock>\n",
		SB DEV "    <single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/>\n", /* truncated */
		SB DEV "    <single_mapping origin_block=\"1\" data_block=\"1\" ti",
		"",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct result ref;
		same(docs[i], &ref);
		if (!ref.rc || strncmp(ref.err, "line ", 5))
			ck_abort_msg("case %zu: rc %d, err \"%s\"", i, ref.rc, ref.err);
		free(ref.log);
	}
}
END_TEST

/* Line ends CR LF and CR: line numbers of later errors still match expat's. */
START_TEST(test_line_ends)
{
	static const char *eols[] = {"\r\n", "\r", "\n\r"};
	for (size_t k = 0; k < 3; k++) {
		struct result ref;
		char doc[2048];
		int n = 0;
		n += snprintf(doc + n, sizeof(doc) - (size_t)n, "<superblock uuid=\"\" time=\"1\" transaction=\"2\" "
			      "data_block_size=\"128\" nr_data_blocks=\"100000\">%s  <device dev_id=\"1\" "
			      "mapped_blocks=\"5\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">%s",
			      eols[k], eols[k]);
		for (int i = 0; i < 5; i++)
			n += snprintf(doc + n, sizeof(doc) - (size_t)n,
				      "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"0\"/>%s",
				      i, i, eols[k]);
		n += snprintf(doc + n, sizeof(doc) - (size_t)n,
			      "    <single_mapping origin_block=\"4242\" data_block=\"1\" time=\"0\"/>%s"
			      "  </device>%s</superblock>%s", eols[k], eols[k], eols[k]);
		same(doc, &ref);
		ck_assert_int_eq(ref.rc, META_E_INVAL);
		/* LF CR is two line breaks */
		ck_assert_str_eq(ref.err, k == 2 ? "line 15: the emitter refuses origin 4242"
						 : "line 8: the emitter refuses origin 4242");
		free(ref.log);
	}
}
END_TEST

/* A DOCTYPE with an entity, and encodings: left to expat, same result. */
START_TEST(test_doctype_encoding)
{
	struct result ref;
	const char *dt = "<!DOCTYPE superblock [ <!ENTITY one \"1\"> ]>\n" SB DEV
		"    <single_mapping origin_block=\"&one;\" data_block=\"1\" time=\"0\"/>\n"
		"    <single_mapping origin_block=\"2\" data_block=\"2\" time=\"0\"/>\n"
		"  </device>\n</superblock>\n";
	const char *latin1 = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n" SB DEV
		"    <single_mapping origin_block=\"2\" data_block=\"2\" time=\"0\"/>\n"
		"  </device>\n</superblock>\n";
	const char *other = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n" SB DEV
		"    <single_mapping origin_block=\"2\" data_block=\"2\" time=\"0\"/>\n"
		"  </device>\n</superblock>\n";
	char u16[4096];
	size_t n = 0;

	ck_assert_uint_eq(same(dt, &ref), 0);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_ptr_nonnull(strstr(ref.log, "single 1 1 0\nsingle 2 2 0\n"));
	free(ref.log);
	ck_assert_uint_eq(same(latin1, &ref), 1);
	ck_assert_int_eq(ref.rc, 0);
	free(ref.log);
	ck_assert_uint_eq(same(other, &ref), 0);
	free(ref.log);
	/* the plain document in UTF-16LE with a byte order mark */
	u16[n++] = (char)0xff;
	u16[n++] = (char)0xfe;
	for (const char *s = SB DEV "    <single_mapping origin_block=\"2\" data_block=\"2\" time=\"0\"/>\n"
				    "  </device>\n</superblock>\n";
	     *s; s++) {
		u16[n++] = *s;
		u16[n++] = 0;
	}
	ck_assert_uint_eq(same_len(u16, n, &ref), 0);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_ptr_nonnull(strstr(ref.log, "single 2 2 0\n"));
	free(ref.log);
}
END_TEST

/* A long document: every buffer size splits tokens at many places. */
START_TEST(test_long)
{
	struct result ref;
	size_t cap = 1 << 20, n = 0;
	char *doc = malloc(cap);
	ck_assert_ptr_nonnull(doc);
	n += (size_t)snprintf(doc + n, cap - n, SB);
	for (int d = 0; d < 3; d++) {
		n += (size_t)snprintf(doc + n, cap - n,
				      "  <device dev_id=\"%d\" mapped_blocks=\"0\" transaction=\"0\" "
				      "creation_time=\"0\" snap_time=\"0\">\n", d);
		for (int i = 0; i < 1500; i++) {
			if (i % 97 == 0)
				n += (size_t)snprintf(doc + n, cap - n, "    <!-- %d > -->\n", i);
			if (i % 2)
				n += (size_t)snprintf(doc + n, cap - n,
						      "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" "
						      "length=\"2\" time=\"%d\"/>\n", 4 * i, 7 * i, i % 5);
			else
				n += (size_t)snprintf(doc + n, cap - n,
						      "    <single_mapping origin_block=\"%d\" data_block=\"%d\" "
						      "time=\"%d\"/>\n", 4 * i, 7 * i, i % 5);
		}
		n += (size_t)snprintf(doc + n, cap - n, "  </device>\n");
	}
	n += (size_t)snprintf(doc + n, cap - n, "</superblock>\n");
	ck_assert_uint_eq(same_len(doc, n, &ref), 4500);
	ck_assert_int_eq(ref.rc, 0);
	free(ref.log);
	/* and an emitter error deep inside, on line 3000 */
	{
		char *p = strstr(doc, "origin_block=\"5992\"");
		ck_assert_ptr_nonnull(p);
		memcpy(p, "origin_block=\"4242\"", 19);
		same_len(doc, n, &ref);
		ck_assert_int_eq(ref.rc, META_E_INVAL);
		ck_assert_str_eq(ref.err, "line 1517: the emitter refuses origin 4242");
		free(ref.log);
	}
	free(doc);
}
END_TEST

/*
 * Random damage to a document: whatever the bytes, the fast path agrees with
 * expat (a fixed seed: the same 3000 documents every run).
 */
START_TEST(test_mutations)
{
	static const char alphabet[] = "<>\"'/=\n\r\t &#;x09!-?[]_abdegilmnoprstu";
	const char *base = "<?xml version=\"1.0\"?>\n" SB
		"  <def name=\"d\">\n"
		"    <range_mapping origin_begin=\"0\" data_begin=\"10\" length=\"3\" time=\"1\"/>\n"
		"  </def>\n" DEV "    <ref name=\"d\"/>\n"
		"    <single_mapping origin_block=\"7\" data_block=\"99\" time=\"0\"/>\n"
		"    <!-- note -->\n"
		"    <range_mapping origin_begin='8' data_begin='12' length='2' time='0'/>\n"
		"    <single_mapping origin_block=\"4242\" data_block=\"1\" time=\"0\"/>\n"
		"  </device>\n</superblock>\n";
	size_t blen = strlen(base);
	unsigned seed = 12345;
	uint64_t fast = 0;
	for (int it = 0; it < 3000; it++) {
		char doc[1024];
		size_t n = blen;
		struct result ref;
		memcpy(doc, base, blen);
		for (int m = 0, nm = 1 + it % 3; m < nm; m++) {
			size_t at = (size_t)rand_r(&seed) % n;
			switch (rand_r(&seed) % 3) {
			case 0: /* replace */
				doc[at] = alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
				break;
			case 1: /* delete */
				memmove(doc + at, doc + at + 1, n - at - 1);
				n--;
				break;
			default: /* insert */
				if (n + 1 < sizeof(doc)) {
					memmove(doc + at + 1, doc + at, n - at);
					doc[at] = alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
					n++;
				}
			}
		}
		fast += same_len(doc, n, &ref);
		free(ref.log);
	}
	/* most damaged documents still have mappings the fast path takes */
	ck_assert_uint_gt(fast, 1500);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thin_xml_read");
	TCase *tc = ub_tcase(s, "fast path", 60);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_def_ref);
	tcase_add_test(tc, test_not_elements);
	tcase_add_test(tc, test_forms);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_misplaced);
	tcase_add_test(tc, test_line_ends);
	tcase_add_test(tc, test_doctype_encoding);
	tcase_add_test(tc, test_long);
	tcase_add_test(tc, test_mutations);
	return ub_run(s);
}
