/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_shrink: move the data blocks an inactive pool maps at or above a new
 * data size below it, and write the pool's metadata for the new size (XML, or
 * binary with --binary).  Options as thin-provisioning-tools 1.x thin_shrink.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_dump.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_shrink.h>
#include <libmeta/thin_xml.h>
#include <libmeta/thin_xml_read.h>

#include "common.h"
#include "util_thin.h"

enum { OPT_DATA = 0x100, OPT_NR_BLOCKS, OPT_NO_COPY, OPT_BINARY, OPT_FORCE };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [options] -i INPUT -o OUTPUT --data FILE --nr-blocks NUM\n"
		"Shrink an inactive pool's data device to NUM data blocks: every mapped data\n"
		"block at or above NUM is copied to a block below NUM that nothing maps, and\n"
		"the metadata is written with the new block numbers and nr_data_blocks NUM.\n"
		"The copies only write blocks the input pool does not use, so the input pool\n"
		"stays valid until its metadata is replaced by OUTPUT.\n"
		"\n"
		"Options:\n"
		"  -i, --input FILE       the pool's metadata: thin_dump XML (a file: it is read\n"
		"                         twice), or binary metadata with --binary\n"
		"  -o, --output FILE      the new metadata: XML ('-' for standard output), or\n"
		"                         binary metadata with --binary (an existing file or\n"
		"                         device, at least 40960 bytes)\n"
		"      --data FILE        the pool's data device or image (the blocks are moved\n"
		"                         there)\n"
		"      --nr-blocks NUM    the new number of data blocks (1 to 2^40)\n"
		"      --no-copy          move no data, only rewrite the metadata\n"
		"      --binary           binary metadata in and out instead of XML\n"
		"      --force            overwrite an output holding other metadata (another\n"
		"                         family; with XML output, any binary metadata)\n"
		"  -q, --quiet            print nothing; the exit status tells\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\n"
		"Output: one line on standard output (unless -q, or -o -), \"moved M of U used\n"
		"data blocks in R copies; nr_data_blocks N -> NUM\".\n"
		"Exit status: 0 ok, 1 metadata damaged, 2 usage error, 3 cannot open, in use,\n"
		"bad XML, not enough free blocks below NUM, I/O error.\n",
		cli_prog);
}

struct args {
	const char *input, *output, *data;
	uint64_t nr;
	bool no_copy, binary, force;
};

static void parse(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		CLI_ARG("input", 'i'),
		CLI_ARG("output", 'o'),
		CLI_ARG("data", OPT_DATA),
		CLI_ARG("nr-blocks", OPT_NR_BLOCKS),
		CLI_FLAG("no-copy", OPT_NO_COPY),
		CLI_FLAG("binary", OPT_BINARY),
		CLI_FLAG("force", OPT_FORCE),
		CLI_COMMON_LONGOPTS,
	};
	const char *nr = NULL;
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, ":i:o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			a->input = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case OPT_DATA:
			a->data = optarg;
			break;
		case OPT_NR_BLOCKS:
			nr = optarg;
			break;
		case OPT_NO_COPY:
			a->no_copy = true;
			break;
		case OPT_BINARY:
			a->binary = true;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->input)
		cli_usage_error("no input given (-i FILE)");
	if (!a->output)
		cli_usage_error("no output given (-o FILE)");
	if (!a->data)
		cli_usage_error("no data device given (--data FILE)");
	if (!nr)
		cli_usage_error("no new size given (--nr-blocks NUM)");
	if (cli_parse_u64(nr, &a->nr))
		cli_usage_error("invalid number '%s' for --nr-blocks", nr);
	if (!a->nr)
		cli_usage_error("--nr-blocks 0: a pool needs at least one data block");
	if (a->nr > (1ull << 40))
		cli_usage_error("--nr-blocks %s is larger than 2^40 (1099511627776), the most data "
				"blocks a thin pool can address",
				nr);
	if (!strcmp(a->input, "-"))
		cli_usage_error("the input is read twice: give it as a file, not '-'");
	if (a->binary && !strcmp(a->output, "-"))
		cli_usage_error("binary output (--binary) cannot go to standard output: give a "
				"metadata file or device with -o");
}

