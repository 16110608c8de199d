/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nbdkit-dmmeta-plugin: serve a thin volume of an offline pool, or a classic snapshot (its
 * view, or its origin with the snapshot kept up to date), over NBD, through libmeta's engines
 * (include/libmeta/thin_io.h, include/libmeta/snap.h): what the thin, snapshot and
 * snapshot-origin targets would do, on images or unused devices.
 *
 * One store per nbdkit process, opened in get_ready (exclusively: O_EXCL on block devices),
 * shared by every connection.  The engines keep one transaction (a pool's open transaction,
 * a snapshot's next free chunk and exception area), are not thread-safe, and a flush must
 * commit everything every connection wrote.  Thread model PARALLEL, with two locks:
 *  - store_lock, a read-write lock (writers preferred, so reads cannot starve them):
 *    reads and extents share it; writes, trims, zeroes and flushes take it exclusively.
 *  - engine_lock, a mutex: one engine call at a time among the readers (the engines'
 *    block caches are not thread-safe even for lookups).
 * A thin read takes the range's map (meta_thin_vol_map) under both, drops engine_lock and
 * preads the data device and the origin holding only the shared lock, so the connections'
 * reads copy in parallel, as the file plugin's do.  The shared lock is held over the preads
 * because the blocks a map names stay the volume's only until the next change: a trim, or
 * a write breaking sharing, frees blocks a later write may reuse; a reader then would read
 * another place's data.  So no change overlaps a read: a read sees each write whole or not
 * at all (a block device promises less).  Classic snapshots read under both locks: their
 * engine has no lookup that leaves the copy to the caller (snap.h), so their reads stay one
 * at a time.  Because the state is shared and a flush commits all of it, multi-conn is
 * advertised: a flush on any connection makes every write completed before it durable.
 *
 * A kind of store is a table of operations (struct kind); config_complete picks it from the
 * keys given.  Adding one (the shared multisnapshot stores) is a new table and its keys.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <libmeta/api.h>
#include <libmeta/damage.h>
#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_io.h>
#include <libmeta/thin_pool.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define MAX_COWS 64
#define ZERO_CHUNK (1u << 20)

/* ---- configuration ------------------------------------------------------------- */

static struct {
	char *metadata, *data, *origin, *cows[MAX_COWS], *store, *snapshot;
	unsigned ncows;
	uint64_t dev, size;
	bool have_dev, have_size, have_view, view_origin;
	bool rw, check;
	bool skip_zeroing, passdown;
} cfg = {.check = true, .passdown = true};

/* A connection: its own opens of the image files reads copy from (NULL: the shared ones). */
struct conn {
	struct meta_io *data, *origin;
};

/* A kind of store: the operations behind the NBD requests.  Each returns 0, or -1 after
 * nbdkit_error() and nbdkit_set_error().  The changes (pwrite, trim, zero, flush) run
 * holding the store alone; pread runs under the shared lock and engine_lock (one engine
 * call at a time); pread_shared (instead of pread) and extents, when given, run under the
 * shared lock only, beside each other, and take engine_lock around their engine calls. */
struct kind {
	const char *name;
	int (*open)(void);
	void (*shutdown)(void); /* clean exit: commit what is pending */
	void (*close)(void);
	int (*pread)(void *buf, uint32_t n, uint64_t off);
	int (*pread_shared)(struct conn *c, void *buf, uint32_t n, uint64_t off); /* or pread */
	void (*conn_open)(struct conn *c); /* NULL: nothing of its own */
	int (*extents)(uint32_t n, uint64_t off, uint32_t flags, struct nbdkit_extents *ex);
	int (*pwrite)(const void *buf, uint32_t n, uint64_t off);
	int (*trim)(uint32_t n, uint64_t off);           /* NULL: no trim */
	int (*zero)(uint32_t n, uint64_t off, uint32_t flags); /* NULL: nbdkit writes zeros */
	int (*flush)(void);
};

static const struct kind *kind;
static uint64_t vol_size;

/* See the top of the file. */
static pthread_rwlock_t store_lock;
static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;

static int errno_for(int r)
{
	switch (r) {
	case META_E_NOSPC:
	case META_E_DATA_NOSPC:
		return ENOSPC;
	case META_E_NOMEM:
		return ENOMEM;
	case META_E_RANGE:
	case META_E_VOL_END:
	case META_E_INVAL:
		return EINVAL;
	case META_E_PERM:
		return EPERM;
	default:
		return EIO;
	}
}

/* One error line for a request that failed with libmeta's r. */
static int req_fail(int r, const char *what, uint32_t n, uint64_t off, const char *why)
{
	nbdkit_error("%s of %" PRIu32 " bytes at byte %" PRIu64 " failed: %s%s%s", what, n, off,
		     meta_strerror(r), why ? "; " : "", why ? why : "");
	nbdkit_set_error(errno_for(r));
	return -1;
}

static int parse_bool_key(const char *key, const char *value, bool *out)
{
	int b = nbdkit_parse_bool(value);
	if (b < 0)
		return -1; /* nbdkit_parse_bool named the value */
	*out = b;
	(void)key;
	return 0;
}

static int path_key(const char *key, const char *value, char **out)
{
	if (*out) {
		nbdkit_error("%s= given twice", key);
		return -1;
	}
	*out = nbdkit_realpath(value);
	return *out ? 0 : -1;
}

static int dmmeta_config(const char *key, const char *value)
{
	if (!strcmp(key, "metadata"))
		return path_key(key, value, &cfg.metadata);
	if (!strcmp(key, "data"))
		return path_key(key, value, &cfg.data);
	if (!strcmp(key, "origin"))
		return path_key(key, value, &cfg.origin);
	if (!strcmp(key, "store"))
		return path_key(key, value, &cfg.store);
	if (!strcmp(key, "snapshot")) {
		free(cfg.snapshot);
		cfg.snapshot = strdup(value);
		return cfg.snapshot ? 0 : -1;
	}
	if (!strcmp(key, "cow")) {
		if (cfg.ncows == MAX_COWS) {
			nbdkit_error("cow=: at most %d snapshots", MAX_COWS);
			return -1;
		}
		return path_key(key, value, &cfg.cows[cfg.ncows++]);
	}
	if (!strcmp(key, "dev")) {
		if (nbdkit_parse_uint64_t("dev", value, &cfg.dev) == -1)
			return -1;
		if (cfg.dev > META_THIN_MAX_DEV_ID) {
			nbdkit_error("dev=%s: thin device ids are 24-bit: 0 to %llu", value,
				     (unsigned long long)META_THIN_MAX_DEV_ID);
			return -1;
		}
		cfg.have_dev = true;
		return 0;
	}
	if (!strcmp(key, "size")) {
		int64_t s = nbdkit_parse_size(value);
		if (s == -1)
			return -1;
		if (s <= 0 || s % 512) {
			nbdkit_error("size=%s: a volume's size is a positive multiple of 512 bytes",
				     value);
			return -1;
		}
		cfg.size = (uint64_t)s;
		cfg.have_size = true;
		return 0;
	}
	if (!strcmp(key, "view")) {
		if (!strcmp(value, "snapshot"))
			cfg.view_origin = false;
		else if (!strcmp(value, "origin"))
			cfg.view_origin = true;
		else {
			nbdkit_error("view=%s: give view=snapshot or view=origin", value);
			return -1;
		}
		cfg.have_view = true;
		return 0;
	}
	if (!strcmp(key, "rw"))
		return parse_bool_key(key, value, &cfg.rw);
	if (!strcmp(key, "check"))
		return parse_bool_key(key, value, &cfg.check);
	if (!strcmp(key, "skip_block_zeroing"))
		return parse_bool_key(key, value, &cfg.skip_zeroing);
	if (!strcmp(key, "discard_passdown"))
		return parse_bool_key(key, value, &cfg.passdown);
	nbdkit_error("unknown key %s= (nbdkit dmmeta --help lists the keys)", key);
	return -1;
}

#define dmmeta_config_help \
	"Thin volume:   metadata=META data=DATA dev=ID [size=BYTES] [origin=EXTERNAL_ORIGIN]\n" \
	"               [skip_block_zeroing=true] [discard_passdown=false]\n" \
	"Classic snapshot: origin=ORIGIN cow=COW [cow=COW2 ...] [view=snapshot|origin]\n" \
	"Shared multisnapshot store: origin=ORIGIN store=STORE [snapshot=ID]\n" \
	"rw=true        serve it writable (default: read-only)\n" \
	"check=false    with rw=true, skip the full metadata check made first"

/* ---- thin volumes -------------------------------------------------------------- */

static struct {
	struct meta_thin_pool *pool;
	struct meta_thin_vol *vol;
	struct meta_io *data, *origin;
	uint64_t bsize;
	bool dirty;
	int failed; /* the error that put the pool in fail mode: it takes no more changes */
} thin;

struct first_fatal {
	bool seen;
	struct meta_damage d;
};

static void keep_first_fatal(void *ctx, const struct meta_damage *d)
{
	struct first_fatal *f = ctx;
	if (d->severity == META_SEV_FATAL && !f->seen) {
		f->seen = true;
		f->d = *d;
		f->d.detail = NULL;
	}
}

static void report_damage(const char *path, const struct first_fatal *f, const char *next)
{
	if (!f->seen) {
		nbdkit_error("%s: the metadata is damaged; %s", path, next);
		return;
	}
	if (f->d.block != UINT64_MAX)
		nbdkit_error("%s: the metadata is damaged (%s, block %" PRIu64 "); %s", path,
			     meta_damage_text(f->d.kind), f->d.block, next);
	else
		nbdkit_error("%s: the metadata is damaged (%s); %s", path,
			     meta_damage_text(f->d.kind), next);
}

/* The full check, as thin_write makes it before writing: 0 or -1. */
static int thin_check_first(void)
{
	struct meta_thin_open_opts oo;
	struct meta_thin_check_opts co;
	struct meta_thin_check_result cr;
	struct first_fatal ff;
	struct meta_thin *t;
	int r;
	memset(&oo, 0, sizeof(oo));
	memset(&co, 0, sizeof(co));
	memset(&ff, 0, sizeof(ff));
	oo.flags = META_THIN_OPEN_EXCL;
	r = meta_thin_open(cfg.metadata, &oo, &t);
	if (r) {
		nbdkit_error("metadata=%s: cannot open the pool's metadata: %s", cfg.metadata,
			     meta_strerror(r));
		return -1;
	}
	co.damage = keep_first_fatal;
	co.damage_ctx = &ff;
	r = meta_thin_check(t, &co, &cr);
	meta_thin_close(t);
	if (r) {
		nbdkit_error("metadata=%s: cannot check the metadata: %s", cfg.metadata,
			     meta_strerror(r));
		return -1;
	}
	if (cr.worst == META_SEV_FATAL) {
		report_damage(cfg.metadata, &ff, "refusing to serve it writable: run thin_check, "
			      "then thin_repair");
		return -1;
	}
	return 0;
}

static int open_io(const char *key, const char *path, unsigned flags, struct meta_io **io)
{
	int r = meta_io_open(path, flags, io);
	if (r == META_E_BUSY)
		nbdkit_error("%s=%s: cannot open it exclusively: the device is in use (an active "
			     "pool or snapshot, a mount, another server)", key, path);
	else if (r)
		nbdkit_error("%s=%s: cannot open it: %s", key, path, meta_strerror(r));
	return r ? -1 : 0;
}

static int thin_open(void)
{
	struct meta_thin_pool_opts po;
	struct meta_thin_pool_info in;
	uint64_t nr;
	unsigned flags = (cfg.skip_zeroing ? META_THIN_IO_SKIP_ZEROING : 0) |
			 (cfg.passdown ? 0 : META_THIN_IO_NO_PASSDOWN);
	int r;

	if (cfg.rw && cfg.check && thin_check_first())
		return -1;
	if (open_io("data", cfg.data, META_IO_EXCL | (cfg.rw ? META_IO_WRITE : 0), &thin.data))
		return -1;
	if (cfg.origin && open_io("origin", cfg.origin, 0, &thin.origin))
		return -1;
	memset(&po, 0, sizeof(po));
	/* read-only: nothing changes, not even the space maps' sizes; the transaction is
	 * abandoned at the end */
	po.flags = cfg.rw ? 0 : META_THIN_POOL_KEEP_SIZE;
	r = meta_thin_pool_open(cfg.metadata, &po, &thin.pool, NULL);
	if (r == META_E_NEEDS_CHECK) {
		nbdkit_error("metadata=%s: the pool's needs_check flag is set: run thin_check (and "
			     "thin_repair if it finds damage) first", cfg.metadata);
		return -1;
	}
	if (r == META_E_BUSY) {
		nbdkit_error("metadata=%s: cannot open it exclusively: the device is in use (an "
			     "active pool?)", cfg.metadata);
		return -1;
	}
	if (r) {
		nbdkit_error("metadata=%s: cannot open the pool: %s", cfg.metadata, meta_strerror(r));
		return -1;
	}
	meta_thin_pool_info(thin.pool, &in);
	thin.bsize = (uint64_t)in.data_block_size * 512;
	nr = meta_io_size(thin.data) / thin.bsize;
	if (nr < in.nr_data_blocks) {
		nbdkit_error("data=%s: it holds %" PRIu64 " blocks of %" PRIu32 " sectors, fewer than "
			     "the pool's %" PRIu64 " data blocks: wrong data device?", cfg.data, nr,
			     in.data_block_size, in.nr_data_blocks);
		return -1;
	}
	if (nr > META_THIN_MAX_DATA_BLOCK + 1)
		nr = META_THIN_MAX_DATA_BLOCK + 1;
	if (cfg.rw && nr > in.nr_data_blocks) { /* as the kernel at activation */
		r = meta_thin_pool_resize_data(thin.pool, nr);
		if (r) {
			nbdkit_error("metadata=%s: cannot grow the pool to its data device: %s",
				     cfg.metadata, meta_strerror(r));
			return -1;
		}
		thin.dirty = true;
	}
	r = meta_thin_pool_attach_data(thin.pool, thin.data, flags);
	if (r) {
		nbdkit_error("data=%s: %s", cfg.data, meta_strerror(r));
		return -1;
	}
	if (cfg.have_size) {
		vol_size = cfg.size;
	} else if (thin.origin) {
		vol_size = meta_io_size(thin.origin) & ~(uint64_t)511;
		nbdkit_debug("no size= given: the volume ends with its external origin (%" PRIu64
			     " bytes)", vol_size);
	} else {
		nbdkit_error("size= is required (the volume's length is in its table line, not in "
			     "the metadata), unless origin= gives it");
		return -1;
	}
	r = meta_thin_vol_open(thin.pool, cfg.dev, thin.origin, vol_size, &thin.vol);
	if (r == META_E_NOTFOUND) {
		nbdkit_error("dev=%" PRIu64 ": no such thin device in the pool %s (thin_ls lists "
			     "them)", cfg.dev, cfg.metadata);
		return -1;
	}
	if (r) {
		nbdkit_error("dev=%" PRIu64 ": cannot open the volume: %s", cfg.dev, meta_strerror(r));
		return -1;
	}
	return 0;
}

static const char *thin_why(int r)
{
	switch (r) {
	case META_E_DATA_NOSPC:
		return "no free data block in the pool: nothing more is taken; what the last "
		       "flush committed stays";
	case META_E_NOSPC:
		return "the metadata device is full: nothing more is taken; what the last flush "
		       "committed stays";
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
	case META_E_BLOCKNR:
		return "the metadata is damaged: run thin_check";
	default:
		return NULL;
	}
}

/* After a failed change the pool refuses every other (as the kernel's pool in fail mode). */
static int thin_refuse(const char *what)
{
	nbdkit_error("%s refused: an earlier write failed (%s) and the pool takes no more changes; "
		     "it holds what the last flush committed: restart nbdkit to serve it again", what,
		     meta_strerror(thin.failed));
	nbdkit_set_error(EIO);
	return -1;
}

/* The outcome r of a change (write, trim): 0, or -1 with the pool marked failed. */
static int thin_changed(int r, const char *what, uint32_t n, uint64_t off)
{
	if (!r)
		return 0;
	if (r != META_E_VOL_END && r != META_E_RANGE)
		thin.failed = r;
	return req_fail(r, what, n, off, thin_why(r));
}

static int thin_flush(void)
{
	int r;
	if (thin.failed)
		return thin_refuse("flush");
	if (!thin.dirty)
		return 0;
	r = meta_thin_pool_commit(thin.pool);
	if (r) {
		thin.failed = r;
		nbdkit_error("flush: the metadata commit failed: %s; the pool holds the last "
			     "commit", meta_strerror(r));
		nbdkit_set_error(errno_for(r));
		return -1;
	}
	thin.dirty = false;
	return 0;
}

/* The range's map under engine_lock, then the copies outside it (the shared lock held). */
static int thin_map(struct meta_thin_map *m, uint32_t n, uint64_t off)
{
	int r;
	pthread_mutex_lock(&engine_lock);
	r = meta_thin_vol_map(thin.vol, off, n, m);
	pthread_mutex_unlock(&engine_lock);
	return r;
}

static int thin_pread(struct conn *c, void *buf, uint32_t n, uint64_t off)
{
	struct meta_thin_map m = {0};
	int r = thin_map(&m, n, off);
	if (!r)
		r = meta_thin_vol_read_mapped(thin.vol, &m, off, buf, c->data, c->origin);
	meta_thin_map_free(&m);
	return r ? req_fail(r, "read", n, off, thin_why(r)) : 0;
}

/*
 * A connection reads image files through its own descriptors: the page cache's readahead
 * follows each descriptor's stream, and several connections reading their own regions
 * through one descriptor would defeat it (as nbdkit's file plugin, one open per
 * connection).  Block devices are read O_DIRECT (no readahead): the shared open serves.
 * An open that fails leaves the shared one.
 */
static void thin_conn_open(struct conn *c)
{
	if (!meta_io_is_blockdev(thin.data) && meta_io_open(cfg.data, 0, &c->data))
		c->data = NULL;
	if (thin.origin && !meta_io_is_blockdev(thin.origin) &&
	    meta_io_open(cfg.origin, 0, &c->origin))
		c->origin = NULL;
}

/* Unmapped without an external origin there: a hole reading zeros; the rest is data. */
static int thin_extents(uint32_t n, uint64_t off, uint32_t flags, struct nbdkit_extents *ex)
{
	struct meta_thin_map m = {0};
	int r = thin_map(&m, n, off), e = 0;
	if (r) {
		meta_thin_map_free(&m);
		return req_fail(r, "extents", n, off, thin_why(r));
	}
	for (size_t i = 0; !e && i < m.n; i++) {
		const struct meta_thin_run *u = &m.run[i];
		e = nbdkit_add_extent(ex, u->off, u->len,
				      u->where == META_THIN_AT_ZERO
					      ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO
					      : 0);
		if (flags & NBDKIT_FLAG_REQ_ONE)
			break;
	}
	meta_thin_map_free(&m);
	return e ? -1 : 0; /* nbdkit_add_extent reported its error */
}

static int thin_pwrite(const void *buf, uint32_t n, uint64_t off)
{
	if (thin.failed)
		return thin_refuse("write");
	thin.dirty = true;
	return thin_changed(meta_thin_vol_write(thin.vol, off, buf, n), "write", n, off);
}

static int thin_trim(uint32_t n, uint64_t off)
{
	if (thin.failed)
		return thin_refuse("trim");
	thin.dirty = true;
	return thin_changed(meta_thin_vol_discard(thin.vol, off, n), "trim", n, off);
}

static int write_zeros(int (*wr)(const void *, uint32_t, uint64_t), uint64_t off, uint64_t len)
{
	static void *zeros;
	if (!zeros && !(zeros = calloc(1, ZERO_CHUNK))) {
		nbdkit_error("out of memory");
		nbdkit_set_error(ENOMEM);
		return -1;
	}
	while (len) {
		uint32_t k = len < ZERO_CHUNK ? (uint32_t)len : ZERO_CHUNK;
		if (wr(zeros, k, off))
			return -1;
		off += k;
		len -= k;
	}
	return 0;
}

/*
 * Zero: the whole data blocks inside the range are unmapped when the client allows a trim
 * and an unmapped block reads zeros (no external origin); the rest is written with zeros
 * (provisioned, as the thin target provisions a WRITE_ZEROES it cannot pass down).
 */
static int thin_zero(uint32_t n, uint64_t off, uint32_t flags)
{
	uint64_t end = off + n, first = (off + thin.bsize - 1) / thin.bsize * thin.bsize;
	uint64_t last = end / thin.bsize * thin.bsize;
	bool unmap = (flags & NBDKIT_FLAG_MAY_TRIM) && !thin.origin && first < last;
	if ((flags & NBDKIT_FLAG_FAST_ZERO) && !(unmap && first == off && last == end)) {
		nbdkit_set_error(ENOTSUP);
		return -1;
	}
	if (!unmap)
		return write_zeros(thin_pwrite, off, n);
	if (write_zeros(thin_pwrite, off, first - off) || thin_trim((uint32_t)(last - first), first))
		return -1;
	return write_zeros(thin_pwrite, last, end - last);
}

static void thin_shutdown(void)
{
	if (cfg.rw && thin.pool && thin.dirty && !thin.failed && thin_flush() == 0)
		nbdkit_debug("committed the writes not flushed at exit");
}

static void thin_close(void)
{
	meta_thin_vol_close(thin.vol);
	meta_thin_pool_close(thin.pool); /* an uncommitted transaction is abandoned */
	meta_io_close(thin.data);
	meta_io_close(thin.origin);
	memset(&thin, 0, sizeof(thin));
}

static const struct kind thin_kind = {
	.name = "thin volume",
	.open = thin_open,
	.shutdown = thin_shutdown,
	.close = thin_close,
	.pread_shared = thin_pread,
	.conn_open = thin_conn_open,
	.extents = thin_extents,
	.pwrite = thin_pwrite,
	.trim = thin_trim,
	.zero = thin_zero,
	.flush = thin_flush,
};

/* ---- classic snapshots --------------------------------------------------------- */

static struct {
	struct meta_io *origin;
	struct meta_snap *snaps[MAX_COWS];
	struct meta_snap_engine *e; /* rw only */
} cl;

static int classic_open(void)
{
	unsigned oflags = META_IO_EXCL | (cfg.rw ? META_IO_WRITE : 0), idx;
	struct first_fatal ff;
	int r;

	if (open_io("origin", cfg.origin, oflags, &cl.origin))
		return -1;
	if (cfg.rw) {
		r = meta_snap_engine_create(cl.origin, &cl.e);
		if (r) {
			nbdkit_error("out of memory");
			return -1;
		}
	}
	for (unsigned i = 0; i < cfg.ncows; i++) {
		const char *path = cfg.cows[i];
		memset(&ff, 0, sizeof(ff));
		r = meta_snap_open(path, META_SNAP_OPEN_EXCL | (cfg.rw ? META_SNAP_OPEN_WRITE : 0),
				   &cl.snaps[i]);
		if (r == META_E_BUSY) {
			nbdkit_error("cow=%s: cannot open it exclusively: the device is in use", path);
			return -1;
		}
		if (r) {
			nbdkit_error("cow=%s: cannot open the snapshot store: %s", path,
				     meta_strerror(r));
			return -1;
		}
		if (meta_snap_is_new(cl.snaps[i])) {
			nbdkit_error("cow=%s: the store is new (zeroed header): activate it once, or "
				     "write one with snap_restore", path);
			return -1;
		}
		if (cl.e) {
			meta_snap_engine_set_damage(cl.e, keep_first_fatal, &ff);
			r = meta_snap_engine_add(cl.e, cl.snaps[i], false, &idx);
		} else {
			/* the origin's view is served whatever the snapshot's state; the
			 * snapshot's view only from a valid, undamaged store */
			r = meta_snap_verify(cl.snaps[i], meta_io_size(cl.origin) / 512,
					     cfg.view_origin ? META_SNAP_VERIFY_ALLOW_INVALID : 0,
					     keep_first_fatal, &ff);
		}
		if (r == META_E_CORRUPT) {
			report_damage(path, &ff, "run snap_check");
			return -1;
		}
		if (r) {
			nbdkit_error("cow=%s: %s (run snap_check)", path, meta_strerror(r));
			return -1;
		}
	}
	vol_size = meta_io_size(cl.origin);
	return 0;
}

/* The engine's failure r, as snap_write reports it. */
static int classic_fail(int r, const char *what, uint32_t n, uint64_t off)
{
	struct meta_io *fio = cl.e ? meta_snap_engine_failed_io(cl.e) : NULL;
	if (r && r != META_E_NOSPC && fio) {
		nbdkit_error("%s of %" PRIu32 " bytes at byte %" PRIu64 " failed: %s: %s; nothing was "
			     "written and no snapshot was invalidated", what, n, off,
			     meta_io_path(fio), strerror(meta_io_errno(fio)));
		nbdkit_set_error(meta_io_errno(fio) ? meta_io_errno(fio) : EIO);
		return -1;
	}
	if (r == META_E_NOSPC)
		return req_fail(r, what, n, off, cfg.view_origin ?
				"a snapshot's COW store is full: it was invalidated" :
				"the snapshot's COW store is full: it was invalidated");
	if (r == META_E_IO && cl.e && meta_snap_engine_state(cl.e, 0) != META_SNAP_ACTIVE)
		return req_fail(r, what, n, off, "the snapshot is invalid: its I/O fails");
	return req_fail(r, what, n, off, NULL);
}

static int classic_pread(void *buf, uint32_t n, uint64_t off)
{
	int r;
	if (cfg.view_origin)
		r = meta_io_pread(cl.origin, buf, n, off);
	else if (cl.e)
		r = meta_snap_engine_read_snapshot(cl.e, 0, off, buf, n);
	else
		r = meta_snap_read_view(cl.snaps[0], cl.origin, off, buf, n);
	return r ? classic_fail(r, "read", n, off) : 0;
}

static int classic_pwrite(const void *buf, uint32_t n, uint64_t off)
{
	int r = cfg.view_origin ? meta_snap_engine_write_origin(cl.e, off, buf, n)
				: meta_snap_engine_write_snapshot(cl.e, 0, off, buf, n);
	return r ? classic_fail(r, "write", n, off) : 0;
}

/* Every exception is committed by the engine as the kernel commits it (the area written and
 * flushed); a flush makes the data written in place durable: the origin's and the COWs'. */
static int classic_flush(void)
{
	struct meta_io *io = cl.origin;
	for (unsigned i = 0; io; io = i < cfg.ncows ? meta_snap_get_io(cl.snaps[i++]) : NULL) {
		if (meta_io_flush(io)) {
			nbdkit_error("flush: %s: %s", meta_io_path(io), strerror(meta_io_errno(io)));
			nbdkit_set_error(meta_io_errno(io) ? meta_io_errno(io) : EIO);
			return -1;
		}
	}
	return 0;
}

static void classic_shutdown(void)
{
	if (cfg.rw && cl.origin)
		(void)classic_flush();
}

static void classic_close(void)
{
	meta_snap_engine_destroy(cl.e);
	for (unsigned i = 0; i < cfg.ncows; i++)
		meta_snap_close(cl.snaps[i]);
	meta_io_close(cl.origin);
	memset(&cl, 0, sizeof(cl));
}

static const struct kind classic_kind = {
	.name = "classic snapshot",
	.open = classic_open,
	.shutdown = classic_shutdown,
	.close = classic_close,
	.pread = classic_pread,
	.pwrite = classic_pwrite,
	.flush = classic_flush,
};

/* ---- shared multisnapshot stores ----------------------------------------------- */

static struct {
	struct meta_io *origin;
	struct meta_ms *ms;
	meta_ms_id id;
} ms;

static int ms_open(void)
{
	int r;
	if (open_io("origin", cfg.origin, META_IO_EXCL | (cfg.rw ? META_IO_WRITE : 0), &ms.origin))
		return -1;
	r = meta_ms_open(cfg.store, META_MS_OPEN_EXCL | (cfg.rw ? META_MS_OPEN_WRITE : 0), &ms.ms);
	if (r) {
		nbdkit_error("store=%s: cannot open the shared store: %s (snap_check tells more)",
			     cfg.store, meta_strerror(r));
		return -1;
	}
	if (cfg.snapshot &&
	    meta_ms_id_parse(meta_ms_get_type(ms.ms), cfg.snapshot, &ms.id)) {
		nbdkit_error("snapshot=%s: not a snapshot id of a %s store", cfg.snapshot,
			     meta_ms_type_name(meta_ms_get_type(ms.ms)));
		return -1;
	}
	if (cfg.snapshot) {
		meta_ms_id *ids = NULL;
		uint64_t n = 0, i = 0;
		r = meta_ms_snapshots(ms.ms, &ids, &n);
		while (!r && i < n && ids[i] != ms.id)
			i++;
		free(ids);
		if (r || i == n) {
			nbdkit_error("snapshot=%s: %s", cfg.snapshot, r ? meta_strerror(r) :
				     "no such snapshot in the store (snap_dump lists them)");
			return -1;
		}
	}
	vol_size = meta_io_size(ms.origin);
	return 0;
}

static int ms_pread(void *buf, uint32_t n, uint64_t off)
{
	int r = cfg.snapshot ? meta_ms_read(ms.ms, ms.origin, ms.id, off, n, buf)
			     : meta_io_pread(ms.origin, buf, n, off);
	return r ? req_fail(r, "read", n, off, NULL) : 0;
}

static int ms_pwrite(const void *buf, uint32_t n, uint64_t off)
{
	int r = cfg.snapshot ? meta_ms_write_snapshot(ms.ms, ms.origin, ms.id, off, n, buf)
			     : meta_ms_write_origin(ms.ms, ms.origin, off, n, buf);
	return r ? req_fail(r, "write", n, off, r == META_E_NOSPC ?
			    "the store's COW is full: nothing was changed" : NULL) : 0;
}

/* Each engine call commits the store; a flush makes the origin's writes durable. */
static int ms_flush(void)
{
	if (meta_io_flush(ms.origin)) {
		nbdkit_error("flush: %s: %s", meta_io_path(ms.origin),
			     strerror(meta_io_errno(ms.origin)));
		nbdkit_set_error(meta_io_errno(ms.origin) ? meta_io_errno(ms.origin) : EIO);
		return -1;
	}
	return 0;
}

static void ms_shutdown(void)
{
	if (cfg.rw && ms.origin)
		(void)ms_flush();
}

static void ms_close(void)
{
	meta_ms_close(ms.ms);
	meta_io_close(ms.origin);
	memset(&ms, 0, sizeof(ms));
}

static const struct kind ms_kind = {
	.name = "shared multisnapshot store",
	.open = ms_open,
	.shutdown = ms_shutdown,
	.close = ms_close,
	.pread = ms_pread,
	.pwrite = ms_pwrite,
	.flush = ms_flush,
};

/* ---- nbdkit callbacks ---------------------------------------------------------- */

/* Two keys naming the same (or overlapping) storage: one error line, -1. */
static int same_storage(const char *ka, const char *a, const char *kb, const char *b)
{
	if (!a || !b || !meta_io_same_storage(a, b))
		return 0;
	nbdkit_error("%s=%s and %s=%s are the same storage (or overlap): give distinct devices",
		     ka, a, kb, b);
	return -1;
}

static int dmmeta_config_complete(void)
{
	bool thin_keys = cfg.metadata || cfg.data || cfg.have_dev;
	if (cfg.store) {
		if (thin_keys || cfg.ncows || cfg.have_view || cfg.have_size) {
			nbdkit_error("store= (a shared multisnapshot store) goes with origin= and "
				     "snapshot= only");
			return -1;
		}
		if (!cfg.origin) {
			nbdkit_error("a shared store needs origin= (the origin device or image)");
			return -1;
		}
		if (same_storage("origin", cfg.origin, "store", cfg.store))
			return -1;
		kind = &ms_kind;
		return 0;
	}
	if (cfg.snapshot) {
		nbdkit_error("snapshot= goes with store= (a shared multisnapshot store)");
		return -1;
	}
	if (thin_keys && cfg.ncows) {
		nbdkit_error("metadata=/data=/dev= (a thin volume) and cow= (a classic snapshot) "
			     "exclude each other");
		return -1;
	}
	if (thin_keys) {
		if (!cfg.metadata || !cfg.data || !cfg.have_dev) {
			nbdkit_error("a thin volume needs %s= (metadata=, data= and dev= together)",
				     !cfg.metadata ? "metadata" : !cfg.data ? "data" : "dev");
			return -1;
		}
		if (cfg.have_view) {
			nbdkit_error("view= goes with a classic snapshot (cow=), not a thin volume");
			return -1;
		}
		if (same_storage("metadata", cfg.metadata, "data", cfg.data) ||
		    same_storage("origin", cfg.origin, "metadata", cfg.metadata) ||
		    same_storage("origin", cfg.origin, "data", cfg.data))
			return -1;
		kind = &thin_kind;
		return 0;
	}
	if (cfg.ncows) {
		if (!cfg.origin) {
			nbdkit_error("a classic snapshot needs origin= (the origin device or image)");
			return -1;
		}
		if (!cfg.view_origin && cfg.ncows > 1) {
			nbdkit_error("view=snapshot serves one snapshot: give one cow= (several go "
				     "with view=origin)");
			return -1;
		}
		if (cfg.have_size || cfg.skip_zeroing || !cfg.passdown) {
			nbdkit_error("%s= goes with a thin volume, not a classic snapshot",
				     cfg.have_size ? "size" : cfg.skip_zeroing ? "skip_block_zeroing"
									 : "discard_passdown");
			return -1;
		}
		for (unsigned i = 0; i < cfg.ncows; i++) {
			if (same_storage("origin", cfg.origin, "cow", cfg.cows[i]))
				return -1;
			for (unsigned j = 0; j < i; j++)
				if (same_storage("cow", cfg.cows[j], "cow", cfg.cows[i]))
					return -1;
		}
		kind = &classic_kind;
		return 0;
	}
	nbdkit_error("nothing to serve: give metadata=, data= and dev= (a thin volume), or origin= "
		     "and cow= (a classic snapshot)");
	return -1;
}

/*
 * Image files: O_EXCL means nothing for them, so every file the export names is locked
 * with flock() for as long as the plugin is loaded: exclusively when the export is
 * writable (the thin volume's external origin, only read, shared), shared when it is
 * read-only.  Another server of this plugin on the same images then fails to start; tools
 * that do not take the lock are not stopped by it (block devices have O_EXCL for that).
 */
#define MAX_LOCKS (4 + MAX_COWS)
static int lock_fds[MAX_LOCKS];
static unsigned nlocks;

static int lock_file(const char *key, const char *path, bool excl)
{
	struct stat st;
	int fd;
	if (!path || stat(path, &st) || !S_ISREG(st.st_mode))
		return 0; /* a device (O_EXCL), or what the open will report */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, (excl ? LOCK_EX : LOCK_SH) | LOCK_NB)) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK) {
			nbdkit_error("%s=%s: another server of this plugin has it open%s; stop that "
				     "one first", key, path, excl ? "" : " writable");
			return -1;
		}
		return 0; /* a file system without locks: nothing to hold */
	}
	lock_fds[nlocks++] = fd;
	return 0;
}

