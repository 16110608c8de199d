/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_write: write to an origin or a snapshot offline, as the snapshot targets would:
 * classic COW stores (one per snapshot) through the meta_snap engine, a shared
 * multisnapshot store (one --cow; found by its magic) through meta_ms_write_*.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>

#include "common.h"
#include "util_snap.h"

#define MAX_SNAPS 64

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_write [options] --origin ORIGIN --target origin|N --offset SECTORS\n"
		"                  --input FILE\n"
		"       snap_write [options] --origin ORIGIN --cow STORE --target origin|ID\n"
		"                  --offset SECTORS --input FILE\n"
		"Write FILE's bytes to the origin or to snapshot N exactly as the snapshot-origin\n"
		"and snapshot targets would: an origin write first copies the old chunks out into\n"
		"every snapshot that lacks them; a snapshot write allocates a COW chunk, copies the\n"
		"origin chunk, commits the exception and then writes.  A COW that fills up is\n"
		"invalidated on disk (or, for --cow-overflow, marked Overflow for this run).\n"
		"A shared multisnapshot store (mikulas) is given as the only --cow: an origin\n"
		"write copies each chunk once for every snapshot lacking it; --target ID (\"3\",\n"
		"\"3.0\") writes to that snapshot.  Each run is one transaction.\n"
		"\n"
		"Options:\n"
		"      --origin ORIGIN        origin device or image (required)\n"
		"      --cow COW              a persistent snapshot (store type P); repeatable\n"
		"      --cow-overflow COW     a persistent snapshot of store type PO; repeatable\n"
		"      --transient CHUNK:COW  a transient snapshot (type N), chunk size in sectors\n"
		"      --target origin|N      write to the origin or to snapshot N (0 = first given;\n"
		"                             a shared store: the snapshot id)\n"
		"      --offset SECTORS       where to write, in 512-byte sectors (required)\n"
		"      --input FILE           the bytes to write ('-' for standard input)\n"
		"  -q, --quiet                no messages; do not print the status lines\n"
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              print the version and exit\n"
		"\n"
		"Unless -q, one status line per snapshot is printed afterwards, as the kernel\n"
		"reports it: <allocated>/<total> <metadata> (sectors), Overflow or Invalid; for a\n"
		"shared store the multisnapshot target's status line.\n"
		"Exit status: 0 ok, 1 a snapshot store is damaged, 2 usage error,\n"
		"3 operational error (including a snapshot write that found its COW full).\n");
}

struct spec {
	const char *path;
	int kind; /* 0 P, 1 PO, 2 N */
	uint32_t chunk;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *buf;
	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
		{
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				buf = NULL;
			} else {
				buf = nb;
			}
		}
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

/* The command line. */
struct args {
	struct spec specs[MAX_SNAPS];
	unsigned nspecs;
	const char *origin, *target, *input;
	uint64_t offset, off_bytes, tnum;
	bool to_origin;
	enum meta_ms_type shared; /* the one --cow is a shared store of this type */
};

/* --cow (c 2), --cow-overflow (3) or --transient CHUNK:COW (4). */
static void add_spec(struct args *a, int c, char *arg)
{
	struct spec *sp = &a->specs[a->nspecs];
	if (a->nspecs == MAX_SNAPS)
		cli_usage_error("at most %d snapshots", MAX_SNAPS);
	sp->kind = c - 2;
	sp->path = arg;
	sp->chunk = 0;
	if (c == 4) {
		char *colon = strchr(arg, ':');
		if (!colon)
			cli_usage_error("--transient wants CHUNK:COW");
		*colon = 0;
		if (cli_parse_u32(arg, &sp->chunk) || meta_snap_check_chunk_size(sp->chunk))
			cli_usage_error("bad transient chunk size '%s' (a power of two, in sectors)", arg);
		sp->path = colon + 1;
	}
	a->nspecs++;
}