static void same(const char *a, const char *b, const char *what)
{
	if (meta_io_same_storage(a, b) == 1) {
		cli_err("%s: %s %s (same file or device); refusing to run", b, what, a);
		exit(EXIT_USAGE);
	}
}

static bool rereadable(FILE *f)
{
	struct stat st;
	return !fstat(fileno(f), &st) && S_ISREG(st.st_mode);
}

/* One pass over the input (XML file or binary metadata) through e.  0 or the exit status. */
struct input {
	const struct args *a;
	FILE *xml;
	struct meta_thin *t;
	const char *(*msg)(void *ctx); /* message of the emitter's failures */
	void *msg_ctx;
};

static int run_pass(struct input *in, const struct meta_thin_emitter *e, const char *what)
{
	const char *path = in->a->input;
	char err[512];
	int r;

	err[0] = 0;
	if (in->xml) {
		if (fseeko(in->xml, 0, SEEK_SET)) {
			cli_err("%s: cannot read the input again (%s)", path, strerror(errno));
			return EXIT_OPERR;
		}
		r = meta_thin_xml_parse(in->xml, e, in->msg, err, sizeof(err));
	} else {
		struct meta_thin_dump_opts o;
		memset(&o, 0, sizeof(o));
		o.flags = META_THIN_DUMP_SHARED;
		r = meta_thin_dump(in->t, &o, e, NULL);
	}
	if (!r)
		return 0;
	if (r == META_E_CORRUPT) {
		cli_err("%s: the metadata is damaged (%s); refusing to shrink: run thin_check, "
			"then thin_repair",
			path, what);
		return EXIT_DAMAGE;
	}
	if (err[0])
		cli_err("%s: %s", path, err);
	else if (in->msg && in->msg(in->msg_ctx))
		cli_err("%s: %s", in->a->output, in->msg(in->msg_ctx));
	else
		cli_err("%s: %s: %s", path, what, meta_strerror(r));
	return cli_exit_for(r) == EXIT_DAMAGE ? EXIT_DAMAGE : EXIT_OPERR;
}

static int open_input(const struct args *a, struct input *in)
{
	memset(in, 0, sizeof(*in));
	in->a = a;
	if (a->binary) {
		struct meta_thin_open_opts oo;
		int r;
		memset(&oo, 0, sizeof(oo));
		oo.flags = META_THIN_OPEN_EXCL;
		r = meta_thin_open(a->input, &oo, &in->t);
		if (!r)
			return 0;
		if (r == META_E_LOOKSXML)
			cli_err("%s: this is XML: without --binary thin_shrink reads XML", a->input);
		else if (r == META_E_BUSY)
			cli_err("cannot open %s exclusively: device is in use. thin_shrink cannot be "
				"run on live metadata: deactivate the pool first",
				a->input);
		else if (!cli_report_foreign_family(a->input, META_FAMILY_THIN))
			cli_report_open_error(a->input, r, 0);
		return cli_exit_for(r);
	}
	in->xml = fopen(a->input, "r");
	if (!in->xml) {
		cli_err("%s: Couldn't find input file (%s)", a->input, strerror(errno));
		return EXIT_OPERR;
	}
	if (!rereadable(in->xml)) {
		cli_err("%s: not a regular file: the input is read twice", a->input);
		return EXIT_OPERR;
	}
	if (cli_sniff_family(a->input) != META_FAMILY_XML) {
		cli_err("%s: this is not XML; for binary metadata use --binary", a->input);
		return EXIT_OPERR;
	}
	return 0;
}

static void close_input(struct input *in)
{
	if (in->xml)
		fclose(in->xml);
	meta_thin_close(in->t);
}

static int report_nospc(const struct args *a, const struct meta_thin_shrink_stats *st)
{
	cli_err("Insufficient free space: %" PRIu64 " used data block%s at or above %" PRIu64
		" but only %" PRIu64 " free below it (%" PRIu64 " of the pool's %" PRIu64
		" blocks are used; the smallest size is %" PRIu64 "); nothing was changed",
		st->nr_above, st->nr_above == 1 ? " is" : "s are", a->nr, st->nr_free_below,
		st->nr_used, st->old_nr_blocks, st->nr_used);
	return EXIT_OPERR;
}

