/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Private to libmeta and its unit tests: the pieces of the generic shared-store layer
 * (ms.c) that work without a real store type, so that tests/unit/check_ms.c can drive
 * them with a fake struct ms_ops.
 */
#ifndef LIBMETA_MULTISNAP_MS_GENERIC_H
#define LIBMETA_MULTISNAP_MS_GENERIC_H

#include <stdbool.h>
#include <stdint.h>

#include "multisnap/ms_internal.h"

/*
 * Open a handle over io (taken over: closed by meta_ms_close, also on failure) with
 * the given ops (NULL: sniff the types linked in, as meta_ms_open does).
 */
int ms_open_io(struct meta_io *io, const struct ms_ops *ops, bool write, struct meta_ms **out);

/*
 * The status line from its fields and the ids (st->nr_ids of them), as
 * meta_ms_status_line() prints it; *line is malloc'd.
 */
int ms_status_format(enum meta_ms_type t, const struct meta_ms_status *st, const meta_ms_id *ids,
		     char **line);

/* The root element of store XML in buf: 1 <multisnap_store>, 2 <snapshot_store>, 0 other;
 * *type gets the type attribute of a <multisnap_store> (META_MS_NONE if absent/unknown),
 * *line the line the root element starts on. */
enum { MS_ROOT_OTHER = 0, MS_ROOT_MULTISNAP = 1, MS_ROOT_CLASSIC = 2 };
int ms_xml_root(const char *buf, size_t len, enum meta_ms_type *type, unsigned *line);

/*
 * Open path (META_IO_WRITE | META_IO_EXCL) to write a new store over it: META_E_EXISTS
 * when it holds a shared store or another family's metadata and !force.
 */
int ms_open_for_new(const char *path, bool force, struct meta_io **out);

/* The type's own state of an open store (what its ops take as st); NULL while new. */
void *ms_state(struct meta_ms *ms);
/* Its device. */
struct meta_io *ms_io(struct meta_ms *ms);

#endif
