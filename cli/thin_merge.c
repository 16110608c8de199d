/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_merge: roll a thin origin back to one of its snapshots (lvconvert --merge of
 * a thin snapshot, on offline metadata), or merge a thin volume into its external
 * origin image.  See include/libmeta/thin_merge.h and man/thin_merge.8.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_merge.h>
#include <libmeta/thin_pool.h>

#include "common.h"
#include "util_damage.h"

enum {
	OPT_METADATA_DEV = 0x100,
	OPT_DATA_DEV,
	OPT_DEV_ID,
	OPT_ORIGIN_ID,
	OPT_KEEP,
	OPT_EXTERNAL,
	OPT_SIZE,
	OPT_DELETE,
	OPT_FORCE,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [options] --metadata-dev FILE --dev-id SNAP --origin-id ORIGIN\n"
		"       %s [options] --metadata-dev FILE --data-dev FILE --dev-id N\n"
		"                    --external-origin IMAGE\n"
		"Roll thin device ORIGIN back to its snapshot SNAP (ORIGIN keeps its id and maps\n"
		"what SNAP mapped; SNAP is deleted unless --keep-snapshot), or write every block\n"
		"thin device N maps into its external origin IMAGE.  The pool must be inactive;\n"
		"its metadata is checked first, and damaged metadata is refused.\n"
		"\n"
		"Options:\n"
		"      --metadata-dev FILE      the pool's metadata device or image\n"
		"      --dev-id N               the snapshot to roll back to, or the volume to merge\n"
		"      --origin-id ORIGIN       rollback: the device that takes SNAP's mappings\n"
		"      --keep-snapshot          rollback: keep SNAP (a snapshot of the new ORIGIN)\n"
		"      --data-dev FILE          merge: the pool's data device or image\n"
		"      --external-origin IMAGE  merge: the volume's external origin, written\n"
		"      --size SECTORS           merge: the volume's length (default: IMAGE's size)\n"
		"      --delete                 merge: delete device N once IMAGE holds its data\n"
		"      --force                  merge: write IMAGE even if it holds metadata\n"
		"  -q, --quiet                  print nothing; the exit status tells\n"
		"  -h, --help                   show this help and exit\n"
		"  -V, --version                show the version and exit\n"
		"\n"
		"A merge is idempotent: an interrupted one is completed by running it again.\n"
		"Exit status: 0 ok, 1 metadata damaged, 2 usage error, 3 cannot open, in use,\n"
		"no such device, I/O error or no metadata space.\n",
		cli_prog, cli_prog);
}

static int open_metadata(const char *path, struct meta_thin **t)
{
	struct meta_thin_open_opts oo;
	int r;
	memset(&oo, 0, sizeof(oo));
	oo.flags = META_THIN_OPEN_EXCL;
	r = meta_thin_open(path, &oo, t);
	if (!r)
		return 0;
	if (r == META_E_BUSY)
		cli_err("cannot open %s exclusively: device is in use. thin_merge cannot be run on "
			"live metadata: deactivate the pool first",
			path);
	else if ((r == META_E_CHECKSUM || r == META_E_BADMAGIC || r == META_E_BLOCKNR) &&
		 cli_report_foreign_family(path, META_FAMILY_THIN))
		return EXIT_OPERR;
	else
		cli_report_open_error(path, r, 0);
	return cli_exit_for(r);
}

/* The full check first: 0, else the exit status. */
static int check_metadata(const char *path, struct meta_thin *t)
{
	struct cli_first_damage fd;
	struct meta_thin_check_opts co;
	struct meta_thin_check_result cr;
	int r;

	memset(&fd, 0, sizeof(fd));
	memset(&co, 0, sizeof(co));
	co.damage = cli_keep_first_fatal;
	co.damage_ctx = &fd;
	r = meta_thin_check(t, &co, &cr);
	if (r) {
		cli_err("%s: cannot check the metadata: %s", path, meta_strerror(r));
		return cli_exit_for(r);
	}
	if (cr.worst == META_SEV_FATAL) {
		cli_report_first_damage(path, &fd);
		cli_err("refusing to merge: the metadata is damaged; run thin_repair first");
		return EXIT_DAMAGE;
	}
	return 0;
}

static int open_data(const char *path, unsigned flags, const char *what, struct meta_io **io)
{
	int r = meta_io_open(path, flags | META_IO_EXCL, io);
	switch (r) {
	case META_OK:
		return 0;
	case META_E_BUSY:
		cli_err("cannot open %s %s exclusively: device is in use; deactivate the pool (and "
			"anything using %s) first",
			what, path, path);
		break;
	case META_E_NOENT:
		cli_err("%s: cannot find the %s (no such file or directory)", path, what);
		break;
	case META_E_ISDIR:
		cli_err("%s: the %s is not a block device or regular file", path, what);
		break;
	case META_E_PERM:
		cli_err("%s: %s: permission denied", path, what);
		break;
	default:
		cli_err("%s: cannot open the %s: %s", path, what, meta_strerror(r));
		break;
	}
	return EXIT_OPERR;
}

