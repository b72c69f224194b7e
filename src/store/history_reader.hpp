// Reading a window of history back, while the writer may be writing: one read transaction, so
// the window is a consistent snapshot (WAL: the writer is never blocked by it).
#pragma once

#include <limits>
#include <string>

#include "core/error.hpp"
#include "store/history.hpp"
#include "store/schema.hpp"

namespace sockdoctor::store {

struct HistoryQuery {
  double since = 0;                                       // Unix seconds, inclusive
  double until = std::numeric_limits<double>::infinity(); // inclusive
  // Budgets and findings of every interval; false: of the last one only (what `history` shows;
  // a long window then reads a fraction of the rows).
  bool every_detail = true;
};

// The runs and the intervals of [since, until]. Errors: NotFound (no file), Malformed (not a
// sockdoctor history database), Unavailable (a newer schema). A file the writer has just created
// reads as an empty history.
core::Result<History>
read_history(const std::string& path, const HistoryQuery& query, const OpenOptions& options = {});

} // namespace sockdoctor::store
