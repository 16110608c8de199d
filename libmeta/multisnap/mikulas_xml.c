/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * XML of a mikulas store (schema: multisnap-mikulas.rng), dump and restore, and the
 * human-readable dump.
 *
 *   <multisnap_store type="mikulas" version="1" chunk_size="16" metadata_blocks="651"
 *                    data_chunks="8140" next_snapshot="3" transaction="9"
 *                    flags="preserve-on-error">
 *     <snapshot id="1.0" next_sub="0" created="5"/>          (key order: 1.0 before 1)
 *     <snapshot id="1" next_sub="1" created="3"/>
 *     <exception origin_chunk="10" first_id="0" last_id="1.3" cow_chunk="12"/>
 *   </multisnap_store>
 *
 * Ids are "N" (a snapshot of the origin) or "N.M" (sub-snapshot M of N).  flags is
 * "", "sync-snapshots", "preserve-on-error" or "sync-snapshots,preserve-on-error".
 * Snapshots come first, then exceptions, each in key order (the order a dump writes).
 *
 * Restore streams in one pass: the device gets a superblock marked invalid first; the
 * trees are built bottom-up by the bulk builder (pdata/pdata_write.h: leaves packed
 * full, written in increasing block order through a large buffer) as the records
 * arrive in key order (out-of-order or duplicate keys are refused, never sorted); the
 * data map is written from the chunks' counts (one byte per data chunk), the
 * metadata map last of the metadata blocks, then the valid superblock with the XML's
 * transaction number.  Memory: the snapshots, a byte per data chunk, 4 bytes per
 * metadata block, 16 bytes per exception leaf.  Validation, each
 * a "line N: ..." error: root attributes in range (chunk size, metadata_blocks fitting
 * the device, data_chunks fitting after them); snapshots ascending, numbers below
 * next_snapshot and not 0xffffffff, a sub-snapshot's master (when present: a merged
 * master leaves its subs) with next_sub above its sub number, sub-snapshots' next_sub 0, created not above transaction; exceptions
 * in (origin chunk, first id) order, first_id <= last_id, no overlap within a chunk, at
 * most 65536 per chunk, origin_chunk < 2^48, cow_chunk < data_chunks.  An exception that covers no listed
 * snapshot is restored as it is (snap_check reports it, non-fatal).
 */
#include <libmeta/error.h>
#include <libmeta/multisnap.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/util.h"
#include "base/xml_util.h"
#include "multisnap/mikulas_build.h"
#include "multisnap/mikulas_internal.h"
#include "multisnap/mikulas_ondisk.h"

/* ---- ids: meta_ms_id_format / meta_ms_id_parse (ms.c), the one rule for every id ------------- */

static void id_fmt(meta_ms_id id, char *buf, size_t len)
{
	meta_ms_id_format(META_MS_MIKULAS, id, buf, len);
}

static int id_parse(const char *s, meta_ms_id *id)
{
	return meta_ms_id_parse(META_MS_MIKULAS, s, id) ? -1 : 0;
}

static const char *const flag_names[] = {"", "sync-snapshots", "preserve-on-error",
					 "sync-snapshots,preserve-on-error"};

/* ---- dump ----------------------------------------------------------------------------------- */

/*
 * The XML lines are formatted into a buffer of their own (meta_u64_dec, no printf):
 * a dump of 10 M exceptions is mostly formatting.  The human form uses stdio.
 */
#define DUMP_BUF (1u << 16)
#define DUMP_LINE 256u /* the longest exception or snapshot line, with room */

struct dump {
	FILE *out;
	bool human;
	size_t len;
	char *buf;
};

static int out_err(FILE *f)
{
	return ferror(f) ? META_E_IO : 0;
}

/* Write the buffer out; it is empty afterwards, also after an error. */
static int dump_flush(struct dump *d)
{
	size_t n = d->len;
	d->len = 0;
	return n && fwrite(d->buf, 1, n, d->out) != n ? META_E_IO : 0;
}

/* A string literal: its length is known here, the copy inlined. */
#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/* v in decimal straight into p (its digits counted first). */
static char *put_u64(char *p, uint64_t v)
{
	unsigned n = 1;
	for (uint64_t t = v; t >= 10; t /= 10)
		n++;
	meta_u64_dec(p + n, v);
	return p + n;
}

