/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_restore: write a dm-snapshot COW store from snap_dump XML: a classic exception
 * store (root element <snapshot_store>) or a shared multisnapshot store
 * (<multisnap_store type="mikulas|daniel">).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap_xml.h>

#include "common.h"
#include "util_snap.h"

#define HEAD_BYTES 65536u

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_restore [options] -i XML -o COW\n"
		"Write a classic dm-snapshot persistent exception store holding exactly the\n"
		"exceptions of XML (as written by snap_dump), byte for byte as the kernel writes it.\n"
		"Data chunks on COW are not touched.  XML whose root element is <multisnap_store>\n"
		"makes a shared multisnapshot store (mikulas or daniel, from its type attribute).\n"
		"\n"
		"Options:\n"
		"  -i, --input FILE    XML input ('-' for standard input)\n"
		"  -o, --output COW    COW device or image file (must exist and be large enough)\n"
		"      --force         overwrite a COW that already holds a valid store\n"
		"  -q, --quiet         no messages\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 2 usage error, 3 operational error (bad XML, no space, ...).\n");
}


static void restore_damage(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	cli_damage_print(CLI_DAMAGE_RECORD, "", d);
}

/* The shared store from head (len bytes read from in) and the rest of in, streamed. */
static int restore_shared(const struct cli_io_args *args, const char *head, size_t len, FILE *in)
{
	char err[256];
	int r = meta_ms_restore_xml_head(head, len, in, args->output, args->force, err, sizeof(err));
	switch (r) {
	case META_OK:
		return EXIT_OK;
	case META_E_EXISTS:
		snap_cli_report_exists(args->output, "a store");
		return EXIT_OPERR;
	case META_E_XML:
	case META_E_UNSUPPORTED:
		cli_err("%s: %s", args->input, err[0] ? err : meta_strerror(r));
		return EXIT_OPERR;
	case META_E_TOOSMALL:
		cli_err("%s is too small for this store (its metadata does not fit)", args->output);
		return EXIT_OPERR;
	case META_E_NOSPC:
		if (err[0])
			cli_err("%s: %s; nothing valid was left there", args->input, err);
		else
			cli_err("%s: the store's exceptions do not fit on it (ENOSPC); nothing valid "
				"was left there", args->output);
		return EXIT_OPERR;
	case META_E_INVAL:
	case META_E_RANGE:
		cli_err("%s: %s; nothing valid was written", args->input,
			err[0] ? err : meta_strerror(r));
		return EXIT_OPERR;
	default:
		if (r == META_E_NOENT || r == META_E_ISDIR || r == META_E_PERM || r == META_E_BUSY)
			cli_report_output_error(args->output, r);
		else
			cli_err("%s: %s; no valid store is left there", args->output,
				err[0] ? err : meta_strerror(r));
		return EXIT_OPERR;
	}
}

int main(int argc, char **argv)
{
	struct cli_io_args args;
	struct meta_snap_header h;
	struct meta_snap_exception *ex;
	uint64_t n;
	char err[256], *buf, *tmp;
	size_t len;
	FILE *in;
	int r;

	cli_init(argv[0]);
	cli_parse_io_args(argc, argv, usage, false, "no input file given (-i XML)",
			  "no output device given (-o COW)", &args);
	cli_refuse_input_is_output(args.input, args.output);
	in = strcmp(args.input, "-") ? fopen(args.input, "r") : stdin;
	if (!in) {
		cli_err("%s: cannot open: %s", args.input, strerror(errno));
		return EXIT_OPERR;
	}
	/*
	 * The root element picks the store family: its first 64 KiB tell (stdin may be a
	 * pipe).  A shared store streams on from there; a classic one is read whole.
	 */
	if (snap_cli_read_head(in, HEAD_BYTES, &buf, &len)) {
		cli_err("%s: cannot read: %s", args.input, strerror(errno));
		if (in != stdin)
			fclose(in);
		return EXIT_OPERR;
	}
	if (len == HEAD_BYTES && !ms_cli_xml_is_multisnap(buf, len)) {
		/* not known to be shared yet: all of it (a long prolog, or classic) */
		char *rest;
		size_t rlen;
		if (snap_cli_slurp(in, &rest, &rlen) || !(tmp = realloc(buf, len + rlen + 1))) {
			cli_err("%s: cannot read: %s", args.input, strerror(errno));
			free(buf);
			if (in != stdin)
				fclose(in);
			return EXIT_OPERR;
		}
		buf = tmp;
		memcpy(buf + len, rest, rlen);
		len += rlen;
		free(rest);
	}
	if (ms_cli_xml_is_multisnap(buf, len)) {
		r = restore_shared(&args, buf, len, in);
		free(buf);
		if (in != stdin)
			fclose(in);
		return r;
	}
	if (in != stdin)
		fclose(in);
	in = len ? fmemopen(buf, len, "r") : fopen("/dev/null", "r");
	if (!in) {
		cli_err("%s: %s", args.input, strerror(errno));
		free(buf);
		return EXIT_OPERR;
	}
	r = meta_snap_xml_read(in, &h, &ex, &n, err, sizeof(err));
	fclose(in);
	free(buf);
	if (r == META_E_INVAL) {
		cli_err("%s: the header must have magic 0x70416e53, version 1 and a chunk_size that is "
			"a power of two from 1 to 2097152 sectors", args.input);
		free(ex);
		return EXIT_OPERR;
	}
	if (r) {
		cli_err("%s: %s", args.input, r == META_E_XML ? err : meta_strerror(r));
		free(ex);
		return EXIT_OPERR;
	}
	r = meta_snap_restore(args.output, &h, ex, n, args.force, restore_damage, NULL);
	free(ex);
	switch (r) {
	case META_OK:
		return EXIT_OK;
	case META_E_EXISTS: {
		enum meta_family f = cli_sniff_family(args.output);
		if (f == META_FAMILY_SNAP || f == META_FAMILY_NONE)
			cli_err("%s already holds a valid snapshot store; use --force to overwrite it",
				args.output);
		else if (meta_family_checker(f))
			cli_err("%s: holds %s (%s reads it); refusing to overwrite it without --force",
				args.output, meta_family_name(f), meta_family_checker(f));
		else
			cli_err("%s: holds %s; refusing to overwrite it without --force", args.output,
				meta_family_name(f));
		return EXIT_OPERR;
	}
	case META_E_TOOSMALL:
		cli_err("%s is too small for these exceptions (the metadata areas do not fit)",
			args.output);
		return EXIT_OPERR;
	case META_E_NOSPC:
		snap_cli_report_io(args.output, ENOSPC,
				   "the store is left marked invalid: free space there, then run "
				   "snap_restore again");
		return EXIT_OPERR;
	case META_E_INVAL:
		cli_err("%s: refusing to write exceptions the kernel would misread; nothing was written",
			args.input);
		return EXIT_OPERR;
	default:
		if (r == META_E_NOENT || r == META_E_ISDIR || r == META_E_PERM || r == META_E_BUSY)
			cli_report_output_error(args.output, r);
		else
			cli_err("%s: %s; the store is left marked invalid", args.output, meta_strerror(r));
		return EXIT_OPERR;
	}
}
