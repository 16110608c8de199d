/* SPDX-License-Identifier: GPL-2.0-only */
/* snap_merge: merge a classic snapshot into its origin offline, in the kernel's order. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
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
		"Merge a classic dm-snapshot (COW device) back into its origin without the kernel,\n"
		"in the order the kernel's snapshot-merge target uses: newest exception first,\n"
		"consecutive chunks in one batch, origin flushed before the batch's records are\n"
		"cleared.  An interrupted merge is resumed by running snap_merge again or by\n"
		"activating the kernel's snapshot-merge target.  At the end the store is empty.\n"
		"\n"
		"Options:\n"
		"      --origin ORIGIN   the origin device or image (required)\n"
		"      --snapshot COW    another snapshot of the same origin (repeatable): it gets\n"
		"                        its copy-outs before origin chunks are overwritten, as the\n"
		"                        kernel's merge does; give every other snapshot of ORIGIN\n"
		"  -n, --dry-run         list the copies that would be made; write nothing\n"
		"      --stop-after N    stop after N batches (testing aid: simulates a crash)\n"
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

static int on_batch(void *ctx, const struct meta_snap_batch *b, uint64_t done, uint64_t total)
{
	struct prog *p = ctx;
	if (b && (p->list || p->verbose))
		printf("copy cow chunks %" PRIu64 "..%" PRIu64 " -> origin chunks %" PRIu64 "..%" PRIu64
		       "\n",
		       b->new_chunk, b->new_chunk + b->nr_chunks - 1, b->old_chunk,
		       b->old_chunk + b->nr_chunks - 1);
	if (p->bar) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!b || (now.tv_sec - p->last.tv_sec) * 1000000000L + (now.tv_nsec - p->last.tv_nsec) >
				  125000000L) {
			fprintf(stderr, "\rmerging: %3u%% (%" PRIu64 "/%" PRIu64 " chunks)",
				(unsigned)(total ? done * 100 / total : 100), done, total);
			p->last = now;
		}
		if (!b)
			fprintf(stderr, "\r\033[K");
	}
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
};

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"origin", required_argument, NULL, 1},
		{"snapshot", required_argument, NULL, 3},
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
	if (optind != argc - 1)
		cli_usage_error(optind == argc ? "no COW device given" : "too many arguments");
	if (!a->origin)
		cli_usage_error("--origin ORIGIN is required");
	a->cow = argv[optind];
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
