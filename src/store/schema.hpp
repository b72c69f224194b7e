// Opening a history database: the schema, its version (PRAGMA user_version) and identity
// (PRAGMA application_id), WAL, and the checks that keep us from writing into, or misreading,
// a file that is not ours or is newer than this build.
#pragma once

#include <string>

#include "core/error.hpp"
#include "store/sqlite.hpp"

namespace sockdoctor::store {

struct OpenOptions {
  int busy_timeout_ms = 5000; // how long to wait for the other side's lock
};

// For the writer: creates the file (and its parent directory) and the schema when missing, sets
// WAL and synchronous=NORMAL. Fails with Malformed on a file that is not SQLite or not ours, and
// with Unavailable on a schema newer than kSchemaVersion.
core::Result<Database> open_for_writing(const std::string& path, const OpenOptions& options = {});

enum class Contents : bool { Empty, History };

// For readers, without changing the file: NotFound when it does not exist, Malformed when it is
// not a sockdoctor history database, Unavailable when its schema is newer than this build.
// `contents` says whether the schema exists yet (a writer may have just created the file).
core::Result<Database>
open_for_reading(const std::string& path, Contents& contents, const OpenOptions& options = {});

} // namespace sockdoctor::store
