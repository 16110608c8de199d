/* SPDX-License-Identifier: GPL-2.0-only */
#include "common.h"

#include <libmeta/family.h>
#include <libmeta/io.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>

const char *cli_prog = "dmmeta";
bool cli_quiet;

void cli_init(const char *prog)
{
	const char *slash = strrchr(prog, '/');
	cli_prog = slash ? slash + 1 : prog;
}

void cli_print_version(void)
{
	printf("%s\n", meta_version());
}

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", cli_prog);
	exit(EXIT_USAGE);
}

void cli_refuse_same_storage(const char *input, const char *output)
{
	if (!input || !output || !meta_io_same_storage(input, output))
		return;
	cli_err("%s: the output is the input %s (same file or device); refusing to overwrite it",
		output, input);
	exit(EXIT_USAGE);
}

void cli_refuse_input_is_output(const char *input, const char *output)
{
	if (strcmp(input, "-")) {
		cli_refuse_same_storage(input, output);
	} else if (meta_io_same_storage("/proc/self/fd/0", output)) {
		cli_err("%s: the output is the standard input (same file or device); refusing to "
			"overwrite it", output);
		exit(EXIT_USAGE);
	}
}

enum meta_family cli_sniff_family(const char *path)
{
	struct meta_io *io;
	enum meta_family f;
	if (!path || meta_io_open(path, 0, &io))
		return META_FAMILY_NONE;
	f = meta_family_sniff(io);
	meta_io_close(io);
	return f;
}

void cli_refuse_foreign_family(const char *output, int own, bool force)
{
	enum meta_family f;
	const char *reader;
	if (force)
		return;
	f = cli_sniff_family(output);
	if (f == META_FAMILY_NONE || (int)f == own)
		return;
	reader = meta_family_checker(f);
	if (f == META_FAMILY_XML)
		cli_err("%s: holds XML (did you swap -i and -o?); refusing to overwrite it without "
			"--force", output);
	else
		cli_err("%s: holds %s (%s reads it); refusing to overwrite it without --force",
			output, meta_family_name(f), reader ? reader : "no dmmeta tool");
	exit(EXIT_OPERR);
}

bool cli_report_foreign_family(const char *path, int own)
{
	enum meta_family f = cli_sniff_family(path);
	const char *reader;
	if (f == META_FAMILY_NONE || f == META_FAMILY_XML || (int)f == own)
		return false;
	reader = meta_family_checker(f);
	cli_err("%s: holds %s, not %s (%s reads it)", path, meta_family_name(f),
		meta_family_name((enum meta_family)own), reader ? reader : "no dmmeta tool");
	return true;
}

