// The history schema (version 1) and the checks around opening it. Why these settings:
// - WAL: readers (`sockdoctor history`) never block the writer, nor see half a transaction.
// - synchronous=NORMAL: in WAL mode a crash or power loss can lose the last commits since the
//   last checkpoint's sync, never the database's consistency (every commit is one WAL append
//   whose frames are checksummed; a torn tail is ignored on recovery). FULL would add an fsync
//   per interval to a daemon that samples every few seconds on a host that may be in trouble,
//   to save at most a few seconds of aggregates.
// - user_version and application_id are in the file header and change inside the transaction
//   that creates the schema, so a file is either empty or a complete version-1 database.
#include "store/schema.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "store/history.hpp"

namespace sockdoctor::store {
namespace {

constexpr const char* kSchemaV1 = R"(
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  started REAL NOT NULL,
  pid INTEGER NOT NULL,
  interval_s REAL NOT NULL,
  version TEXT NOT NULL);
CREATE TABLE intervals(
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL,
  t REAL NOT NULL,
  total INTEGER NOT NULL);
CREATE INDEX intervals_by_time ON intervals(t);
CREATE TABLE states(
  interval INTEGER NOT NULL,
  state TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY(interval, state)) WITHOUT ROWID;
CREATE TABLE holders(
  interval INTEGER NOT NULL,
  pid INTEGER NOT NULL,
  name TEXT NOT NULL,
  close_wait INTEGER NOT NULL,
  fin_wait2 INTEGER NOT NULL,
  oldest_s REAL,
  unit TEXT NOT NULL);
CREATE INDEX holders_by_interval ON holders(interval);
CREATE TABLE budgets(
  interval INTEGER NOT NULL,
  netns INTEGER NOT NULL,
  source TEXT NOT NULL,
  destination TEXT NOT NULL,
  time_wait INTEGER NOT NULL,
  fin_wait2 INTEGER NOT NULL,
  live INTEGER NOT NULL,
  usable INTEGER NOT NULL);
CREATE INDEX budgets_by_interval ON budgets(interval);
CREATE TABLE findings(
  interval INTEGER NOT NULL,
  rule TEXT NOT NULL,
  severity INTEGER NOT NULL,
  title TEXT NOT NULL,
  pid INTEGER NOT NULL,
  count INTEGER NOT NULL);
CREATE INDEX findings_by_interval ON findings(interval);
)";

struct Identity {
  std::int64_t application_id = 0;
  std::int64_t user_version = 0;
  std::int64_t tables = 0;
};

core::Result<Identity> identity(Database& db) {
  Identity id;
  auto app = db.query_int("PRAGMA application_id");
  if (!app) return tl::unexpected(app.error());
  id.application_id = *app;
  auto version = db.query_int("PRAGMA user_version");
  if (!version) return tl::unexpected(version.error());
  id.user_version = *version;
  auto tables = db.query_int("SELECT count(*) FROM sqlite_schema");
  if (!tables) return tl::unexpected(tables.error());
  id.tables = *tables;
  return id;
}

// Empty (nothing in it yet), or ours at a version this build reads; else why not.
core::Result<Contents> check_identity(const std::string& path, const Identity& id) {
  if (id.application_id == 0 && id.user_version == 0 && id.tables == 0) return Contents::Empty;
  if (id.application_id != kApplicationId)
    return core::fail(core::ErrorCode::Malformed,
                      fmt::format("{}: not a sockdoctor history database (a SQLite database with "
                                  "application_id {:#x}, not {:#x})",
                                  path, id.application_id, kApplicationId));
  if (id.user_version > kSchemaVersion)
    return core::fail(core::ErrorCode::Unavailable,
                      fmt::format("{}: written with history schema version {}, newer than this "
                                  "sockdoctor reads (up to {}); upgrade sockdoctor",
                                  path, id.user_version, kSchemaVersion));
  if (id.user_version < 1)
    return core::fail(
        core::ErrorCode::Malformed,
        fmt::format("{}: sockdoctor history database without a schema version", path));
  return Contents::History;
}

// SQLite says "file is not a database"; say which file and what it means.
core::Error not_sqlite(const std::string& path, core::Error e) {
  if (e.code == core::ErrorCode::Malformed)
    e.message = path + ": not a sockdoctor history database (not a SQLite file)";
  return e;
}

core::Result<void> create_parent(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return {};
  if (::mkdir(parent.c_str(), 0750) == 0 || errno == EEXIST) return {};
  return core::fail(fmt::format("{}: cannot create its directory: {}", path, std::strerror(errno)),
                    errno);
}

core::Result<void> set_wal(const std::string& path, Database& db) {
  auto mode = db.prepare("PRAGMA journal_mode=WAL");
  if (!mode) return tl::unexpected(not_sqlite(path, mode.error()));
  auto row = mode->step();
  if (!row) return tl::unexpected(not_sqlite(path, row.error()));
  if (!*row || mode->column_text(0) != "wal")
    return core::fail(fmt::format("{}: cannot switch to WAL mode", path));
  return {};
}

} // namespace

core::Result<Database> open_for_writing(const std::string& path, const OpenOptions& options) {
  if (auto r = create_parent(path); !r) return tl::unexpected(r.error());
  auto db = Database::open(path, Database::Mode::ReadWriteCreate, options.busy_timeout_ms);
  if (!db) return tl::unexpected(db.error());
  if (auto r = set_wal(path, *db); !r) return tl::unexpected(r.error());
  if (auto r = db->exec("PRAGMA synchronous=NORMAL"); !r) return tl::unexpected(r.error());
  auto tx = Transaction::begin(*db);
  if (!tx) return tl::unexpected(not_sqlite(path, tx.error()));
  auto id = identity(*db);
  if (!id) return tl::unexpected(not_sqlite(path, id.error()));
  auto contents = check_identity(path, *id);
  if (!contents) return tl::unexpected(contents.error());
  if (*contents == Contents::Empty) {
    if (auto r = db->exec(kSchemaV1); !r) return tl::unexpected(r.error());
    if (auto r = db->exec(fmt::format("PRAGMA application_id={}; PRAGMA user_version={}",
                                      kApplicationId, kSchemaVersion));
        !r)
      return tl::unexpected(r.error());
  }
  // Versions older than kSchemaVersion would be migrated here; version 1 is the first.
  if (auto r = tx->commit(); !r) return tl::unexpected(r.error());
  return db;
}

core::Result<Database>
open_for_reading(const std::string& path, Contents& contents, const OpenOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return core::fail(fmt::format("{}: {}", path, std::strerror(errno)), errno);
  if (!S_ISREG(st.st_mode))
    return core::fail(core::ErrorCode::Malformed,
                      fmt::format("{}: not a sockdoctor history database (not a file)", path));
  auto db = Database::open(path, Database::Mode::ReadOnly, options.busy_timeout_ms);
  if (!db) return tl::unexpected(db.error());
  auto id = identity(*db);
  if (!id) return tl::unexpected(not_sqlite(path, id.error()));
  auto c = check_identity(path, *id);
  if (!c) return tl::unexpected(c.error());
  contents = *c;
  return db;
}

} // namespace sockdoctor::store
