/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_message: a message of the `multisnapshot` target (`dmsetup message <dev> 0 ...`)
 * run on an offline shared COW store (mikulas or daniel), committed as the store
 * commits it.  A store whose first 4 KiB are zero is made first from the table line's
 * arguments (--type, --chunk-size, --preserve-on-error), as the target makes it at the
 * table load; --sync-snapshots is applied then too, before the message.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>

#include "common.h"
#include "util_snap.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_message [options] COW [MESSAGE [ARG]]\n"
		"Run a message of the multisnapshot target on an offline shared COW store (mikulas\n"
		"or daniel), as `dmsetup message DEV 0 MESSAGE` runs it on the live target, and\n"
		"commit it.  Messages:\n"
		"  create                 a new snapshot of the origin; prints its id\n"
		"  create_subsnap ID      a snapshot of snapshot ID (mikulas only); prints its id\n"
		"  delete ID              delete snapshot ID and free what only it used\n"
		"Ids: N for a snapshot of the origin, N.M for sub-snapshot M of snapshot N.\n"
		"\n"
		"A COW whose first 4 KiB are zero is a new store: it is made first, with the\n"
		"table line's arguments:\n"
		"      --type TYPE             the store type: mikulas or daniel\n"
		"      --chunk-size SECTORS    chunk size in 512-byte sectors (a power of two;\n"
		"                              daniel: 32)\n"
		"      --preserve-on-error     kept in the store's flags: the target halts the\n"
		"                              origin on a store error\n"
		"      --sync-snapshots ID,... the table's id list is authoritative: create the\n"
		"                              listed ids that are missing, delete the others\n"
		"                              (before the message, as the table load;\n"
		"                              '' deletes every snapshot)\n"
		"      --origin-size SECTORS   the origin's size in 512-byte sectors\n"
		"      --origin DEV            take the origin's size from this device or file\n"
		"  -q, --quiet                 no output (not even the new id)\n"
		"  -h, --help                  show this help and exit\n"
		"  -V, --version               print the version and exit\n"
		"\n"
		"A run without a MESSAGE only makes the new store and applies --sync-snapshots.\n"
		"\n"
		"Exit status: 0 ok, 1 the store is damaged (nothing was changed), 2 usage error,\n"
		"3 the message failed (the store is left as it was) or another operational error.\n");
}

/* The id list of --sync-snapshots: "1,2,3.0", or "" for none. */
static int parse_ids(enum meta_ms_type t, const char *list, meta_ms_id **ids, uint64_t *n)
{
	char *copy = strdup(list);
	size_t cap = 1;
	*ids = NULL;
	*n = 0;
	if (!copy)
		return META_E_NOMEM;
	for (const char *p = list; *p; p++)
		cap += *p == ',';
	*ids = calloc(cap, sizeof(**ids));
	if (!*ids) {
		free(copy);
		return META_E_NOMEM;
	}
	if (*copy) {
		/* empty words ("1,,2", a trailing comma) are errors too */
		char *p = copy;
		for (;;) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma = 0;
			if (meta_ms_id_parse(t, p, &(*ids)[*n])) {
				cli_err("--sync-snapshots: '%s' is not a %s snapshot id (%s)", p,
					meta_ms_type_name(t),
					t == META_MS_MIKULAS ? "N or N.M" : "N");
				free(copy);
				free(*ids);
				*ids = NULL;
				return META_E_INVAL;
			}
			(*n)++;
			if (!comma)
				break;
			p = comma + 1;
		}
	}
	free(copy);
	return 0;
}

/* Does the store hold as many snapshots as its type allows (daniel: 64)? */
static bool full(struct meta_ms *ms)
{
	meta_ms_id *ids = NULL;
	uint64_t n = 0;
	bool yes = meta_ms_get_type(ms) == META_MS_DANIEL && !meta_ms_snapshots(ms, &ids, &n) &&
		   n >= 64;
	free(ids);
	return yes;
}

/* Does the store hold sub-snapshots of the (gone) master named arg? */
static bool orphans(struct meta_ms *ms, const char *arg)
{
	meta_ms_id id, *ids = NULL;
	uint64_t n = 0;
	bool yes = false;
	if (!arg || meta_ms_id_parse(META_MS_MIKULAS, arg, &id) || meta_ms_snapshots(ms, &ids, &n))
		return false;
	for (uint64_t i = 0; i < n && !yes; i++)
		yes = ids[i] >> 32 == id >> 32;
	free(ids);
	return yes;
}

