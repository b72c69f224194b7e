// `serve`'s /metrics bytes: golden text and OpenMetrics output from a recorded sock_diag dump with
// a recorded /proc/sys tree, and from a hostile host (escaping, "other" rows, workload labels);
// both linted by `promtool check metrics` when it is installed. UPDATE_GOLDEN=1 rewrites them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/host_model.hpp"
#include "collect/sampler.hpp"
#include "render/exposition.hpp"
#include "render/prometheus.hpp"

namespace sockdoctor {
namespace {

using core::TcpState;
using render::ExpositionFormat;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void check_golden(const std::string& name, const std::string& got) {
  const std::string path = std::string(SOCKDOCTOR_FIXTURES) + "/golden/serve/" + name;
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << got;
    GTEST_SKIP() << "rewrote " << path;
  }
  const std::string want = read_file(path);
  ASSERT_FALSE(want.empty()) << path << " is missing: run with UPDATE_GOLDEN=1 and review it";
  EXPECT_EQ(got, want) << "output differs from " << path;
}

// promtool's linter on the text format (skipped where promtool is not installed).
void expect_promtool_clean(const std::string& text) {
  if (::access("/usr/bin/promtool", X_OK) != 0) return;
  const std::string path = ::testing::TempDir() + "/metrics.prom";
  std::ofstream(path, std::ios::binary) << text;
  const std::string cmd = "/usr/bin/promtool check metrics < " + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string lint;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    lint += buf;
  EXPECT_EQ(::pclose(p), 0) << lint;
}

std::string
render(const analyze::HostModel& m, const render::SeriesLimits& lim, ExpositionFormat f) {
  render::ExporterInfo info{.version = "0.1.0",
                            .own_netns = 4026531840u,
                            .missing = {"owners_of_other_users"},
                            .samples = 3};
  std::ostringstream out;
  render::render_prometheus(out, m, info, lim, f);
  return out.str();
}

analyze::HostModel replayed_model() {
  collect::SamplerOptions o;
  o.replay_file = std::string(SOCKDOCTOR_FIXTURES) + "/netlink/all_states.bin";
  o.root.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/linux-6.18";
  o.owner_backend = collect::OwnerBackend::Proc;
  o.register_pin_root = "";
  collect::Sampler sampler(o);
  auto sample = sampler.take({});
  EXPECT_TRUE(sample.has_value());
  for (auto& c : sample->collectors)
    c.duration_seconds = 0.0125; // the only value that changes from run to run
  return analyze::build_host_model(std::make_shared<const core::Sample>(std::move(*sample)));
}

TEST(PrometheusRender, ReplayGolden) {
  const auto m = replayed_model();
  const std::string text = render(m, {}, ExpositionFormat::Text);
  check_golden("replay.prom", text);
  check_golden("replay.openmetrics", render(m, {}, ExpositionFormat::OpenMetrics));
  expect_promtool_clean(text);
  EXPECT_NE(text.find("sockdoctor_sockets{netns=\"4026531840\",state=\"close_wait\"} 4\n"),
            std::string::npos);
}

// Five processes with hostile names hold CLOSE_WAIT sockets; two share a name and a unit.
analyze::HostModel hostile_model() {
  test_support::SnapshotBuilder b;
  const char* names[] = {"evil\x1b]0;x\x07\n", "quo\"te\\", "bad\xff", "api", "api", "cron"};
  std::int32_t pid = 100;
  for (const char* name : names) {
    b.process(++pid, name, 1000, 1024);
    for (int i = 0; i <= pid % 4; ++i)
      test_support::SnapshotBuilder::set_idle(
          b.owned(pid, TcpState::CloseWait, "10.0.0.1:" + std::to_string(40000 + pid * 10 + i),
                  "10.0.0.5:8080"),
          10.5 * pid + i);
  }
  for (int i = 0; i < 12; ++i)
    b.time_wait("10.0.0.1:" + std::to_string(50000 + i), "10.0.0.9:" + std::to_string(443 + i % 4),
                1.5 + i);
  auto sample = std::make_shared<core::Sample>();
  sample->snapshot = b.finish();
  sample->snapshot.namespaces = {{0, "default"}, {4026532001u, "ctr\x1b[2J"}};
  sample->snapshot.sockets.back().netns_ino = 4026532001u;
  sample->kernel = core::KernelSettings{};
  sample->kernel->tcp_ext = {{"TCPTimeWaitOverflow", 7}, {"ListenOverflows", 3}};
  sample->kernel->sockstat_orphan = 2;
  sample->kernel->tcp_max_orphans = 65536;
  sample->collectors = {
      {.name = "sockets", .source = "sock_diag", .success = true, .duration_seconds = 0.5},
      {.name = "owners", .source = "proc", .success = false, .denied = 3}};
  auto m = analyze::build_host_model(sample);
  for (auto& h : m.holders)
    if (h.comm == "api")
      h.workload = {.unit = "api.service",
                    .container_id = std::string(64, 'a'),
                    .pod_name = "api-7d9",
                    .pod_namespace = "shop",
                    .container_name = "api"};
  return m;
}

TEST(PrometheusRender, HostileGoldenWithLimits) {
  const auto m = hostile_model();
  const render::SeriesLimits lim{.holders = 3, .destinations = 2, .namespaces = 1};
  const std::string text = render(m, lim, ExpositionFormat::Text);
  check_golden("hostile.prom", text);
  check_golden("hostile.openmetrics", render(m, lim, ExpositionFormat::OpenMetrics));
  expect_promtool_clean(text);
  // No control byte and no pid reaches the output.
  for (char c : text)
    EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << int(c);
  EXPECT_EQ(text.find("pid"), std::string::npos);
  // The two "api" processes are one row; the rest beyond 3 rows are summed into "other".
  EXPECT_NE(text.find("owner=\"process\",comm=\"api\",unit=\"api.service\",container=\"api\","
                      "pod=\"api-7d9\",pod_namespace=\"shop\",state=\"close_wait\"}"),
            std::string::npos);
  EXPECT_NE(text.find("{owner=\"other\""), std::string::npos);
  EXPECT_NE(text.find("destination=\"other\"} "), std::string::npos);
  EXPECT_NE(text.find("netns=\"other\""), std::string::npos);
}

TEST(PrometheusRender, WorstCaseBoundsTheOutput) {
  const auto m = hostile_model();
  const render::SeriesLimits lim{.holders = 1, .destinations = 1, .namespaces = 1};
  const std::string text = render(m, lim, ExpositionFormat::Text);
  std::size_t series = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    series += !line.empty() && line[0] != '#';
  EXPECT_LE(series, render::worst_case_series(lim, 1));
}

// With a register read, its capacity and what its programs had to give up are samples; a
// register whose counters could not be read gives its capacity and no counter samples.
TEST(PrometheusRender, RegisterCapacityAndWhatItGaveUp) {
  test_support::SnapshotBuilder b;
  b.add(TcpState::CloseWait, "10.0.0.1:40000", "10.0.0.5:8080");
  auto sample = std::make_shared<core::Sample>();
  sample->snapshot = b.finish();
  core::TracedView view;
  view.info.max_entries = 131072;
  view.counters = core::RegisterCounters{};
  view.counters->evictions = 5;
  view.counters->insert_failures = 2;
  view.counters->reclaimed = 9;
  sample->traced = view;
  const std::string text = render(analyze::build_host_model(sample), {}, ExpositionFormat::Text);
  expect_promtool_clean(text);
  for (const char* line :
       {"sockdoctor_register_up 1\n", "sockdoctor_register_capacity_entries 131072\n",
        "sockdoctor_register_evictions_total 5\n", "sockdoctor_register_not_stored_total 2\n",
        "sockdoctor_register_reclaimed_total 9\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;

  sample->traced->counters.reset();
  const std::string without =
      render(analyze::build_host_model(sample), {}, ExpositionFormat::OpenMetrics);
  EXPECT_NE(without.find("sockdoctor_register_capacity_entries 131072\n"), std::string::npos);
  EXPECT_EQ(without.find("sockdoctor_register_evictions_total "), std::string::npos) << without;
}

TEST(PrometheusRender, LabelValueEscaping) {
  std::string out;
  render::append_label_value(out, "a\"b\\c\nd\xff");
  EXPECT_EQ(out, "a\\\"b\\\\\\\\c\\\\x0ad\\\\xff");
}

} // namespace
} // namespace sockdoctor