bool cli_mul_overflows(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;
	if (cli_quiet)
		return;
	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_help_or_version(int c, void (*usage)(FILE *))
{
	if (c == 'h') {
		usage(stdout);
		exit(EXIT_OK);
	}
	if (c == 'V') {
		cli_print_version();
		exit(EXIT_OK);
	}
}

void cli_common_option(int c, void (*usage)(FILE *))
{
	if (c == 'q') {
		cli_quiet = true;
		return;
	}
	cli_help_or_version(c, usage);
	cli_usage_error("unknown or incomplete option");
}

int cli_exit_for(int e)
{
	switch (e) {
	case META_OK:
		return EXIT_OK;
	case META_E_CHECKSUM:
	case META_E_BLOCKNR:
	case META_E_BADMAGIC:
	case META_E_VERSION:
	case META_E_FEATURE:
	case META_E_CORRUPT:
	case META_E_NOSNAP:
		return EXIT_DAMAGE;
	case META_E_INVAL:
		return EXIT_USAGE;
	default:
		return EXIT_OPERR;
	}
}

void cli_report_open_error(const char *path, int e, int io_errno)
{
	switch (e) {
	case META_E_BUSY:
		cli_err("cannot open %s exclusively: device is in use. Deactivate the pool, "
			"or use --metadata-snap after 'dmsetup message <pool> 0 reserve_metadata_snap'",
			path);
		break;
	case META_E_NOENT:
		cli_err("%s: Couldn't find input file (no such file or directory)", path);
		break;
	case META_E_ISDIR:
		cli_err("%s: Not a block device or regular file", path);
		break;
	case META_E_PERM:
		cli_err("%s: Permission denied", path);
		break;
	case META_E_TOOSMALL:
		cli_err("%s: Metadata device/file too small.  Is this binary metadata?", path);
		break;
	case META_E_LOOKSXML:
		cli_err("%s: This looks like XML.  This tool only supports the binary metadata format.",
			path);
		break;
	case META_E_IO:
		cli_err("%s: %s (%s)", path, meta_strerror(e), strerror(io_errno ? io_errno : EIO));
		break;
	case META_E_CHECKSUM:
		cli_err("%s: bad checksum in superblock: not thin-pool metadata, or a damaged "
			"superblock; run thin_check (thin_repair can rebuild it)", path);
		break;
	case META_E_BADMAGIC:
		cli_err("%s: bad magic in superblock: not thin-pool metadata (the pool's _tdata "
			"device instead of _tmeta?)", path);
		break;
	case META_E_BLOCKNR:
		cli_err("%s: superblock records the wrong block number: damaged; run thin_check", path);
		break;
	case META_E_VERSION:
	case META_E_FEATURE:
		cli_err("%s: %s in superblock: this metadata needs a newer tool", path, meta_strerror(e));
		break;
	case META_E_RANGE:
		cli_err("%s: the block asked for is past the end of the metadata device (check the "
			"block number given to --metadata-snap)", path);
		break;
	case META_E_NOSNAP:
		cli_err("%s: no current metadata snap: no metadata snapshot is held; reserve one with "
			"'dmsetup message <pool> 0 reserve_metadata_snap' or run without "
			"--metadata-snap", path);
		break;
	default:
		cli_err("%s: %s", path, meta_strerror(e));
		break;
	}
}

void cli_report_output_error(const char *path, int e)
{
	switch (e) {
	case META_E_NOENT:
		cli_err("%s: Couldn't find output file (create it, or the logical volume, first)",
			path);
		break;
	case META_E_ISDIR:
		cli_err("%s: Invalid output file: Not a block device or regular file", path);
		break;
	case META_E_PERM:
		cli_err("%s: output: permission denied", path);
		break;
	case META_E_BUSY:
		cli_err("cannot open output %s exclusively: device is in use (deactivate it first)",
			path);
		break;
	case META_E_NOSPC:
		cli_err("%s: no space left on the output", path);
		break;
	default:
		cli_err("%s: output: %s", path, meta_strerror(e));
		break;
	}
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	if (cli_parse_u64(s, &v) || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

uint64_t cli_u64_arg(const char *opt, const char *arg)
{
	uint64_t v;
	if (cli_parse_u64(arg, &v))
		cli_usage_error("invalid number '%s' for %s", arg ? arg : "", opt);
	return v;
}

uint64_t cli_nr_data_blocks_arg(const char *arg)
{
	uint64_t v;
	if (cli_parse_u64(arg, &v))
		cli_usage_error("invalid number '%s' for --nr-data-blocks", arg ? arg : "");
	if (v > (1ull << 40))
		cli_usage_error("--nr-data-blocks %s is larger than 2^40 (1099511627776), the most "
				"data blocks a thin pool can address", arg);
	return v;
}

uint32_t cli_data_block_size_arg(const char *arg)
{
	uint32_t v;
	if (cli_parse_u32(arg, &v) || v < 128 || v > 2097152 || v % 128)
		cli_usage_error("--data-block-size must be a multiple of 128 sectors between 128 "
				"and 2097152");
	return v;
}

bool cli_progress_allowed(void)
{
	return !cli_quiet && isatty(STDERR_FILENO) && !getenv("DMMETA_NO_PROGRESS");
}

void cli_parse_io_args(int argc, char **argv, void (*usage)(FILE *), bool short_force,
		       const char *no_input, const char *no_output, struct cli_io_args *a)
{
	static const struct option opts[] = {
		{"input", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		CLI_COMMON_LONGOPTS,
	};
	const char *shortopts = short_force ? "i:o:fqhV" : "i:o:qhV";
	int c;
	a->input = a->output = NULL;
	a->force = false;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			a->input = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'f':
			a->force = true;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->input)
		cli_usage_error("%s", no_input);
	if (!a->output)
		cli_usage_error("%s", no_output);
}

void cli_parse_io_writer_args(int argc, char **argv, void (*usage)(FILE *), int own,
			      struct cli_io_args *a)
{
	cli_parse_io_args(argc, argv, usage, true, "No input file provided (-i)",
			  "No output file provided (-o)", a);
	cli_refuse_same_storage(a->input, a->output);
	cli_refuse_foreign_family(a->output, own, a->force);
}

const char *cli_one_operand(int argc, char **argv, const char *none)
{
	if (optind >= argc)
		cli_usage_error("%s", none);
	if (optind + 1 < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
	return argv[optind];
}

void cli_bad_option(int c, char **argv)
{
	if (c == ':')
		cli_usage_error("option '%s' needs a value", argv[optind - 1]);
	if (optopt)
		cli_usage_error("invalid option '-%c'", optopt);
	cli_usage_error("unrecognized option '%s'", argv[optind - 1]);
}

void cli_no_operands(int argc, char **argv)
{
	if (optind != argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
}

int cli_flush_stdout(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		cli_err("error writing output: %s", strerror(errno));
		return EXIT_OPERR;
	}
	return EXIT_OK;
}

void cli_common_or_bad_option(int c, char **argv, void (*usage)(FILE *))
{
	if (c == 'q') {
		cli_quiet = true;
		return;
	}
	cli_help_or_version(c, usage);
	cli_bad_option(c, argv);
}
