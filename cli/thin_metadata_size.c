/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_metadata_size — estimate the metadata device size a thin pool needs.
 *
 * The estimate, the block-size rule and the text on stdout are those of
 * thin-provisioning-tools 1.x (what current distributions ship): "N UNIT", the
 * 1.x formula and number format, block sizes as the kernel takes them
 * (multiples of 128 sectors, 64 KiB to 1 GiB).  The option syntax is 0.9's, a
 * superset of 1.x's (unit names and prefixes, -n attached arguments, a unit on
 * --max-thins).  Differences, by design:
 *   - 1.x labels the t unit "terabytes"; we print "tebibytes" (it is 2^40);
 *   - usage errors exit 2 (0.9: 1, 1.x: 64 for a bad value) with one line
 *     naming the problem, followed by the usual "Try ... --help" line;
 *   - --max-thins 0 is refused as 0.9 does (1.x estimates it);
 *   - -V prints our version; -h prints our own help text;
 *   - where 0.9 silently accepts something dubious (an ignored extra argument,
 *     an empty --unit) we accept it as 0.9 does and exit 0, but add a warning
 *     line on stderr saying what happened;
 *   - where 0.9's 64-bit arithmetic wraps (a number past 2^63, number x unit
 *     past 2^64 bytes, the z/Z/y/Y units, a block count or a result past 2^64)
 *     and it prints a meaningless number, we print nothing and exit 2 with one
 *     line saying which value overflows, as thin-provisioning-tools 1.x does.
 *   - a failed write to stdout is an operational error (exit 3).
 */
#include "common.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/thin_size.h>

enum { OPT_BLOCK, OPT_POOL, OPT_THINS, OPT__COUNT };

struct size_opt {
	const char *longname;   /* "--block-size" */
	char shortname;         /* 'b' */
	const char *what;       /* "block size" */
	const char *desc;       /* for "missing ...": what the option gives */
	enum meta_size_kind kind;
	const char *arg;        /* last argument given, NULL if none */
	struct meta_size_arg v;
	int label_unit;         /* unit name appended in the result sentence, -1: none */
};

static struct size_opt opts[OPT__COUNT] = {
	[OPT_BLOCK] = { "--block-size", 'b', "block size", "the pool's data block size",
			META_SIZE_SECTORS, NULL, { 0 }, -1 },
	[OPT_POOL] = { "--pool-size", 's', "pool size", "the size of the pool's data device",
			META_SIZE_SECTORS, NULL, { 0 }, -1 },
	[OPT_THINS] = { "--max-thins", 'm', "max thins",
			"the maximum number of thin volumes and snapshots",
			META_SIZE_COUNT, NULL, { 0 }, -1 },
};

/* A parsed value is not what the user typed: 0.9's 64-bit arithmetic wrapped. */
#define OVERFLOW_FLAGS (META_TSZ_F_DIGITS | META_TSZ_F_WRAP | META_TSZ_F_FACTOR)

enum numeric_mode { NUM_OFF, NUM_PLAIN, NUM_SHORT, NUM_LONG };

static enum meta_size_unit out_unit = META_UNIT_SECTORS;
static enum numeric_mode numeric = NUM_OFF;
static unsigned warn_flags;

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s -b BLOCKSIZE -s POOLSIZE -m MAXTHINS [-u UNIT] [-n[short|long]]\n"
	       "Estimate the size of the metadata device a thin pool needs.\n"
	       "\n"
	       "  -b, --block-size SIZE[UNIT]  data block size of the pool (a multiple of 64 KiB,\n"
	       "                               at most 1 GiB; default unit: 512-byte sectors)\n"
	       "  -s, --pool-size SIZE[UNIT]   size of the pool's data device (default: sectors)\n"
	       "  -m, --max-thins N[UNIT]      how many thin volumes and snapshots in all\n"
	       "                               (a unit multiplies: 1k = 1024)\n"
	       "  -u, --unit UNIT              unit of the result (default: sectors)\n"
	       "  -n, --numeric-only[=short|=long]\n"
	       "                               print the number only, optionally followed by the\n"
	       "                               unit's letter (short) or name (long)\n"
	       "  -h, --help                   show this help and exit\n"
	       "  -V, --version                show the version and exit\n"
	       "\n"
	       "UNIT is one letter of %s (b = bytes, s = sectors;\n"
	       "lower case = powers of 1024, upper case = powers of 1000) or a unit name or\n"
	       "its prefix: bytes, sectors, kibibytes, kilobytes, mebibytes, megabytes, ...\n"
	       "\n"
	       "The estimate is 1 + ceil(pool_size / block_size / 126) + max_thins metadata blocks\n"
	       "of 4 KiB, at most 33292800 sectors (as thin-provisioning-tools 1.x computes it).\n"
	       "\n"
	       "Exit status: 0 success, 2 usage error, 3 cannot write the output.\n",
	       cli_prog, meta_size_unit_letters());
}

