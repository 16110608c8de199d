/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_dump: dump a dm-snapshot COW device as XML or text: a classic exception store,
 * or a shared multisnapshot store (mikulas, daniel), told apart by their magic.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap_xml.h>

#include "common.h"
#include "util_snap.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_dump [options] COW\n"
		"Dump the exceptions of a classic dm-snapshot persistent store in on-disk order,\n"
		"or a shared multisnapshot store (mikulas, daniel): its snapshots and exceptions\n"
		"(XML schemas: multisnap-mikulas.rng, multisnap-daniel.rng).\n"
		"\n"
		"Options:\n"
		"  -f, --format xml|human   output format (default xml)\n"
		"  -o, --output FILE        write to FILE instead of standard output\n"
		"      --force              overwrite a FILE that holds metadata (thin pool,\n"
		"                           snapshot store, pack)\n"
		"  -q, --quiet              no messages on standard error\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 damage found, 2 usage error, 3 operational error.\n");
}

/*
 * The dump goes through a stream whose writes the tool makes itself, so the cause of a
 * failed write (ENOSPC: the output's filesystem is full, not the COW) is the errno of
 * the tool's own write(2), kept here, and not whatever errno the library left.
 */
struct sink {
	int fd;
	int err; /* errno of the first failed write; 0 if none */
};

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
	struct sink *k = cookie;
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(k->fd, buf + done, size - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!k->err)
				k->err = w < 0 ? errno : EIO;
			return done ? (ssize_t)done : -1;
		}
		done += (size_t)w;
	}
	return (ssize_t)done;
}

/* A shared store (ms, taken over) to output or standard output; the exit status. */
static int dump_shared(const char *path, struct meta_ms *ms, const char *output, bool human)
{
	struct sink sink = {-1, 0};
	FILE *out = stdout, *dump;
	int r, ex = EXIT_OK;

	if (output && !(out = fopen(output, "w"))) {
		cli_err("%s: cannot open for writing: %s", output, strerror(errno));
		meta_ms_close(ms);
		return EXIT_OPERR;
	}
	sink.fd = fileno(out);
	dump = fopencookie(&sink, "w", (cookie_io_functions_t){.write = sink_write});
	r = !dump ? META_E_NOMEM : human ? meta_ms_dump_human(ms, dump) : meta_ms_dump_xml(ms, dump);
	if (dump && fclose(dump) && !r)
		r = META_E_IO;
	if (r == META_E_CORRUPT || r == META_E_CHECKSUM || r == META_E_BLOCKNR) {
		cli_err("%s: the %s store is damaged (%s); the dump stops there. Run snap_check %s "
			"for details", path, meta_ms_type_name(meta_ms_get_type(ms)), meta_strerror(r),
			path);
		ex = EXIT_DAMAGE;
	} else if (r) {
		cli_err("%s: writing the dump failed: %s", output ? output : "standard output",
			r == META_E_IO && sink.err ? strerror(sink.err) : meta_strerror(r));
		ex = EXIT_OPERR;
	}
	if (out != stdout && fclose(out) && !ex) {
		cli_err("%s: write failed: %s", output, strerror(errno));
		ex = EXIT_OPERR;
	}
	meta_ms_close(ms);
	return ex;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"force", no_argument, NULL, 1},
		CLI_COMMON_LONGOPTS,
	};
	const struct meta_snap_emitter_ops *ops = meta_snap_xml_writer();
	const char *output = NULL;
	bool force = false, human = false;
	struct meta_snap *s;
	FILE *out = stdout, *dump;
	struct sink sink = {-1, 0};
	int c, r, ex;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "f:o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "xml")) {
				ops = meta_snap_xml_writer();
				human = false;
			} else if (!strcmp(optarg, "human") || !strcmp(optarg, "human_readable")) {
				ops = meta_snap_human_writer();
				human = true;
			}
			else
				cli_usage_error("unknown format '%s' (use xml or human)", optarg);
			break;
		case 'o':
			output = optarg;
			break;
		case 1:
			force = true;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	if (optind != argc - 1)
		cli_usage_error(optind == argc ? "no COW device given" : "too many arguments");
	if (output) {
		cli_refuse_same_storage(argv[optind], output);
		snap_cli_refuse_metadata_output(output, force);
	} else
		snap_cli_refuse_stdout_is("COW", argv[optind]);
	{
		struct meta_ms *ms;
		r = meta_ms_open(argv[optind], META_MS_OPEN_EXCL, &ms);
		if (r == META_OK && meta_ms_is_new(ms))
			meta_ms_close(ms); /* blank: the classic path says so, as it always has */
		else if (r == META_OK)
			return dump_shared(argv[optind], ms, output, human);
		else if (r == META_E_UNSUPPORTED || r == META_E_CORRUPT || r == META_E_VERSION)
			return ms_cli_open(argv[optind], META_MS_OPEN_EXCL, &ms);
	}
	ex = snap_cli_open(argv[optind], META_SNAP_OPEN_EXCL, &s);
	if (ex)
		return ex;
	if (output && !(out = fopen(output, "w"))) {
		cli_err("%s: cannot open for writing: %s", output, strerror(errno));
		meta_snap_close(s);
		return EXIT_OPERR;
	}
	sink.fd = fileno(out);
	dump = fopencookie(&sink, "w", (cookie_io_functions_t){.write = sink_write});
	r = dump ? meta_snap_emit(s, ops, dump) : META_E_NOMEM;
	if (dump && fclose(dump) && !r)
		r = META_E_IO;
	if (r) {
		cli_err("%s: writing the dump failed: %s", output ? output : "standard output",
			r == META_E_IO && sink.err ? strerror(sink.err) : meta_strerror(r));
		ex = EXIT_OPERR;
	} else if (meta_snap_truncated(s)) {
		cli_err("%s: the exception list runs past the end of the COW device; the dump stops "
			"there and the kernel would refuse this store", argv[optind]);
		ex = EXIT_DAMAGE;
	} else if (meta_snap_is_new(s)) {
		cli_err("%s: new store (zeroed header): nothing to dump", argv[optind]);
	}
	if (out != stdout && fclose(out) && !ex) {
		cli_err("%s: write failed: %s", output, strerror(errno));
		ex = EXIT_OPERR;
	}
	meta_snap_close(s);
	return ex;
}
