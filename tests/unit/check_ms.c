/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the generic shared-store layer (libmeta/multisnap/ms.c): snapshot id
 * syntax at its edges, the status line's shape, sync-snapshots and the "new store"
 * rules, driven through a fake store type (an in-memory id list behind struct ms_ops).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include "multisnap/ms_generic.h"
#include "unit_base.h"

#define ID(n, m) (((meta_ms_id)(n) << 32) | (uint32_t)(m))
#define SNAP(n) ID(n, META_MS_SUB_NONE)

/* ---------------------------------------------------------------- ids */

static void parses(enum meta_ms_type t, const char *s, meta_ms_id want)
{
	meta_ms_id id = 0;
	char buf[META_MS_ID_STRLEN];
	ck_assert_msg(meta_ms_id_parse(t, s, &id) == 0, "'%s' refused", s);
	ck_assert_msg(id == want, "'%s' -> %llx", s, (unsigned long long)id);
	meta_ms_id_format(t, id, buf, sizeof(buf));
	/* formatting gives it back: an id has one spelling */
	ck_assert_str_eq(buf, s);
}

static void refuses(enum meta_ms_type t, const char *s)
{
	meta_ms_id id = 12345;
	ck_assert_msg(meta_ms_id_parse(t, s, &id) == META_E_INVAL, "'%s' accepted", s);
}

START_TEST(test_id_mikulas)
{
	enum meta_ms_type t = META_MS_MIKULAS;
	parses(t, "0", SNAP(0));
	parses(t, "1", SNAP(1));
	parses(t, "1.0", ID(1, 0));
	parses(t, "7.3", ID(7, 3));
	parses(t, "4294967295", SNAP(4294967295u));
	parses(t, "4294967294", SNAP(4294967294u));
	parses(t, "4294967295.4294967294", ID(4294967295u, 4294967294u));
	parses(t, "4294967294.0", ID(4294967294u, 0));
	parses(t, "0.0", ID(0, 0));
	parses(t, "10.10", ID(10, 10));
	refuses(t, "00012"); /* leading zeros: the id's spelling is the formatter's */
	refuses(t, "01");
	refuses(t, "1.01");
	refuses(t, "00.1");
	refuses(t, "4294967296");
	refuses(t, "4294967295.4294967295"); /* the low half all ones is no sub-snapshot */
	refuses(t, "1.4294967295");
	refuses(t, "1.4294967296");
	refuses(t, "18446744073709551615");
	refuses(t, "99999999999999999999999");
	refuses(t, "");
	refuses(t, ".");
	refuses(t, "1.");
	refuses(t, ".1");
	refuses(t, "1.2.3");
	refuses(t, "-1");
	refuses(t, "+1");
	refuses(t, " 1");
	refuses(t, "1 ");
	refuses(t, "1. 2");
	refuses(t, "0x10");
	refuses(t, "1e3");
	ck_assert_int_eq(meta_ms_id_parse(t, NULL, NULL), META_E_INVAL);
}
END_TEST

START_TEST(test_id_daniel)
{
	enum meta_ms_type t = META_MS_DANIEL;
	char buf[META_MS_ID_STRLEN];
	parses(t, "0", 0);
	parses(t, "63", 63);
	parses(t, "4294967295", 4294967295u);
	refuses(t, "4294967296");
	refuses(t, "1.0"); /* daniel has no sub-snapshots */
	refuses(t, "-0");
	refuses(t, "063");
	refuses(t, "00");
	refuses(t, "");
	refuses(t, "12a");
	refuses(META_MS_NONE, "1");
	meta_ms_id_format(t, 4294967295u, buf, sizeof(buf));
	ck_assert_str_eq(buf, "4294967295");
	/* the longest id fits in META_MS_ID_STRLEN */
	meta_ms_id_format(META_MS_MIKULAS, ID(4294967295u, 4294967294u), buf, sizeof(buf));
	ck_assert_str_eq(buf, "4294967295.4294967294");
	ck_assert_uint_lt(strlen(buf), META_MS_ID_STRLEN);
	/* a short buffer is cut, never overrun */
	meta_ms_id_format(META_MS_MIKULAS, ID(12, 3), buf, 3);
	ck_assert_str_eq(buf, "12");
}
END_TEST

