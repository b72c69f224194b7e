// SQLite calls of the history store, each checked, with the file and the operation in the error.
#include "store/sqlite.hpp"

#include <sqlite3.h>

#include <cerrno>

namespace sockdoctor::store {
namespace {

core::ErrorCode code_of(int rc) {
  switch (rc & 0xff) { // primary result code
  case SQLITE_NOTADB:
  case SQLITE_CORRUPT:
  case SQLITE_FORMAT:
    return core::ErrorCode::Malformed;
  case SQLITE_CANTOPEN:
    return core::ErrorCode::NotFound;
  case SQLITE_PERM:
  case SQLITE_AUTH:
  case SQLITE_READONLY:
    return core::ErrorCode::PermissionDenied;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return core::ErrorCode::Timeout;
  case SQLITE_FULL:
    return core::ErrorCode::TooLarge;
  default:
    return core::ErrorCode::Failed;
  }
}

} // namespace

void Database::Close::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}

void Statement::Finalize::operator()(sqlite3_stmt* s) const {
  sqlite3_finalize(s);
}

Database::Database(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
Database::~Database() = default;

core::Error Database::error_of(sqlite3* db, std::string_view what, int rc) {
  std::string msg;
  if (const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr; file && *file)
    msg = std::string(file) + ": ";
  msg += what;
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int sys = db != nullptr ? sqlite3_system_errno(db) : 0;
  core::ErrorCode code = code_of(rc);
  if ((rc & 0xff) == SQLITE_CANTOPEN && (sys == EACCES || sys == EPERM))
    code = core::ErrorCode::PermissionDenied;
  return core::Error{std::move(msg), sys, code};
}

core::Error Database::error(std::string_view what, int rc) const {
  return error_of(db_.get(), what, rc);
}

core::Result<Database> Database::open(const std::string& path, Mode mode, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int flags =
      (mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(path, raw); // closes raw on every path, also when open failed
  if (rc != SQLITE_OK) {
    core::Error e = db.error("cannot open", rc);
    e.message = path + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    return tl::unexpected(std::move(e));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return db;
}

core::Result<void> Database::exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return tl::unexpected(error(text.substr(0, text.find_first_of(";(")), rc));
  return {};
}

core::Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  Statement s(db_.get(), stmt);
  if (rc != SQLITE_OK) return tl::unexpected(error("prepare", rc));
  return s;
}

core::Result<std::int64_t> Database::query_int(std::string_view sql) {
  auto st = prepare(sql);
  if (!st) return tl::unexpected(st.error());
  auto row = st->step();
  if (!row) return tl::unexpected(row.error());
  return *row ? st->column_int(0) : 0;
}

std::int64_t Database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_.get());
}

std::int64_t Database::changes() const {
  return sqlite3_changes64(db_.get());
}

bool Database::in_transaction() const {
  return sqlite3_get_autocommit(db_.get()) == 0;
}

Statement::~Statement() = default;

Statement& Statement::bind(int index, std::int64_t v) {
  sqlite3_bind_int64(stmt_.get(), index, v);
  return *this;
}

Statement& Statement::bind(int index, double v) {
  sqlite3_bind_double(stmt_.get(), index, v);
  return *this;
}

Statement& Statement::bind(int index, std::string_view v) {
  sqlite3_bind_text64(stmt_.get(), index, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_.get(), index);
  return *this;
}

core::Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  core::Error e = Database::error_of(db_, "step", rc);
  reset();
  return tl::unexpected(std::move(e));
}

core::Result<void> Statement::run() {
  while (true) {
    auto row = step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
  }
  reset();
  return {};
}

void Statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_.get(), index);
}

double Statement::column_double(int index) const {
  return sqlite3_column_double(stmt_.get(), index);
}

std::string Statement::column_text(int index) const {
  const auto* p = sqlite3_column_text(stmt_.get(), index);
  const int n = sqlite3_column_bytes(stmt_.get(), index);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : "";
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}

core::Result<Transaction> Transaction::begin(Database& db) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return tl::unexpected(r.error());
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->exec("ROLLBACK");
}

core::Result<void> Transaction::commit() {
  auto r = db_->exec("COMMIT");
  if (r) db_ = nullptr;
  return r;
}

} // namespace sockdoctor::store
