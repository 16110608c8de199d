/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Restore a `daniel` store from its XML (schema: multisnap-daniel.rng; written by
 * daniel.c's dump_xml):
 *   <multisnap_store type="daniel" version="1" chunk_size="32" chunks="4 KiB units"
 *       create_time=".." orgoffset=".." orgsectors=".." flags=".." sequence=".."
 *       next_tag="..">
 *     <snapshot id="TAG" bit="0..63" ctime=".." prio="-128..127" usecount=".." sectors=".."/>
 *     <exception origin_chunk="C" cow_chunk="D" snapshots="TAG TAG ..."/>
 *   </multisnap_store>
 * Snapshots come before exceptions; exceptions in (origin_chunk, cow_chunk) order; cow_chunk
 * counts 16 KiB data chunks.  Every error is "line N: ...".  The old superblock is zeroed
 * before the XML is read: a failure leaves no valid store (include/libmeta/multisnap.h).
 *
 * Two passes over the input (ms.c hands it over seekable): the first checks everything and
 * marks the data chunks taken (one bit per 16 KiB chunk), the second streams the exceptions
 * into msd_builder, which writes each leaf as it fills.  No exception is kept in memory.
 */
#include <libmeta/error.h>
#include <libmeta/io.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/xml_util.h"
#include "multisnap/daniel_ondisk.h"

struct dx {
	struct xmlu x;
	uint64_t dev_units;
	int depth;
	bool root_seen, exc_seen;
	struct msd_image img; /* header and snapshots; img.nr_exc counts */
	uint64_t live;
	uint8_t *data_used; /* data chunks taken (16 KiB units) */
	uint64_t fixed_end;
	struct msd_exc_desc prev; /* the last exception (img.nr_exc > 0) */
	uint64_t group_shares;    /* the shares of prev's origin chunk so far */
	struct msd_builder *build; /* the second pass: where the exceptions go */
};

static void on_root(struct dx *d, const XML_Char **a)
{
	struct xmlu_attr at[] = {
		{.name = "type", .is_string = 1, .required = 1},
		{.name = "version", .max = UINT32_MAX, .required = 1},
		{.name = "chunk_size", .max = UINT32_MAX, .required = 1},
		{.name = "chunks", .max = UINT64_MAX, .required = 1},
		{.name = "create_time", .max = UINT64_MAX},
		{.name = "orgoffset", .max = UINT64_MAX},
		{.name = "orgsectors", .max = UINT64_MAX},
		{.name = "flags", .is_string = 1},
		{.name = "sequence", .max = UINT32_MAX},
		{.name = "next_tag", .max = UINT32_MAX},
	};
	if (xmlu_take_attrs(&d->x, "multisnap_store", a, at, 10))
		return;
	if (strcmp(at[0].s, "daniel")) {
		xmlu_fail(&d->x, META_E_XML, "type \"%s\" is not daniel", at[0].s);
		return;
	}
	if (at[1].v != 1) {
		xmlu_fail(&d->x, META_E_XML, "version %" PRIu64 " is not supported (1)", at[1].v);
		return;
	}
	if (at[2].v != MSD_CHUNK_SECTORS) {
		xmlu_fail(&d->x, META_E_XML, "chunk_size %" PRIu64 ": a daniel store takes 32 only", at[2].v);
		return;
	}
	if (at[3].v > d->dev_units) {
		xmlu_fail(&d->x, META_E_TOOSMALL,
			  "the store has %" PRIu64 " chunks of 4 KiB, the device holds %" PRIu64,
			  at[3].v, d->dev_units);
		return;
	}
	uint64_t bb = (at[3].v + MSD_UNIT * 8 - 1) / (MSD_UNIT * 8);
	d->fixed_end = MSD_BITMAP_UNIT + bb + MSD_JOURNAL_UNITS;
	if (at[3].v < d->fixed_end + 2 + MSD_DATA_UNITS) {
		xmlu_fail(&d->x, META_E_TOOSMALL, "chunks %" PRIu64 " cannot hold the fixed structures",
			  at[3].v);
		return;
	}
	d->img.chunks = at[3].v;
	d->img.create_time = at[4].v;
	d->img.orgoffset = at[5].v;
	d->img.orgsectors = at[6].v;
	if (at[7].s && msd_flags_parse(at[7].s, &d->img.flags)) {
		xmlu_fail(&d->x, META_E_XML, "bad flags \"%s\" (busy, sync-snapshots, preserve-on-error, 0x..)",
			  at[7].s);
		return;
	}
	d->img.sequence = (uint32_t)at[8].v;
	d->img.next_tag = (uint32_t)at[9].v;
	if (d->build)
		return; /* the second pass: checked and marked by the first */
	d->data_used = calloc(1, (size_t)(at[3].v / MSD_DATA_UNITS / 8 + 1));
	if (!d->data_used)
		xmlu_fail(&d->x, META_E_NOMEM, "out of memory");
}

static const struct {
	uint64_t bit;
	const char *name;
} flag_names[] = {
	{MSD_SB_DIRTY, "dirty"},
	{MSD_SB_BUSY, "busy"},
	{MSD_SB_SELFCHECK, "selfcheck"},
	{MSD_SB_SYNC_SNAPSHOTS, "sync-snapshots"},
	{MSD_SB_PRESERVE_ON_ERROR, "preserve-on-error"},
};

void msd_flags_format(uint64_t flags, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
		if (flags & flag_names[i].bit) {
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? "," : "",
					      flag_names[i].name);
			flags &= ~flag_names[i].bit;
		}
	if (flags)
		snprintf(buf + o, o < len ? len - o : 0, "%s0x%" PRIx64, o ? "," : "", flags);
}

