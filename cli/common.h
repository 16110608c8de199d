/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared helpers of the dmmeta command-line tools: exit codes, messages,
 * number parsing, --version.  Tools own all user I/O; libmeta never prints.
 *
 * Exit status (every tool, documented in every man page):
 *   0  success: no damage, or the operation completed
 *   1  metadata damage found (or still present after the operation)
 *   2  usage error: bad, missing or conflicting options
 *   3  operational error: cannot open, I/O error, bad XML, no space, ...
 */
#ifndef DMMETA_CLI_COMMON_H
#define DMMETA_CLI_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libmeta/damage.h>
#include <libmeta/family.h>

#include "util_damage.h"

enum cli_exit {
	EXIT_OK = 0,
	EXIT_DAMAGE = 1,
	EXIT_USAGE = 2,
	EXIT_OPERR = 3,
};

/* Name used as the prefix of every message; set by cli_init(). */
extern const char *cli_prog;
/* When true, cli_err()/cli_warn() print nothing (-q). */
extern bool cli_quiet;

void cli_init(const char *prog);
/* -V/--version: bare X.Y.Z on the first line (lvm2 parses it). */
void cli_print_version(void);
/* "prog: <msg>" then "Try 'prog --help' for more information." on stderr; exit 2. */
__attribute__((noreturn, format(printf, 1, 2))) void cli_usage_error(const char *fmt, ...);
/* "prog: <msg>" on stderr unless quiet. */
__attribute__((format(printf, 1, 2))) void cli_err(const char *fmt, ...);
/*
 * The options every tool shares, for the default arm of its getopt_long switch:
 * -q quiet, -h usage to stdout and exit 0, -V version and exit 0; anything else
 * is a usage error (exit 2).
 */
void cli_common_option(int c, void (*usage)(FILE *));
/* -h usage to stdout and exit 0, -V version and exit 0; any other c returns. */
void cli_help_or_version(int c, void (*usage)(FILE *));
/* A long option table's entries: one that takes a value, one that may, one that does not. */
#define CLI_ARG(name, val) {name, required_argument, NULL, val}
#define CLI_OPTARG(name, val) {name, optional_argument, NULL, val}
#define CLI_FLAG(name, val) {name, no_argument, NULL, val}
/* The end of a long option table: --help, --version (and --quiet), the terminator. */
#define CLI_HELP_VERSION_LONGOPTS                                                     \
	{"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},         \
	{NULL, 0, NULL, 0}
#define CLI_COMMON_LONGOPTS {"quiet", no_argument, NULL, 'q'}, CLI_HELP_VERSION_LONGOPTS
/*
 * The whole command line of a tool that takes exactly -i IN, -o OUT, --force
 * (also -f when short_force) and the common -q/-h/-V, and no other argument.
 * A missing -i or -o is a usage error with the message no_input / no_output.
 */
struct cli_io_args {
	const char *input, *output;
	bool force;
};
void cli_parse_io_args(int argc, char **argv, void (*usage)(FILE *), bool short_force,
		       const char *no_input, const char *no_output, struct cli_io_args *a);
/*
 * The same for the pack tools (-f too, tpt's messages), then the writer's checks:
 * cli_refuse_same_storage() and cli_refuse_foreign_family(output, own, force).
 */
void cli_parse_io_writer_args(int argc, char **argv, void (*usage)(FILE *), int own,
			      struct cli_io_args *a);
/*
 * The one operand (metadata path) after the options: `none` is the usage
 * error when it is missing; a second operand is a usage error too.
 */
const char *cli_one_operand(int argc, char **argv, const char *none);
/*
 * The ':' and default arms of a getopt_long loop with a leading ':' in its
 * option string: "option '--x' needs a value", "invalid option '-x'" or
 * "unrecognized option '--x'", as usage errors.
 */
__attribute__((noreturn)) void cli_bad_option(int c, char **argv);
/* The same tool's last arms: -q quiet, -h/-V (cli_help_or_version), else cli_bad_option(). */
void cli_common_or_bad_option(int c, char **argv, void (*usage)(FILE *));
/* Exit status for a libmeta error code: damage kinds give 1, the rest 3. */
int cli_exit_for(int meta_err);
/*
 * One clear line for a failure to open/read metadata input `path`, naming the
 * next step where there is one (in use → -m / reserve_metadata_snap; too small or
 * XML → wrong device?).  `io_errno` may be 0.
 */
void cli_report_open_error(const char *path, int meta_err, int io_errno);
/* The same for an output the tool writes to (the wording names it as the output). */
void cli_report_output_error(const char *path, int meta_err);
/* Strict unsigned parsing (decimal only; no sign, no trailing junk). 0 = ok. */
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_u32(const char *s, uint32_t *out);
/* Parse "arg" for option "opt" or fail with a usage error. */
uint64_t cli_u64_arg(const char *opt, const char *arg);
/* --nr-data-blocks of a writer: at most 2^40 (what a pool addresses), or a usage error. */
uint64_t cli_nr_data_blocks_arg(const char *arg);
/* --data-block-size: a multiple of 128 sectors from 128 to 2097152, or a usage error. */
uint32_t cli_data_block_size_arg(const char *arg);
/*
 * A writer's check, before it opens anything for writing: when output names the
 * storage of input (same inode, link, loop device over it, partition of it, ...:
 * meta_io_same_storage), "prog: OUT: the output is the input IN (same file or
 * device); refusing to overwrite it" on stderr and exit 2.
 */
void cli_refuse_same_storage(const char *input, const char *output);
/* cli_refuse_same_storage() for an input that may be '-' (standard input): "prog: OUT:
 * the output is the standard input (same file or device); refusing to overwrite it". */
void cli_refuse_input_is_output(const char *input, const char *output);
/* The family path holds (meta_family_sniff); META_FAMILY_NONE when it cannot be opened. */
enum meta_family cli_sniff_family(const char *path);
/*
 * A writer's other check, before it opens output for writing: when output exists
 * and holds metadata of a known family other than `own` (meta_family_sniff; own
 * is an enum meta_family, META_FAMILY_NONE for none) and !force, "prog: OUT:
 * holds a classic dm-snapshot COW store (snap_check reads it); refusing to
 * overwrite it without --force" on stderr and exit 3.
 */
void cli_refuse_foreign_family(const char *output, int own, bool force);
/* A reader whose input failed to open as its own family: when path holds metadata of
 * another known family (not XML, which has its own message), say what it holds and
 * which tool reads it ("c.bin: holds a classic dm-snapshot COW store, not thin-pool
 * metadata (snap_check reads it)") and return true. */
bool cli_report_foreign_family(const char *path, int own);
/* a * b, false when it fits in 64 bits (*out = a * b); true when it wraps. */
bool cli_mul_overflows(uint64_t a, uint64_t b, uint64_t *out);
/* A tool's last step: stdout flushed, or "prog: error writing output: ERR"; the exit status. */
int cli_flush_stdout(void);
/* Options then no operand: "unexpected argument 'X'" is a usage error. */
void cli_no_operands(int argc, char **argv);
/* True when progress output is allowed: stderr is a tty, not quiet, DMMETA_NO_PROGRESS unset. */
bool cli_progress_allowed(void);

#endif