/* The engine's refusals, one line each; the exit status. */
static int pool_error(const char *path, int r, uint64_t missing)
{
	switch (r) {
	case META_E_NOTFOUND:
		cli_err("%s: no thin device %" PRIu64 "; thin_ls lists the pool's devices", path,
			missing);
		return EXIT_OPERR;
	case META_E_NOSPC:
		cli_err("%s: no space left in the metadata device; grow it (thin_message "
			"--nr-data-blocks does not: resize the metadata device), then run again; "
			"nothing was changed",
			path);
		return EXIT_OPERR;
	case META_E_NEEDS_CHECK:
		cli_err("%s: the pool's needs_check flag is set: run thin_check (and thin_repair if "
			"it finds damage) first",
			path);
		return EXIT_OPERR;
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
	case META_E_BLOCKNR:
		cli_err("%s: the metadata is damaged (%s); nothing was changed; run thin_check",
			path, meta_strerror(r));
		return EXIT_DAMAGE;
	default:
		cli_err("%s: %s; nothing was changed", path, meta_strerror(r));
		return cli_exit_for(r);
	}
}

static int open_pool(const char *path, struct meta_thin_pool **p)
{
	struct meta_thin_pool_opts o;
	int r;
	memset(&o, 0, sizeof(o));
	r = meta_thin_pool_open(path, &o, p, NULL);
	return r ? pool_error(path, r, 0) : 0;
}

static int rollback(const char *path, uint64_t snap, uint64_t origin, bool keep)
{
	struct meta_thin_pool *p = NULL;
	uint64_t missing = 0;
	int r = open_pool(path, &p);
	if (r)
		return r;
	r = meta_thin_rollback(p, snap, origin, keep, &missing);
	if (!r)
		r = meta_thin_pool_commit(p);
	meta_thin_pool_close(p);
	if (r)
		return pool_error(path, r, missing);
	if (!cli_quiet)
		printf("thin device %" PRIu64 " rolled back to thin device %" PRIu64
		       "; thin device %" PRIu64 " %s\n",
		       origin, snap, snap, keep ? "kept" : "deleted");
	return cli_flush_stdout();
}

static int merge(const char *meta_path, struct meta_thin **tp, const char *data_path,
		 const char *image_path, uint64_t dev, uint64_t size, bool del)
{
	struct meta_thin_merge_stats st;
	struct meta_io *data = NULL, *image = NULL;
	int r;

	r = open_data(data_path, 0, "data device", &data);
	if (!r)
		r = open_data(image_path, META_IO_WRITE, "external origin", &image);
	if (r)
		goto out;
	r = meta_thin_merge_external(*tp, data, dev, image, size, &st);
	switch (r) {
	case META_OK:
		break;
	case META_E_NOTFOUND:
		cli_err("%s: no thin device %" PRIu64 "; thin_ls lists the pool's devices", meta_path,
			dev);
		break;
	case META_E_VOL_END:
		cli_err("%s: the external origin is %" PRIu64 " bytes, smaller than thin device "
			"%" PRIu64 "'s mapped range (%" PRIu64 " bytes); nothing was written: is it "
			"the volume's origin?",
			image_path, meta_io_size(image), dev, st.end);
		break;
	case META_E_DATA_SIZE:
		cli_err("%s: the data device is %" PRIu64 " bytes, too small for thin device %" PRIu64
			"'s blocks; nothing was written: is it this pool's data device?",
			data_path, meta_io_size(data), dev);
		break;
	case META_E_CORRUPT:
		cli_err("%s: thin device %" PRIu64 "'s mappings are damaged; nothing was written; "
			"run thin_check",
			meta_path, dev);
		break;
	case META_E_RANGE:
		cli_err("%s: thin device %" PRIu64 "'s offsets overflow 64 bits; nothing was "
			"written; run thin_check",
			meta_path, dev);
		break;
	default:
		cli_err("%s: merge failed: %s (%s); run it again to complete the merge", image_path,
			meta_strerror(r),
			strerror(meta_io_errno(image) ? meta_io_errno(image) : meta_io_errno(data)));
		break;
	}
	if (r) {
		r = cli_exit_for(r);
		goto out;
	}
	if (!cli_quiet)
		printf("merged %" PRIu64 " of %" PRIu64 " mapped blocks of thin device %" PRIu64
		       " into %s\n",
		       st.nr_copied, st.nr_mapped, dev, image_path);
	if (del) {
		struct meta_thin_pool *p = NULL;
		meta_thin_close(*tp);
		*tp = NULL;
		r = open_pool(meta_path, &p);
		if (r)
			goto out;
		r = meta_thin_pool_delete(p, dev);
		if (!r)
			r = meta_thin_pool_commit(p);
		meta_thin_pool_close(p);
		if (r) {
			r = pool_error(meta_path, r, dev);
			goto out;
		}
		if (!cli_quiet)
			printf("thin device %" PRIu64 " deleted\n", dev);
	}
	r = cli_flush_stdout();
out:
	meta_io_close(image);
	meta_io_close(data);
	return r;
}

