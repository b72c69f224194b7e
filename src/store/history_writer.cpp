// HistoryWriter: prepared statements, one IMMEDIATE transaction per interval, retention pruning
// inside the same transaction (a crash leaves either the interval and its prune, or neither).
#include "store/history_writer.hpp"

#include <unistd.h>

#include "core/tcp_state.hpp"

namespace sockdoctor::store {

struct HistoryWriter::Statements {
  Statement run;
  Statement interval;
  Statement state;
  Statement holder;
  Statement budget;
  Statement finding;
  std::vector<Statement> prune; // children first, then intervals, then runs
};

namespace {

core::Result<Statement> prep(Database& db, std::string_view sql) {
  return db.prepare(sql);
}

constexpr const char* kPrune[] = {
    "DELETE FROM states WHERE interval IN (SELECT id FROM intervals WHERE t < ?1)",
    "DELETE FROM holders WHERE interval IN (SELECT id FROM intervals WHERE t < ?1)",
    "DELETE FROM budgets WHERE interval IN (SELECT id FROM intervals WHERE t < ?1)",
    "DELETE FROM findings WHERE interval IN (SELECT id FROM intervals WHERE t < ?1)",
    "DELETE FROM intervals WHERE t < ?1",
    "DELETE FROM runs WHERE started < ?1 AND id <> ?2 AND id NOT IN (SELECT run FROM intervals)",
};

} // namespace

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

HistoryWriter::HistoryWriter(Database db, WriterOptions options, std::unique_ptr<Statements> st)
    : db_(std::move(db)), options_(std::move(options)), st_(std::move(st)) {}

HistoryWriter::HistoryWriter(HistoryWriter&&) noexcept = default;
HistoryWriter& HistoryWriter::operator=(HistoryWriter&&) noexcept = default;
HistoryWriter::~HistoryWriter() = default;

core::Result<HistoryWriter> HistoryWriter::open(const std::string& path, WriterOptions options) {
  if (options.pid == 0) options.pid = static_cast<std::int32_t>(::getpid());
  auto db = open_for_writing(path, options.open);
  if (!db) return tl::unexpected(db.error());
  auto run = prep(*db, "INSERT INTO runs(started, pid, interval_s, version) VALUES(?,?,?,?)");
  auto interval = prep(*db, "INSERT INTO intervals(run, t, total) VALUES(?,?,?)");
  auto state = prep(*db, "INSERT INTO states(interval, state, count) VALUES(?,?,?)");
  auto holder = prep(*db, "INSERT INTO holders(interval, pid, name, close_wait, fin_wait2, "
                          "oldest_s, unit) VALUES(?,?,?,?,?,?,?)");
  auto budget = prep(*db, "INSERT INTO budgets(interval, netns, source, destination, time_wait, "
                          "fin_wait2, live, usable) VALUES(?,?,?,?,?,?,?,?)");
  auto finding = prep(*db, "INSERT INTO findings(interval, rule, severity, title, pid, count) "
                           "VALUES(?,?,?,?,?,?)");
  for (auto* s : {&run, &interval, &state, &holder, &budget, &finding})
    if (!*s) return tl::unexpected(s->error());
  auto st = std::unique_ptr<Statements>(new Statements{std::move(*run),
                                                       std::move(*interval),
                                                       std::move(*state),
                                                       std::move(*holder),
                                                       std::move(*budget),
                                                       std::move(*finding),
                                                       {}});
  for (const char* sql : kPrune) {
    auto p = prep(*db, sql);
    if (!p) return tl::unexpected(p.error());
    st->prune.push_back(std::move(*p));
  }
  return HistoryWriter(std::move(*db), std::move(options), std::move(st));
}

core::Result<void> HistoryWriter::note_start(double time) {
  auto& s = st_->run;
  s.bind(1, time).bind(2, std::int64_t{options_.pid}).bind(3, options_.interval_s);
  s.bind(4, std::string_view(options_.version));
  if (auto r = s.run(); !r) return tl::unexpected(core::with_context("run", r.error()));
  run_ = db_.last_insert_rowid();
  return {};
}

core::Result<void> HistoryWriter::record(const analyze::HostModel& model,
                                         std::chrono::system_clock::time_point time) {
  return record(interval_record(model, unix_seconds(time), options_.limits));
}

core::Result<void> HistoryWriter::record(const IntervalRecord& interval) {
  if (!run_)
    if (auto r = note_start(interval.time); !r) return r;
  auto tx = Transaction::begin(db_);
  if (!tx) return tl::unexpected(tx.error());
  if (auto r = write_interval(interval); !r) return r;
  const bool prune_due = !last_prune_ || interval.time - *last_prune_ >= options_.prune_every_s ||
                         interval.time < *last_prune_; // the clock went back
  if (prune_due && options_.retention_s > 0) {
    if (auto r = prune_before(interval.time - options_.retention_s); !r)
      return tl::unexpected(r.error());
    last_prune_ = interval.time;
  }
  return tx->commit();
}

core::Result<void> HistoryWriter::write_interval(const IntervalRecord& r) {
  auto& iv = st_->interval;
  iv.bind(1, *run_).bind(2, r.time).bind(3, static_cast<std::int64_t>(r.total));
  if (auto x = iv.run(); !x) return tl::unexpected(core::with_context("interval", x.error()));
  const std::int64_t id = db_.last_insert_rowid();
  for (std::size_t i = 0; i < r.states.size(); ++i) {
    if (r.states[i] == 0) continue; // absent means zero
    auto& s = st_->state;
    s.bind(1, id).bind(2, core::snake_name(static_cast<core::TcpState>(i)));
    s.bind(3, static_cast<std::int64_t>(r.states[i]));
    if (auto x = s.run(); !x) return tl::unexpected(core::with_context("states", x.error()));
  }
  for (const auto& h : r.holders) {
    auto& s = st_->holder;
    s.bind(1, id).bind(2, std::int64_t{h.pid}).bind(3, std::string_view(h.name));
    s.bind(4, static_cast<std::int64_t>(h.close_wait));
    s.bind(5, static_cast<std::int64_t>(h.fin_wait2));
    h.oldest_s ? s.bind(6, *h.oldest_s) : s.bind_null(6);
    s.bind(7, std::string_view(h.unit));
    if (auto x = s.run(); !x) return tl::unexpected(core::with_context("holders", x.error()));
  }
  for (const auto& b : r.budgets) {
    auto& s = st_->budget;
    s.bind(1, id).bind(2, std::int64_t{b.netns}).bind(3, std::string_view(b.source));
    s.bind(4, std::string_view(b.destination)).bind(5, static_cast<std::int64_t>(b.time_wait));
    s.bind(6, static_cast<std::int64_t>(b.fin_wait2)).bind(7, static_cast<std::int64_t>(b.live));
    s.bind(8, b.usable);
    if (auto x = s.run(); !x) return tl::unexpected(core::with_context("budgets", x.error()));
  }
  for (const auto& f : r.findings) {
    auto& s = st_->finding;
    s.bind(1, id).bind(2, std::string_view(f.rule)).bind(3, std::int64_t{int(f.severity)});
    s.bind(4, std::string_view(f.title)).bind(5, std::int64_t{f.pid});
    s.bind(6, static_cast<std::int64_t>(f.count));
    if (auto x = s.run(); !x) return tl::unexpected(core::with_context("findings", x.error()));
  }
  return {};
}

core::Result<std::uint64_t> HistoryWriter::prune_before(double cutoff) {
  std::optional<Transaction> own; // called alone: all of the prune or nothing
  if (!db_.in_transaction()) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tl::unexpected(tx.error());
    own.emplace(std::move(*tx));
  }
  std::uint64_t removed = 0;
  for (std::size_t i = 0; i < st_->prune.size(); ++i) {
    auto& s = st_->prune[i];
    s.bind(1, cutoff);
    if (i + 1 == st_->prune.size()) s.bind(2, run_.value_or(0));
    if (auto x = s.run(); !x) return tl::unexpected(core::with_context("prune", x.error()));
    if (i + 2 == st_->prune.size()) removed = static_cast<std::uint64_t>(db_.changes());
  }
  if (own)
    if (auto r = own->commit(); !r) return tl::unexpected(r.error());
  return removed;
}

} // namespace sockdoctor::store