/* -b/-s/-m ARG: parse with 0.9's rules; a bad number or unit is a usage error. */
static void set_size(struct size_opt *o, const char *arg)
{
	struct meta_size_arg v;
	const char *suffix;

	/* 0.9 treats a value of 0 as "not given", so "-b 0 -b 128" is accepted. */
	if (o->v.value)
		cli_usage_error("%s given more than once", o->longname);
	if (meta_size_parse(arg, o->kind, &v) != META_OK) {
		suffix = arg + strspn(arg, "0123456789");
		if (suffix == arg)
			cli_usage_error("invalid %s '%s': expected a decimal number, optionally "
					"followed by a unit (one of %s or a unit name)",
					o->what, arg, meta_size_unit_letters());
		cli_usage_error("invalid %s '%s': unknown unit '%s' (use one of %s or a unit "
				"name such as 'sectors' or 'mebibytes')",
				o->what, arg, suffix, meta_size_unit_letters());
	}
	if (v.flags & OVERFLOW_FLAGS)
		cli_usage_error("invalid %s '%s': %s", o->what, arg,
				(v.flags & META_TSZ_F_FACTOR)
					? "units past exbibytes (z, Z, y, Y) overflow 64-bit arithmetic"
				: (v.flags & META_TSZ_F_DIGITS)
					? "the number overflows (it is larger than 2^63 - 1 = 9223372036854775807)"
				: o->kind == META_SIZE_SECTORS
					? "more than 2^64 bytes: the value overflows 64 bits"
					: "the count overflows 64-bit arithmetic (at most 2^55 - 1 "
					  "without a unit)");
	o->arg = arg;
	o->v = v;
	/*
	 * The result sentence repeats each size with a unit name: the suffix's
	 * name, or for a bare number the output unit in effect at this point of
	 * the command line (0.9 does that, even though the number is in sectors);
	 * a bare max-thins count gets no unit.
	 */
	if (v.unit >= 0)
		o->label_unit = v.unit;
	else if (o->kind == META_SIZE_SECTORS)
		o->label_unit = (int)out_unit;
	else
		o->label_unit = -1;
}

static void set_unit(const char *arg)
{
	enum meta_size_unit u;

	if (meta_size_unit_lookup(arg, &u) != META_OK)
		cli_usage_error("invalid unit '%s' for --unit: use one of %s or a unit name "
				"such as 'sectors' or 'gibibytes'", arg, meta_size_unit_letters());
	if (u >= META_UNIT_ZIB)
		cli_usage_error("invalid unit '%s' for --unit: %s overflow 64-bit arithmetic; use at "
				"most e or E", arg, meta_size_unit_name(u));
	if (!*arg)
		cli_err("warning: empty --unit taken as 'bytes' (as thin-provisioning-tools 0.9 does)");
	out_unit = u;
}

static void set_numeric(const char *arg)
{
	size_t len;

	if (numeric != NUM_OFF)
		cli_usage_error("--numeric-only given more than once");
	if (!arg) {
		numeric = NUM_PLAIN;
		return;
	}
	len = strlen(arg);
	if (len && strncmp("long", arg, len) == 0)
		numeric = NUM_LONG;
	else if (len && strncmp("short", arg, len) == 0)
		numeric = NUM_SHORT;
	else
		cli_usage_error("invalid argument '%s' for --numeric-only: expected 'short' or "
				"'long', attached as in -nshort or --numeric-only=long", arg);
}

/* One usage error for an estimate that cannot be made. */
static void __attribute__((noreturn)) report_problem(enum meta_thin_size_problem p)
{
	const struct size_opt *b = &opts[OPT_BLOCK], *s = &opts[OPT_POOL];
	const struct size_opt *o = NULL;

	switch (p) {
	case META_TSZ_NO_BLOCK_SIZE:
		o = b;
		break;
	case META_TSZ_NO_POOL_SIZE:
		o = s;
		break;
	case META_TSZ_NO_MAX_THINS:
		o = &opts[OPT_THINS];
		break;
	case META_TSZ_BLOCK_NOT_MULTIPLE:
		cli_usage_error("invalid block size '%s': %" PRIu64 " sectors is not a multiple of "
				"128 sectors (64 KiB)%s", b->arg, b->v.value,
				(b->v.flags & OVERFLOW_FLAGS) ? " (the value overflows 64 bits)" : "");
	case META_TSZ_BLOCK_TOO_LARGE:
		cli_usage_error("invalid block size '%s': %" PRIu64 " sectors is more than 2097152 "
				"sectors (1 GiB)%s", b->arg, b->v.value,
				(b->v.flags & OVERFLOW_FLAGS) ? " (the value overflows 64 bits)" : "");
	case META_TSZ_BLOCK_NOT_POW2:
		cli_usage_error("invalid block size '%s': %" PRIu64 " sectors is not a power of two%s",
				b->arg, b->v.value, (b->v.flags & OVERFLOW_FLAGS)
					? " (the value overflows 64 bits)" : "");
	case META_TSZ_POOL_TOO_SMALL:
		cli_usage_error("pool size '%s' (%" PRIu64 " sectors) must not be smaller than the block "
				"size '%s' (%" PRIu64 " sectors)%s",
				s->arg, s->v.value, b->arg, b->v.value,
				((s->v.flags | b->v.flags) & OVERFLOW_FLAGS)
					? " (a value overflows 64 bits)" : "");
	default:
		cli_usage_error("cannot estimate (internal error %d)", (int)p);
	}

	if (!o->arg)
		cli_usage_error("missing %s (-%c): %s is required", o->longname, o->shortname,
				o->desc);
	if (!*o->arg)
		cli_usage_error("invalid %s '': empty value", o->what);
	if (o->v.flags & OVERFLOW_FLAGS)
		cli_usage_error("invalid %s '%s': the value overflows 64 bits", o->what, o->arg);
	if (!o->v.ndigits)
		cli_usage_error("invalid %s '%s': no number before the unit", o->what, o->arg);
	if (o->kind == META_SIZE_SECTORS && o->v.unit >= 0)
		cli_usage_error("invalid %s '%s': it is less than one 512-byte sector", o->what,
				o->arg);
	cli_usage_error("invalid %s '%s': it must not be zero", o->what, o->arg);
}