/* A device id option: decimal, at most 24 bits, else a usage error. */
static uint64_t dev_arg(const char *opt, const char *arg)
{
	uint64_t v = cli_u64_arg(opt, arg);
	if (v > META_THIN_MAX_DEV_ID)
		cli_usage_error("%s %s: device ids are 24-bit: 0 to %llu", opt, arg,
				(unsigned long long)META_THIN_MAX_DEV_ID);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_ARG("metadata-dev", OPT_METADATA_DEV),
		CLI_ARG("data-dev", OPT_DATA_DEV),
		CLI_ARG("dev-id", OPT_DEV_ID),
		CLI_ARG("origin-id", OPT_ORIGIN_ID),
		CLI_FLAG("keep-snapshot", OPT_KEEP),
		CLI_ARG("external-origin", OPT_EXTERNAL),
		CLI_ARG("size", OPT_SIZE),
		CLI_FLAG("delete", OPT_DELETE),
		CLI_FLAG("force", OPT_FORCE),
		CLI_COMMON_LONGOPTS,
	};
	const char *meta_path = NULL, *data_path = NULL, *image_path = NULL;
	uint64_t dev = 0, origin = 0, size = 0;
	bool have_dev = false, have_origin = false, keep = false, del = false, force = false;
	struct meta_thin *t = NULL;
	int c, r;

	cli_init(argv[0]);
	argv[0] = (char *)cli_prog;
	while ((c = getopt_long(argc, argv, ":qhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_METADATA_DEV:
			meta_path = optarg;
			break;
		case OPT_DATA_DEV:
			data_path = optarg;
			break;
		case OPT_DEV_ID:
			dev = dev_arg("--dev-id", optarg);
			have_dev = true;
			break;
		case OPT_ORIGIN_ID:
			origin = dev_arg("--origin-id", optarg);
			have_origin = true;
			break;
		case OPT_KEEP:
			keep = true;
			break;
		case OPT_EXTERNAL:
			image_path = optarg;
			break;
		case OPT_SIZE:
			size = cli_u64_arg("--size", optarg);
			if (!size)
				cli_usage_error("--size 0: a volume is at least one sector long");
			if (cli_mul_overflows(size, 512, &size))
				cli_usage_error("--size %s: too large (sectors of 512 bytes overflow 64 "
						"bits)",
						optarg);
			break;
		case OPT_DELETE:
			del = true;
			break;
		case OPT_FORCE:
			force = true;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!meta_path)
		cli_usage_error("no metadata device given (--metadata-dev FILE)");
	if (!have_dev)
		cli_usage_error("no thin device given (--dev-id N)");
	if (have_origin && image_path)
		cli_usage_error("--origin-id (a rollback) and --external-origin (a merge into an "
				"image) are two operations: give one");
	if (!have_origin && !image_path)
		cli_usage_error("nothing to do: give --origin-id ORIGIN (roll ORIGIN back to the "
				"snapshot) or --external-origin IMAGE (merge into the image)");
	if (have_origin) {
		if (data_path || size || del || force)
			cli_usage_error("%s only goes with --external-origin (a merge into an image)",
					data_path ? "--data-dev"
					: size	  ? "--size"
					: del	  ? "--delete"
						  : "--force");
		if (origin == dev)
			cli_usage_error("--dev-id and --origin-id are both %" PRIu64
					": a device cannot be rolled back to itself",
					dev);
	} else {
		if (keep)
			cli_usage_error("--keep-snapshot only goes with --origin-id (a rollback)");
		if (!data_path)
			cli_usage_error("no data device given (--data-dev FILE)");
		if (meta_io_same_storage(meta_path, data_path)) {
			cli_err("%s: the data device is the metadata device %s (same file or device)",
				data_path, meta_path);
			return EXIT_USAGE;
		}
		cli_refuse_same_storage(meta_path, image_path);
		cli_refuse_same_storage(data_path, image_path);
		cli_refuse_foreign_family(image_path, META_FAMILY_NONE, force);
	}

	r = open_metadata(meta_path, &t);
	if (r)
		return r;
	r = check_metadata(meta_path, t);
	if (r)
		goto out;
	if (have_origin) {
		meta_thin_close(t);
		t = NULL;
		r = rollback(meta_path, dev, origin, keep);
	} else {
		r = merge(meta_path, &t, data_path, image_path, dev, size, del);
	}
out:
	meta_thin_close(t);
	return r;
}
