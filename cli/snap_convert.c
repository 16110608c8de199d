/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_convert: a classic snapshot's COW store into a shared multisnapshot store (mikulas)
 * and a shared store's snapshot (mikulas or daniel) back into a classic one, without
 * copying the origin (include/libmeta/ms_convert.h).  The direction is
 * the input's: a classic store ("SnAp") converts to a shared one; a shared store's
 * --snapshot ID converts to a classic one.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/io.h>
#include <libmeta/ms_convert.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>

#include "common.h"
#include "util_snap.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_convert [options] --cow CLASSIC [--cow CLASSIC]... -o STORE\n"
		"       snap_convert [options] --cow STORE --snapshot ID -o CLASSIC\n"
		"Convert classic dm-snapshot COW stores of one origin into a new shared\n"
		"multisnapshot store (mikulas) holding them as snapshots 0, 1, ... in the order\n"
		"given, or a shared store's snapshot ID into a new classic COW store: the\n"
		"exceptions and their data chunks are copied, the origin is not touched.  The direction is the input's: a classic store (\"SnAp\") or a\n"
		"shared one (mikulas or daniel).  The input is only read.\n"
		"\n"
		"Options:\n"
		"      --cow COW         the input store (classic or shared); classic: repeatable,\n"
		"                        every snapshot of the origin to move, in snapshot order\n"
		"      --snapshot ID     the shared store's snapshot to convert (\"N\" or \"N.M\")\n"
		"  -o, --output DEV      the device or image file to write (must exist and be\n"
		"                        large enough: the error names the size needed)\n"
		"      --origin ORIGIN   the origin: the input's exceptions are checked against\n"
		"                        its size\n"
		"      --force           overwrite an output that holds a store or other metadata\n"
		"  -q, --quiet           no messages\n"
		"  -h, --help            show this help and exit\n"
		"  -V, --version         print the version and exit\n"
		"\n"
		"Exit status: 0 converted, 1 the input is damaged or invalid, 2 usage error,\n"
		"3 operational error (output too small or holding metadata, I/O error, ...).\n");
}

struct args {
	const char **cows, *cow, *output, *origin, *snapshot; /* cow: cows[0] */
	size_t ncows;
	bool force;
};

