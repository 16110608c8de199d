/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Thin-pool XML reader: parses thin_dump's XML (the flat form of
 * thin-provisioning-tools 0.9.0 and the <def>/<ref> form of 1.x) with expat and
 * drives an emitter (emitter.h) — the same calls the metadata walker makes.
 * Elements and attributes are those of thin-xml(5); anything else is an error.
 * Mapping elements in their plain one-line form are scanned without expat
 * (much faster); the calls, the errors and their line numbers are the same.
 */
#ifndef LIBMETA_THIN_XML_READ_H
#define LIBMETA_THIN_XML_READ_H

#include <stdio.h>
#include <libmeta/api.h>
#include <libmeta/emitter.h>

/*
 * Parse `in` and drive e.  Malformed input: META_E_XML with "line N: what is
 * wrong" in err.  An error returned by an emitter callback stops the parse and is
 * returned, with "line N: " and the callback's message (if it provides one
 * through msg_fn) in err.
 */
typedef const char *(*meta_emitter_msg_fn)(void *ctx);
META_API int meta_thin_xml_parse(FILE *in, const struct meta_thin_emitter *e,
				 meta_emitter_msg_fn msg_fn, char *err, size_t errlen);

#endif