static int lock_files(void)
{
	bool x = cfg.rw;
	int r = lock_file("metadata", cfg.metadata, x) || lock_file("data", cfg.data, x) ||
		lock_file("store", cfg.store, x) ||
		lock_file("origin", cfg.origin, x && (cfg.ncows || cfg.store));
	for (unsigned i = 0; i < cfg.ncows && !r; i++)
		r = lock_file("cow", cfg.cows[i], x);
	return r ? -1 : 0;
}

static void unlock_files(void)
{
	while (nlocks)
		close(lock_fds[--nlocks]);
}

static int dmmeta_get_ready(void)
{
	if (lock_files())
		return -1;
	if (kind->open()) {
		kind->close();
		return -1;
	}
	nbdkit_debug("serving a %s, %" PRIu64 " bytes, %s", kind->name, vol_size,
		     cfg.rw ? "read-write" : "read-only");
	return 0;
}

static void dmmeta_cleanup(void)
{
	if (kind)
		kind->shutdown();
}

static void dmmeta_unload(void)
{
	if (kind)
		kind->close();
	unlock_files();
	free(cfg.metadata);
	free(cfg.data);
	free(cfg.origin);
	free(cfg.store);
	free(cfg.snapshot);
	for (unsigned i = 0; i < cfg.ncows; i++)
		free(cfg.cows[i]);
}

