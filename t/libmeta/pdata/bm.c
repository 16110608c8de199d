#include <libmeta/bm.h>
#include <libmeta/btree.h>
	fputs("x", stderr);
