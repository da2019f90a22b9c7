// Umbrella header: the whole public API (libdagsync, dagsync.pc). Programs that use only
// the sans-I/O sync core include dagsync/core.h and link dagsync-core.pc instead.
#pragma once

#include "dagsync/access.h"
#include "dagsync/core.h"
#include "dagsync/logging.h"
#include "dagsync/memory_storage.h"
#include "dagsync/memory_transport.h"
#include "dagsync/repo.h"
#include "dagsync/sqlite_storage.h"
#ifdef DAGSYNC_HAVE_POSTGRESQL
#include "dagsync/postgres_storage.h"
#endif
#include "dagsync/storage.h"
#include "dagsync/transport.h"
#include "dagsync/transports.h"
#include "dagsync/url.h"
