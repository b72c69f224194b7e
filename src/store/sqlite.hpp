// The thin RAII layer over SQLite that the history store uses: a connection, prepared statements
// with typed binds and columns, and transactions; every failure becomes a core::Error value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sockdoctor::store {

class Statement;

class Database {
public:
  enum class Mode : std::uint8_t {
    ReadOnly,        // the file must exist; never created or changed
    ReadWriteCreate, // created when missing
  };

  // Opens `path` with busy_timeout_ms for locks held by another connection.
  static core::Result<Database> open(const std::string& path, Mode mode, int busy_timeout_ms);

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database();

  // Runs statements that return no rows of interest ("PRAGMA ...; CREATE ...").
  core::Result<void> exec(std::string_view sql);
  core::Result<Statement> prepare(std::string_view sql);
  // The single integer an expression or PRAGMA returns ("PRAGMA user_version").
  core::Result<std::int64_t> query_int(std::string_view sql);

  std::int64_t last_insert_rowid() const;
  std::int64_t changes() const; // rows the last INSERT, UPDATE or DELETE touched
  bool in_transaction() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_.get(); }
  // "<path>: <what>: <sqlite's message>", with a code that says whether the file is the problem.
  core::Error error(std::string_view what, int rc) const;
  static core::Error error_of(sqlite3* db, std::string_view what, int rc);

private:
  struct Close {
    void operator()(sqlite3* db) const;
  };
  Database(std::string path, sqlite3* db);

  std::string path_;
  std::unique_ptr<sqlite3, Close> db_;
};

// A prepared statement; bind() indices start at 1 as in SQLite. step() returns true while a row
// is available; reset() makes it ready to run again with new binds.
class Statement {
public:
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  ~Statement();

  Statement& bind(int index, std::int64_t v);
  Statement& bind(int index, double v);
  Statement& bind(int index, std::string_view v);
  Statement& bind_null(int index);

  core::Result<bool> step();
  // step() until SQLITE_DONE, then reset(): an INSERT, UPDATE or DELETE.
  core::Result<void> run();
  void reset();

  std::int64_t column_int(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;
  bool column_is_null(int index) const;

private:
  friend class Database;
  struct Finalize {
    void operator()(sqlite3_stmt* s) const;
  };
  // The connection's handle, not the Database: a Database may move, its handle does not.
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  sqlite3* db_ = nullptr;
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
};

// BEGIN IMMEDIATE on construction (the write lock is taken at once, so a busy reader cannot make
// the commit fail half-way); ROLLBACK on destruction unless commit() succeeded.
class Transaction {
public:
  static core::Result<Transaction> begin(Database& db);
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  core::Result<void> commit();

private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_ = nullptr;
};

} // namespace sockdoctor::store
