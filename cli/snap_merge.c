/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_merge: merge a classic snapshot into its origin offline, in the kernel's order; or
 * one snapshot of a shared (mikulas or daniel) store into its origin (meta_ms_merge).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>

#include "common.h"
#include "util_snap.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_merge [options] --origin ORIGIN [--snapshot OTHER_COW]... COW\n"
		"       snap_merge [options] --origin ORIGIN --cow STORE --snapshot ID\n"
		"Merge a classic dm-snapshot (COW device) back into its origin without the kernel,\n"
		"in the order the kernel's snapshot-merge target uses: newest exception first,\n"
		"consecutive chunks in one batch, origin flushed before the batch's records are\n"
		"cleared.  An interrupted merge is resumed by running snap_merge again or by\n"
		"activating the kernel's snapshot-merge target.  At the end the store is empty.\n"
		"A shared (mikulas, daniel) store, found by its magic (as --cow or COW): ID's\n"
		"data becomes the origin's, the other snapshots keep their views (each gets one\n"
		"copy of an origin chunk it still reads), then ID is deleted (a master's live\n"
		"sub-snapshots stay, keeping their views).  Run it again to resume.\n"
		"\n"
		"Options:\n"
		"      --origin ORIGIN   the origin device or image (required)\n"
		"      --cow STORE       the store (instead of COW)\n"
		"      --snapshot COW    another snapshot of the same origin (repeatable): it gets\n"
		"                        its copy-outs before origin chunks are overwritten, as the\n"
		"                        kernel's merge does; give every other snapshot of ORIGIN\n"
		"      --snapshot ID     shared store: the snapshot to merge (N or N.M; required)\n"
		"  -n, --dry-run         list the copies that would be made; write nothing\n"
		"      --stop-after N    stop after N batches (testing aid: simulates a crash)\n"
		"      --batch N         shared store: chunks per transaction (default: 128 MiB\n"
		"                        of chunks, at least 8192)\n"
		"  -q, --quiet           no messages and no progress\n"
		"  -v, --verbose         print every batch as it is merged\n"
		"  -h, --help            show this help and exit\n"
		"  -V, --version         print the version and exit\n"
		"\n"
		"Exit status: 0 merged, 1 the store is damaged or invalid, 2 usage error,\n"
		"3 operational error or interrupted (run again to resume).\n");
}

struct prog {
	int list, verbose, bar;
	struct timespec last;
};

/* The progress bar (at most 8 redraws a second); end: cleared. */
static void draw_bar(struct prog *p, bool end, uint64_t done, uint64_t total)
{
	struct timespec now;
	if (!p->bar)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (end || (now.tv_sec - p->last.tv_sec) * 1000000000L + (now.tv_nsec - p->last.tv_nsec) >
			   125000000L) {
		fprintf(stderr, "\rmerging: %3u%% (%" PRIu64 "/%" PRIu64 " chunks)",
			(unsigned)(total ? done * 100 / total : 100), done, total);
		p->last = now;
	}
	if (end)
		fprintf(stderr, "\r\033[K");
}

static int on_batch(void *ctx, const struct meta_snap_batch *b, uint64_t done, uint64_t total)
{
	struct prog *p = ctx;
	if (b && (p->list || p->verbose))
		printf("copy cow chunks %" PRIu64 "..%" PRIu64 " -> origin chunks %" PRIu64 "..%" PRIu64
		       "\n",
		       b->new_chunk, b->new_chunk + b->nr_chunks - 1, b->old_chunk,
		       b->old_chunk + b->nr_chunks - 1);
	draw_bar(p, !b, done, total);
	return 0;
}

/* One line for a store meta_snap_verify() refuses. */
static void report_refusal(const char *path, int r, const struct snap_cli_damage *fd)
{
	if (r != META_E_CORRUPT)
		cli_err("%s: %s", path, meta_strerror(r));
	else if (fd->seen && fd->d.kind == META_DMG_SNAP_INVALID)
		cli_err("%s: the snapshot is invalid (overflowed or failed); it cannot be merged. "
			"Its data is lost: remove the snapshot instead", path);
	else
		snap_cli_report_damage(path, fd, "merge it");
}