static void parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		CLI_ARG("cow", 1), CLI_ARG("snapshot", 2), CLI_ARG("origin", 3),
		CLI_FLAG("force", 4), CLI_ARG("output", 'o'), CLI_COMMON_LONGOPTS,
	};
	int c;
	memset(a, 0, sizeof(*a));
	a->cows = calloc((size_t)argc, sizeof(*a->cows)); /* at most one --cow per argument */
	if (!a->cows) {
		cli_err("out of memory");
		exit(EXIT_OPERR);
	}
	while ((c = getopt_long(argc, argv, ":o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			a->cows[a->ncows++] = optarg;
			break;
		case 2:
			a->snapshot = optarg;
			break;
		case 3:
			a->origin = optarg;
			break;
		case 4:
			a->force = true;
			break;
		case 'o':
			a->output = optarg;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->ncows)
		cli_usage_error("no input store given (--cow COW)");
	a->cow = a->cows[0];
	if (!a->output)
		cli_usage_error("no output device given (-o DEV)");
	if (a->origin)
		snap_cli_refuse_same_role("origin", a->origin, "output", a->output);
	for (size_t i = 0; i < a->ncows; i++) {
		snap_cli_refuse_same_role("input COW", a->cows[i], "output", a->output);
		if (a->origin)
			snap_cli_refuse_same_role("origin", a->origin, "input COW", a->cows[i]);
		for (size_t j = 0; j < i; j++)
			if (meta_io_same_storage(a->cows[j], a->cows[i]))
				cli_usage_error("--cow %s and --cow %s are one store (same file or "
						"device): give each snapshot once", a->cows[j], a->cows[i]);
	}
}

/* The origin's size in sectors (0 without --origin); exits on failure. */
static uint64_t origin_sectors(const char *origin)
{
	struct meta_io *io;
	uint64_t n;
	int r;
	if (!origin)
		return 0;
	r = meta_io_open(origin, 0, &io);
	if (r) {
		cli_report_open_error(origin, r, 0);
		exit(EXIT_OPERR);
	}
	n = meta_io_size(io) / 512;
	meta_io_close(io);
	return n;
}

/* One line for a failed conversion; the exit status. */
static int report(const struct args *a, int r, const struct meta_ms_convert_result *res,
		  const struct snap_cli_damage *fd, bool to_shared)
{
	const char *kind = to_shared ? "shared store" : "classic store";
	const char *in = to_shared ? a->cows[res->input] : a->cow;
	switch (r) {
	case META_E_INVAL:
		switch (res->why) {
		case META_MSC_SAME_STORAGE:
			cli_err("%s: the output is the input COW %s (same file or device); refusing to "
				"write to it", a->output, in);
			return EXIT_USAGE;
		case META_MSC_NEW:
			cli_err("%s: holds no snapshot store (a zeroed header: a new or transient "
				"snapshot, which keeps no metadata); nothing to convert", in);
			return EXIT_DAMAGE;
		case META_MSC_INVALID:
			cli_err("%s: the snapshot is invalid (overflowed or failed); its data is lost "
				"and it cannot be converted: remove the snapshot instead", in);
			return EXIT_DAMAGE;
		case META_MSC_CHUNK_SIZE:
			cli_err("%s: chunk size %" PRIu32 " sectors: a shared store's chunks are 8 to "
				"2097152 sectors; this snapshot cannot be converted", in,
				res->chunk_size);
			return EXIT_OPERR;
		case META_MSC_CHUNK_MISMATCH:
			cli_err("%s: chunk size %" PRIu32 " sectors, not the first input's: one shared "
				"store has one chunk size", in, res->chunk_size);
			return EXIT_OPERR;
		case META_MSC_ORIGIN_RANGE:
			cli_err("%s: an origin chunk at or past 2^48: a shared store cannot map it", in);
			return EXIT_OPERR;
		default:
			break;
		}
		break;
	case META_E_CORRUPT:
		if (to_shared) {
			snap_cli_report_damage(in, fd, "convert it");
		} else {
			cli_err("%s: the shared store is damaged; refusing to convert it. Run "
				"snap_check %s for details", in, in);
		}
		return EXIT_DAMAGE;
	case META_E_NOTFOUND:
		cli_err("%s: no snapshot %s in this store (snap_message %s status lists them)",
			in, a->snapshot, in);
		return EXIT_OPERR;
	case META_E_UNSUPPORTED:
		cli_err("%s: this build cannot convert this store's type", in);
		return EXIT_OPERR;
	case META_E_EXISTS:
		snap_cli_report_exists(a->output, "a store");
		return EXIT_OPERR;
	case META_E_TOOSMALL:
		cli_err("%s is too small for the %s: it needs at least %" PRIu64 " bytes (%" PRIu64
			" exceptions of %" PRIu32 " sectors); nothing was written", a->output, kind,
			res->need_bytes, res->exceptions, res->chunk_size);
		return EXIT_OPERR;
	case META_E_NOSPC:
		cli_err("%s: the new store's metadata area cannot hold %" PRIu64 " exceptions; "
			"nothing valid was left there", a->output, res->exceptions);
		return EXIT_OPERR;
	case META_E_IO:
		if (res->failed_errno) {
			snap_cli_report_io(res->failed_out ? a->output : in, res->failed_errno,
					   res->failed_out ? "the output holds no valid store; run "
					   "snap_convert again once the cause is fixed"
					   : "the output holds no valid store");
			return EXIT_OPERR;
		}
		break;
	case META_E_NOENT:
	case META_E_ISDIR:
	case META_E_PERM:
	case META_E_BUSY:
		cli_report_output_error(a->output, r);
		return EXIT_OPERR;
	default:
		break;
	}
	cli_err("%s: %s; the output holds no valid store", a->output, meta_strerror(r));
	return EXIT_OPERR;
}

static int convert(const struct args *ap)
{
	struct meta_ms_convert_opts o = {0};
	struct meta_ms_convert_result res;
	struct snap_cli_damage fd = {0};
	struct args a = *ap;
	enum meta_family f;
	bool to_shared;
	meta_ms_id id = 0;
	char idbuf[META_MS_ID_STRLEN];
	int r, ex;

	f = cli_sniff_family(a.cow);
	to_shared = f != META_FAMILY_MIKULAS && f != META_FAMILY_DANIEL;
	/* the input opens as its tools open it: their one line when it does not */
	if (to_shared) {
		for (size_t i = 0; i < a.ncows; i++) {
			struct meta_snap *s;
			ex = snap_cli_open(a.cows[i], 0, &s);
			if (ex)
				return ex;
			meta_snap_close(s);
		}
		if (a.snapshot)
			cli_usage_error("%s holds a classic store, not a shared one: --snapshot is for "
					"converting a shared store's snapshot", a.cow);
	} else {
		struct meta_ms *ms;
		if (a.ncows > 1)
			cli_usage_error("%s holds a shared store: convert one snapshot of one shared "
					"store at a time (one --cow)", a.cow);
		if (!a.snapshot)
			cli_usage_error("%s holds a shared store: name the snapshot to convert "
					"(--snapshot ID)", a.cow);
		if (meta_ms_id_parse(f == META_FAMILY_DANIEL ? META_MS_DANIEL : META_MS_MIKULAS,
				     a.snapshot, &id))
			cli_usage_error("--snapshot %s: not a snapshot id (N or N.M)", a.snapshot);
		ex = ms_cli_open(a.cow, 0, &ms);
		if (ex)
			return ex;
		meta_ms_close(ms);
	}
	o.origin_sectors = origin_sectors(a.origin);
	o.force = a.force;
	o.damage = snap_cli_keep_first;
	o.damage_ctx = &fd;
	if (to_shared)
		r = meta_ms_from_classic_n(a.cows, a.ncows, a.output, &o, &res);
	else
		r = meta_ms_to_classic(a.cow, id, a.output, &o, &res);
	if (r)
		return report(&a, r, &res, &fd, to_shared);
	if (!cli_quiet) {
		if (to_shared) {
			if (a.ncows == 1)
				fprintf(stderr, "%s: %s: %" PRIu64 " exceptions (chunk size %" PRIu32
					" sectors) converted into a mikulas store on %s, as snapshot 0\n",
					cli_prog, a.cow, res.exceptions, res.chunk_size, a.output);
			else
				fprintf(stderr, "%s: %zu snapshots, %" PRIu64 " exceptions (chunk size %"
					PRIu32 " sectors, %" PRIu64 " data chunks: same copies shared) "
					"converted into a mikulas store on %s, as snapshots 0 to %zu\n",
					cli_prog, a.ncows, res.exceptions, res.chunk_size,
					res.data_chunks, a.output, a.ncows - 1);
		} else {
			meta_ms_id_format(f == META_FAMILY_DANIEL ? META_MS_DANIEL : META_MS_MIKULAS, id,
					  idbuf, sizeof(idbuf));
			fprintf(stderr, "%s: %s: snapshot %s, %" PRIu64 " exceptions (chunk size %" PRIu32
				" sectors), converted into a classic store on %s\n", cli_prog, a.cow,
				idbuf, res.exceptions, res.chunk_size, a.output);
		}
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct args a;
	int ex;

	cli_init(argv[0]);
	parse(argc, argv, &a);
	ex = convert(&a);
	free(a.cows); /* every way out of convert() */
	return ex;
}
