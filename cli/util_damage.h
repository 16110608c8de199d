/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one damage renderer of the tools.  What a kind is called, how it is worded,
 * what its numbers locate and what to do about it come from the library's table
 * (include/libmeta/damage.h); how a tool lays those out is one of the forms below,
 * each a template in util_damage.c, so every tool of every family prints damage
 * through cli_damage_format().
 */
#ifndef DMMETA_CLI_UTIL_DAMAGE_H
#define DMMETA_CLI_UTIL_DAMAGE_H

#include <stddef.h>

#include <libmeta/damage.h>

enum cli_damage_form {
	/* A checker's line for each damage, laid out by the kind's locus:
	 *   thin: "NAME at block B, device D, keys [X, Y), N blocks: PHRASE (detail); ADVICE"
	 *   snap: "[warning: |note: ]NAME: TEXT (cow chunk C, record R): detail" */
	CLI_DAMAGE_CHECK,
	/* A reader that goes on past damage, or stops at it (thin_dump):
	 *   "TEXT (NAME, detail) at block B, device D, keys X..Y" */
	CLI_DAMAGE_SKIP,
	/* thin_repair leaving a subtree behind: "NAME at block B (device D, virtual blocks X..Y)" */
	CLI_DAMAGE_REPAIR,
	/* The first damage of a thin read tool (thin_ls, thin_rmap):
	 *   "TEXT in DETAIL, device D, metadata block B" */
	CLI_DAMAGE_FIRST,
	/* The first damage of a snap tool refusing a store: "TEXT (cow chunk C, record R)" */
	CLI_DAMAGE_STORE,
	/* A restore's note (thin_restore): "DETAIL", else "TEXT" */
	CLI_DAMAGE_NOTE,
	/* A record a restore refuses (snap_restore): "record R (cow chunk C): DETAIL" */
	CLI_DAMAGE_RECORD,
};

/* d in form f into buf (always terminated, cut at size); returns the length written. */
size_t cli_damage_format(char *buf, size_t size, enum cli_damage_form f,
			 const struct meta_damage *d);
/* "prog: LEAD<d in form f>" on stderr unless quiet (cli_err). */
void cli_damage_print(enum cli_damage_form f, const char *lead, const struct meta_damage *d);

/*
 * The first damage record a tool's walk reports (a meta_damage_fn with the struct,
 * zeroed, as ctx), its detail copied (d.detail points into the struct, or is NULL).
 */
struct cli_first_damage {
	int seen;
	struct meta_damage d;
	char detail[128];
};
void cli_keep_first_damage(void *ctx, const struct meta_damage *d);
/* The same for fatal damage only (leaks and other harmless damage do not stop a writer). */
void cli_keep_first_fatal(void *ctx, const struct meta_damage *d);
/* The one line of a thin read tool that stopped at it: "path: metadata contains errors:
 * FIRST-FORM (run thin_check for details)". */
void cli_report_first_damage(const char *path, const struct cli_first_damage *fd);

#endif