static char *put_id(char *p, meta_ms_id id)
{
	p = put_u64(p, id >> 32);
	if ((uint32_t)id != META_MS_SUB_NONE) {
		*p++ = '.';
		p = put_u64(p, (uint32_t)id);
	}
	return p;
}

/* Room for one more line: the buffer is written out when it is nearly full. */
static char *line_start(struct dump *d, int *r)
{
	*r = d->len + DUMP_LINE > DUMP_BUF ? dump_flush(d) : 0;
	return d->buf + d->len;
}

static int dump_snap(void *ctx, uint64_t key, const void *value)
{
	struct dump *d = ctx;
	const struct mikulas_disk_snap *v = value;
	char id[META_MS_ID_STRLEN], *p;
	int r;
	if (d->human) {
		id_fmt(key, id, sizeof(id));
		fprintf(d->out, "  snapshot %s: created in transaction %" PRIu64 ", next sub %" PRIu32
			"\n", id, le64_get(v->created), le32_get(v->next_sub));
		return out_err(d->out);
	}
	p = line_start(d, &r);
	p = PUT_LIT(p, "  <snapshot id=\"");
	p = put_id(p, key);
	p = PUT_LIT(p, "\" next_sub=\"");
	p = put_u64(p, le32_get(v->next_sub));
	p = PUT_LIT(p, "\" created=\"");
	p = put_u64(p, le64_get(v->created));
	p = PUT_LIT(p, "\"/>\n");
	d->len = (size_t)(p - d->buf);
	return r;
}

static int dump_exc(void *ctx, uint64_t key, const void *value)
{
	struct dump *d = ctx;
	const struct mikulas_disk_exc *v = value;
	char a[META_MS_ID_STRLEN], b[META_MS_ID_STRLEN], *p;
	int r;
	if (d->human) {
		id_fmt(le64_get(v->first_id), a, sizeof(a));
		id_fmt(le64_get(v->last_id), b, sizeof(b));
		fprintf(d->out, "  origin chunk %" PRIu64 " [%s .. %s] -> COW chunk %" PRIu64 "\n",
			key >> 16, a, b, le64_get(v->cow_chunk));
		return out_err(d->out);
	}
	p = line_start(d, &r);
	p = PUT_LIT(p, "  <exception origin_chunk=\"");
	p = put_u64(p, key >> 16);
	p = PUT_LIT(p, "\" first_id=\"");
	p = put_id(p, le64_get(v->first_id));
	p = PUT_LIT(p, "\" last_id=\"");
	p = put_id(p, le64_get(v->last_id));
	p = PUT_LIT(p, "\" cow_chunk=\"");
	p = put_u64(p, le64_get(v->cow_chunk));
	p = PUT_LIT(p, "\"/>\n");
	d->len = (size_t)(p - d->buf);
	return r;
}

static int dump(void *st, FILE *out, bool human)
{
	const struct mikulas_sb *sb = mikulas_get_sb(st);
	struct dump d = {out, human, 0, NULL};
	int r;
	if (human)
		fprintf(out, "mikulas store: version %" PRIu32 ", chunk_size %" PRIu32
			" sectors, %" PRIu64 " metadata blocks (4 KiB), %" PRIu64
			" data chunks, next snapshot %" PRIu64 ", transaction %" PRIu64 ", flags %s\n",
			sb->version, sb->chunk_size, sb->metadata_blocks, sb->data_chunks,
			sb->next_snapshot, sb->transaction,
			sb->flags & MIKULAS_FLAGS_KNOWN ? flag_names[sb->flags & 3] : "none");
	else
		fprintf(out, "<multisnap_store type=\"mikulas\" version=\"%" PRIu32 "\" chunk_size=\"%"
			PRIu32 "\" metadata_blocks=\"%" PRIu64 "\" data_chunks=\"%" PRIu64
			"\" next_snapshot=\"%" PRIu64 "\" transaction=\"%" PRIu64 "\" flags=\"%s\">\n",
			sb->version, sb->chunk_size, sb->metadata_blocks, sb->data_chunks,
			sb->next_snapshot, sb->transaction, flag_names[sb->flags & 3]);
	d.buf = human ? NULL : malloc(DUMP_BUF);
	if (!human && !d.buf)
		return META_E_NOMEM;
	r = mikulas_iter(st, false, dump_snap, &d);
	if (!r)
		r = mikulas_iter(st, true, dump_exc, &d);
	if (!r && !human)
		r = dump_flush(&d);
	free(d.buf);
	if (r)
		return r;
	fputs(human ? "end mikulas store\n" : "</multisnap_store>\n", out);
	return out_err(out);
}

