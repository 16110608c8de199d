/* SPDX-License-Identifier: GPL-2.0-only */
/* Helpers shared by the snap_* tools. */
#ifndef DMMETA_CLI_UTIL_SNAP_H
#define DMMETA_CLI_UTIL_SNAP_H

#include <libmeta/damage.h>
#include <libmeta/snap.h>

/* Open a COW store; on failure print one clear line and return the exit status (else 0). */
int snap_cli_open(const char *path, unsigned flags, struct meta_snap **out);
/* Damage printer: "prog: NAME: text (cow chunk C, record I): detail". ctx = int *verbose. */
void snap_cli_print_damage(void *ctx, const struct meta_damage *d);
/* Parse "A..B" (half-open, A < B) into begin/end; 0 on success. */
int snap_cli_parse_range(const char *s, uint64_t *begin, uint64_t *end);

#endif
