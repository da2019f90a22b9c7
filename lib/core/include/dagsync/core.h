// Umbrella header of the sync core (dagsync-core.pc): changes, the change graph and the
// sans-I/O sync protocol. Nothing here does I/O, starts threads or reads a clock; the one
// outside service it uses is OpenSSL: SHA-256, and its random generator for actor ids and
// hash index seeds.
//
// Everything these headers declare is the core's API, except dagsync/detail/. Objects are
// not synchronised: use each from one thread at a time (copies of a Change may be shared,
// see change.h). Failures are exceptions (error.h).
#pragma once

#include "dagsync/automerge/sync.h"
#include "dagsync/bloom_filter.h"
#include "dagsync/bytes.h"
#include "dagsync/change.h"
#include "dagsync/change_graph.h"
#include "dagsync/deps_view.h"
#include "dagsync/error.h"
#include "dagsync/ids.h"
#include "dagsync/import_status.h"
#include "dagsync/limits.h"
#include "dagsync/subscription.h"
#include "dagsync/summary.h"
#include "dagsync/sync.h"
#include "dagsync/sync_message.h"
#include "dagsync/sync_state.h"
#include "dagsync/version_vector.h"