/* One store for every connection; a connection has only its own opens to read through. */
static void *dmmeta_open(int readonly)
{
	struct conn *c = calloc(1, sizeof(*c));
	(void)readonly;
	if (!c) {
		nbdkit_error("out of memory");
		return NULL;
	}
	if (kind->conn_open)
		kind->conn_open(c);
	return c;
}

static void dmmeta_close(void *h)
{
	struct conn *c = h;
	meta_io_close(c->data);
	meta_io_close(c->origin);
	free(c);
}

static int64_t dmmeta_get_size(void *h)
{
	return (int64_t)vol_size;
}

static int dmmeta_can_write(void *h)
{
	return cfg.rw;
}

static int dmmeta_can_flush(void *h)
{
	return 1;
}

static int dmmeta_can_trim(void *h)
{
	return cfg.rw && kind->trim;
}

static int dmmeta_can_zero(void *h)
{
	/* false: nbdkit still offers zeroing, and writes zeros through pwrite */
	return cfg.rw && kind->zero;
}

static int dmmeta_can_fast_zero(void *h)
{
	return cfg.rw && kind->zero;
}

static int dmmeta_can_fua(void *h)
{
	return NBDKIT_FUA_NATIVE;
}

static int dmmeta_can_multi_conn(void *h)
{
	return 1; /* one shared store: a flush anywhere commits every connection's writes */
}

