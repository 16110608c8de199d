/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: thin_dump XML -> meta_thin_xml_parse -> restorer -> 4 MiB image.
 * Input: the XML bytes, as thin_restore reads them.
 * Oracles (abort() when broken, so the fuzzer reports it), for an XML the restorer accepts:
 *   - the restored pool passes the full check without fatal damage;
 *   - dumping it, restoring that dump and dumping again gives the same XML (the dump is a
 *     fixed point of restore);
 * plus a human and a shared (<def>/<ref>) dump of the restored pool for the writers.
 */
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_dump.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_xml.h>
#include <libmeta/thin_xml_read.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_BYTES (4u << 20)

static FILE *devnull;

/* Parse in and restore into a fresh OUT_BYTES memfd; 0 if the restore committed. */
static int restore(FILE *in, struct fz_file *out)
{
	struct meta_thin_restore_opts ro = {0};
	struct meta_thin_restorer *r;
	struct meta_thin_emitter em;
	char err[256];
	int e;

	fz_open(out, OUT_BYTES);
	if (meta_thin_restorer_create(out->path, &ro, &r))
		abort(); /* a fresh zeroed output is always accepted */
	em = meta_thin_restorer_emitter(r);
	err[0] = 0;
	e = meta_thin_xml_parse(in, &em, meta_thin_restorer_message, err, sizeof(err));
	if (!e)
		e = meta_thin_restorer_commit(r);
	meta_thin_restorer_destroy(r);
	return e;
}

/* Dump path to f; returns the dump's status (the pool was just restored: must be 0). */
static int dump(const char *path, FILE *f, enum meta_thin_text_format fmt, unsigned flags)
{
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_dump_opts dop = {0};
	struct meta_thin_writer *w;
	struct meta_thin_emitter e;
	struct meta_thin *t;
	int r;

	if (meta_thin_open(path, &oo, &t))
		return -1;
	if (meta_thin_writer_create(f, fmt, &w)) {
		meta_thin_close(t);
		return -1;
	}
	e = meta_thin_writer_emitter(w);
	dop.flags = flags;
	r = meta_thin_dump(t, &dop, &e, NULL);
	if (!r)
		r = meta_thin_writer_flush(w);
	meta_thin_writer_destroy(w);
	meta_thin_close(t);
	return r;
}

static int check_ok(const char *path)
{
	struct meta_thin_open_opts oo = {0};
	struct meta_thin_check_opts co = {0};
	struct meta_thin_check_result res;
	struct meta_thin *t;
	int r;

	if (meta_thin_open(path, &oo, &t))
		return 0;
	r = meta_thin_check(t, &co, &res);
	meta_thin_close(t);
	return r == 0 && res.worst < (int)META_SEV_FATAL;
}

/* XML dump of path into a malloc'd buffer. */
static char *dump_xml(const char *path, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		abort();
	if (dump(path, f, META_THIN_FORMAT_XML, 0))
		abort();
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_file out, out2;
	char *x1, *x2;
	size_t n1, n2;
	FILE *in;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	in = fz_stream(data, size);
	if (restore(in, &out)) {
		fclose(in);
		fz_close(&out);
		return 0;
	}
	fclose(in);
	if (!check_ok(out.path))
		abort();
	x1 = dump_xml(out.path, &n1);
	in = fmemopen(x1, n1, "r");
	if (!in)
		abort();
	if (restore(in, &out2))
		abort(); /* our own dump must restore */
	fclose(in);
	x2 = dump_xml(out2.path, &n2);
	if (n1 != n2 || memcmp(x1, x2, n1))
		abort();
	if (dump(out.path, devnull, META_THIN_FORMAT_HUMAN, 0) ||
	    dump(out.path, devnull, META_THIN_FORMAT_XML, META_THIN_DUMP_SHARED))
		abort();
	free(x1);
	free(x2);
	fz_close(&out);
	fz_close(&out2);
	return 0;
}