static int report(const char *path, const char *msg, const char *arg, int r, struct meta_ms *ms)
{
	const char *type = meta_ms_type_name(meta_ms_get_type(ms));
	char pre[512];
	snprintf(pre, sizeof(pre), "%s%s%s", path, msg ? ": " : "", msg ? msg : "");
	switch (r) {
	case META_E_NOTFOUND:
		if (msg && !strcmp(msg, "--sync-snapshots")) {
			cli_err("%s: a listed sub-snapshot's master is neither in the store nor listed "
				"(ENOENT); the store's snapshots are left as they were", pre);
			return EXIT_OPERR;
		}
		if (msg && !strcmp(msg, "create_subsnap") && orphans(ms, arg)) {
			cli_err("%s: snapshot %s is gone (merged into the origin) (ENOENT): its "
				"sub-snapshots live on, but it can get no new ones", pre, arg);
			return EXIT_OPERR;
		}
		cli_err("%s: no snapshot %s in the store (ENOENT); snap_check %s lists its ids", pre,
			arg ? arg : "", path);
		return EXIT_OPERR;
	case META_E_RANGE:
		if (msg && !strcmp(msg, "--sync-snapshots") && !full(ms))
			cli_err("%s: a listed id lies below the store's next snapshot number: ids are "
				"handed out in increasing order and never reused (EINVAL); the store's "
				"snapshots are left as they were", pre);
		else if (meta_ms_get_type(ms) == META_MS_DANIEL)
			cli_err("%s: a daniel store holds at most 64 snapshots (ENOSPC); delete one "
				"first", pre);
		else if (msg && !strcmp(msg, "create_subsnap"))
			cli_err("%s: the sub-snapshot numbers of snapshot %s are used up (4294967294 "
				"is the last; numbers are never reused) (EINVAL)", pre, arg ? arg : "");
		else
			cli_err("%s: the store's snapshot numbers are used up (4294967294 is the last; "
				"numbers are never reused) (EINVAL)", pre);
		return EXIT_OPERR;
	case META_E_UNSUPPORTED:
		if (meta_ms_get_type(ms) == META_MS_DANIEL)
			cli_err("%s: a daniel store has no snapshots of snapshots (EINVAL); use a "
				"mikulas store for them", pre);
		else
			cli_err("%s: %s", pre, meta_strerror(r));
		return EXIT_OPERR;
	case META_E_BUSY:
		cli_err("%s: snapshot %s has sub-snapshots (EBUSY); delete them first", pre,
			arg ? arg : "");
		return EXIT_OPERR;
	case META_E_TOOSMALL:
		cli_err("%s: the device is too small for a %s store (its fixed structures do not "
			"fit); nothing was written", path, type ? type : "shared");
		return EXIT_OPERR;
	case META_E_NOSPC:
		cli_err("%s: the COW device is full (ENOSPC); nothing was changed", pre);
		return EXIT_OPERR;
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
	case META_E_BLOCKNR:
		cli_err("%s: the %s store is damaged (%s); nothing was changed; run snap_check %s",
			pre, type ? type : "shared", meta_strerror(r), path);
		return EXIT_DAMAGE;
	case META_E_INVAL:
		if (msg && !strcmp(msg, "create_subsnap"))
			cli_err("%s: %s is not a snapshot of the origin: only those (N) can have "
				"sub-snapshots (EINVAL)", pre, arg ? arg : "");
		else
			cli_err("%s: %s", pre, meta_strerror(r));
		return EXIT_OPERR;
	default:
		cli_err("%s: %s", pre, meta_strerror(r));
		return cli_exit_for(r);
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_ARG("type", 't'),
		CLI_ARG("chunk-size", 'c'),
		CLI_FLAG("preserve-on-error", 'p'),
		CLI_ARG("sync-snapshots", 's'),
		CLI_ARG("origin-size", 'o'),
		CLI_ARG("origin", 'O'),
		CLI_COMMON_LONGOPTS,
	};
	struct meta_ms_params p = {0};
	const char *path, *msg = NULL, *arg = NULL, *sync = NULL, *origin = NULL;
	struct meta_ms *ms = NULL;
	meta_ms_id id, newid, *ids = NULL;
	uint64_t nids = 0;
	bool has_new = false;
	int c, r, ex;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, ":qhV", lopts, NULL)) != -1) {
		switch (c) {
		case 't':
			p.type = meta_ms_type_parse(optarg);
			if (p.type == META_MS_NONE)
				cli_usage_error("unknown store type '%s' (use mikulas or daniel)", optarg);
			break;
		case 'c':
			if (cli_parse_u32(optarg, &p.chunk_size) || !p.chunk_size ||
			    (p.chunk_size & (p.chunk_size - 1)))
				cli_usage_error("--chunk-size must be a power of two (512-byte sectors), "
						"not '%s'", optarg);
			break;
		case 'p':
			p.generic |= META_MS_PRESERVE_ON_ERROR;
			break;
		case 's':
			sync = optarg;
			p.generic |= META_MS_SYNC_SNAPSHOTS;
			break;
		case 'o':
			p.origin_sectors = cli_u64_arg("--origin-size", optarg);
			if (!p.origin_sectors)
				cli_usage_error("--origin-size must be greater than 0");
			break;
		case 'O':
			origin = optarg;
			break;
		case ':':
		case '?':
			cli_bad_option(c, argv);
		default:
			cli_common_option(c, usage);
		}
	}
	if (optind >= argc)
		cli_usage_error("no COW device given");
	path = argv[optind++];
	if (optind < argc)
		msg = argv[optind++];
	if (optind < argc)
		arg = argv[optind++];
	if (optind < argc)
		cli_usage_error("too many arguments");
	if (origin && p.origin_sectors)
		cli_usage_error("--origin and --origin-size are mutually exclusive");
	if (msg) {
		if (!strcmp(msg, "create")) {
			if (arg)
				cli_usage_error("create takes no argument");
		} else if (!strcmp(msg, "create_subsnap") || !strcmp(msg, "delete")) {
			if (!arg)
				cli_usage_error("%s needs a snapshot id", msg);
		} else {
			cli_usage_error("unknown message '%s': the multisnapshot target takes create, "
					"create_subsnap ID and delete ID", msg);
		}
	} else if (!p.type && !p.chunk_size && !sync) {
		cli_usage_error("no message given");
	}
	if (origin) {
		struct meta_io *io;
		r = meta_io_open(origin, 0, &io);
		if (r) {
			cli_report_open_error(origin, r, 0);
			return EXIT_OPERR;
		}
		p.origin_sectors = meta_io_size(io) / 512;
		meta_io_close(io);
	}

	ex = ms_cli_open(path, META_MS_OPEN_WRITE | META_MS_OPEN_EXCL, &ms);
	if (ex)
		return ex;
	if (meta_ms_is_new(ms)) {
		if (!p.type || !p.chunk_size) {
			cli_err("%s: new store (the first 4 KiB are zero): give --type and --chunk-size "
				"to make it", path);
			meta_ms_close(ms);
			return EXIT_USAGE;
		}
		if (p.type == META_MS_DANIEL && p.chunk_size != 32) {
			cli_err("%s: a daniel store takes 16 KiB chunks only: --chunk-size 32", path);
			meta_ms_close(ms);
			return EXIT_USAGE;
		}
	}
	r = meta_ms_set_params(ms, &p);
	if (r) {
		if (r == META_E_INVAL && !meta_ms_is_new(ms))
			cli_err("%s: holds a %s store with %" PRIu32 "-sector chunks; the table's "
				"--type/--chunk-size differ (the target refuses such a table)", path,
				meta_ms_type_name(meta_ms_get_type(ms)), meta_ms_chunk_size(ms));
		else if (r == META_E_UNSUPPORTED)
			cli_err("%s: this build has no %s store", path, meta_ms_type_name(p.type));
		else
			cli_err("%s: %s", path, meta_strerror(r));
		meta_ms_close(ms);
		return r == META_E_UNSUPPORTED ? EXIT_OPERR : EXIT_USAGE;
	}
	if (sync) {
		enum meta_ms_type t = meta_ms_is_new(ms) ? p.type : meta_ms_get_type(ms);
		r = parse_ids(t, sync, &ids, &nids);
		if (r) {
			meta_ms_close(ms);
			return EXIT_USAGE;
		}
	}
	if (msg && arg) {
		enum meta_ms_type t = meta_ms_is_new(ms) ? p.type : meta_ms_get_type(ms);
		if (meta_ms_id_parse(t, arg, &id)) {
			cli_err("%s: %s: '%s' is not a %s snapshot id (%s)", path, msg, arg,
				meta_ms_type_name(t), t == META_MS_MIKULAS ? "N or N.M" : "N");
			meta_ms_close(ms);
			free(ids);
			return EXIT_USAGE;
		}
	}

	/*
	 * As the target: the table load makes a new store and applies sync-snapshots, then
	 * the message runs.  Without a message, only the new store is made (an empty sync
	 * formats it and deletes nothing).
	 */
	if (sync || (!msg && meta_ms_is_new(ms))) {
		r = meta_ms_sync(ms, sync ? ids : NULL, sync ? nids : 0);
		if (r) {
			ex = report(path, sync ? "--sync-snapshots" : NULL, NULL, r, ms);
			meta_ms_close(ms);
			free(ids);
			return ex;
		}
	}
	r = 0;
	if (!msg) {
		r = 0;
	} else if (!strcmp(msg, "create")) {
		r = meta_ms_create(ms, &newid);
		has_new = !r;
	} else if (!strcmp(msg, "create_subsnap")) {
		r = meta_ms_create_subsnap(ms, id, &newid);
		has_new = !r;
	} else {
		r = meta_ms_delete(ms, id);
	}
	if (r) {
		ex = report(path, msg, arg, r, ms);
		meta_ms_close(ms);
		free(ids);
		return ex;
	}
	if (has_new && !cli_quiet) {
		char buf[META_MS_ID_STRLEN];
		meta_ms_id_format(meta_ms_get_type(ms), newid, buf, sizeof(buf));
		printf("%s\n", buf);
	}
	meta_ms_close(ms);
	free(ids);
	return cli_flush_stdout();
}