int mikulas_dump_xml(void *st, FILE *out)
{
	return dump(st, out, false);
}

int mikulas_dump_human(void *st, FILE *out)
{
	return dump(st, out, true);
}

/* ---- restore ------------------------------------------------------------------------------------ */

struct snap_rec {
	meta_ms_id id;
	uint64_t created;
	uint32_t next_sub;
};

struct parse {
	struct xmlu x;
	struct meta_io *io;
	int depth;
	bool seen_root, snaps_done;
	uint64_t next_snapshot, transaction, metadata_blocks, data_chunks;
	struct snap_rec *snaps;
	size_t nsnaps, capsnaps;
	/* the store's writer (mikulas_build.h); building: its exceptions are being added */
	struct mikulas_builder b;
	bool have_b, building;
};

static int snap_cmp(const void *a, const void *b)
{
	meta_ms_id x = ((const struct snap_rec *)a)->id, y = ((const struct snap_rec *)b)->id;
	return x < y ? -1 : x > y;
}

/* The builder failed with r: the metadata area is full, or a write or memory error. */
static void write_failed(struct parse *ps, int r)
{
	if (r == META_E_NOSPC)
		xmlu_fail(&ps->x, r, "the metadata area (metadata_blocks %" PRIu64 ") cannot hold "
			  "the trees and space maps", ps->metadata_blocks);
	else
		xmlu_fail(&ps->x, r, "%s", meta_strerror(r));
}

static void on_root(struct parse *ps, const XML_Char *name, const XML_Char **attrs)
{
	struct xmlu_attr spec[] = {
		{"type", 0, 0, NULL, 1, 0, 1, 0},
		{"version", UINT32_MAX, 0, NULL, 1, 0, 0, 0},
		{"chunk_size", UINT32_MAX, 0, NULL, 1, 0, 0, 0},
		{"metadata_blocks", UINT64_MAX, 0, NULL, 1, 0, 0, 0},
		{"data_chunks", UINT64_MAX, 0, NULL, 1, 0, 0, 0},
		{"next_snapshot", MIKULAS_NUMBER_MAX + 1ull, 0, NULL, 1, 0, 0, 0},
		{"transaction", UINT64_MAX - 1, 0, NULL, 1, 0, 0, 0},
		{"flags", 0, 0, NULL, 0, 0, 1, 0},
	};
	unsigned flags = 0;
	uint64_t mblocks, dchunks;
	int r;
	if (ps->depth != 0 || ps->seen_root) {
		xmlu_fail(&ps->x, META_E_XML, "<multisnap_store> must be the one root element");
		return;
	}
	if (xmlu_take_attrs(&ps->x, name, attrs, spec, 8))
		return;
	if (strcmp(spec[0].s, "mikulas")) {
		xmlu_fail(&ps->x, META_E_XML, "type=\"%s\": this is not a mikulas store", spec[0].s);
		return;
	}
	if (spec[1].v != MIKULAS_VERSION) {
		xmlu_fail(&ps->x, META_E_VERSION, "version %" PRIu64 ": only version 1 is known",
			  spec[1].v);
		return;
	}
	if (!mikulas_chunk_size_ok(spec[2].v)) {
		xmlu_fail(&ps->x, META_E_XML,
			  "chunk_size %" PRIu64 ": a power of two from 8 to 2097152 sectors", spec[2].v);
		return;
	}
	if (spec[7].s) {
		while (flags < 4 && strcmp(spec[7].s, flag_names[flags]))
			flags++;
		if (flags == 4) {
			xmlu_fail(&ps->x, META_E_XML, "flags=\"%s\": unknown", spec[7].s);
			return;
		}
	}
	if (!spec[6].v) {
		xmlu_fail(&ps->x, META_E_XML, "transaction 0: format commits transaction 1");
		return;
	}
	if (!spec[4].v) {
		xmlu_fail(&ps->x, META_E_XML, "data_chunks 0: a store has at least one data chunk");
		return;
	}
	ps->seen_root = true;
	ps->depth = 1;
	ps->next_snapshot = spec[5].v;
	ps->transaction = spec[6].v;
	ps->metadata_blocks = mblocks = spec[3].v;
	ps->data_chunks = dchunks = spec[4].v;
	r = mikulas_geometry(meta_io_size(ps->io), (uint32_t)spec[2].v, flags, &mblocks, &dchunks);
	if (r == META_E_INVAL) {
		xmlu_fail(&ps->x, META_E_XML, "metadata_blocks %" PRIu64 " out of range (%u .. %llu)",
			  spec[3].v, MIKULAS_MIN_META_BLOCKS,
			  (unsigned long long)META_SM_METADATA_MAX_BLOCKS);
		return;
	}
	if (r == META_E_TOOSMALL) {
		xmlu_fail(&ps->x, r, "the device cannot hold %" PRIu64 " metadata blocks and %" PRIu64
			  " data chunks of %" PRIu64 " sectors", spec[3].v, spec[4].v, spec[2].v);
		return;
	}
	{
		struct mikulas_sb sb = {.chunk_size = (uint32_t)spec[2].v, .flags = flags,
					.metadata_blocks = ps->metadata_blocks,
					.data_chunks = ps->data_chunks,
					.next_snapshot = ps->next_snapshot,
					.transaction = ps->transaction};
		r = mikulas_build_begin(&ps->b, ps->io, &sb);
		ps->have_b = true;
	}
	if (r)
		xmlu_fail(&ps->x, r, "%s", meta_strerror(r));
}