START_TEST(test_type_names)
{
	ck_assert_str_eq(meta_ms_type_name(META_MS_MIKULAS), "mikulas");
	ck_assert_str_eq(meta_ms_type_name(META_MS_DANIEL), "daniel");
	ck_assert_ptr_null(meta_ms_type_name(META_MS_NONE));
	ck_assert_int_eq(meta_ms_type_parse("mikulas"), META_MS_MIKULAS);
	ck_assert_int_eq(meta_ms_type_parse("daniel"), META_MS_DANIEL);
	ck_assert_int_eq(meta_ms_type_parse("Daniel"), META_MS_NONE);
	ck_assert_int_eq(meta_ms_type_parse("mikulas "), META_MS_NONE);
	ck_assert_int_eq(meta_ms_type_parse(""), META_MS_NONE);
	ck_assert_int_eq(meta_ms_type_parse(NULL), META_MS_NONE);
}
END_TEST

/* -------------------------------------------------------- status line */

/* The words of a line: count, and #args must be the number after it. */
static unsigned words(const char *s)
{
	unsigned n = 0;
	for (const char *p = s; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		n++;
		while (*p && *p != ' ')
			p++;
	}
	return n;
}

START_TEST(test_status_format)
{
	struct meta_ms_status st = {0};
	meta_ms_id ids[3] = {SNAP(1), ID(1, 0), ID(4294967295u, 4294967294u)};
	char *line;

	st.total_sectors = 2048;
	ck_assert_int_eq(ms_status_format(META_MS_MIKULAS, &st, NULL, &line), 0);
	ck_assert_str_eq(line, "6 0 - 2048 0 0 0");
	ck_assert_uint_eq(words(line), 7);
	free(line);

	st.has_new = true;
	st.new_id = ID(4294967295u, 4294967294u);
	st.sectors_allocated = 96;
	st.metadata_sectors = 64;
	st.nr_ids = 3;
	ck_assert_int_eq(ms_status_format(META_MS_MIKULAS, &st, ids, &line), 0);
	ck_assert_str_eq(line, "9 0 4294967295.4294967294 2048 96 64 3 1 1.0 4294967295.4294967294");
	ck_assert_uint_eq(words(line), 10);
	free(line);

	st.has_new = false;
	st.error = 5;
	st.nr_ids = 2;
	ids[0] = 4;
	ids[1] = 4294967295u;
	ck_assert_int_eq(ms_status_format(META_MS_DANIEL, &st, ids, &line), 0);
	ck_assert_str_eq(line, "8 5 - 2048 96 64 2 4 4294967295");
	free(line);

	/* ids promised but none given */
	ck_assert_int_eq(ms_status_format(META_MS_DANIEL, &st, NULL, &line), META_E_INVAL);
	ck_assert_ptr_null(line);
}
END_TEST

/* ------------------------------------------------------ the fake type */

#define FAKE_MAX 64
static struct {
	meta_ms_id ids[FAKE_MAX];
	unsigned n;
	uint32_t next;         /* next snapshot number */
	uint32_t next_sub[16]; /* next sub-snapshot number per master (< 16) */
	unsigned creates, deletes;
} fk;

static int fake_open(struct meta_io *io, bool write, void **st)
{
	(void)io;
	(void)write;
	*st = &fk;
	return 0;
}
static void fake_close(void *st) { (void)st; }
static uint32_t fake_chunk(void *st) { (void)st; return 8; }

static int cmp(const void *a, const void *b)
{
	meta_ms_id x = *(const meta_ms_id *)a, y = *(const meta_ms_id *)b;
	return x < y ? -1 : x > y;
}

