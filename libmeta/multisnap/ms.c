/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The generic layer of the shared multisnapshot stores: include/libmeta/multisnap.h,
 * implemented by dispatching to the store types (struct ms_ops, ms_internal.h).
 *
 * What is decided here, for every type:
 *   - which type a device holds: each linked type's sniff() over the device's first
 *     8 KiB (zero-padded); a device whose first 4 KiB are zero and that no type claims
 *     is "new" (the target formats it at the first table load; so does the first
 *     message here, with the parameters of meta_ms_set_params()); any other content
 *     is META_E_BADMAGIC (another family's metadata, garbage) or META_E_LOOKSXML;
 *   - snapshot id syntax: mikulas "N" = (N << 32) | 0xffffffff and "N.M" = (N << 32) |
 *     M with M < 0xffffffff; daniel "N" = the 32-bit tag.  Decimal digits only: no
 *     sign, no spaces, no leading "+", no overflow; leading zeros are accepted;
 *   - the status line: "<#args> <errno> <new snapid> <total_sectors>
 *     <sectors_allocated> <metadata_sectors> <#ids> <ids>", #args counting the words
 *     after it (6 + #ids), new snapid "-" unless this handle created one;
 *   - sync-snapshots: ids listed but missing are made by repeated create /
 *     create_subsnap until the id comes out (ids are handed out in increasing order
 *     and never reused: an id below the next one cannot be made: META_E_RANGE; at most
 *     MS_SYNC_MAX_CREATES creates per sync), then every id not listed is deleted; a
 *     sync that fails while creating deletes again what it created (the snapshot set is
 *     as before; the next snapshot number has moved on);
 *   - restore: the XML streams (a pipe works): its first 64 KiB (all of it only when the
 *     root element is not found there) are read to find the root element, whose type
 *     attribute picks the type; a device holding any store or another family's metadata is
 *     refused without force.
 * A type this build does not link (weak references until the types land) answers
 * META_E_UNSUPPORTED.
 */
#include <libmeta/multisnap.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/io.h>

#include "multisnap/ms_generic.h"
#include "multisnap/ms_internal.h"

extern const struct ms_ops ms_mikulas_ops;
extern const struct ms_ops ms_daniel_ops;

#define MS_HEAD 8192u
#define MS_BLANK 4096u
#define MS_SYNC_MAX_CREATES 65536u

static const uint8_t mikulas_magic[8] = {'D', 'M', 'M', 'S', 'M', 'I', 'K', 'U'};
static const uint8_t daniel_magic[8] = {0x74, 0x65, 0x73, 0x74, 0xdd, 0x07, 0x06, 0x04};

struct meta_ms {
	struct meta_io *io;
	const struct ms_ops *ops; /* NULL while new */
	void *st;
	bool write;
	bool is_new;
	bool have_params;
	struct meta_ms_params params;
	bool has_new;
	meta_ms_id new_id;
};

/* The linked types (an entry is NULL while its type is only weakly referenced). */
static const struct ms_ops *const ms_types[] = {&ms_mikulas_ops, &ms_daniel_ops};

/* The type's ops when linked into this build, else NULL. */
static const struct ms_ops *type_ops(enum meta_ms_type t)
{
	for (size_t i = 0; i < sizeof(ms_types) / sizeof(ms_types[0]); i++)
		if (ms_types[i] && ms_types[i]->type == t)
			return ms_types[i];
	return NULL;
}

const char *meta_ms_type_name(enum meta_ms_type t)
{
	switch (t) {
	case META_MS_MIKULAS:
		return "mikulas";
	case META_MS_DANIEL:
		return "daniel";
	default:
		return NULL;
	}
}

enum meta_ms_type meta_ms_type_parse(const char *s)
{
	if (!s)
		return META_MS_NONE;
	if (!strcmp(s, "mikulas"))
		return META_MS_MIKULAS;
	if (!strcmp(s, "daniel"))
		return META_MS_DANIEL;
	return META_MS_NONE;
}

/* ------------------------------------------------------------------ ids */

void meta_ms_id_format(enum meta_ms_type t, meta_ms_id id, char *buf, size_t len)
{
	if (!buf || !len)
		return;
	if (t == META_MS_MIKULAS) {
		uint32_t hi = (uint32_t)(id >> 32), lo = (uint32_t)id;
		if (lo == META_MS_SUB_NONE)
			snprintf(buf, len, "%" PRIu32, hi);
		else
			snprintf(buf, len, "%" PRIu32 ".%" PRIu32, hi, lo);
	} else {
		snprintf(buf, len, "%" PRIu64, id);
	}
}

/*
 * Decimal digits s[0..n) into a 32-bit number; -1 when empty, not digits, > 2^32-1 or with a
 * leading zero ("0" itself is fine).  One rule for every id read (CLI arguments, the XML of
 * both types): an id has one spelling, the one meta_ms_id_format writes and the status line
 * shows; the target's interface takes ids as strings, so "01" would name no snapshot there.
 */
static int parse_u32(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;
	if (!n || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int meta_ms_id_parse(enum meta_ms_type t, const char *s, meta_ms_id *id)
{
	const char *dot;
	uint32_t hi, lo;
	if (!s || !id)
		return META_E_INVAL;
	dot = strchr(s, '.');
	if (t == META_MS_MIKULAS) {
		if (!dot) {
			if (parse_u32(s, strlen(s), &hi))
				return META_E_INVAL;
			*id = (uint64_t)hi << 32 | META_MS_SUB_NONE;
			return 0;
		}
		if (parse_u32(s, (size_t)(dot - s), &hi) || parse_u32(dot + 1, strlen(dot + 1), &lo) ||
		    lo == META_MS_SUB_NONE)
			return META_E_INVAL;
		*id = (uint64_t)hi << 32 | lo;
		return 0;
	}
	if (t == META_MS_DANIEL) {
		if (dot || parse_u32(s, strlen(s), &hi))
			return META_E_INVAL;
		*id = hi;
		return 0;
	}
	return META_E_INVAL;
}

/* ----------------------------------------------------------- open, close */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The device's first 8 KiB, zero-padded past its end. */
static int read_head(struct meta_io *io, uint8_t *head)
{
	uint64_t size = meta_io_size(io);
	size_t n = size < MS_HEAD ? (size_t)size : MS_HEAD;
	memset(head, 0, MS_HEAD);
	return n ? meta_io_pread(io, head, n, 0) : 0;
}

/*
 * Which type the head holds: *ops the linked type that claims it; else *known the
 * type whose magic is there though this build lacks it (META_MS_NONE if none).
 */
static void sniff_head(const uint8_t *head, const struct ms_ops **ops, enum meta_ms_type *known)
{
	static const enum meta_ms_type types[] = {META_MS_MIKULAS, META_MS_DANIEL};
	*ops = NULL;
	*known = META_MS_NONE;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const struct ms_ops *o = type_ops(types[i]);
		if (o && o->sniff && o->sniff(head)) {
			*ops = o;
			*known = types[i];
			return;
		}
	}
	if (!memcmp(head, mikulas_magic, sizeof(mikulas_magic)))
		*known = META_MS_MIKULAS;
	else if (!memcmp(head + 4096, daniel_magic, sizeof(daniel_magic)))
		*known = META_MS_DANIEL;
}

int ms_open_io(struct meta_io *io, const struct ms_ops *ops, bool write, struct meta_ms **out)
{
	struct meta_ms *ms;
	int r;

	*out = NULL;
	ms = calloc(1, sizeof(*ms));
	if (!ms) {
		meta_io_close(io);
		return META_E_NOMEM;
	}
	ms->io = io;
	ms->write = write;
	if (!ops) {
		uint8_t *head = malloc(MS_HEAD);
		enum meta_ms_type known;
		if (!head) {
			r = META_E_NOMEM;
			goto fail;
		}
		r = read_head(io, head);
		if (r) {
			free(head);
			goto fail;
		}
		sniff_head(head, &ops, &known);
		if (!ops) {
			bool blank = all_zero(head, MS_BLANK);
			free(head);
			if (known != META_MS_NONE) {
				r = META_E_UNSUPPORTED; /* this build has no code for that type */
				goto fail;
			}
			if (!blank) {
				r = META_E_BADMAGIC;
				goto fail;
			}
			ms->is_new = true;
			*out = ms;
			return 0;
		}
		free(head);
	}
	ms->ops = ops;
	r = ops->open(io, write, &ms->st);
	if (r) {
		ms->st = NULL;
		goto fail;
	}
	*out = ms;
	return 0;
fail:
	meta_ms_close(ms);
	return r;
}

int meta_ms_open(const char *path, unsigned flags, struct meta_ms **out)
{
	struct meta_io *io;
	unsigned ioflags = 0;
	int r;

	if (!out)
		return META_E_INVAL;
	*out = NULL;
	if (flags & META_MS_OPEN_WRITE)
		ioflags |= META_IO_WRITE;
	if (flags & META_MS_OPEN_EXCL)
		ioflags |= META_IO_EXCL;
	r = meta_io_open_input(path, ioflags, MS_BLANK, &io);
	if (r)
		return r;
	return ms_open_io(io, NULL, (flags & META_MS_OPEN_WRITE) != 0, out);
}

void meta_ms_close(struct meta_ms *ms)
{
	if (!ms)
		return;
	if (ms->ops && ms->st)
		ms->ops->close(ms->st);
	if (ms->io)
		meta_io_close(ms->io);
	free(ms);
}

enum meta_ms_type meta_ms_get_type(const struct meta_ms *ms)
{
	if (!ms)
		return META_MS_NONE;
	if (ms->ops)
		return ms->ops->type;
	return ms->have_params ? ms->params.type : META_MS_NONE;
}

bool meta_ms_is_new(const struct meta_ms *ms)
{
	return ms && ms->is_new;
}

uint32_t meta_ms_chunk_size(const struct meta_ms *ms)
{
	if (!ms)
		return 0;
	if (ms->ops)
		return ms->ops->chunk_size(ms->st);
	return ms->have_params ? ms->params.chunk_size : 0;
}

/* ------------------------------------------------------------- format */

static int check_params(const struct meta_ms_params *p)
{
	if (!p || (p->type != META_MS_MIKULAS && p->type != META_MS_DANIEL))
		return META_E_INVAL;
	if (!p->chunk_size || (p->chunk_size & (p->chunk_size - 1)))
		return META_E_INVAL;
	if (p->generic & ~(unsigned)(META_MS_SYNC_SNAPSHOTS | META_MS_PRESERVE_ON_ERROR))
		return META_E_INVAL;
	if (!type_ops(p->type))
		return META_E_UNSUPPORTED;
	return 0;
}

/* Does io hold a shared store, or metadata of another family (XML counts)? */
static int holds_something(struct meta_io *io, bool *yes)
{
	uint8_t *head = malloc(MS_HEAD);
	const struct ms_ops *ops;
	enum meta_ms_type known;
	int r;

	*yes = false;
	if (!head)
		return META_E_NOMEM;
	r = read_head(io, head);
	if (!r) {
		sniff_head(head, &ops, &known);
		*yes = known != META_MS_NONE || meta_family_sniff(io) != META_FAMILY_NONE;
	}
	free(head);
	return r;
}

/* Open path for writing a new store: META_E_EXISTS when it holds something and !force. */
int ms_open_for_new(const char *path, bool force, struct meta_io **out)
{
	struct meta_io *io;
	bool yes;
	int r = meta_io_open(path, META_IO_WRITE | META_IO_EXCL, &io);
	if (r)
		return r;
	if (!force) {
		r = holds_something(io, &yes);
		if (!r && yes)
			r = META_E_EXISTS;
		if (r) {
			meta_io_close(io);
			return r;
		}
	}
	*out = io;
	return 0;
}

int meta_ms_format(const char *path, const struct meta_ms_params *p, bool force)
{
	struct meta_io *io;
	int r = check_params(p);
	if (r)
		return r;
	r = ms_open_for_new(path, force, &io);
	if (r)
		return r;
	r = type_ops(p->type)->format(io, p);
	meta_io_close(io);
	return r;
}

int meta_ms_set_params(struct meta_ms *ms, const struct meta_ms_params *p)
{
	if (!ms || !p)
		return META_E_INVAL;
	if (!ms->is_new) {
		/* an existing store keeps its type and chunk size: a table that differs is refused */
		if (p->type != META_MS_NONE && p->type != ms->ops->type)
			return META_E_INVAL;
		if (p->chunk_size && p->chunk_size != ms->ops->chunk_size(ms->st))
			return META_E_INVAL;
		ms->params = *p;
		ms->have_params = true;
		return 0;
	}
	if (p->type != META_MS_NONE || p->chunk_size) {
		int r = check_params(p);
		if (r)
			return r;
	}
	ms->params = *p;
	ms->have_params = true;
	return 0;
}

/* A message on a new store formats it first (the target does so at the table load). */
static int ensure_store(struct meta_ms *ms)
{
	const struct ms_ops *ops;
	int r;

	if (!ms)
		return META_E_INVAL;
	if (!ms->is_new) {
		if (!ms->ops)
			return META_E_INVAL;
		/*
		 * The table's preserve-on-error over an existing store: the target honours the
		 * table it is loaded with; the store records it (with this message's commit).
		 * A table without it clears nothing (snap_message without the option says
		 * nothing about the table).
		 */
		if (ms->write && ms->have_params && (ms->params.generic & META_MS_PRESERVE_ON_ERROR) &&
		    ms->ops->set_generic)
			ms->ops->set_generic(ms->st, META_MS_PRESERVE_ON_ERROR);
		return 0;
	}
	if (!ms->write || !ms->have_params || ms->params.type == META_MS_NONE ||
	    !ms->params.chunk_size)
		return META_E_INVAL;
	r = check_params(&ms->params);
	if (r)
		return r;
	ops = type_ops(ms->params.type);
	r = ops->format(ms->io, &ms->params);
	if (r)
		return r;
	r = ops->open(ms->io, true, &ms->st);
	if (r) {
		ms->st = NULL;
		return r;
	}
	ms->ops = ops;
	ms->is_new = false;
	return 0;
}

/* ----------------------------------------------------------- queries */

int meta_ms_snapshots(struct meta_ms *ms, meta_ms_id **ids, uint64_t *n)
{
	if (!ms || !ids || !n)
		return META_E_INVAL;
	*ids = NULL;
	*n = 0;
	if (!ms->ops)
		return 0;
	return ms->ops->snapshots(ms->st, ids, n);
}

int meta_ms_status(struct meta_ms *ms, struct meta_ms_status *st)
{
	int r;
	if (!ms || !st)
		return META_E_INVAL;
	memset(st, 0, sizeof(*st));
	if (ms->ops) {
		r = ms->ops->status(ms->st, st);
		if (r)
			return r;
	} else {
		st->total_sectors = meta_io_size(ms->io) / 512;
	}
	st->has_new = ms->has_new;
	st->new_id = ms->has_new ? ms->new_id : 0;
	return 0;
}

int ms_status_format(enum meta_ms_type t, const struct meta_ms_status *st, const meta_ms_id *ids,
		     char **line)
{
	char id[META_MS_ID_STRLEN], newid[META_MS_ID_STRLEN];
	size_t cap, len;
	char *s;
	int n;

	*line = NULL;
	if (st->nr_ids > (SIZE_MAX - 256) / META_MS_ID_STRLEN || (st->nr_ids && !ids))
		return META_E_INVAL;
	if (st->has_new)
		meta_ms_id_format(t, st->new_id, newid, sizeof(newid));
	else
		strcpy(newid, "-");
	cap = 256 + (size_t)st->nr_ids * META_MS_ID_STRLEN;
	s = malloc(cap);
	if (!s)
		return META_E_NOMEM;
	/* the words after #args: errno, new snapid, the three sizes, #ids, then the ids */
	n = snprintf(s, cap, "%" PRIu64 " %d %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
		     (uint64_t)6 + st->nr_ids, st->error, newid, st->total_sectors,
		     st->sectors_allocated, st->metadata_sectors, st->nr_ids);
	if (n < 0 || (size_t)n >= cap) {
		free(s);
		return META_E_INVAL;
	}
	len = (size_t)n;
	for (uint64_t i = 0; i < st->nr_ids; i++) {
		meta_ms_id_format(t, ids[i], id, sizeof(id));
		n = snprintf(s + len, cap - len, " %s", id);
		len += (size_t)n;
	}
	*line = s;
	return 0;
}

int meta_ms_status_line(struct meta_ms *ms, char **line)
{
	struct meta_ms_status st;
	meta_ms_id *ids = NULL;
	uint64_t n = 0;
	int r;

	if (!ms || !line)
		return META_E_INVAL;
	*line = NULL;
	r = meta_ms_status(ms, &st);
	if (!r)
		r = meta_ms_snapshots(ms, &ids, &n);
	if (!r) {
		st.nr_ids = n; /* the list is the authority for the line's count */
		r = ms_status_format(meta_ms_get_type(ms), &st, ids, line);
	}
	free(ids);
	return r;
}

/* ---------------------------------------------------------- messages */

int meta_ms_create(struct meta_ms *ms, meta_ms_id *new_id)
{
	meta_ms_id id;
	int r = ensure_store(ms);
	if (r)
		return r;
	r = ms->ops->create(ms->st, &id);
	if (r)
		return r;
	ms->has_new = true;
	ms->new_id = id;
	if (new_id)
		*new_id = id;
	return 0;
}

int meta_ms_create_subsnap(struct meta_ms *ms, meta_ms_id master, meta_ms_id *new_id)
{
	meta_ms_id id;
	int r = ensure_store(ms);
	if (r)
		return r;
	r = ms->ops->create_subsnap(ms->st, master, &id);
	if (r)
		return r;
	ms->has_new = true;
	ms->new_id = id;
	if (new_id)
		*new_id = id;
	return 0;
}

int meta_ms_delete(struct meta_ms *ms, meta_ms_id id)
{
	int r = ensure_store(ms);
	if (r)
		return r;
	r = ms->ops->delete_snap(ms->st, id);
	if (!r && ms->has_new && ms->new_id == id)
		ms->has_new = false;
	return r;
}

/* ------------------------------------------------------------- engine */

/* The range against the origin; 1 for a new store (no snapshots), else 0 or an error. */
static int engine_start(struct meta_ms *ms, struct meta_io *origin, uint64_t off, uint64_t len)
{
	uint64_t size;
	if (!ms || !origin)
		return META_E_INVAL;
	size = meta_io_size(origin);
	if (off > size || len > size - off)
		return META_E_RANGE;
	if (ms->is_new)
		return 1;
	return ms->ops ? 0 : META_E_INVAL;
}

int meta_ms_read(struct meta_ms *ms, struct meta_io *origin, meta_ms_id id, uint64_t off,
		 uint64_t len, void *buf)
{
	int r = engine_start(ms, origin, off, len);
	if (r)
		return r == 1 ? META_E_NOTFOUND : r;
	if (!ms->ops->read)
		return META_E_UNSUPPORTED;
	return len ? ms->ops->read(ms->st, origin, id, off, len, buf) : 0;
}

int meta_ms_write_origin(struct meta_ms *ms, struct meta_io *origin, uint64_t off, uint64_t len,
			 const void *buf)
{
	int r = engine_start(ms, origin, off, len);
	if (r == 1)
		return len ? meta_io_pwrite(origin, buf, (size_t)len, off) : 0;
	if (r)
		return r;
	if (!ms->ops->write_origin)
		return META_E_UNSUPPORTED;
	return len ? ms->ops->write_origin(ms->st, origin, off, len, buf) : 0;
}

int meta_ms_write_snapshot(struct meta_ms *ms, struct meta_io *origin, meta_ms_id id,
			   uint64_t off, uint64_t len, const void *buf)
{
	int r = engine_start(ms, origin, off, len);
	if (r)
		return r == 1 ? META_E_NOTFOUND : r;
	if (!ms->ops->write_snapshot)
		return META_E_UNSUPPORTED;
	return len ? ms->ops->write_snapshot(ms->st, origin, id, off, len, buf) : 0;
}

int meta_ms_merge(struct meta_ms *ms, struct meta_io *origin, meta_ms_id id,
		  struct meta_ms_merge_opts *o)
{
	struct meta_ms_merge_opts def = {0};
	int r = engine_start(ms, origin, 0, 0);
	if (!o)
		o = &def;
	o->chunks = o->copies = 0;
	if (r)
		return r == 1 ? META_E_NOTFOUND : r;
	if (!ms->ops->merge)
		return META_E_UNSUPPORTED;
	r = ms->ops->merge(ms->st, origin, id, o);
	if (!r && !o->dry_run && ms->has_new && ms->new_id == id)
		ms->has_new = false;
	return r;
}

static int cmp_id(const void *a, const void *b)
{
	meta_ms_id x = *(const meta_ms_id *)a, y = *(const meta_ms_id *)b;
	return x < y ? -1 : x > y;
}

static bool has_id(const meta_ms_id *ids, uint64_t n, meta_ms_id id)
{
	return n && bsearch(&id, ids, (size_t)n, sizeof(*ids), cmp_id) != NULL;
}

/* The ids one sync created, so that a failed sync can take them back. */
struct made {
	meta_ms_id *ids;
	size_t n, cap;
};

static int made_add(struct made *m, meta_ms_id id)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		meta_ms_id *n = realloc(m->ids, cap * sizeof(*n));
		if (!n)
			return META_E_NOMEM;
		m->ids = n;
		m->cap = cap;
	}
	m->ids[m->n++] = id;
	return 0;
}

/* Make `want` by creating (sub)snapshots until it comes out; *budget counts creates. */
static int sync_make(struct meta_ms *ms, meta_ms_id want, uint64_t *budget, struct made *m)
{
	bool sub = ms->ops->type == META_MS_MIKULAS && (uint32_t)want != META_MS_SUB_NONE;
	meta_ms_id master = (want & ~(meta_ms_id)UINT32_MAX) | META_MS_SUB_NONE;
	for (;;) {
		meta_ms_id got;
		int r;
		if (!*budget)
			return META_E_RANGE;
		(*budget)--;
		r = sub ? meta_ms_create_subsnap(ms, master, &got) : meta_ms_create(ms, &got);
		if (r)
			return r;
		r = made_add(m, got);
		if (r) {
			meta_ms_delete(ms, got);
			return r;
		}
		if (got == want)
			return 0;
		/* ids rise and are never reused: once past it, it cannot be made */
		if (sub ? (uint32_t)got > (uint32_t)want : got > want)
			return META_E_RANGE;
	}
}

int meta_ms_sync(struct meta_ms *ms, const meta_ms_id *ids, uint64_t n)
{
	meta_ms_id *want = NULL, *have = NULL;
	uint64_t nhave = 0, budget = MS_SYNC_MAX_CREATES;
	struct made made = {0};
	int r = ensure_store(ms);
	if (r)
		return r;
	if (n && !ids)
		return META_E_INVAL;
	if (n > SIZE_MAX / sizeof(*want))
		return META_E_NOMEM;
	if (n) {
		want = malloc((size_t)n * sizeof(*want));
		if (!want)
			return META_E_NOMEM;
		memcpy(want, ids, (size_t)n * sizeof(*want));
		qsort(want, (size_t)n, sizeof(*want), cmp_id);
	}
	/* snapshots of the origin first (a sub-snapshot needs its master), in id order */
	for (int pass = 0; pass < 2 && !r; pass++) {
		for (uint64_t i = 0; i < n && !r; i++) {
			bool origin_snap = ms->ops->type != META_MS_MIKULAS ||
					   (uint32_t)want[i] == META_MS_SUB_NONE;
			if (origin_snap != (pass == 0))
				continue;
			free(have);
			have = NULL;
			r = meta_ms_snapshots(ms, &have, &nhave);
			if (!r && !has_id(have, nhave, want[i]))
				r = sync_make(ms, want[i], &budget, &made);
		}
	}
	if (r) {
		/* take back what this sync made, newest first (sub-snapshots before masters) */
		while (made.n)
			meta_ms_delete(ms, made.ids[--made.n]);
	}
	if (!r) {
		free(have);
		have = NULL;
		r = meta_ms_snapshots(ms, &have, &nhave);
	}
	/* then everything not listed goes: sub-snapshots before their masters */
	for (uint64_t i = 0; !r && i < nhave; i++)
		if (!has_id(want, n, have[i]))
			r = meta_ms_delete(ms, have[i]);
	free(made.ids);
	free(have);
	free(want);
	return r;
}

/* -------------------------------------------------------------- check */

static void report_store(meta_damage_fn fn, void *ctx, enum meta_damage_kind k, const char *detail)
{
	struct meta_damage d;
	meta_damage_init(&d, k);
	d.detail = detail;
	if (fn)
		fn(ctx, &d);
}

int meta_ms_check_path(const char *path, meta_damage_fn fn, void *ctx)
{
	return meta_ms_check(path, 0, fn, ctx);
}

bool meta_ms_type_checks_origin(enum meta_ms_type t)
{
	const struct ms_ops *o = type_ops(t);
	return o && o->check_origin;
}

int meta_ms_check(const char *path, uint64_t origin_sectors, meta_damage_fn fn, void *ctx)
{
	struct meta_io *io;
	const struct ms_ops *ops;
	enum meta_ms_type known;
	uint8_t *head;
	int r = meta_io_open_input(path, META_IO_EXCL, MS_BLANK, &io);
	if (r) {
		report_store(fn, ctx, META_DMG_MS_UNREADABLE, meta_strerror(r));
		return META_SEV_FATAL;
	}
	head = malloc(MS_HEAD);
	r = head ? read_head(io, head) : META_E_NOMEM;
	if (r) {
		report_store(fn, ctx, META_DMG_MS_UNREADABLE, meta_strerror(r));
		free(head);
		meta_io_close(io);
		return META_SEV_FATAL;
	}
	sniff_head(head, &ops, &known);
	free(head);
	if (!ops) {
		report_store(fn, ctx, known != META_MS_NONE ? META_DMG_MS_UNREADABLE : META_DMG_MS_NO_STORE,
			     known != META_MS_NONE ? "this build has no code for its store type" : NULL);
		meta_io_close(io);
		return META_SEV_FATAL;
	}
	r = ops->check_origin ? ops->check_origin(io, origin_sectors, fn, ctx) : ops->check(io, fn, ctx);
	meta_io_close(io);
	if (r > META_SEV_FATAL) {
		/* an error code, not a severity: the store could not be walked */
		report_store(fn, ctx, META_DMG_MS_UNREADABLE, meta_strerror(r));
		return META_SEV_FATAL;
	}
	return r < 0 ? -1 : r;
}

/* --------------------------------------------------------------- XML */

int meta_ms_dump_xml(struct meta_ms *ms, FILE *out)
{
	if (!ms || !out)
		return META_E_INVAL;
	if (!ms->ops)
		return META_E_BLANK;
	return ms->ops->dump_xml(ms->st, out);
}

int meta_ms_dump_human(struct meta_ms *ms, FILE *out)
{
	if (!ms || !out)
		return META_E_INVAL;
	if (!ms->ops)
		return META_E_BLANK;
	return ms->ops->dump_human(ms->st, out);
}

/* Skip white space, the XML declaration, comments, processing instructions, DOCTYPE. */
static size_t skip_prolog(const char *b, size_t len, size_t i)
{
	for (;;) {
		while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
			i++;
		if (i + 1 >= len || b[i] != '<')
			return i;
		if (b[i + 1] == '?') {
			const char *e = memmem(b + i, len - i, "?>", 2);
			if (!e)
				return len;
			i = (size_t)(e - b) + 2;
		} else if (len - i >= 4 && !memcmp(b + i, "<!--", 4)) {
			const char *e = memmem(b + i + 4, len - i - 4, "-->", 3);
			if (!e)
				return len;
			i = (size_t)(e - b) + 3;
		} else if (len - i >= 9 && !memcmp(b + i, "<!DOCTYPE", 9)) {
			const char *e = memchr(b + i, '>', len - i);
			if (!e)
				return len;
			i = (size_t)(e - b) + 1;
		} else {
			return i;
		}
	}
}

static bool name_end(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '>' || c == '/';
}

int ms_xml_root(const char *b, size_t len, enum meta_ms_type *type, unsigned *line)
{
	size_t i = skip_prolog(b, len, 0), end;
	*type = META_MS_NONE;
	*line = 1;
	for (size_t k = 0; k < i && k < len; k++)
		if (b[k] == '\n')
			(*line)++;
	if (i >= len || b[i] != '<')
		return MS_ROOT_OTHER;
	if (len - i > 15 && !memcmp(b + i + 1, "snapshot_store", 14) && name_end(b[i + 15]))
		return MS_ROOT_CLASSIC;
	if (!(len - i > 16 && !memcmp(b + i + 1, "multisnap_store", 15) && name_end(b[i + 16])))
		return MS_ROOT_OTHER;
	/* the start tag's attributes: find type="..." (or '...') before the closing '>' */
	end = i;
	while (end < len && b[end] != '>')
		end++;
	for (size_t k = i + 16; k + 5 < end; k++) {
		size_t v;
		char q, val[16];
		if (memcmp(b + k, "type", 4) || !(b[k - 1] == ' ' || b[k - 1] == '\t' ||
						   b[k - 1] == '\n' || b[k - 1] == '\r'))
			continue;
		v = k + 4;
		while (v < end && (b[v] == ' ' || b[v] == '\t' || b[v] == '\n' || b[v] == '\r'))
			v++;
		if (v >= end || b[v] != '=')
			continue;
		v++;
		while (v < end && (b[v] == ' ' || b[v] == '\t' || b[v] == '\n' || b[v] == '\r'))
			v++;
		if (v >= end || (b[v] != '"' && b[v] != '\''))
			continue;
		q = b[v++];
		for (size_t j = 0; j < sizeof(val); j++) {
			if (v + j >= end)
				break;
			if (b[v + j] == q) {
				val[j] = 0;
				*type = meta_ms_type_parse(val);
				break;
			}
			val[j] = b[v + j];
		}
		break;
	}
	return MS_ROOT_MULTISNAP;
}

#define MS_HEAD_BYTES 65536u /* read to find the root element; more only when it is not there */

/* More of the stream into *buf (NULL at first) until *len reaches upto, or the end. */
static int read_more(FILE *in, char **buf, size_t *len, size_t upto)
{
	size_t cap = *buf ? *len : 0, n = *len;
	char *b = *buf;
	while (n < upto) {
		size_t got;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : MS_HEAD_BYTES;
			char *nb;
			if (cap > SIZE_MAX / 2)
				return META_E_NOMEM;
			nb = realloc(b, ncap);
			if (!nb)
				return META_E_NOMEM;
			*buf = b = nb;
			cap = ncap;
		}
		got = fread(b + n, 1, (upto - n < cap - n ? upto - n : cap - n), in);
		n += got;
		*len = n;
		if (got == 0) {
			if (ferror(in))
				return META_E_IO;
			break;
		}
	}
	return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, unsigned line, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, line, what);
}

