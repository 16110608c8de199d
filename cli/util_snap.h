/* SPDX-License-Identifier: GPL-2.0-only */
/* Helpers shared by the snap_* tools. */
#ifndef DMMETA_CLI_UTIL_SNAP_H
#define DMMETA_CLI_UTIL_SNAP_H

#include <stdbool.h>

#include <stddef.h>

#include <libmeta/damage.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>

#include "util_damage.h"

/* Open a COW store; on failure print one clear line and return the exit status (else 0). */
int snap_cli_open(const char *path, unsigned flags, struct meta_snap **out);
/* Damage printer: "prog: NAME: text (cow chunk C, record I): detail". ctx = int *verbose. */
void snap_cli_print_damage(void *ctx, const struct meta_damage *d);
/* Parse "A..B" (half-open, A < B) into begin/end; 0 on success. */
int snap_cli_parse_range(const char *s, uint64_t *begin, uint64_t *end);
/*
 * Two roles of one run (origin, COW, another snapshot's COW, the input) that must
 * be distinct storage: when b names the storage of a (meta_io_same_storage),
 * "prog: B: the ROLE_B is the ROLE_A A (same file or device); refusing to write to it"
 * and exit 2.  Called before anything is opened for writing.
 */
void snap_cli_refuse_same_role(const char *role_a, const char *a, const char *role_b, const char *b);
/* The same for standard output (-o -) against an input the tool reads. */
void snap_cli_refuse_stdout_is(const char *role, const char *path);
/*
 * The first fatal damage meta_snap_verify() reports (snap_cli_keep_first, a
 * meta_damage_fn with the struct, zeroed, as ctx), and the one line that names it
 * for a tool that refuses the store: "prog: PATH: the snapshot store is damaged:
 * TEXT (cow chunk C, record I); refusing to VERB. Run snap_check PATH for details".
 * The keeper is the tools' one (util_damage.h); these names stay for the snap tools.
 */
#define snap_cli_damage cli_first_damage
#define snap_cli_keep_first cli_keep_first_damage
void snap_cli_report_damage(const char *path, const struct snap_cli_damage *fd, const char *verb);
/*
 * One line for the I/O failure (errno err_no) on path that stopped the tool,
 * then `next` (the state left and the step to take).  ENOSPC says that the
 * filesystem or device holding path ran out of space, which is not a snapshot's
 * COW store being full (an overflow, which the kernel marks Invalid).
 */
void snap_cli_report_io(const char *path, int err_no, const char *next);
/*
 * Before an output FILE is opened for writing (truncated): when it holds binary
 * metadata of a known family (thin pool, classic COW store, daniel store, pack)
 * and !force, "prog: FILE: holds thin-pool metadata (thin_check reads it);
 * refusing to overwrite it without --force" and exit 3.
 */
void snap_cli_refuse_metadata_output(const char *path, bool force);
/*
 * A writer refused (META_E_EXISTS) an output holding metadata: "OUT: holds FAMILY (CHECKER
 * reads it); refusing to overwrite it without --force", or "OUT already holds WHAT; use
 * --force to overwrite it" when the family is not known.
 */
void snap_cli_report_exists(const char *output, const char *what);
/* SECTORS*512 for option opt, or a usage error when it does not fit in 64 bits. */
uint64_t snap_cli_sectors_to_bytes(const char *opt, uint64_t sectors);

/*
 * Shared multisnapshot stores (mikulas, daniel).  ms_cli_open: meta_ms_open(path, flags);
 * on failure one line naming what path holds and the next step, and the exit status
 * (another family's metadata, a type this build lacks, XML, in use: 3; no magic and not
 * blank, a damaged superblock or an unknown version: 1); 0 on success.
 */
int ms_cli_open(const char *path, unsigned flags, struct meta_ms **out);
/*
 * A shared store a tool reads or writes data through: opened (ms_cli_open), checked
 * (meta_ms_check_path; the store is let go of meanwhile), opened again.  Fatal damage:
 * "prog: PATH: the shared store is damaged: TEXT (NAME, detail); refusing to VERB. Run
 * snap_check PATH for details", and exit 1.  0 and *out, or the
 * exit status.
 */
int ms_cli_open_checked(const char *path, unsigned flags, const char *verb, struct meta_ms **out);
/* Is path's magic a shared store's (mikulas, daniel)?  *type gets which. */
bool ms_cli_is_shared(const char *path, enum meta_ms_type *type);
/*
 * Is the store XML in buf[0..len) a shared store's (root element <multisnap_store>)?
 * Anything else (<snapshot_store>, malformed input) is for the classic reader.
 */
bool ms_cli_xml_is_multisnap(const char *buf, size_t len);
/* A whole input stream into memory (a pipe works); 0, or -1 with errno set. */
int snap_cli_slurp(FILE *in, char **buf, size_t *len);
/* Its first max bytes (fewer at its end) into a new buffer; 0, or -1 with errno set. */
int snap_cli_read_head(FILE *in, size_t max, char **buf, size_t *len);

#endif
