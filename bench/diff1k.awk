# SPDX-License-Identifier: GPL-2.0-only
# diff1k.awk — turn the <def>/<ref> XML of gen_thin_xml (one origin, two snapshots, --change 0,
# --fragment 0) into a pool whose two snapshots differ in exactly NCHANGE blocks.
#
#   awk -v dev=2 -v nchange=1000 -v nrefs=R -v newbase=N -f diff1k.awk in.xml > out.xml
#
# R is the number of <ref>s in device `dev` (its chunks: ceil(mappings / 252)), given because
# the input may be a pipe, read once.  In device `dev`, the NCHANGE <ref>s number
# floor(i * R / NCHANGE), i = 0 .. NCHANGE-1 (spread evenly over the device), are expanded
# into the body of the chunk they name, with the chunk's first mapped block moved to a fresh
# data block (newbase, newbase+1, ...; the caller picks newbase above every allocated block
# and below nr_data_blocks).  Each such chunk becomes a leaf of its own in that device; every
# other leaf stays shared with the other snapshot.  Everything else passes through unchanged.
BEGIN { indef = ""; indev = 0; nref = 0; changed = 0 }

function attr(line, name,    re, s) {
	re = name "=\"[0-9]+\""
	if (!match(line, re))
		return ""
	s = substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 3)
	return s + 0
}

{
	line = $0
	if (line ~ /^  <def name=/) {
		match(line, /name="[^"]*"/)
		indef = substr(line, RSTART + 6, RLENGTH - 7)
		body[indef] = ""
		print line
		next
	}
	if (indef != "") {
		if (line ~ /^  <\/def>/)
			indef = ""
		else
			body[indef] = body[indef] line "\n"
		print line
		next
	}
	if (line ~ /^  <device /) {
		indev = (attr(line, "dev_id") == dev)
		nref = 0
		print line
		next
	}
	if (indev && line ~ /<ref name=/) {
		k = nref++
		# Is chunk k one of the NCHANGE chosen ones?  Chosen: floor(i*nrefs/nchange), i < nchange.
		i = int((k * nchange + nrefs - 1) / nrefs)
		if (changed < nchange && i < nchange && int(i * nrefs / nchange) == k) {
			match(line, /name="[^"]*"/)
			name = substr(line, RSTART + 6, RLENGTH - 7)
			n = split(body[name], ls, "\n")
			for (j = 1; j < n; j++) {
				l = ls[j]
				if (j > 1) { print l; continue }
				t = attr(l, "time")
				if (l ~ /single_mapping/) {
					printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>\n", attr(l, "origin_block"), newbase + changed, t
				} else {
					o = attr(l, "origin_begin"); d = attr(l, "data_begin"); len = attr(l, "length")
					printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>\n", o, newbase + changed, t
					if (len == 2)
						printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>\n", o + 1, d + 1, t
					else if (len > 2)
						printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"%d\"/>\n", o + 1, d + 1, len - 1, t
				}
			}
			changed++
			next
		}
	}
	print line
}

END {
	if (changed != nchange) {
		printf "diff1k.awk: changed %d chunks, wanted %d\n", changed, nchange > "/dev/stderr"
		exit 1
	}
}