static int copy_data(const struct args *a, struct meta_thin_shrink *s, struct meta_io *data,
		     const struct meta_thin_shrink_stats *st)
{
	uint64_t bytes;
	int r = meta_thin_shrink_copy(s, data, &bytes);
	switch (r) {
	case META_OK:
		return 0;
	case META_E_DATA_SIZE:
		cli_err("%s: the data device is %" PRIu64 " bytes, but the pool maps data block %" PRIu64
			" (blocks of %" PRIu64 " bytes); is it this pool's data device? nothing was "
			"copied",
			a->data, meta_io_size(data), st->max_used_end - 1,
			(uint64_t)st->data_block_size * 512u);
		break;
	case META_E_RANGE:
		cli_err("%s: the pool's data size overflows 64 bits; run thin_check", a->input);
		break;
	default:
		cli_err("%s: copying data blocks failed: %s (%s); the input pool is intact (only "
			"blocks it does not use were written); %s was not written",
			a->data, meta_strerror(r), strerror(meta_io_errno(data)), a->output);
		break;
	}
	return EXIT_OPERR;
}

static int shrink_xml(const struct args *a, struct input *in, struct meta_thin_shrink *s,
		      struct meta_io *data, const struct meta_thin_shrink_stats *st)
{
	struct meta_thin_writer *w = NULL;
	struct meta_thin_emitter we, re;
	bool to_stdout = !strcmp(a->output, "-");
	FILE *f;
	int r;

	if (data) {
		r = copy_data(a, s, data, st);
		if (r)
			return r;
	}
	f = to_stdout ? stdout : fopen(a->output, "w");
	if (!f) {
		cli_err("%s: cannot create the output (%s)", a->output, strerror(errno));
		return EXIT_OPERR;
	}
	if (meta_thin_writer_create(f, META_THIN_FORMAT_XML, &w)) {
		cli_err("out of memory");
		if (!to_stdout)
			fclose(f);
		return EXIT_OPERR;
	}
	we = meta_thin_writer_emitter(w);
	re = meta_thin_shrink_remapper(s, &we);
	r = run_pass(in, &re, "second pass");
	if (!r && meta_thin_writer_flush(w)) {
		cli_err("%s: write error (%s)", a->output, strerror(meta_thin_writer_errno(w)));
		r = EXIT_OPERR;
	}
	meta_thin_writer_destroy(w);
	if (!to_stdout && fclose(f) && !r) {
		cli_err("%s: write error (%s)", a->output, strerror(errno));
		r = EXIT_OPERR;
	}
	return r;
}

static int shrink_binary(const struct args *a, struct input *in, struct meta_thin_shrink *s,
			 struct meta_io *data, const struct meta_thin_shrink_stats *st)
{
	struct meta_thin_restore_opts ro;
	struct meta_thin_restorer *rs;
	struct meta_thin_emitter we, re;
	int r, e;

	memset(&ro, 0, sizeof(ro));
	ro.force = true; /* thin-pool metadata in the output is replaced, as by thin_restore */
	e = meta_thin_restorer_create(a->output, &ro, &rs);
	if (e) {
		if (e == META_E_TOOSMALL)
			cli_err("%s: Output file too small (at least %u bytes are needed)", a->output,
				META_THIN_RESTORE_MIN_BYTES);
		else
			cli_report_output_error(a->output, e);
		return EXIT_OPERR;
	}
	we = meta_thin_restorer_emitter(rs);
	re = meta_thin_shrink_remapper(s, &we);
	in->msg = meta_thin_restorer_message;
	in->msg_ctx = rs;
	/* the check pass: the output's size and the whole input, before any data moves */
	e = meta_thin_restorer_check_begin(rs);
	if (e) {
		cli_err("%s: %s", a->output, meta_strerror(e));
		r = EXIT_OPERR;
		goto out;
	}
	r = run_pass(in, &re, "check pass");
	if (!r && (e = meta_thin_restorer_check_end(rs))) {
		const char *m = meta_thin_restorer_message(rs);
		cli_err("%s: %s", a->output, m ? m : meta_strerror(e));
		r = EXIT_OPERR;
	}
	if (!r && data)
		r = copy_data(a, s, data, st);
	if (r) {
		cli_err("%s was not changed", a->output);
		goto out;
	}
	r = run_pass(in, &re, "writing the output");
	if (!r && (e = meta_thin_restorer_commit(rs))) {
		const char *m = meta_thin_restorer_message(rs);
		cli_err("%s: %s", a->output, m ? m : meta_strerror(e));
		r = EXIT_OPERR;
	}
	if (r)
		cli_err("nothing usable was written: %s has no valid superblock; the input pool "
			"is intact",
			a->output);
out:
	meta_thin_restorer_destroy(rs);
	return r;
}