/*
 * 0.9 prints nonsense without a word when its 64-bit arithmetic overflows (the
 * values themselves are refused as they are parsed); a block count or a
 * result that overflows is a usage error too.
 */
static void refuse_overflows(void)
{
	if (warn_flags & META_TSZ_F_SUM)
		cli_usage_error("invalid --max-thins '%s': the number of metadata blocks overflows 64 "
				"bits", opts[OPT_THINS].arg);
	if (warn_flags & META_TSZ_F_RESULT)
		cli_usage_error("the estimate does not fit in 64 bits in unit '%s': use a larger "
				"--unit", meta_size_unit_name(out_unit));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "pool-size", required_argument, NULL, 's' },
		{ "max-thins", required_argument, NULL, 'm' },
		{ "unit", required_argument, NULL, 'u' },
		{ "numeric-only", optional_argument, NULL, 'n' },
		CLI_HELP_VERSION_LONGOPTS,
	};
	const struct size_opt *b = &opts[OPT_BLOCK], *s = &opts[OPT_POOL], *m = &opts[OPT_THINS];
	enum meta_thin_size_problem p;
	char num[64];
	int c, i, n;

	cli_init(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:s:m:u:n::hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			set_size(&opts[OPT_BLOCK], optarg);
			break;
		case 's':
			set_size(&opts[OPT_POOL], optarg);
			break;
		case 'm':
			set_size(&opts[OPT_THINS], optarg);
			break;
		case 'u':
			set_unit(optarg);
			break;
		case 'n':
			set_numeric(optarg);
			break;
		case 'h':
		case 'V':
			cli_help_or_version(c, usage);
			break;
		case ':':
			cli_usage_error("option '%s' requires an argument", argv[optind - 1]);
		default:
			/* optopt: 0 for an unknown long option, the option for "--help=x". */
			if (!optopt)
				cli_usage_error("unrecognized option '%s'", argv[optind - 1]);
			if ((optopt == 'h' || optopt == 'V') &&
			    strncmp(argv[optind - 1], "--", 2) == 0)
				cli_usage_error("option '%s' does not take an argument",
						argv[optind - 1]);
			cli_usage_error("invalid option '-%c'", optopt);
		}
	}

	p = meta_thin_size_validate_v1(b->v.value, s->v.value, m->v.value);
	if (p != META_TSZ_OK)
		report_problem(p);

	/* 0.9 ignores operands; so do we, but say so. */
	for (i = optind; i < argc; i++) {
		if (numeric == NUM_PLAIN && (!strcmp(argv[i], "short") || !strcmp(argv[i], "long")))
			cli_err("warning: ignoring extra argument '%s' (did you mean "
				"--numeric-only=%s or -n%s?)", argv[i], argv[i], argv[i]);
		else
			cli_err("warning: ignoring extra argument '%s'", argv[i]);
	}

	n = meta_thin_size_format_v1(b->v.value, s->v.value, m->v.value, out_unit, num,
				     sizeof(num));
	if (n < 0 || (size_t)n >= sizeof(num)) {
		cli_err("internal error: cannot format the estimate");
		return EXIT_OPERR;
	}
	refuse_overflows();

	switch (numeric) {
	case NUM_OFF:
		printf("%s %s\n", num, meta_size_unit_name_v1(out_unit));
		break;
	case NUM_PLAIN:
		printf("%s\n", num);
		break;
	case NUM_SHORT:
		printf("%s%c\n", num, meta_size_unit_letter(out_unit));
		break;
	case NUM_LONG:
		printf("%s%s\n", num, meta_size_unit_name_v1(out_unit));
		break;
	}

	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err("cannot write the result to standard output");
		return EXIT_OPERR;
	}
	return EXIT_OK;
}
