#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# tests/tools/check-layers.sh (`make check-layers`) can fail: on a scratch copy of libmeta/
# and cli/ with one breach of each rule planted, it exits 1 and names each; with the breaches
# inside comments and strings only, it exits 0.  Exit 0 pass, 1 fail.

. "${TESTLIB:-$(dirname "$0")/../lib.sh}"

CL=$SRCDIR/tests/tools/check-layers.sh
mkdir -p t/libmeta/base t/libmeta/pdata t/libmeta/thin t/libmeta/snap t/cli || fail "mkdir"
cat >t/libmeta/base/io.c <<'C'
#include <stdio.h>
#include <libmeta/io.h>
int f(FILE *out) { fprintf(out, "ok"); return 0; }   /* printf("a comment"); */
const char *s = "exit(1) in a string, stderr too";
C
cat >t/libmeta/pdata/bm.c <<'C'
#include <libmeta/bm.h>
C
cat >t/cli/tool.c <<'C'
#include <libmeta/thin.h>
C
run sh "$CL" t; cat run.out run.err >out
expect_rc 0
expect_grep 'keep their layers' out

cat >>t/libmeta/base/io.c <<'C'
void g(void) { abort(); }
C
cat >>t/libmeta/thin/thin.c <<'C'
#include <assert.h>
#include "snap/snap_ondisk.h"
C
cat >>t/libmeta/pdata/bm.c <<'C'
#include <libmeta/btree.h>
	fputs("x", stderr);
C
cat >>t/cli/tool.c <<'C'
#include <libmeta/bm.h>
#include "pdata/ondisk.h"
C
run sh "$CL" t; cat run.out run.err >out
expect_rc 1
expect_grep '^libmeta/base/io.c:5: libmeta prints, exits, aborts or asserts' out
expect_grep '^libmeta/thin/thin.c:1: libmeta prints, exits, aborts or asserts' out
expect_grep '^libmeta/thin/thin.c:2: one format family includes another' out
expect_grep '^libmeta/pdata/bm.c:2: include goes up the layers: .*libmeta/btree.h' out
expect_grep '^libmeta/pdata/bm.c:3: libmeta prints' out
expect_grep '^cli/tool.c:2: cli/ reaches below the format API: libmeta/bm.h' out
expect_grep '^cli/tool.c:3: cli/ includes a private libmeta header: pdata/ondisk.h' out
expect_grep '^check-layers: 7 breach' out
exit 0