static int fake_snapshots(void *st, meta_ms_id **ids, uint64_t *n)
{
	(void)st;
	*ids = malloc(sizeof(fk.ids));
	memcpy(*ids, fk.ids, sizeof(fk.ids));
	qsort(*ids, fk.n, sizeof(**ids), cmp);
	*n = fk.n;
	return 0;
}
static int fake_status(void *st, struct meta_ms_status *s)
{
	(void)st;
	s->total_sectors = 1000;
	s->sectors_allocated = 24;
	s->metadata_sectors = 16;
	s->nr_ids = fk.n;
	return 0;
}
static int find(meta_ms_id id)
{
	for (unsigned i = 0; i < fk.n; i++)
		if (fk.ids[i] == id)
			return (int)i;
	return -1;
}
static int fake_create(void *st, meta_ms_id *id)
{
	(void)st;
	if (fk.n == FAKE_MAX)
		return META_E_RANGE;
	*id = fk.ids[fk.n++] = SNAP(fk.next++);
	fk.creates++;
	return 0;
}
static int fake_subsnap(void *st, meta_ms_id master, meta_ms_id *id)
{
	uint32_t hi = (uint32_t)(master >> 32);
	(void)st;
	if (find(master) < 0 || (uint32_t)master != META_MS_SUB_NONE || hi >= 16)
		return META_E_NOTFOUND;
	if (fk.n == FAKE_MAX)
		return META_E_RANGE;
	*id = fk.ids[fk.n++] = ID(hi, fk.next_sub[hi]++);
	fk.creates++;
	return 0;
}
static int fake_delete(void *st, meta_ms_id id)
{
	int i = find(id);
	(void)st;
	if (i < 0)
		return META_E_NOTFOUND;
	fk.ids[i] = fk.ids[--fk.n];
	fk.deletes++;
	return 0;
}

static const struct ms_ops fake_ops = {
	.type = META_MS_MIKULAS,
	.name = "mikulas",
	.open = fake_open,
	.close = fake_close,
	.chunk_size = fake_chunk,
	.snapshots = fake_snapshots,
	.status = fake_status,
	.create = fake_create,
	.create_subsnap = fake_subsnap,
	.delete_snap = fake_delete,
};

static char tmp[UB_PATH_MAX];

static struct meta_ms *fake_store(void)
{
	struct meta_io *io;
	struct meta_ms *ms;
	memset(&fk, 0, sizeof(fk));
	fk.next = 1;
	ub_tmpfile(tmp, "ms", 65536);
	ck_assert_int_eq(meta_io_open(tmp, META_IO_WRITE, &io), 0);
	ck_assert_int_eq(ms_open_io(io, &fake_ops, true, &ms), 0);
	return ms;
}

static void done(struct meta_ms *ms)
{
	meta_ms_close(ms);
	unlink(tmp);
}

START_TEST(test_status_line_fake)
{
	struct meta_ms *ms = fake_store();
	meta_ms_id id;
	char *line;

	ck_assert_int_eq(meta_ms_status_line(ms, &line), 0);
	ck_assert_str_eq(line, "6 0 - 1000 24 16 0");
	free(line);
	ck_assert_int_eq(meta_ms_create(ms, &id), 0);
	ck_assert(id == SNAP(1));
	ck_assert_int_eq(meta_ms_create(ms, &id), 0);
	ck_assert_int_eq(meta_ms_create_subsnap(ms, SNAP(1), &id), 0);
	ck_assert(id == ID(1, 0));
	ck_assert_int_eq(meta_ms_status_line(ms, &line), 0);
	/* the new snapid is the last one this handle made; ids ascending */
	ck_assert_str_eq(line, "9 0 1.0 1000 24 16 3 1.0 1 2");
	free(line);
	ck_assert_int_eq(meta_ms_delete(ms, ID(1, 0)), 0);
	ck_assert_int_eq(meta_ms_status_line(ms, &line), 0);
	ck_assert_str_eq(line, "8 0 - 1000 24 16 2 1 2");
	free(line);
	ck_assert_int_eq(meta_ms_delete(ms, SNAP(9)), META_E_NOTFOUND);
	ck_assert_int_eq(meta_ms_get_type(ms), META_MS_MIKULAS);
	ck_assert_uint_eq(meta_ms_chunk_size(ms), 8);
	ck_assert(!meta_ms_is_new(ms));
	done(ms);
}
END_TEST

