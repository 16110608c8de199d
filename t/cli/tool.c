#include <libmeta/thin.h>
#include <libmeta/bm.h>
#include "pdata/ondisk.h"