int main(int argc, char **argv)
{
	struct meta_thin_shrink *s = NULL;
	struct meta_thin_shrink_stats st;
	struct meta_thin_emitter ce;
	struct meta_io *data = NULL;
	struct input in;
	struct args a;
	int r;

	cli_init(argv[0]);
	argv[0] = (char *)cli_prog;
	parse(argc, argv, &a);
	/* identities first, before anything is opened for writing */
	if (strcmp(a.output, "-"))
		cli_refuse_same_storage(a.input, a.output);
	same(a.input, a.data, "the data device is the input");
	if (strcmp(a.output, "-")) {
		same(a.output, a.data, "the data device is the output");
		cli_refuse_foreign_family(a.output, a.binary ? META_FAMILY_THIN : META_FAMILY_XML,
					  a.force);
	}

	memset(&in, 0, sizeof(in));
	r = open_input(&a, &in);
	if (r)
		goto out;
	if (!a.no_copy) {
		r = cli_thin_open_data_dev(a.data, "blocks are copied on it", &data);
		if (r)
			goto out;
	}
	if (meta_thin_shrink_create(a.nr, &s)) {
		cli_err("out of memory");
		r = EXIT_OPERR;
		goto out;
	}
	ce = meta_thin_shrink_collector(s);
	r = run_pass(&in, &ce, "reading the mappings");
	if (r)
		goto out;
	r = meta_thin_shrink_plan(s, &st);
	if (r == META_E_DATA_NOSPC) {
		r = report_nospc(&a, &st);
		goto out;
	}
	if (r) {
		cli_err("%s: %s", a.input, meta_strerror(r));
		r = cli_exit_for(r);
		goto out;
	}
	if (data) {
		/* a NUM the data device cannot hold (given in sectors?) would leave a pool the
		 * kernel refuses: say so before anything is written */
		uint64_t bytes, bs = (uint64_t)st.data_block_size * 512u;
		if (cli_mul_overflows(a.nr, bs, &bytes) || bytes > meta_io_size(data)) {
			cli_err("%s: --nr-blocks %" PRIu64 " is more than the data device holds (%" PRIu64
				" blocks of %" PRIu64 " bytes); NUM counts data blocks, not sectors; "
				"nothing was changed",
				a.data, a.nr, bs ? meta_io_size(data) / bs : 0, bs);
			r = EXIT_OPERR;
			goto out;
		}
	}
	r = a.binary ? shrink_binary(&a, &in, s, data, &st) : shrink_xml(&a, &in, s, data, &st);
	if (r)
		goto out;
	if (!cli_quiet && strcmp(a.output, "-"))
		printf("moved %" PRIu64 " of %" PRIu64 " used data blocks in %" PRIu64
		       " cop%s; nr_data_blocks %" PRIu64 " -> %" PRIu64 "%s\n",
		       st.nr_above, st.nr_used, st.nr_remaps, st.nr_remaps == 1 ? "y" : "ies",
		       st.old_nr_blocks, st.new_nr_blocks, a.no_copy ? " (metadata only: --no-copy)" : "");
	r = cli_flush_stdout();
out:
	meta_thin_shrink_destroy(s);
	meta_io_close(data);
	close_input(&in);
	return r;
}
