/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta: repair of space-map leaks found by meta_thin_check() (private).
 */
#ifndef LIBMETA_THIN_LEAK_REPAIR_H
#define LIBMETA_THIN_LEAK_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include <libmeta/thin.h>

/* Blocks a space map counts as used that nothing references (ascending once sorted). */
struct leak_list {
	uint64_t *b;
	size_t n, cap;
	int nomem;
};

/* Give back the leaked blocks of both space maps (ml: metadata, dl: data) of the
 * live superblock, then lower its nr_allocated counts. */
int meta_thin_fix_leaks(struct meta_thin *t, struct leak_list *ml, struct leak_list *dl);

#endif
