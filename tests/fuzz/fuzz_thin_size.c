/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: thin_metadata_size's argument parser and arithmetic.
 * Input: three NUL-separated arguments (block size, pool size, max thins, as typed on the
 * command line) and a unit string; each is parsed with meta_size_parse() /
 * meta_size_unit_lookup(), then validated, estimated and formatted in the unit.
 * Oracles (abort() when broken): the formatted text fits the buffer the return value says
 * it needs and is NUL-terminated; it is returned (>= 0) exactly when validation passes;
 * a unit found by lookup has a name and a letter that looks up to the same unit; the same
 * for the 1.x functions the tool uses, whose text is digits and a point only.
 */
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/thin_size.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 5), *arg[4], buf[64];
	struct meta_size_arg a[3];
	enum meta_size_unit unit = META_UNIT_SECTORS;
	size_t k = 0;
	unsigned flags = 0;
	uint64_t nr;
	int n, ok;

	if (!s)
		abort();
	memcpy(s, data, size);
	memset(s + size, 0, 5);
	/* split at NULs: four strings, the missing ones empty */
	for (size_t i = 0, start = 0; k < 4; i++) {
		if (i > size || !s[i]) {
			arg[k++] = s + (start <= size ? start : size);
			start = i + 1;
		}
	}
	for (int i = 0; i < 3; i++)
		if (meta_size_parse(arg[i], i == 2 ? META_SIZE_COUNT : META_SIZE_SECTORS, &a[i]))
			a[i].value = 1;
	if (arg[3][0] && meta_size_unit_lookup(arg[3], &unit) == 0) {
		char letter[2] = {meta_size_unit_letter(unit), 0};
		enum meta_size_unit back;
		if (!meta_size_unit_name(unit) || !letter[0] || meta_size_unit_lookup(letter, &back) ||
		    back != unit)
			abort();
		meta_size_unit_factor(unit, &flags);
	}
	ok = meta_thin_size_validate(a[0].value, a[1].value, a[2].value) == META_TSZ_OK;
	if ((meta_thin_size_estimate(a[0].value, a[1].value, a[2].value, &nr, &flags) == 0) != ok)
		abort();
	n = meta_thin_size_format(a[0].value, a[1].value, a[2].value, unit, buf, sizeof(buf),
				  &flags);
	if ((n >= 0) != ok || (n >= 0 && ((size_t)n >= sizeof(buf) || strlen(buf) != (size_t)n)))
		abort();
	/* the 1.x rules the tool uses: same oracles, units up to e/E, and a plain decimal */
	ok = meta_thin_size_validate_v1(a[0].value, a[1].value, a[2].value) == META_TSZ_OK;
	if ((meta_thin_size_estimate_v1(a[0].value, a[1].value, a[2].value, &nr) == 0) != ok ||
	    (ok && (nr == 0 || nr > META_THIN_SIZE_V1_MAX_SECTORS)))
		abort();
	n = meta_thin_size_format_v1(a[0].value, a[1].value, a[2].value, unit, buf, sizeof(buf));
	if ((n >= 0) != (ok && unit <= META_UNIT_EB) ||
	    (n >= 0 && ((size_t)n >= sizeof(buf) || strlen(buf) != (size_t)n ||
			strspn(buf, "0123456789.") != (size_t)n || !meta_size_unit_name_v1(unit))))
		abort();
	free(s);
	return 0;
}