/* All snapshots are read: judge them together, then build their tree. */
static void snaps_finish(struct parse *ps)
{
	if (ps->snaps_done)
		return;
	ps->snaps_done = true;
	for (size_t i = 0; i < ps->nsnaps; i++) {
		struct snap_rec *s = &ps->snaps[i];
		uint32_t sub = (uint32_t)s->id;
		if (sub != META_MS_SUB_NONE) {
			struct snap_rec key = {s->id | META_MS_SUB_NONE, 0, 0}, *m;
			char id[META_MS_ID_STRLEN];
			id_fmt(s->id, id, sizeof(id));
			m = bsearch(&key, ps->snaps, ps->nsnaps, sizeof(key), snap_cmp);
			/* no master: it was merged into the origin, its subs live on */
			if (m && sub >= m->next_sub) {
				xmlu_fail(&ps->x, META_E_XML,
					  "snapshot %s: sub number not below its master's next_sub", id);
				return;
			}
		}
	}
	for (size_t i = 0; i < ps->nsnaps; i++) {
		int r = mikulas_build_snapshot(&ps->b, ps->snaps[i].id, ps->snaps[i].created,
					       ps->snaps[i].next_sub);
		if (r) {
			write_failed(ps, r);
			return;
		}
	}
	ps->building = true;
}