static int dmmeta_is_rotational(void *h)
{
	return 0;
}

static int dmmeta_can_extents(void *h)
{
	return kind->extents != NULL;
}

/* Reads share the store (see the top of the file). */
static int dmmeta_pread(void *h, void *buf, uint32_t n, uint64_t off, uint32_t flags)
{
	int r;
	pthread_rwlock_rdlock(&store_lock);
	if (kind->pread_shared) {
		r = kind->pread_shared(h, buf, n, off);
	} else {
		pthread_mutex_lock(&engine_lock);
		r = kind->pread(buf, n, off);
		pthread_mutex_unlock(&engine_lock);
	}
	pthread_rwlock_unlock(&store_lock);
	return r;
}

static int dmmeta_extents(void *h, uint32_t n, uint64_t off, uint32_t flags,
			  struct nbdkit_extents *ex)
{
	int r;
	pthread_rwlock_rdlock(&store_lock);
	r = kind->extents(n, off, flags, ex);
	pthread_rwlock_unlock(&store_lock);
	return r;
}

/* A change: the store alone. */
static void change_begin(void)
{
	pthread_rwlock_wrlock(&store_lock);
}

/* The request's FUA: a flush after it (the store still held alone). */
static int fua(int r, uint32_t flags)
{
	if (!r && (flags & NBDKIT_FLAG_FUA))
		r = kind->flush();
	pthread_rwlock_unlock(&store_lock);
	return r;
}