#define MAX_OTHERS 64

/* The command line. */
struct args {
	const char *origin, *cow;
	const char *other_paths[MAX_OTHERS];
	unsigned nothers;
	struct meta_snap_merge_opts mo; /* dry_run, max_batches */
	int verbose;
	unsigned snap_flags;            /* how the COWs are opened */
	enum meta_ms_type shared;       /* the COW is a shared store of this type */
	meta_ms_id id;                  /* shared: the snapshot to merge */
	uint64_t batch;                 /* shared: --batch (0: the library's default) */
};

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"origin", required_argument, NULL, 1},
		{"snapshot", required_argument, NULL, 3},
		{"cow", required_argument, NULL, 4},
		{"batch", required_argument, NULL, 5},
		{"dry-run", no_argument, NULL, 'n'},
		{"stop-after", required_argument, NULL, 2},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		CLI_HELP_VERSION_LONGOPTS,
	};
	int c;
	while ((c = getopt_long(argc, argv, "nqvhV", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			a->origin = optarg;
			break;
		case 3:
			if (a->nothers == MAX_OTHERS)
				cli_usage_error("at most 64 other snapshots");
			a->other_paths[a->nothers++] = optarg;
			break;
		case 4:
			if (a->cow)
				cli_usage_error("--cow given twice");
			a->cow = optarg;
			break;
		case 5:
			a->batch = cli_u64_arg("--batch", optarg);
			if (!a->batch || a->batch > UINT32_MAX)
				cli_usage_error("--batch needs a number of chunks from 1 to %u", UINT32_MAX);
			break;
		case 'n':
			a->mo.dry_run = true;
			break;
		case 2:
			a->mo.max_batches = cli_u64_arg("--stop-after", optarg);
			if (!a->mo.max_batches)
				cli_usage_error("--stop-after needs a number greater than 0");
			break;
		case 'v':
			a->verbose = 1;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	if (a->cow && optind != argc)
		cli_usage_error(optind == argc - 1 ? "give the store once: as --cow STORE or as COW"
						   : "too many arguments");
	if (!a->cow && optind != argc - 1)
		cli_usage_error(optind == argc ? "no COW device given" : "too many arguments");
	if (!a->origin)
		cli_usage_error("--origin ORIGIN is required");
	if (!a->cow)
		a->cow = argv[optind];
	if (ms_cli_is_shared(a->cow, &a->shared)) {
		if (a->nothers != 1)
			cli_usage_error("%s is a shared multisnapshot store: give the snapshot to merge "
					"as --snapshot ID (once)", a->cow);
		if (meta_ms_id_parse(a->shared, a->other_paths[0], &a->id))
			cli_usage_error("--snapshot must be a snapshot id of the shared store (N, or N.M "
					"for a sub-snapshot)");
		a->nothers = 0;
		snap_cli_refuse_same_role("origin", a->origin, "store", a->cow);
		return;
	}
	if (a->batch)
		cli_usage_error("--batch is for a shared store; %s is a classic one", a->cow);
	/* a classic store's --snapshot is another COW: an id there is a mistake */
	for (unsigned i = 0; i < a->nothers; i++) {
		struct stat st;
		meta_ms_id id;
		if (stat(a->other_paths[i], &st) && !meta_ms_id_parse(META_MS_MIKULAS,
								       a->other_paths[i], &id))
			cli_usage_error("%s is a classic snapshot store: --snapshot names another "
					"snapshot's COW device, not a snapshot id ('%s')", a->cow,
					a->other_paths[i]);
	}
	a->snap_flags = a->mo.dry_run ? META_SNAP_OPEN_EXCL : META_SNAP_OPEN_WRITE | META_SNAP_OPEN_EXCL;
	/* merge writes the origin and the COWs on purpose: each role needs its own storage */
	snap_cli_refuse_same_role("origin", a->origin, "COW", a->cow);
	for (unsigned i = 0; i < a->nothers; i++) {
		snap_cli_refuse_same_role("origin", a->origin, "--snapshot COW", a->other_paths[i]);
		snap_cli_refuse_same_role("COW being merged", a->cow, "--snapshot COW",
					  a->other_paths[i]);
		for (unsigned j = 0; j < i; j++)
			snap_cli_refuse_same_role("other --snapshot COW", a->other_paths[j],
						  "--snapshot COW", a->other_paths[i]);
	}
}

/* A store with no exceptions: clear what an interrupted merge may have left; the exit status. */
static int merge_nothing(const struct args *a, struct meta_snap *s)
{
	/* an interrupted merge's last clearing may have left records past the end */
	int r = meta_snap_merge(s, NULL, &a->mo);
	if (r) {
		cli_err("%s: cannot clear the records left after the end of the store: %s", a->cow,
			meta_strerror(r));
		return EXIT_OPERR;
	}
	if (!cli_quiet)
		fprintf(stderr, "%s: nothing to merge: the store holds no exceptions\n", cli_prog);
	return EXIT_OK;
}

/* The --snapshot stores, opened into an engine over the origin: 0, or the exit status. */
static int open_others(const struct args *a, struct meta_io *oio, struct meta_snap **others,
		       struct meta_snap_engine **engine, struct snap_cli_damage *damage)
{
	int ex = 0, r;
	if (!a->nothers)
		return 0;
	if (meta_snap_engine_create(oio, engine))
		return EXIT_OPERR;
	meta_snap_engine_set_damage(*engine, snap_cli_keep_first, damage);
	for (unsigned i = 0; i < a->nothers && !ex; i++) {
		const char *path = a->other_paths[i];
		unsigned idx;
		ex = snap_cli_open(path, a->snap_flags, &others[i]);
		if (ex)
			break;
		r = meta_snap_engine_add(*engine, others[i], false, &idx);
		if (r == META_E_INVAL) {
			cli_err("%s: the --snapshot store is new (zeroed header): not a snapshot of "
				"this origin yet (run snap_check)", path);
			ex = EXIT_DAMAGE;
		} else if (r == META_E_CORRUPT) {
			snap_cli_report_damage(path, damage, "merge while it is a --snapshot");
			ex = EXIT_DAMAGE;
		} else if (r) {
			cli_err("%s: %s", path, meta_strerror(r));
			ex = EXIT_OPERR;
		}
	}
	return ex;
}

/* The merge's outcome r (n chunks were listed), reported: the exit status. */
static int merge_status(const struct args *a, int r, struct meta_snap *s, const struct prog *p,
			uint64_t n, const struct snap_cli_damage *damage)
{
	struct meta_io *fio;
	switch (r) {
	case META_OK:
		if (!cli_quiet && !a->mo.dry_run)
			fprintf(stderr, "%s: merged %" PRIu64 " chunks; the store is now empty\n", cli_prog,
				n);
		return EXIT_OK;
	case META_E_CORRUPT:
		report_refusal(a->cow, r, damage);
		return EXIT_DAMAGE;
	case META_E_RANGE:
		cli_err("%s: exceptions point past the end of %s: is this the right origin?", a->cow,
			a->origin);
		return EXIT_DAMAGE;
	case META_E_INTERRUPTED:
		if (p->bar)
			fprintf(stderr, "\r\033[K");
		cli_err("merge stopped before the end; run snap_merge again (or activate the "
			"snapshot-merge target) to finish it");
		return EXIT_OPERR;
	default:
		fio = meta_snap_merge_failed_io(s);
		if (p->bar)
			fprintf(stderr, "\r\033[K");
		if (fio && (r == META_E_IO || r == META_E_NOSPC))
			snap_cli_report_io(meta_io_path(fio), meta_io_errno(fio),
					   "the merge stopped; the store still lists every chunk not "
					   "yet merged: free space (or fix the device), then run "
					   "snap_merge again to resume");
		else
			cli_err("merge failed: %s; the store still lists every chunk not yet merged, "
				"so it can be resumed", meta_strerror(r));
		return EXIT_OPERR;
	}
}

/* ---- a shared store ---- */

struct ms_prog {
	struct prog p;
	uint64_t batches, max_batches;
};

static int on_ms_batch(void *ctx, uint64_t done, uint64_t total)
{
	struct ms_prog *mp = ctx;
	if (mp->p.verbose)
		printf("merged %" PRIu64 " of %" PRIu64 " chunks\n", done, total);
	draw_bar(&mp->p, done == total, done, total);
	return stop_flag || (mp->max_batches && ++mp->batches >= mp->max_batches);
}

/* How many live sub-snapshots master id has (0 for a sub, or when they cannot be listed). */
static uint64_t live_subs(struct meta_ms *ms, meta_ms_id id)
{
	meta_ms_id *ids = NULL;
	uint64_t n = 0, subs = 0;
	if (meta_ms_get_type(ms) != META_MS_MIKULAS || (uint32_t)id != META_MS_SUB_NONE ||
	    meta_ms_snapshots(ms, &ids, &n))
		return 0;
	for (uint64_t i = 0; i < n; i++)
		subs += ids[i] >> 32 == id >> 32 && ids[i] != id;
	free(ids);
	return subs;
}

/* The merge's outcome r, reported: the exit status; subs: id's live sub-snapshots. */
static int ms_merge_status(const struct args *a, int r, struct meta_ms *ms,
			   const struct meta_ms_merge_opts *o, const char *idtext, uint64_t subs)
{
	const char *path = a->cow;
	char *line = NULL, stay[160] = "";
	if (subs)
		snprintf(stay, sizeof(stay), "; its %" PRIu64 " sub-snapshot%s, with %s "
			 "(%s can get no new ones)", subs, subs == 1 ? " stays" : "s stay",
			 subs == 1 ? "its view" : "their views", idtext);
	switch (r) {
	case META_OK:
		if (a->mo.dry_run) {
			if (!cli_quiet)
				printf("would merge %" PRIu64 " chunks of snapshot %s into %s, copying %"
				       PRIu64 " origin chunks for the other snapshots, then delete %s%s\n",
				       o->chunks, idtext, a->origin, o->copies, idtext, stay);
			return EXIT_OK;
		}
		if (!cli_quiet) {
			fprintf(stderr, "%s: merged %" PRIu64 " chunks of snapshot %s (%" PRIu64
				" copies for the other snapshots); snapshot %s is deleted%s\n", cli_prog,
				o->chunks, idtext, o->copies, idtext, stay);
			if (!meta_ms_status_line(ms, &line))
				printf("%s\n", line);
			free(line);
		}
		return EXIT_OK;
	case META_E_NOTFOUND:
		cli_err("%s: no snapshot %s in the store; snap_check %s lists its ids", path, idtext,
			path);
		return EXIT_OPERR;
	case META_E_UNSUPPORTED:
		cli_err("%s: merging %s stores is not supported yet", path,
			meta_ms_type_name(meta_ms_get_type(ms)));
		return EXIT_OPERR;
	case META_E_CORRUPT:
		cli_err("%s: the store's exceptions break a rule the merge relies on. Run snap_check %s",
			path, path);
		return EXIT_DAMAGE;
	case META_E_INTERRUPTED:
		cli_err("merge stopped before the end (%" PRIu64 " chunks merged, %" PRIu64 " copies "
			"made); run snap_merge again to finish it", o->chunks, o->copies);
		return EXIT_OPERR;
	case META_E_NOSPC:
		cli_err("%s: the shared store is full (every COW chunk in use) after %" PRIu64
			" chunks merged: delete a snapshot or grow the COW device, then run snap_merge "
			"again to finish", path, o->chunks);
		return EXIT_OPERR;
	default:
		cli_err("merge failed: %s; snapshot %s keeps its data until the merge ends: run "
			"snap_merge again to finish it (snap_check %s first)", meta_strerror(r), idtext,
			path);
		return EXIT_OPERR;
	}
}

static int merge_shared(const struct args *a)
{
	struct meta_ms_merge_opts o = {0};
	struct ms_prog mp = {0};
	struct meta_ms *ms;
	struct meta_io *oio;
	char idtext[32];
	uint64_t subs;
	int r, ex = ms_cli_open_checked(a->cow, a->mo.dry_run ? META_MS_OPEN_EXCL
							       : META_MS_OPEN_WRITE | META_MS_OPEN_EXCL,
					"merge it", &ms);
	if (ex)
		return ex;
	meta_ms_id_format(a->shared, a->id, idtext, sizeof(idtext));
	r = meta_io_open(a->origin, a->mo.dry_run ? META_IO_EXCL : META_IO_WRITE | META_IO_EXCL,
			 &oio);
	if (r) {
		cli_report_open_error(a->origin, r, 0);
		meta_ms_close(ms);
		return EXIT_OPERR;
	}
	mp.p.verbose = a->verbose && !cli_quiet && !a->mo.dry_run;
	mp.p.bar = !a->mo.dry_run && !mp.p.verbose && cli_progress_allowed();
	mp.max_batches = a->mo.max_batches;
	o.dry_run = a->mo.dry_run;
	o.batch = (uint32_t)a->batch;
	o.progress = on_ms_batch;
	o.ctx = &mp;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	subs = live_subs(ms, a->id);
	r = meta_ms_merge(ms, oio, a->id, &o);
	if (mp.p.bar)
		fprintf(stderr, "\r\033[K");
	ex = ms_merge_status(a, r, ms, &o, idtext, subs);
	meta_io_close(oio);
	meta_ms_close(ms);
	return ex;
}

int main(int argc, char **argv)
{
	struct args a;
	struct meta_snap *others[MAX_OTHERS] = {0};
	struct meta_snap_engine *engine = NULL;
	struct meta_snap_merge_opts mo;
	struct prog p;
	struct snap_cli_damage damage = {0};
	struct meta_snap *s;
	struct meta_io *oio;
	uint64_t n;
	int r, ex;

	memset(&a, 0, sizeof(a));
	memset(&p, 0, sizeof(p));
	cli_init(argv[0]);
	parse_args(argc, argv, &a);
	if (a.shared)
		return merge_shared(&a);
	ex = snap_cli_open(a.cow, a.snap_flags, &s);
	if (ex)
		return ex;
	/* the library's verdict on the store, before the origin is opened for writing */
	r = meta_snap_verify(s, 0, 0, snap_cli_keep_first, &damage);
	if (r) {
		report_refusal(a.cow, r, &damage);
		meta_snap_close(s);
		return r == META_E_CORRUPT ? EXIT_DAMAGE : EXIT_OPERR;
	}
	if (meta_snap_is_new(s) || (meta_snap_exceptions(s, &n), n == 0)) {
		ex = merge_nothing(&a, s);
		meta_snap_close(s);
		return ex;
	}
	r = meta_io_open(a.origin, a.mo.dry_run ? META_IO_EXCL : META_IO_WRITE | META_IO_EXCL, &oio);
	if (r) {
		cli_report_open_error(a.origin, r, 0);
		meta_snap_close(s);
		return EXIT_OPERR;
	}
	ex = open_others(&a, oio, others, &engine, &damage);
	if (!ex) {
		mo = a.mo;
		mo.others = engine;
		p.list = mo.dry_run && !cli_quiet;
		p.verbose = a.verbose && !cli_quiet;
		p.bar = !mo.dry_run && !p.verbose && cli_progress_allowed();
		mo.on_batch = on_batch;
		mo.ctx = &p;
		mo.stop = &stop_flag;
		mo.damage = snap_cli_keep_first;
		mo.damage_ctx = &damage;
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		r = meta_snap_merge(s, oio, &mo);
		ex = merge_status(&a, r, s, &p, n, &damage);
	}
	meta_snap_engine_destroy(engine);
	for (unsigned i = 0; i < a.nothers; i++)
		meta_snap_close(others[i]);
	meta_io_close(oio);
	meta_snap_close(s);
	return ex;
}