int meta_ms_restore_xml(FILE *in, const char *path, bool force, char *err, size_t errlen)
{
	char *head = NULL;
	size_t len = 0;
	int r;
	if (!in || !path)
		return META_E_INVAL;
	r = read_more(in, &head, &len, MS_HEAD_BYTES);
	if (!r)
		r = meta_ms_restore_xml_head(head, len, in, path, force, err, errlen);
	free(head);
	return r;
}

int meta_ms_restore_xml_head(const char *head, size_t len, FILE *in, const char *path, bool force,
			     char *err, size_t errlen)
{
	enum meta_ms_type t;
	const struct ms_ops *ops;
	struct meta_io *io;
	unsigned line;
	char *buf = NULL;
	int r, root;

	if (err && errlen)
		err[0] = 0;
	if (!in || !path)
		return META_E_INVAL;
	root = ms_xml_root(head, len, &t, &line);
	if ((root != MS_ROOT_MULTISNAP || t == META_MS_NONE) && !feof(in)) {
		/* a prolog longer than the head, or a root tag cut in it: all of it, then */
		size_t blen = len;
		buf = malloc(len ? len : 1);
		if (!buf)
			return META_E_NOMEM;
		if (len)
			memcpy(buf, head, len);
		r = read_more(in, &buf, &blen, SIZE_MAX);
		if (r) {
			free(buf);
			return r;
		}
		head = buf;
		len = blen;
		root = ms_xml_root(head, len, &t, &line);
	}
	if (root != MS_ROOT_MULTISNAP) {
		set_err(err, errlen,
			root == MS_ROOT_CLASSIC
				? "line %u: <snapshot_store> is a classic store%s"
				: "line %u: the root element is not <multisnap_store>%s",
			line, root == MS_ROOT_CLASSIC ? " (snap_restore writes it as one)" : "");
		free(buf);
		return META_E_XML;
	}
	if (t == META_MS_NONE) {
		set_err(err, errlen, "line %u: <multisnap_store> needs type=\"mikulas\" or type=\"daniel\"%s",
			line, "");
		free(buf);
		return META_E_XML;
	}
	ops = type_ops(t);
	if (!ops) {
		set_err(err, errlen, "line %u: this build has no %s store", line, meta_ms_type_name(t));
		free(buf);
		return META_E_UNSUPPORTED;
	}
	r = ms_open_for_new(path, force, &io);
	if (r) {
		free(buf);
		return r;
	}
	if (ops->reads_xml_twice && !buf && ftell(in) < 0) {
		/* a pipe, and a type that reads its XML twice: all of it in memory, then */
		size_t blen = len;
		buf = malloc(len ? len : 1);
		if (!buf) {
			meta_io_close(io);
			return META_E_NOMEM;
		}
		if (len)
			memcpy(buf, head, len);
		if ((r = read_more(in, &buf, &blen, SIZE_MAX))) {
			meta_io_close(io);
			free(buf);
			return r;
		}
		head = buf;
		len = blen;
	}
	if (buf && ops->reads_xml_twice) {
		/* all of the XML is in buf: the type reads it as a (seekable) file */
		FILE *mem = len ? fmemopen(buf, len, "r") : NULL;
		r = mem ? ops->restore_xml(NULL, 0, mem, io, err, errlen) : META_E_NOMEM;
		if (mem)
			fclose(mem);
	} else {
		r = ops->restore_xml(head, len, in, io, err, errlen);
	}
	free(buf);
	if (!r)
		r = meta_io_flush(io);
	meta_io_close(io);
	return r;
}

void *ms_state(struct meta_ms *ms)
{
	return ms->st;
}

struct meta_io *ms_io(struct meta_ms *ms)
{
	return ms->io;
}