static void on_snapshot(struct parse *ps, const XML_Char *name, const XML_Char **attrs)
{
	struct xmlu_attr spec[] = {
		{"id", 0, 0, NULL, 1, 0, 1, 0},
		{"next_sub", MIKULAS_SUB_MAX + 1ull, 0, NULL, 1, 0, 0, 0},
		{"created", UINT64_MAX, 0, NULL, 1, 0, 0, 0},
	};
	meta_ms_id id;
	if (ps->depth != 1 || ps->snaps_done) {
		xmlu_fail(&ps->x, META_E_XML, "<snapshot> must appear inside <multisnap_store>, "
			  "before the exceptions");
		return;
	}
	if (xmlu_take_attrs(&ps->x, name, attrs, spec, 3))
		return;
	ps->depth = 2;
	if (id_parse(spec[0].s, &id)) {
		xmlu_fail(&ps->x, META_E_XML, "id=\"%s\": not N or N.M", spec[0].s);
		return;
	}
	if (id >> 32 >= ps->next_snapshot || id >> 32 > MIKULAS_NUMBER_MAX) {
		xmlu_fail(&ps->x, META_E_XML, "snapshot %s: number not below next_snapshot", spec[0].s);
		return;
	}
	if (ps->nsnaps && ps->snaps[ps->nsnaps - 1].id >= id) {
		xmlu_fail(&ps->x, META_E_XML, "snapshot %s: snapshots must ascend (N.M before N)",
			  spec[0].s);
		return;
	}
	if ((uint32_t)id != META_MS_SUB_NONE && spec[1].v) {
		xmlu_fail(&ps->x, META_E_XML, "snapshot %s: a sub-snapshot's next_sub is 0", spec[0].s);
		return;
	}
	if (spec[2].v > ps->transaction) {
		xmlu_fail(&ps->x, META_E_XML, "snapshot %s: created after the store's transaction",
			  spec[0].s);
		return;
	}
	if (ps->nsnaps == ps->capsnaps) {
		size_t cap = ps->capsnaps ? ps->capsnaps * 2 : 64;
		struct snap_rec *nv = realloc(ps->snaps, cap * sizeof(*nv));
		if (!nv) {
			xmlu_fail(&ps->x, META_E_NOMEM, "%s", meta_strerror(META_E_NOMEM));
			return;
		}
		ps->snaps = nv;
		ps->capsnaps = cap;
	}
	ps->snaps[ps->nsnaps++] = (struct snap_rec){id, spec[2].v, (uint32_t)spec[1].v};
}

/* One exception, its attributes parsed (fs, ls: the ids as written): judged, then built in. */
static void put_exception(struct parse *ps, uint64_t c, meta_ms_id first, meta_ms_id last,
			  uint64_t cow, const char *fs, const char *ls)
{
	int r = mikulas_build_exception(&ps->b, c, first, last, cow);
	if (r != META_E_INVAL || ps->b.why == MB_OK) {
		if (r)
			write_failed(ps, r);
		return;
	}
	switch (ps->b.why) {
	case MB_FIRST_ABOVE_LAST:
		xmlu_fail(&ps->x, META_E_XML, "first_id %s above last_id %s", fs, ls);
		break;
	case MB_COW_RANGE:
		xmlu_fail(&ps->x, META_E_XML, "cow_chunk %" PRIu64 " not below data_chunks %" PRIu64,
			  cow, ps->data_chunks);
		break;
	case MB_OVERLAP:
		xmlu_fail(&ps->x, META_E_XML, "origin_chunk %" PRIu64 ": range %s..%s overlaps or "
			  "precedes the one before", c, fs, ls);
		break;
	case MB_TOO_MANY:
		xmlu_fail(&ps->x, META_E_XML, "origin_chunk %" PRIu64 ": more than 65536 exceptions", c);
		break;
	case MB_UNBORN:
		xmlu_fail(&ps->x, META_E_XML, "origin_chunk %" PRIu64 ": range %s..%s splits a "
			  "snapshot from its unborn sub-snapshots, or covers a snapshot number not "
			  "yet handed out (multisnap-store(5), \"Unborn ids\")", c, fs, ls);
		break;
	default: /* MB_CHUNK_ORDER; MB_CHUNK_RANGE cannot pass the attribute's bound */
		xmlu_fail(&ps->x, META_E_XML, "origin_chunk %" PRIu64 ": exceptions must ascend", c);
		break;
	}
}

static void on_exception(struct parse *ps, const XML_Char *name, const XML_Char **attrs)
{
	struct xmlu_attr spec[] = {
		{"origin_chunk", MIKULAS_CHUNK_LIMIT - 1, 0, NULL, 1, 0, 0, 0},
		{"first_id", 0, 0, NULL, 1, 0, 1, 0},
		{"last_id", 0, 0, NULL, 1, 0, 1, 0},
		{"cow_chunk", UINT64_MAX, 0, NULL, 1, 0, 0, 0},
	};
	meta_ms_id first, last;
	if (ps->depth != 1) {
		xmlu_fail(&ps->x, META_E_XML, "<exception> must appear inside <multisnap_store>");
		return;
	}
	snaps_finish(ps);
	if (ps->x.r || xmlu_take_attrs(&ps->x, name, attrs, spec, 4))
		return;
	ps->depth = 2;
	if (id_parse(spec[1].s, &first) || id_parse(spec[2].s, &last)) {
		xmlu_fail(&ps->x, META_E_XML, "first_id/last_id: not N or N.M");
		return;
	}
	put_exception(ps, spec[0].v, first, last, spec[3].v, spec[1].s, spec[2].s);
}

