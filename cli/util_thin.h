/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the thin_* tools: the command-line pieces every thin reader
 * (-m/--metadata-snap) and every thin writer (the superblock overrides) repeats,
 * and the one way a thin read tool opens the pool and reports a failed walk.
 */
#ifndef DMMETA_CLI_UTIL_THIN_H
#define DMMETA_CLI_UTIL_THIN_H

#include <stdbool.h>
#include <stdio.h>

#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_restore.h>

#include "common.h"
#include "util_damage.h"

/*
 * A thin reader's start: cli_init(), getopt's own messages naming the tool (not
 * its path), oo zeroed for an exclusive open of the live metadata, fd zeroed.
 */
void cli_thin_reader_init(char **argv, struct meta_thin_open_opts *oo, struct cli_first_damage *fd);
/*
 * The arms of a thin reader's getopt_long switch (no leading ':' in its option
 * string, so getopt has printed its own message for a bad option) past its own:
 * -m [BLOCK] reads the metadata snapshot (the held root, or the snapshot
 * superblock at BLOCK); -h usage to stdout and exit 0; -V version and exit 0;
 * anything else "Try 'prog --help' for more information." and exit 2.
 */
void cli_thin_reader_option(int c, struct meta_thin_open_opts *oo, void (*usage)(FILE *));
/* meta_thin_open(), or its one clear line (cli_report_open_error): 0, else the exit status. */
/* The end of a thin reader's long option table: -m, -h, -V. */
/* Its usage lines for -m. */
#define CLI_THIN_READER_SNAP_HELP                                                    \
	"  -m, --metadata-snap[=BLOCK]  read the metadata snapshot (the held root, or the\n"     \
	"                             snapshot superblock at BLOCK) instead of the live\n"      \
	"                             metadata; needed while the pool is active\n"
#define CLI_THIN_READER_LONGOPTS                                                      \
	{"metadata-snap", optional_argument, NULL, 'm'}, CLI_HELP_VERSION_LONGOPTS
int cli_thin_open(const char *path, const struct meta_thin_open_opts *oo, struct meta_thin **t);
/*
 * A thin read walk that failed with r: the first damage it reported
 * (META_E_CORRUPT, cli_report_first_damage) or "prog: path: error"; returns the
 * exit status.
 */
int cli_thin_report_walk_error(const char *path, int r, const struct cli_first_damage *fd);

/*
 * The superblock overrides of a thin writer (thin_restore, thin_repair):
 * --transaction-id, --data-block-size, --nr-data-blocks.  CLI_THIN_OVERRIDE_LONGOPTS
 * goes into its long option table; cli_thin_override_option() sets o from one of
 * them and returns true, or returns false for any other option c.
 */
struct cli_thin_writer_args {
	const char *input, *output;
	bool force;
};
/*
 * A thin writer's options: -i IN, -o OUT, the overrides into o, --force when
 * with_force, and -q/-h/-V; anything else is a usage error.  Operands are left to
 * the caller (optind).
 */
void cli_thin_writer_options(int argc, char **argv, void (*usage)(FILE *), bool with_force,
			     struct meta_thin_restore_opts *o, struct cli_thin_writer_args *a);
enum {
	CLI_OPT_TRANSACTION_ID = 0x1000, /* above every tool's own option codes */
	CLI_OPT_DATA_BLOCK_SIZE,
	CLI_OPT_NR_DATA_BLOCKS,
};
#define CLI_THIN_OVERRIDE_LONGOPTS                                                    \
	{"transaction-id", required_argument, NULL, CLI_OPT_TRANSACTION_ID},           \
	{"data-block-size", required_argument, NULL, CLI_OPT_DATA_BLOCK_SIZE},         \
	{"nr-data-blocks", required_argument, NULL, CLI_OPT_NR_DATA_BLOCKS}
bool cli_thin_override_option(int c, const char *arg, struct meta_thin_restore_opts *o);

/*
 * Open a pool's data device for writing (O_EXCL on devices), or its one clear line
 * ("thin_trim cannot be run on a live pool" when busy; perm_why says what the tool
 * writes there): 0, else the exit status (3).
 */
int cli_thin_open_data_dev(const char *path, const char *perm_why, struct meta_io **io);

#endif