static int dmmeta_pwrite(void *h, const void *buf, uint32_t n, uint64_t off, uint32_t flags)
{
	change_begin();
	return fua(kind->pwrite(buf, n, off), flags);
}

static int dmmeta_flush(void *h, uint32_t flags)
{
	int r = 0;
	change_begin();
	if (cfg.rw)
		r = kind->flush();
	pthread_rwlock_unlock(&store_lock);
	return r;
}

static int dmmeta_trim(void *h, uint32_t n, uint64_t off, uint32_t flags)
{
	change_begin();
	return fua(kind->trim(n, off), flags);
}

static int dmmeta_zero(void *h, uint32_t n, uint64_t off, uint32_t flags)
{
	if (!kind->zero) { /* not reached: can_zero is false */
		nbdkit_set_error(EOPNOTSUPP);
		return -1;
	}
	change_begin();
	return fua(kind->zero(n, off, flags), flags);
}

static void dmmeta_dump_plugin(void)
{
	printf("dmmeta_version=%s\n", meta_version());
}

static void dmmeta_load(void);

static struct nbdkit_plugin plugin = {
	.name = "dmmeta",
	.load = dmmeta_load,
	.longname = "dmmeta: thin volumes and classic snapshots of offline device-mapper stores",
	.description = "Serve a thin volume of a pool, or a classic snapshot or its origin, "
		       "through libmeta's engines",
	.config = dmmeta_config,
	.config_complete = dmmeta_config_complete,
	.config_help = dmmeta_config_help,
	.get_ready = dmmeta_get_ready,
	.cleanup = dmmeta_cleanup,
	.unload = dmmeta_unload,
	.dump_plugin = dmmeta_dump_plugin,
	.open = dmmeta_open,
	.close = dmmeta_close,
	.get_size = dmmeta_get_size,
	.can_write = dmmeta_can_write,
	.can_flush = dmmeta_can_flush,
	.can_trim = dmmeta_can_trim,
	.can_zero = dmmeta_can_zero,
	.can_fast_zero = dmmeta_can_fast_zero,
	.can_fua = dmmeta_can_fua,
	.can_multi_conn = dmmeta_can_multi_conn,
	.is_rotational = dmmeta_is_rotational,
	.can_extents = dmmeta_can_extents,
	.extents = dmmeta_extents,
	.pread = dmmeta_pread,
	.pwrite = dmmeta_pwrite,
	.flush = dmmeta_flush,
	.trim = dmmeta_trim,
	.zero = dmmeta_zero,
};

/* The plugin's version is the library's it is linked with. */
static void dmmeta_load(void)
{
	pthread_rwlockattr_t a;
	plugin.version = meta_version();
	/* writers preferred: a stream of reads on several connections must not hold writes off */
	pthread_rwlockattr_init(&a);
#ifdef __GLIBC__
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	pthread_rwlock_init(&store_lock, &a);
	pthread_rwlockattr_destroy(&a);
}

NBDKIT_REGISTER_PLUGIN(plugin)
