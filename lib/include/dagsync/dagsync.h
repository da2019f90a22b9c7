// Umbrella header: the whole public API of the core library.
#pragma once

#include "dagsync/bloom_filter.h"
#include "dagsync/bytes.h"
#include "dagsync/change.h"
#include "dagsync/change_graph.h"
#include "dagsync/error.h"
#include "dagsync/ids.h"
#include "dagsync/import_status.h"
#include "dagsync/limits.h"
#include "dagsync/subscription.h"
#include "dagsync/sync.h"
#include "dagsync/sync_message.h"
#include "dagsync/sync_state.h"
#include "dagsync/version_vector.h"
