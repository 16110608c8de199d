/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_restore: write thin-pool metadata from thin_dump's XML. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_xml_read.h>

#include "common.h"
#include "util_thin.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_restore [options] -i XML -o METADATA\n"
		"Write fresh thin-pool metadata holding exactly what XML (as written by thin_dump,\n"
		"flat or with <def>/<ref>) describes.  The superblock is written last: if anything\n"
		"fails, METADATA is left without a valid superblock, never half-written.\n"
		"\n"
		"Options:\n"
		"  -i, --input FILE              XML input ('-' for standard input)\n"
		"  -o, --output FILE             metadata device or file (must exist, >= 40960 bytes)\n"
		"      --transaction-id N        override the superblock's transaction id\n"
		"      --data-block-size SECTORS override the data block size (512-byte sectors)\n"
		"      --nr-data-blocks N        override the number of data blocks\n"
		"      --force                   also overwrite an output holding another kind of\n"
		"                                metadata (snapshot COW store, pack) or XML; thin-pool\n"
		"                                metadata is overwritten without it (as tpt does), so\n"
		"                                for such an output --force changes nothing\n"
		"  -q, --quiet                   no messages\n"
		"  -h, --help                    show this help and exit\n"
		"  -V, --version                 print the version and exit\n"
		"\n"
		"Existing thin-pool metadata in METADATA (valid, damaged or old) is replaced; it\n"
		"is kept when the XML turns out to be bad (the whole XML is checked before the\n"
		"first write).\n"
		"\n"
		"Exit status: 0 ok, 2 usage error, 3 operational error (bad XML, output too small\n"
		"or holding another kind of metadata, I/O error).\n");
}

static void on_note(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	cli_damage_print(CLI_DAMAGE_NOTE, "note: ", d);
}

static int looks_like_xml(FILE *f)
{
	int c;
	while ((c = getc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		;
	if (c != EOF)
		ungetc(c, f);
	return c == '<';
}

static bool rereadable(FILE *f)
{
	struct stat st;
	return !fstat(fileno(f), &st) && S_ISREG(st.st_mode) && ftello(f) >= 0;
}

/*
 * Input that cannot be read twice (a pipe): copied to an unlinked file in
 * $TMPDIR (default /tmp), which the check pass and the restore then read.
 */
static FILE *spool(FILE *in, const char *input)
{
	const char *dir = getenv("TMPDIR");
	char path[4096], buf[1 << 16];
	size_t n;
	FILE *f;
	int fd;
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/thin_restore.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		cli_err("%s: cannot keep a copy of the input in %s for the check before writing "
			"(%s); give the XML as a file with -i, or set TMPDIR", input, dir,
			strerror(errno));
		return NULL;
	}
	unlink(path);
	f = fdopen(fd, "w+");
	if (!f) {
		close(fd);
		cli_err("%s: out of memory", input);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, f) != n)
			break;
	if (ferror(in)) {
		cli_err("%s: read error (%s)", input, strerror(errno));
		fclose(f);
		return NULL;
	}
	if (fflush(f) || ferror(f) || fseeko(f, 0, SEEK_SET)) {
		cli_err("%s: cannot keep a copy of the input in %s for the check before writing "
			"(%s); give the XML as a file with -i, or set TMPDIR", input, dir,
			strerror(errno));
		fclose(f);
		return NULL;
	}
	return f;
}

int main(int argc, char **argv)
{
	struct meta_thin_restore_opts ro;
	struct meta_thin_restorer *r;
	struct meta_thin_emitter em;
	struct cli_thin_writer_args args;
	const char *input, *output;
	char err[512];
	bool check;
	off_t start;
	FILE *in;
	int e;

	memset(&ro, 0, sizeof(ro));
	cli_init(argv[0]);
	cli_thin_writer_options(argc, argv, usage, true, &ro, &args);
	input = args.input;
	output = args.output;
	cli_no_operands(argc, argv);
	if (!input)
		cli_usage_error("No input file provided (-i XML)");
	if (!output)
		cli_usage_error("No output file provided (-o METADATA)");
	/* before anything is opened for writing: never the input, never another family */
	cli_refuse_input_is_output(input, output);
	cli_refuse_foreign_family(output, META_FAMILY_THIN, args.force);
	/* an output holding metadata (of any family) is kept until the whole input checks out */
	check = cli_sniff_family(output) != META_FAMILY_NONE;
	in = strcmp(input, "-") ? fopen(input, "r") : stdin;
	if (!in) {
		cli_err("%s: Couldn't find input file (%s)", input, strerror(errno));
		return EXIT_OPERR;
	}
	/*
	 * Thin-pool metadata already in the output (valid, damaged or old) is replaced, as
	 * tpt does: restoring a backup over it is what thin_restore is for (lvm2 runs it so).
	 * The output's size is checked (by opening it) before the input is read, as in tpt:
	 * a too small output is reported even when the input is bad too.
	 */
	ro.force = true;
	ro.note = on_note;
	e = meta_thin_restorer_create(output, &ro, &r);
	if (e) {
		if (e == META_E_TOOSMALL)
			cli_err("%s: Output file too small (at least %u bytes are needed)", output,
				META_THIN_RESTORE_MIN_BYTES);
		else
			cli_report_output_error(output, e);
		if (in != stdin)
			fclose(in);
		return EXIT_OPERR;
	}
	if (check && !rereadable(in)) {
		FILE *copy = spool(in, input);
		if (in != stdin)
			fclose(in);
		if (!copy) {
			meta_thin_restorer_destroy(r);
			return EXIT_OPERR;
		}
		in = copy;
	}
	start = check ? ftello(in) : 0; /* stdin from a file need not start at offset 0 */
	if (!looks_like_xml(in)) {
		cli_err("%s: this is not XML; thin_restore reads thin_dump's XML (for binary "
			"metadata use thin_repair)", input);
		if (in != stdin)
			fclose(in);
		meta_thin_restorer_destroy(r);
		return EXIT_OPERR;
	}
	em = meta_thin_restorer_emitter(r);
	err[0] = 0;
	e = 0;
	if (check) {
		/* the check pass: the same parse, nothing written */
		e = meta_thin_restorer_check_begin(r);
		if (!e)
			e = meta_thin_xml_parse(in, &em, meta_thin_restorer_message, err, sizeof(err));
		if (!e)
			e = meta_thin_restorer_check_end(r);
		if (!e && fseeko(in, start, SEEK_SET)) {
			cli_err("%s: cannot read the input a second time (%s)", input, strerror(errno));
			e = META_E_IO;
			err[0] = 0;
		}
	}
	if (!e)
		e = meta_thin_xml_parse(in, &em, meta_thin_restorer_message, err, sizeof(err));
	if (in != stdin)
		fclose(in);
	if (!e)
		e = meta_thin_restorer_commit(r);
	if (e) {
		const char *m = meta_thin_restorer_message(r);
		if (e == META_E_NOSPC && m)
			cli_err("%s: %s", output, m); /* about the output, whatever line it was found at */
		else if (err[0])
			cli_err("%s: %s", input, err);
		else if (e != META_E_IO || m)
			cli_err("%s: %s", output, m ? m : meta_strerror(e));
		if (meta_thin_restorer_touched(r))
			cli_err("nothing usable was written: %s has no valid superblock", output);
		else
			cli_err("%s was not changed", output);
		meta_thin_restorer_destroy(r);
		return EXIT_OPERR;
	}
	meta_thin_restorer_destroy(r);
	return EXIT_OK;
}