int msd_flags_parse(const char *s, uint64_t *flags)
{
	uint64_t f = 0;
	while (*s) {
		size_t n = strcspn(s, ",");
		size_t i;
		for (i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
			if (strlen(flag_names[i].name) == n && !strncmp(s, flag_names[i].name, n))
				break;
		if (i < sizeof(flag_names) / sizeof(flag_names[0])) {
			f |= flag_names[i].bit;
		} else if (n > 2 && s[0] == '0' && s[1] == 'x') {
			char *end;
			if (!strchr("0123456789abcdefABCDEF", s[2]))
				return -1;
			f |= strtoull(s + 2, &end, 16);
			if (end != s + n)
				return -1;
		} else {
			return -1;
		}
		s += n;
		if (*s == ',' && !*++s)
			return -1;
	}
	*flags = f;
	return 0;
}

static void on_snapshot(struct dx *d, const XML_Char **a)
{
	struct xmlu_attr at[] = {
		{.name = "id", .max = UINT32_MAX, .required = 1},
		{.name = "bit", .max = MSD_MAX_SNAPSHOTS - 1, .required = 1},
		{.name = "ctime", .max = UINT32_MAX},
		{.name = "prio", .is_string = 1},
		{.name = "usecount", .max = UINT16_MAX},
		{.name = "sectors", .max = UINT64_MAX},
	};
	if (xmlu_take_attrs(&d->x, "snapshot", a, at, 6))
		return;
	if (d->exc_seen) {
		xmlu_fail(&d->x, META_E_XML, "<snapshot> after <exception>");
		return;
	}
	if (d->img.nr_snaps == MSD_MAX_SNAPSHOTS) {
		xmlu_fail(&d->x, META_E_RANGE, "more than 64 snapshots");
		return;
	}
	long prio = 0;
	if (at[3].s) {
		char *end;
		prio = strtol(at[3].s, &end, 10);
		if (!*at[3].s || *end || prio < -128 || prio > 127) {
			xmlu_fail(&d->x, META_E_XML, "bad value \"%s\" for prio in <snapshot>", at[3].s);
			return;
		}
	}
	for (uint32_t i = 0; i < d->img.nr_snaps; i++)
		if (d->img.snaps[i].tag == at[0].v) {
			xmlu_fail(&d->x, META_E_XML, "snapshot id %" PRIu64 " given twice", at[0].v);
			return;
		}
	if (d->live & (1ull << at[1].v)) {
		xmlu_fail(&d->x, META_E_XML, "bit %" PRIu64 " given to two snapshots", at[1].v);
		return;
	}
	d->live |= 1ull << at[1].v;
	struct msd_snap_desc *s = &d->img.snaps[d->img.nr_snaps++];
	s->tag = (uint32_t)at[0].v;
	s->bit = (uint8_t)at[1].v;
	s->ctime = (uint32_t)at[2].v;
	s->prio = (int8_t)prio;
	s->usecount = (uint16_t)at[4].v;
	s->sectors = at[5].v;
}

/* The snapshots="TAG TAG ..." list as a share mask (not empty). */
static int resolve_share(struct dx *d, const char *list, uint64_t *share)
{
	const char *p = list;
	*share = 0;
	while (*p) {
		char *end;
		if (*p == ' ') {
			p++;
			continue;
		}
		if (*p < '0' || *p > '9') {
			xmlu_fail(&d->x, META_E_XML, "bad snapshot list \"%s\"", list);
			return -1;
		}
		unsigned long long t = strtoull(p, &end, 10);
		uint32_t i;
		for (i = 0; i < d->img.nr_snaps; i++)
			if (d->img.snaps[i].tag == t)
				break;
		if (i == d->img.nr_snaps) {
			xmlu_fail(&d->x, META_E_XML, "snapshot %llu is not in the store", t);
			return -1;
		}
		*share |= 1ull << d->img.snaps[i].bit;
		p = end;
	}
	if (!*share) {
		xmlu_fail(&d->x, META_E_XML, "exception shared by no snapshot");
		return -1;
	}
	return 0;
}

static void on_exception(struct dx *d, const XML_Char **a)
{
	struct xmlu_attr at[] = {
		{.name = "origin_chunk", .max = UINT64_MAX, .required = 1},
		{.name = "cow_chunk", .max = UINT64_MAX / MSD_DATA_UNITS, .required = 1},
		{.name = "snapshots", .is_string = 1, .required = 1},
	};
	if (xmlu_take_attrs(&d->x, "exception", a, at, 3))
		return;
	d->exc_seen = true;
	struct msd_exc_desc e = {at[0].v, at[1].v * MSD_DATA_UNITS, 0};
	if (e.chunk < d->fixed_end || e.chunk + MSD_DATA_UNITS > d->img.chunks) {
		xmlu_fail(&d->x, META_E_XML,
			  "cow_chunk %" PRIu64 " is not a data chunk of the store (%" PRIu64 "..%" PRIu64 ")",
			  at[1].v, (d->fixed_end + MSD_DATA_UNITS - 1) / MSD_DATA_UNITS,
			  d->img.chunks / MSD_DATA_UNITS - 1);
		return;
	}
	if (d->build) {
		/* the second pass: the first checked it all */
		if (resolve_share(d, at[2].s, &e.share))
			return;
		int r = msd_build_add(d->build, &e);
		d->img.nr_exc++;
		if (r)
			xmlu_fail(&d->x, r, "writing the store: %s", meta_strerror(r));
		return;
	}
	if ((d->data_used[at[1].v >> 3] >> (at[1].v & 7)) & 1) {
		xmlu_fail(&d->x, META_E_XML, "cow_chunk %" PRIu64 " used twice", at[1].v);
		return;
	}
	d->data_used[at[1].v >> 3] |= (uint8_t)(1u << (at[1].v & 7));
	if (resolve_share(d, at[2].s, &e.share))
		return;
	if (d->img.nr_exc) {
		const struct msd_exc_desc *q = &d->prev;
		if (q->origin > e.origin || (q->origin == e.origin && q->chunk > e.chunk)) {
			xmlu_fail(&d->x, META_E_XML, "exceptions out of (origin_chunk, cow_chunk) order");
			return;
		}
		if (q->origin != e.origin)
			d->group_shares = 0;
		/* the exceptions of one origin chunk must not share a snapshot */
		if (d->group_shares & e.share) {
			xmlu_fail(&d->x, META_E_XML,
				  "origin_chunk %" PRIu64 " has two exceptions for one snapshot", e.origin);
			return;
		}
	}
	d->group_shares |= e.share;
	d->prev = e;
	d->img.nr_exc++;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **a)
{
	struct dx *d = ud;
	d->depth++;
	if (d->depth == 1) {
		if (strcmp(name, "multisnap_store") || d->root_seen) {
			xmlu_fail(&d->x, META_E_XML, "<multisnap_store> must be the one root element");
			return;
		}
		d->root_seen = true;
		on_root(d, a);
	} else if (d->depth == 2 && !strcmp(name, "snapshot")) {
		on_snapshot(d, a);
	} else if (d->depth == 2 && !strcmp(name, "exception")) {
		on_exception(d, a);
	} else {
		xmlu_fail(&d->x, META_E_XML, "unexpected element <%s>", name);
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct dx *d = ud;
	(void)name;
	d->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct dx *d = ud;
	xmlu_blank_text(&d->x, s, len);
}

/* One pass of the parser over head, then the rest of in. */
static int parse_pass(struct dx *d, const char *head, size_t headlen, FILE *in, char *err,
		      size_t errlen)
{
	int r = xmlu_create(&d->x, err, errlen);
	if (r)
		return r;
	XML_SetUserData(d->x.p, d);
	XML_SetElementHandler(d->x.p, on_start, on_end);
	XML_SetCharacterDataHandler(d->x.p, on_text);
	r = xmlu_run_head(&d->x, head, headlen, in);
	if (!r && !d->root_seen) {
		xmlu_fail(&d->x, META_E_XML, "no <multisnap_store> element");
		r = d->x.r;
	}
	XML_ParserFree(d->x.p);
	d->x.p = NULL;
	return r;
}

int msd_restore_xml(const char *head, size_t headlen, FILE *in, struct meta_io *io, char *err,
		    size_t errlen)
{
	struct dx d;
	long start = ftell(in);
	int r = 0;

	memset(&d, 0, sizeof(d));
	if (start < 0) {
		if (err && errlen)
			snprintf(err, errlen, "the input cannot be read twice (not seekable)");
		return META_E_INVAL;
	}
	d.dev_units = meta_io_size(io) / MSD_UNIT;
	/* the old store is made invalid first, whatever follows (multisnap.h) */
	if (d.dev_units >= 2) {
		void *zero = meta_io_buf_alloc(MSD_UNIT);
		if (!zero)
			r = META_E_NOMEM;
		else {
			memset(zero, 0, MSD_UNIT);
			r = meta_io_pwrite(io, zero, MSD_UNIT, MSD_SB_OFFSET);
			if (!r)
				r = meta_io_flush(io);
			free(zero);
		}
		if (r) {
			if (err && errlen)
				snprintf(err, errlen, "invalidating the old store: %s", meta_strerror(r));
			return r;
		}
	}
	/* 1: check everything, mark the data chunks */
	r = parse_pass(&d, head, headlen, in, err, errlen);
	/* 2: stream the exceptions into the builder */
	if (!r) {
		struct msd_builder *m = NULL;
		r = msd_build_new(io, &d.img, d.data_used, &m);
		if (!r && fseek(in, start, SEEK_SET))
			r = META_E_IO;
		if (!r) {
			uint64_t n = d.img.nr_exc;
			d.build = m;
			d.root_seen = d.exc_seen = false;
			d.depth = 0;
			d.img.nr_snaps = 0;
			d.img.nr_exc = 0;
			d.live = 0;
			r = parse_pass(&d, head, headlen, in, err, errlen);
			if (!r && d.img.nr_exc != n) {
				r = META_E_IO; /* the input changed between the passes */
				if (err && errlen)
					snprintf(err, errlen, "the input changed while it was read");
			}
		}
		if (!r)
			r = msd_build_finish(m);
		if (r && err && errlen && !err[0])
			snprintf(err, errlen, "writing the store: %s", meta_strerror(r));
		msd_build_free(m);
	}
	free(d.data_used);
	return r;
}
