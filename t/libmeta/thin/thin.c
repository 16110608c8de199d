#include <assert.h>
#include "snap/snap_ondisk.h"