/* The origin, every COW and the input must be distinct storage (each is written or read). */
static void refuse_shared_storage(const struct args *a)
{
	for (unsigned i = 0; i < a->nspecs; i++) {
		snap_cli_refuse_same_role("origin", a->origin, "COW", a->specs[i].path);
		for (unsigned j = 0; j < i; j++)
			snap_cli_refuse_same_role("other snapshot's COW", a->specs[j].path, "COW",
						  a->specs[i].path);
	}
	if (strcmp(a->input, "-")) {
		snap_cli_refuse_same_role("--input", a->input, "origin", a->origin);
		for (unsigned i = 0; i < a->nspecs; i++)
			snap_cli_refuse_same_role("--input", a->input, "COW", a->specs[i].path);
	}
}

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"origin", required_argument, NULL, 1},
		{"cow", required_argument, NULL, 2},
		{"cow-overflow", required_argument, NULL, 3},
		{"transient", required_argument, NULL, 4},
		{"target", required_argument, NULL, 5},
		{"offset", required_argument, NULL, 6},
		{"input", required_argument, NULL, 7},
		CLI_COMMON_LONGOPTS,
	};
	bool have_offset = false;
	int c;
	while ((c = getopt_long(argc, argv, "qhV", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			a->origin = optarg;
			break;
		case 2:
		case 3:
		case 4:
			add_spec(a, c, optarg);
			break;
		case 5:
			a->target = optarg;
			break;
		case 6:
			a->offset = cli_u64_arg("--offset", optarg);
			have_offset = true;
			break;
		case 7:
			a->input = optarg;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->origin || !a->target || !have_offset || !a->input)
		cli_usage_error("--origin, --target, --offset and --input are required");
	a->off_bytes = snap_cli_sectors_to_bytes("--offset", a->offset);
	a->to_origin = !strcmp(a->target, "origin");
	for (unsigned i = 0; i < a->nspecs; i++) {
		enum meta_ms_type t;
		if (a->specs[i].kind == 2 || !ms_cli_is_shared(a->specs[i].path, &t))
			continue;
		if (a->nspecs != 1 || a->specs[i].kind != 0)
			cli_usage_error("%s is a shared multisnapshot store: give it as the only --cow",
					a->specs[i].path);
		a->shared = t;
	}
	if (a->shared && !a->to_origin && meta_ms_id_parse(a->shared, a->target, &a->tnum))
		cli_usage_error("--target must be 'origin' or a snapshot id of the shared store "
				"(N, or N.M for a sub-snapshot)");
	if (!a->shared && !a->to_origin &&
	    (cli_parse_u64(a->target, &a->tnum) || a->tnum >= a->nspecs))
		cli_usage_error("--target must be 'origin' or a snapshot number below %u", a->nspecs);
	refuse_shared_storage(a);
}

/* Every snapshot, opened into the engine: 0, or the exit status. */
static int add_snapshots(struct meta_snap_engine *e, const struct args *a,
			 struct meta_snap **stores, struct meta_io **tios,
			 const struct snap_cli_damage *damage)
{
	unsigned idx;
	int r, ex = EXIT_OK;
	for (unsigned i = 0; i < a->nspecs && !ex; i++) {
		const struct spec *sp = &a->specs[i];
		if (sp->kind == 2) {
			r = meta_io_open(sp->path, META_IO_WRITE | META_IO_EXCL, &tios[i]);
			if (!r)
				r = meta_snap_engine_add_transient(e, tios[i], sp->chunk, &idx);
			if (r) {
				cli_report_open_error(sp->path, r, 0);
				ex = EXIT_OPERR;
			}
			continue;
		}
		ex = snap_cli_open(sp->path, META_SNAP_OPEN_WRITE | META_SNAP_OPEN_EXCL, &stores[i]);
		if (ex)
			break;
		r = meta_snap_engine_add(e, stores[i], sp->kind == 1, &idx);
		if (r == META_E_INVAL) {
			cli_err("%s: the store is new (zeroed header); activate it once, or write one "
				"with snap_restore", sp->path);
			ex = EXIT_OPERR;
		} else if (r == META_E_CORRUPT) {
			snap_cli_report_damage(sp->path, damage, "write through it");
			ex = EXIT_DAMAGE;
		} else if (r) {
			cli_err("%s: %s (run snap_check)", sp->path, meta_strerror(r));
			ex = EXIT_OPERR;
		}
	}
	return ex;
}

/* The write's outcome r, reported: the exit status. */
static int write_status(const struct args *a, int r, struct meta_snap_engine *e,
			struct meta_io *oio)
{
	unsigned t = (unsigned)a->tnum;
	if (r && r != META_E_NOSPC && meta_snap_engine_failed_io(e)) {
		struct meta_io *fio = meta_snap_engine_failed_io(e);
		snap_cli_report_io(meta_io_path(fio), meta_io_errno(fio),
				   "the write was not made and no snapshot was invalidated: free space "
				   "(or fix the device), then run snap_write again");
		return EXIT_OPERR;
	}
	if (r == META_E_RANGE) {
		cli_err("the write ends past the end of the origin (%llu sectors)",
			(unsigned long long)(meta_io_size(oio) / 512));
		return EXIT_USAGE;
	}
	if (r == META_E_NOSPC) {
		cli_err("snapshot %llu (%s): its COW store is full (every chunk allocated: an overflow, "
			"not a full filesystem); the write failed", (unsigned long long)a->tnum,
			a->specs[a->tnum].path);
		return EXIT_OPERR;
	}
	if (r == META_E_IO && !a->to_origin && meta_snap_engine_state(e, t) != META_SNAP_ACTIVE) {
		cli_err("snapshot %llu is %s: writes to it fail", (unsigned long long)a->tnum,
			meta_snap_engine_state(e, t) == META_SNAP_INVALID ? "invalid" : "overflowed");
		return EXIT_OPERR;
	}
	if (r) {
		cli_err("write failed: %s", meta_strerror(r));
		return EXIT_OPERR;
	}
	return EXIT_OK;
}

/* The write through a shared store (the one --cow): the exit status. */
static int write_shared(const struct args *a, const void *data, size_t len)
{
	const char *path = a->specs[0].path;
	struct meta_ms *ms;
	struct meta_io *oio;
	char *line = NULL;
	int r, ex = ms_cli_open_checked(path, META_MS_OPEN_WRITE | META_MS_OPEN_EXCL,
					"write through it", &ms);
	if (ex)
		return ex;
	r = meta_io_open(a->origin, META_IO_WRITE | META_IO_EXCL, &oio);
	if (r) {
		cli_report_open_error(a->origin, r, 0);
		meta_ms_close(ms);
		return EXIT_OPERR;
	}
	if (a->to_origin)
		r = meta_ms_write_origin(ms, oio, a->off_bytes, len, data);
	else
		r = meta_ms_write_snapshot(ms, oio, a->tnum, a->off_bytes, len, data);
	if (!r && meta_io_flush(oio))
		r = META_E_IO;
	switch (r) {
	case META_OK:
		break;
	case META_E_RANGE:
		cli_err("the write ends past the end of the origin (%llu sectors); nothing was written",
			(unsigned long long)(meta_io_size(oio) / 512));
		ex = EXIT_USAGE;
		break;
	case META_E_NOTFOUND:
		cli_err("%s: no snapshot %s in the store; snap_check %s lists its ids", path, a->target,
			path);
		ex = EXIT_OPERR;
		break;
	case META_E_NOSPC:
		cli_err("%s: the shared store is full (every COW chunk in use); nothing was written and "
			"the store is as it was: delete a snapshot or grow the COW device", path);
		ex = EXIT_OPERR;
		break;
	case META_E_UNSUPPORTED:
		cli_err("%s: writing through %s stores is not supported yet", path,
			meta_ms_type_name(meta_ms_get_type(ms)));
		ex = EXIT_OPERR;
		break;
	case META_E_CORRUPT:
		cli_err("%s: the store's exceptions break a rule the write relies on; nothing was "
			"written. Run snap_check %s", path, path);
		ex = EXIT_DAMAGE;
		break;
	default:
		cli_err("write failed: %s; the store holds its last commit (run snap_check %s)",
			meta_strerror(r), path);
		ex = EXIT_OPERR;
	}
	if ((!r || r == META_E_NOSPC) && !cli_quiet && !meta_ms_status_line(ms, &line))
		printf("%s\n", line);
	free(line);
	meta_io_close(oio);
	meta_ms_close(ms);
	return ex;
}

int main(int argc, char **argv)
{
	struct args a;
	struct meta_snap *stores[MAX_SNAPS] = {0};
	struct meta_io *tios[MAX_SNAPS] = {0};
	struct meta_snap_engine *e = NULL;
	struct snap_cli_damage damage = {0};
	struct meta_io *oio = NULL;
	size_t len;
	char *data;
	int r, ex = EXIT_OK;

	memset(&a, 0, sizeof(a));
	cli_init(argv[0]);
	parse_args(argc, argv, &a);
	data = slurp(a.input, &len);
	if (!data) {
		cli_err("%s: cannot read: %s", a.input, strerror(errno));
		return EXIT_OPERR;
	}
	if (len > UINT64_MAX - a.off_bytes) {
		cli_err("--offset %" PRIu64 " plus the %zu bytes of %s ends past the largest byte offset "
			"(2^64 bytes); nothing was written", a.offset, len, a.input);
		free(data);
		return EXIT_USAGE;
	}
	if (a.shared) {
		ex = write_shared(&a, data, len);
		free(data);
		return ex;
	}
	r = meta_io_open(a.origin, META_IO_WRITE | META_IO_EXCL, &oio);
	if (r) {
		cli_report_open_error(a.origin, r, 0);
		free(data);
		return EXIT_OPERR;
	}
	if (meta_snap_engine_create(oio, &e)) {
		cli_err("out of memory");
		ex = EXIT_OPERR;
		goto out;
	}
	meta_snap_engine_set_damage(e, snap_cli_keep_first, &damage);
	ex = add_snapshots(e, &a, stores, tios, &damage);
	if (ex)
		goto out;
	if (a.to_origin)
		r = meta_snap_engine_write_origin(e, a.off_bytes, data, len);
	else
		r = meta_snap_engine_write_snapshot(e, (unsigned)a.tnum, a.off_bytes, data, len);
	ex = write_status(&a, r, e, oio);
	if (!ex || r == META_E_NOSPC || r == META_E_IO) {
		for (unsigned i = 0; i < a.nspecs && !cli_quiet; i++) {
			char st[64];
			meta_snap_engine_status(e, i, st, sizeof(st));
			printf("%s\n", st);
		}
	}
	if (!r && meta_io_flush(oio)) {
		cli_err("%s: flush failed", a.origin);
		ex = EXIT_OPERR;
	}
out:
	meta_snap_engine_destroy(e);
	for (unsigned i = 0; i < a.nspecs; i++) {
		meta_snap_close(stores[i]);
		meta_io_close(tios[i]);
	}
	meta_io_close(oio);
	free(data);
	return ex;
}