/*
 * The fast path (xml_util.h): an <exception .../> line after the first (the snapshots
 * are done, the builder is running) with exactly its four attributes and plain values
 * is judged and built without expat; anything else goes through on_exception().
 */
static const struct xmlu_fattr exc_attrs[] = {{"origin_chunk", 12, MIKULAS_CHUNK_LIMIT - 1},
					      {"first_id", 8, 0},
					      {"last_id", 7, 0},
					      {"cow_chunk", 9, UINT64_MAX}};

static bool exc_ready(void *ctx)
{
	const struct parse *ps = ctx;
	return ps->depth == 1 && ps->building;
}

static bool fast_exception(void *ctx, const char *q, const char *te, unsigned long line)
{
	struct parse *ps = ctx;
	uint64_t v[4];
	const char *str[4];
	char fs[META_MS_ID_STRLEN], ls[META_MS_ID_STRLEN];
	meta_ms_id first, last;
	if (te - q < 12 || memcmp(q, "<exception", 10) || (q[10] != ' ' && q[10] != '\t') ||
	    !xmlu_fast_attrs(q + 10, te - 2, exc_attrs, 4, v, str) || v[1] >= sizeof(fs) ||
	    v[2] >= sizeof(ls))
		return false;
	memcpy(fs, str[1], v[1]);
	fs[v[1]] = 0;
	memcpy(ls, str[2], v[2]);
	ls[v[2]] = 0;
	if (id_parse(fs, &first) || id_parse(ls, &last))
		return false; /* expat's path says what is wrong */
	ps->x.line = line;
	put_exception(ps, v[0], first, last, v[3], fs, ls);
	ps->x.line = 0;
	return true;
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *ps = data;
	if (ps->x.r)
		return;
	if (!strcmp(name, "multisnap_store"))
		on_root(ps, name, attrs);
	else if (!strcmp(name, "snapshot"))
		on_snapshot(ps, name, attrs);
	else if (!strcmp(name, "exception"))
		on_exception(ps, name, attrs);
	else
		xmlu_fail(&ps->x, META_E_XML, "unknown element <%s>", name);
}

/*
 * The root element ends: the exception tree is finished, then the data map (from the
 * counts) and the metadata map (describing every block written, itself included), all
 * flushed; the valid superblock last.
 */
static void XMLCALL on_end(void *data, const XML_Char *name)
{
	struct parse *ps = data;
	int r;
	(void)name;
	if (ps->x.r)
		return;
	if (--ps->depth)
		return;
	snaps_finish(ps);
	if (ps->x.r)
		return;
	ps->building = false;
	r = mikulas_build_finish(&ps->b);
	if (r)
		write_failed(ps, r);
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
	struct parse *ps = data;
	xmlu_blank_text(&ps->x, s, len);
}

int mikulas_restore_xml(const char *head, size_t headlen, FILE *in, struct meta_io *io,
			char *err, size_t errlen)
{
	struct parse ps;
	int r;
	memset(&ps, 0, sizeof(ps));
	ps.io = io;
	r = xmlu_create(&ps.x, err, errlen);
	if (r)
		return r;
	XML_SetUserData(ps.x.p, &ps);
	XML_SetElementHandler(ps.x.p, on_start, on_end);
	XML_SetCharacterDataHandler(ps.x.p, on_text);
	{
		struct xmlu_fast f = {exc_ready, fast_exception, &ps, "e", 0, false, 0};
		r = xmlu_run_fast(&ps.x, head, headlen, in, &f);
	}
	if (!r && !ps.seen_root)
		xmlu_fail(&ps.x, META_E_XML, "no <multisnap_store> element");
	XML_ParserFree(ps.x.p);
	if (ps.have_b)
		mikulas_build_free(&ps.b);
	free(ps.snaps);
	return ps.x.r;
}
