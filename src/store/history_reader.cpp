// read_history(): runs, then the window's intervals, then their rows table by table, each
// joined on the window's time range and placed by interval id.
#include "store/history_reader.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/tcp_state.hpp"

namespace sockdoctor::store {
namespace {

using Index = std::unordered_map<std::int64_t, std::size_t>; // interval id -> position

std::optional<std::size_t> state_index(std::string_view name) {
  for (int i = 0; i <= core::kMaxTcpState; ++i)
    if (core::snake_name(static_cast<core::TcpState>(i)) == name) return std::size_t(i);
  return std::nullopt;
}

// Runs `sql` (?1 since, ?2 until, ?3 the first interval id wanted) and hands each row to `row`.
template <typename F>
core::Result<void> each_row(
    Database& db, const HistoryQuery& q, std::string_view sql, F&& row, std::int64_t from_id = 0) {
  auto st = db.prepare(sql);
  if (!st) return tl::unexpected(st.error());
  st->bind(1, q.since).bind(2, q.until);
  if (from_id != 0) st->bind(3, from_id);
  while (true) {
    auto more = st->step();
    if (!more) return tl::unexpected(more.error());
    if (!*more) return {};
    row(*st);
  }
}

core::Result<void> read_runs(Database& db, History& h) {
  return each_row(db, {}, "SELECT id, started, pid, interval_s, version FROM runs ORDER BY id",
                  [&](const Statement& s) {
                    h.runs.push_back({.id = s.column_int(0),
                                      .started = s.column_double(1),
                                      .pid = static_cast<std::int32_t>(s.column_int(2)),
                                      .interval_s = s.column_double(3),
                                      .version = s.column_text(4)});
                  });
}

core::Result<void> read_extent(Database& db, History& h) {
  return each_row(db, {}, "SELECT count(*), min(t), max(t) FROM intervals",
                  [&](const Statement& s) {
                    h.intervals_in_database = static_cast<std::uint64_t>(s.column_int(0));
                    if (!s.column_is_null(1)) h.first_recorded = s.column_double(1);
                    if (!s.column_is_null(2)) h.last_recorded = s.column_double(2);
                  });
}

core::Result<void> read_rows(Database& db, const HistoryQuery& q, History& h) {
  Index at;
  auto r = each_row(db, q,
                    "SELECT id, run, t, total FROM intervals WHERE t BETWEEN ?1 AND ?2 "
                    "ORDER BY t, id",
                    [&](const Statement& s) {
                      at[s.column_int(0)] = h.intervals.size();
                      h.intervals.push_back({.id = s.column_int(0),
                                             .run = s.column_int(1),
                                             .time = s.column_double(2),
                                             .total = static_cast<std::uint64_t>(s.column_int(3))});
                    });
  if (!r) return r;
  if (h.intervals.empty()) return {};
  // A row of an interval that was not listed can only come from a damaged or hand-edited file
  // (e.g. an id stored as text): it lands in a record nobody reads instead of throwing.
  IntervalRecord unlisted;
  auto of = [&](const Statement& s) -> IntervalRecord& {
    auto it = at.find(s.column_int(0));
    return it == at.end() ? unlisted : h.intervals[it->second];
  };
  // Budgets and findings: of every interval, or of the last one only (ids grow with time).
  const std::int64_t from_id = q.every_detail ? 0 : h.intervals.back().id;
  const std::string_view last_only = q.every_detail ? "" : " AND c.interval >= ?3";
  r = each_row(db, q,
               "SELECT c.interval, c.state, c.count FROM states c JOIN intervals i "
               "ON i.id = c.interval WHERE i.t BETWEEN ?1 AND ?2",
               [&](const Statement& s) {
                 if (auto i = state_index(s.column_text(1)))
                   of(s).states[*i] = static_cast<std::uint64_t>(s.column_int(2));
               });
  if (!r) return r;
  r = each_row(db, q,
               "SELECT c.interval, c.pid, c.name, c.close_wait, c.fin_wait2, c.oldest_s, c.unit "
               "FROM holders c JOIN intervals i ON i.id = c.interval "
               "WHERE i.t BETWEEN ?1 AND ?2 ORDER BY c.rowid",
               [&](const Statement& s) {
                 HolderRecord x{.pid = static_cast<std::int32_t>(s.column_int(1)),
                                .name = s.column_text(2),
                                .close_wait = static_cast<std::uint64_t>(s.column_int(3)),
                                .fin_wait2 = static_cast<std::uint64_t>(s.column_int(4)),
                                .unit = s.column_text(6)};
                 if (!s.column_is_null(5)) x.oldest_s = s.column_double(5);
                 of(s).holders.push_back(std::move(x));
               });
  if (!r) return r;
  r = each_row(
      db, q,
      std::string("SELECT c.interval, c.netns, c.source, c.destination, c.time_wait, "
                  "c.fin_wait2, c.live, c.usable FROM budgets c JOIN intervals i ON "
                  "i.id = c.interval WHERE i.t BETWEEN ?1 AND ?2") +
          std::string(last_only) + " ORDER BY c.rowid",
      [&](const Statement& s) {
        of(s).budgets.push_back({.netns = static_cast<std::uint32_t>(s.column_int(1)),
                                 .source = s.column_text(2),
                                 .destination = s.column_text(3),
                                 .time_wait = static_cast<std::uint64_t>(s.column_int(4)),
                                 .fin_wait2 = static_cast<std::uint64_t>(s.column_int(5)),
                                 .live = static_cast<std::uint64_t>(s.column_int(6)),
                                 .usable = s.column_int(7)});
      },
      from_id);
  if (!r) return r;
  return each_row(
      db, q,
      std::string("SELECT c.interval, c.rule, c.severity, c.title, c.pid, c.count "
                  "FROM findings c JOIN intervals i ON i.id = c.interval WHERE i.t "
                  "BETWEEN ?1 AND ?2") +
          std::string(last_only) + " ORDER BY c.rowid",
      [&](const Statement& s) {
        const auto sev = std::clamp<std::int64_t>(s.column_int(2), 0, 2);
        of(s).findings.push_back({.rule = s.column_text(1),
                                  .severity = static_cast<analyze::Severity>(sev),
                                  .title = s.column_text(3),
                                  .pid = static_cast<std::int32_t>(s.column_int(4)),
                                  .count = static_cast<std::uint64_t>(s.column_int(5))});
      },
      from_id);
}

} // namespace

core::Result<History>
read_history(const std::string& path, const HistoryQuery& query, const OpenOptions& options) {
  Contents contents = Contents::Empty;
  auto db = open_for_reading(path, contents, options);
  if (!db) return tl::unexpected(db.error());
  History h;
  h.path = path;
  h.window_start = query.since;
  h.window_end = query.until;
  if (contents == Contents::Empty) return h;
  // One read transaction: every SELECT below sees the same snapshot of the WAL.
  if (auto r = db->exec("BEGIN"); !r) return tl::unexpected(r.error());
  for (auto step : {read_runs, read_extent})
    if (auto r = step(*db, h); !r) return tl::unexpected(r.error());
  if (auto r = read_rows(*db, query, h); !r) return tl::unexpected(r.error());
  (void)db->exec("COMMIT");
  return h;
}

} // namespace sockdoctor::store