START_TEST(test_sync_fake)
{
	struct meta_ms *ms = fake_store();
	meta_ms_id *ids;
	uint64_t n;
	meta_ms_id list1[] = {SNAP(3), SNAP(1), ID(1, 1)};
	meta_ms_id list2[] = {SNAP(3)};
	meta_ms_id list3[] = {SNAP(2)}; /* below the next number: cannot be made */

	/* creates 1, 2, 3, 1.0, 1.1, then deletes 2 and 1.0 */
	ck_assert_int_eq(meta_ms_sync(ms, list1, 3), 0);
	ck_assert_int_eq(meta_ms_snapshots(ms, &ids, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert(ids[0] == ID(1, 1) && ids[1] == SNAP(1) && ids[2] == SNAP(3));
	free(ids);
	ck_assert_uint_eq(fk.creates, 5);
	ck_assert_uint_eq(fk.deletes, 2);
	/* nothing to do when the store already matches */
	ck_assert_int_eq(meta_ms_sync(ms, list1, 3), 0);
	ck_assert_uint_eq(fk.creates, 5);
	ck_assert_uint_eq(fk.deletes, 2);
	ck_assert_int_eq(meta_ms_sync(ms, list2, 1), 0);
	ck_assert_int_eq(meta_ms_snapshots(ms, &ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(ids[0] == SNAP(3));
	free(ids);
	ck_assert_int_eq(meta_ms_sync(ms, list3, 1), META_E_RANGE);
	/* a failed sync takes back what it created: the set is as before */
	ck_assert_int_eq(meta_ms_snapshots(ms, &ids, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(ids[0] == SNAP(3));
	free(ids);
	ck_assert_uint_eq(fk.creates, 6);
	ck_assert_uint_eq(fk.deletes, 5);
	/* an empty list deletes everything */
	ck_assert_int_eq(meta_ms_sync(ms, NULL, 0), 0);
	ck_assert_int_eq(meta_ms_snapshots(ms, &ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(ids);
	done(ms);
}
END_TEST

/* -------------------------------------------------- open, new, format */

START_TEST(test_open_new_and_foreign)
{
	static uint8_t buf[8192];
	struct meta_ms *ms;
	struct meta_ms_params p = {0};
	struct meta_ms_status st;
	meta_ms_id id, *ids;
	uint64_t n;
	char *line;

	ub_tmpfile(tmp, "ms", 65536);
	ck_assert_int_eq(meta_ms_open(tmp, 0, &ms), 0);
	ck_assert(meta_ms_is_new(ms));
	ck_assert_int_eq(meta_ms_get_type(ms), META_MS_NONE);
	ck_assert_uint_eq(meta_ms_chunk_size(ms), 0);
	ck_assert_int_eq(meta_ms_snapshots(ms, &ids, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(meta_ms_status(ms, &st), 0);
	ck_assert_uint_eq(st.total_sectors, 128);
	ck_assert_int_eq(meta_ms_status_line(ms, &line), 0);
	ck_assert_str_eq(line, "6 0 - 128 0 0 0");
	free(line);
	/* a new store without --type / --chunk-size cannot be formatted */
	ck_assert_int_eq(meta_ms_create(ms, &id), META_E_INVAL);
	ck_assert_int_eq(meta_ms_dump_xml(ms, stdout), META_E_BLANK);
	p.type = META_MS_NONE;
	p.chunk_size = 3;
	ck_assert_int_eq(meta_ms_set_params(ms, &p), META_E_INVAL);
	meta_ms_close(ms);

	/* another family: a classic store header, thin metadata, garbage */
	memcpy(buf, "SnAp", 4);
	ub_write_at(tmp, 0, buf, 8);
	ck_assert_int_eq(meta_ms_open(tmp, 0, &ms), META_E_BADMAGIC);
	ck_assert_ptr_null(ms);
	memset(buf, 0, sizeof(buf));
	buf[4095] = 1;
	ub_write_at(tmp, 0, buf, sizeof(buf));
	ck_assert_int_eq(meta_ms_open(tmp, 0, &ms), META_E_BADMAGIC);
	/* XML */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "<multisnap_store type=\"daniel\">", 31);
	ub_write_at(tmp, 0, buf, sizeof(buf));
	ck_assert_int_eq(meta_ms_open(tmp, 0, &ms), META_E_LOOKSXML);
	unlink(tmp);
	/* too small for anything */
	ub_tmpfile(tmp, "ms", 1000);
	ck_assert_int_eq(meta_ms_open(tmp, 0, &ms), META_E_TOOSMALL);
	unlink(tmp);
	ck_assert_int_eq(meta_ms_open("/nonexistent/ms", 0, &ms), META_E_NOENT);
}
END_TEST

START_TEST(test_format_params)
{
	struct meta_ms_params p = {.type = META_MS_MIKULAS, .chunk_size = 8};
	ub_tmpfile(tmp, "ms", 65536);
	p.type = META_MS_NONE;
	ck_assert_int_eq(meta_ms_format(tmp, &p, false), META_E_INVAL);
	p.type = (enum meta_ms_type)7;
	ck_assert_int_eq(meta_ms_format(tmp, &p, false), META_E_INVAL);
	p.type = META_MS_DANIEL;
	p.chunk_size = 0;
	ck_assert_int_eq(meta_ms_format(tmp, &p, false), META_E_INVAL);
	p.chunk_size = 24;
	ck_assert_int_eq(meta_ms_format(tmp, &p, false), META_E_INVAL);
	p.chunk_size = 32;
	p.generic = 1u << 5;
	ck_assert_int_eq(meta_ms_format(tmp, &p, false), META_E_INVAL);
	ck_assert_int_eq(meta_ms_format(tmp, NULL, false), META_E_INVAL);
	unlink(tmp);
}
END_TEST

START_TEST(test_xml_root)
{
	enum meta_ms_type t;
	unsigned line;
	const char *a = "<?xml version=\"1.0\"?>\n<!-- c -->\n<multisnap_store chunk_size=\"8\"\n"
			" type='daniel'>";
	const char *b = "  <snapshot_store magic=\"1\">";
	const char *c = "<multisnap_store>";
	const char *d = "<multisnap_storex type=\"mikulas\">";
	const char *e = "<multisnap_store subtype=\"mikulas\" type=\"mikulas\">";
	ck_assert_int_eq(ms_xml_root(a, strlen(a), &t, &line), MS_ROOT_MULTISNAP);
	ck_assert_int_eq(t, META_MS_DANIEL);
	ck_assert_uint_eq(line, 3);
	ck_assert_int_eq(ms_xml_root(b, strlen(b), &t, &line), MS_ROOT_CLASSIC);
	ck_assert_int_eq(ms_xml_root(c, strlen(c), &t, &line), MS_ROOT_MULTISNAP);
	ck_assert_int_eq(t, META_MS_NONE);
	ck_assert_int_eq(ms_xml_root(d, strlen(d), &t, &line), MS_ROOT_OTHER);
	ck_assert_int_eq(ms_xml_root(e, strlen(e), &t, &line), MS_ROOT_MULTISNAP);
	ck_assert_int_eq(t, META_MS_MIKULAS);
	ck_assert_int_eq(ms_xml_root("", 0, &t, &line), MS_ROOT_OTHER);
}
END_TEST

START_TEST(test_restore_bad_xml)
{
	char err[256];
	const char *classic = "<snapshot_store magic=\"1\"/>\n";
	const char *notype = "\n<multisnap_store chunk_size=\"8\">\n</multisnap_store>\n";
	FILE *in;

	ub_tmpfile(tmp, "ms", 65536);
	in = fmemopen((void *)classic, strlen(classic), "r");
	ck_assert_int_eq(meta_ms_restore_xml(in, tmp, false, err, sizeof(err)), META_E_XML);
	ck_assert_str_eq(err, "line 1: <snapshot_store> is a classic store (snap_restore writes it as one)");
	fclose(in);
	in = fmemopen((void *)notype, strlen(notype), "r");
	ck_assert_int_eq(meta_ms_restore_xml(in, tmp, false, err, sizeof(err)), META_E_XML);
	ck_assert_str_eq(err, "line 2: <multisnap_store> needs type=\"mikulas\" or type=\"daniel\"");
	fclose(in);
	unlink(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ms");
	TCase *tc = ub_tcase(s, "ms", 0);
	tcase_add_test(tc, test_id_mikulas);
	tcase_add_test(tc, test_id_daniel);
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_status_format);
	tcase_add_test(tc, test_status_line_fake);
	tcase_add_test(tc, test_sync_fake);
	tcase_add_test(tc, test_open_new_and_foreign);
	tcase_add_test(tc, test_format_params);
	tcase_add_test(tc, test_xml_root);
	tcase_add_test(tc, test_restore_bad_xml);
	return ub_run(s);
}
