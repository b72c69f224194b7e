// Units, containers and pods: recorded cgroup paths decoded, a recorded /var/log/pods tree, a
// cgroup tree made at test time (ids are real directory inodes), and orphans attributed through
// their cgroup id in the host model, check's findings and their renderings.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "../fixtures/check/snapshot_builder.hpp"
#include "analyze/host_model.hpp"
#include "collect/workloads.hpp"
#include "core/workload_decode.hpp"
#include "render/findings_text.hpp"
#include "render/socket_list.hpp"
#include "render/workload.hpp"

using namespace sockdoctor;
using core::TcpState;
using test_support::SnapshotBuilder;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = SOCKDOCTOR_FIXTURES;
const std::string kPodUid = "8f2d6a1e-3b4c-4d5e-9f60-718293a4b5c6";
const std::string kApiId = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const std::string kKubePath = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                              "8f2d6a1e_3b4c_4d5e_9f60_718293a4b5c6.slice/cri-containerd-" +
                              kApiId + ".scope";

std::string dash(const std::string& s) {
  return s == "-" ? std::string() : s;
}

struct PathCase {
  std::string path, unit, container_id, runtime, pod_uid, comment;
};

std::vector<PathCase> recorded_paths() {
  std::ifstream in(kFixtures + "/cgroup/paths.tsv");
  std::vector<PathCase> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, '\t');)
      f.push_back(part);
    if (f.size() != 6) throw std::runtime_error("paths.tsv: 6 fields expected: " + line);
    out.push_back({f[0], dash(f[1]), dash(f[2]), dash(f[3]), dash(f[4]), f[5]});
  }
  return out;
}

// A cgroup v2 tree made of plain directories under a temporary --sys-root.
class CgroupTree {
public:
  CgroupTree()
      : root_(fs::temp_directory_path() / ("sockdoctor-cg-" + std::to_string(::getpid()))) {
    fs::remove_all(root_);
    fs::create_directories(mount());
  }
  ~CgroupTree() { fs::remove_all(root_); }
  fs::path mount() const { return root_ / "fs/cgroup/unified"; }
  std::string sys() const { return root_.string(); }
  std::uint64_t make(const std::string& path) {
    const fs::path dir = mount() / path.substr(1);
    fs::create_directories(dir);
    struct stat st {};
    EXPECT_EQ(::stat(dir.c_str(), &st), 0);
    return st.st_ino;
  }

private:
  fs::path root_;
};

core::FsRoot fixture_root(const std::string& sys) {
  core::FsRoot r;
  r.sys = sys;
  r.pods_log = kFixtures + "/pods/var/log/pods";
  return r;
}

} // namespace

TEST(CgroupPath, RecordedPathsOfEveryRuntimeAndDriver) {
  const auto cases = recorded_paths();
  ASSERT_GE(cases.size(), 15u);
  for (const auto& c : cases) {
    const auto w = core::decode_cgroup_path(c.path);
    EXPECT_EQ(w.unit, c.unit) << c.comment << ": " << c.path;
    EXPECT_EQ(w.container_id, c.container_id) << c.comment << ": " << c.path;
    EXPECT_EQ(w.runtime, c.runtime) << c.comment << ": " << c.path;
    EXPECT_EQ(w.pod_uid, c.pod_uid) << c.comment << ": " << c.path;
    EXPECT_TRUE(w.pod_name.empty());
  }
}

TEST(CgroupPath, ContainerIdsAreLowerCaseAndShortened) {
  const std::string upper(64, 'A');
  const auto w = core::decode_cgroup_path("/system.slice/docker-" + upper + ".scope");
  EXPECT_EQ(w.container_id, std::string(64, 'a'));
  EXPECT_EQ(core::short_container_id(w.container_id), std::string(12, 'a'));
}

TEST(CgroupPath, HostileInputNeverThrowsAndNamesNoUnit) {
  EXPECT_EQ(core::decode_cgroup_path("/user.slice/x\x1b[31m.service").unit, "");
  EXPECT_EQ(core::decode_cgroup_path("/a/\xff\xfe.scope").unit, "");
  EXPECT_EQ(core::decode_cgroup_path("/" + std::string(300, 'a') + ".service").unit, "");
  EXPECT_EQ(core::decode_cgroup_path("/.service").unit, "");
  EXPECT_EQ(core::decode_cgroup_path(std::string(5000, '/')).unit, "");
  EXPECT_TRUE(
      core::decode_cgroup_path("/x.service/" + std::string(5000, 'b')).empty()); // > PATH_MAX
  std::string deep;
  for (int i = 0; i < 200; ++i)
    deep += "/d" + std::to_string(i) + ".service";
  EXPECT_EQ(core::decode_cgroup_path(deep).unit, "d63.service"); // only the first 64 components
  EXPECT_TRUE(core::decode_cgroup_path("/kubepods/pod/::::").pod_uid.empty());
  EXPECT_TRUE(core::decode_cgroup_path("/kubepods.slice/kubepods-pod.slice").pod_uid.empty());
  EXPECT_TRUE(core::decode_cgroup_path("/kubepods/pod../..").pod_uid.empty());
  EXPECT_TRUE(core::decode_cgroup_path("/system.slice/pod12345678").pod_uid.empty()); // no kubepods
  EXPECT_TRUE(core::decode_cgroup_path("/kubepods.slice/a.slice:cri-containerd:").empty());
  EXPECT_TRUE(core::decode_cgroup_path(std::string_view("/x\0y.service", 12)).unit.empty());
}

TEST(PodLogNames, ParsesAndRejects) {
  const std::string dir = "shop_cart-7d9_" + kPodUid; // the parts are views into it
  auto n = core::parse_pod_log_dir(dir);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->namespace_name, "shop");
  EXPECT_EQ(n->name, "cart-7d9");
  EXPECT_EQ(n->uid, kPodUid);
  EXPECT_FALSE(core::parse_pod_log_dir("not-a-pod"));
  EXPECT_FALSE(core::parse_pod_log_dir("a_b_c_d"));
  EXPECT_FALSE(core::parse_pod_log_dir("Shop_cart_" + kPodUid));     // upper case
  EXPECT_FALSE(core::parse_pod_log_dir("shop_c\x1b[2J_" + kPodUid)); // escape sequence
  EXPECT_FALSE(core::parse_pod_log_dir("__"));
  const std::string log = "cart-7d9_shop_api-" + kApiId + ".log";
  auto c = core::parse_container_log_name(log);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->container, "api");
  EXPECT_EQ(c->id, kApiId);
  EXPECT_FALSE(core::parse_container_log_name("junk.log"));
  EXPECT_FALSE(core::parse_container_log_name("a_b_C-" + kApiId + ".log"));
}

TEST(PodTable, ReadsARecordedTree) {
  auto t = collect::read_pod_table(fixture_root("/sys"));
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->by_uid.size(), 2u); // "not-a-pod" and "a_b_c_d" skipped
  const auto& cart = t->by_uid.at(kPodUid);
  EXPECT_EQ(cart.namespace_name, "shop");
  EXPECT_EQ(cart.name, "cart-7d9");
  EXPECT_EQ(cart.containers, (std::vector<std::string>{"api", "istio-proxy"}));
  EXPECT_EQ(t->container_names.at(kApiId), "api");
  EXPECT_EQ(t->container_names.size(), 2u);

  core::Workload w = core::decode_cgroup_path(kKubePath);
  core::name_pod(w, *t);
  EXPECT_EQ(w.pod_namespace, "shop");
  EXPECT_EQ(w.pod_name, "cart-7d9");
  EXPECT_EQ(w.container_name, "api");
  // Single-container pod: its one container directory names it, whatever the id.
  core::Workload dns = core::decode_cgroup_path(
      "/kubepods/pod1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5/crio-" + std::string(64, 'c'));
  core::name_pod(dns, *t);
  EXPECT_EQ(dns.pod_name, "coredns-5d78c9869d-x2x4k");
  EXPECT_EQ(dns.container_name, "coredns");
  core::FsRoot missing;
  missing.pods_log = "/nonexistent/sockdoctor/pods";
  EXPECT_FALSE(collect::read_pod_table(missing));
}

TEST(CgroupWalk, IdsAreDirectoryInodes) {
  CgroupTree tree;
  const auto nginx = tree.make("/system.slice/nginx.service");
  const auto kube = tree.make(kKubePath);
  const auto mount = collect::cgroup2_mount(fixture_root(tree.sys()));
  EXPECT_EQ(mount, tree.mount().string());
  auto ids = collect::walk_cgroups(mount, {});
  ASSERT_TRUE(ids) << ids.error().message;
  EXPECT_EQ(ids->at(nginx), "/system.slice/nginx.service");
  EXPECT_EQ(ids->at(kube), kKubePath);
  collect::WalkLimits small;
  small.max_cgroups = 3;
  EXPECT_EQ(collect::walk_cgroups(mount, small)->size(), 3u); // bounded
}

TEST(WorkloadCache, OrphanNamedThroughItsCgroupIdAndPodsReadOnlyOnAMiss) {
  CgroupTree tree;
  const auto kube = tree.make(kKubePath);
  const auto nginx = tree.make("/system.slice/nginx.service");
  collect::WorkloadCache cache(fixture_root(tree.sys()));

  SnapshotBuilder b;
  b.add(TcpState::FinWait1, "10.0.0.1:40000", "10.0.0.9:443").cgroup_id = kube;
  b.add(TcpState::LastAck, "10.0.0.1:80", "10.0.0.9:5000").cgroup_id = nginx;
  b.add(TcpState::FinWait2, "10.0.0.1:40001", "10.0.0.9:443").cgroup_id = 999999999; // removed
  core::Snapshot snap = b.finish();
  auto status = cache.fill(snap, nullptr, true, true);
  EXPECT_TRUE(status.success);
  EXPECT_EQ(cache.walks(), 1u);
  EXPECT_EQ(cache.pod_reads(), 1u);
  EXPECT_EQ(snap.workloads.cgroup_paths.at(kube), kKubePath);
  EXPECT_EQ(snap.workloads.cgroup_paths.size(), 2u);
  ASSERT_TRUE(snap.workloads.pods);

  // The next sample: the same ids, a removed one included, cost no walk and no pod read.
  core::Snapshot again = b.finish();
  again.sockets = snap.sockets;
  cache.fill(again, nullptr, true, true);
  EXPECT_EQ(cache.walks(), 1u);
  EXPECT_EQ(cache.pod_reads(), 1u);
  EXPECT_EQ(again.workloads.cgroup_paths.size(), 2u);
  // A new cgroup: one more walk.
  const auto fresh = tree.make("/system.slice/fresh.service");
  again.sockets.back().cgroup_id = fresh;
  cache.fill(again, nullptr, true, true);
  EXPECT_EQ(cache.walks(), 2u);
  EXPECT_EQ(again.workloads.cgroup_paths.at(fresh), "/system.slice/fresh.service");
}

TEST(HostModelWorkloads, HoldersFindingsAndLsJsonNameUnitsContainersAndPods) {
  CgroupTree tree;
  const auto kube = tree.make(kKubePath);
  collect::WorkloadCache cache(fixture_root(tree.sys()));
  SnapshotBuilder b;
  b.process(300, "nginx");
  SnapshotBuilder::set_idle(b.owned(300, TcpState::CloseWait, "10.0.0.1:80", "10.0.0.7:5000"), 400);
  // An orphaned FIN_WAIT2 whose other end is local (so check reports it), created in the pod.
  auto& o = b.add(TcpState::FinWait2, "127.0.0.1:40000", "127.0.0.1:9000");
  o.cgroup_id = kube;
  o.timer = core::TimerKind::Keepalive;
  b.owned(300, TcpState::CloseWait, "127.0.0.1:9000", "127.0.0.1:40000");
  core::Snapshot snap = b.finish();
  snap.owners.mutable_processes()[0].cgroup = "/system.slice/nginx.service";
  cache.fill(snap, nullptr, true, true);

  auto sample = std::make_shared<core::Sample>();
  sample->snapshot = std::move(snap);
  analyze::HostModelOptions opt;
  opt.diagnose.min_age_seconds = 0;
  const auto m = analyze::build_host_model(sample, opt);

  bool held = false, orphaned = false;
  for (const auto& h : m.holders) {
    if (h.pid == 300) held = h.workload.unit == "nginx.service" && h.workload.container_id.empty();
    if (h.pid == analyze::kNoOwner)
      orphaned = h.workload.pod_name == "cart-7d9" && h.workload.container_name == "api" &&
                 h.workload.runtime == "containerd" && h.fin_wait2 == 1;
  }
  EXPECT_TRUE(held);
  EXPECT_TRUE(orphaned);

  const analyze::Finding* leak = nullptr;
  const analyze::Finding* orphan = nullptr;
  for (const auto& f : m.diagnosis.findings) {
    if (f.id == "close_wait_leak") leak = &f;
    if (f.id == "fin_wait2_orphaned") orphan = &f;
  }
  ASSERT_TRUE(leak && orphan);
  EXPECT_EQ(leak->workload.unit, "nginx.service");
  EXPECT_EQ(orphan->workload.pod_namespace, "shop");

  std::ostringstream text;
  render::render_findings_text(text, m.diagnosis, {});
  EXPECT_NE(text.str().find("unit      nginx.service"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("container a1b2c3d4e5f6\u2026 (containerd)"), std::string::npos);
  EXPECT_NE(text.str().find("pod       shop/cart-7d9 (container api)"), std::string::npos);

  std::vector<std::uint32_t> rows{0, 1, 2};
  std::ostringstream json;
  render::render_socket_json(json, {&m.snapshot(), rows, m.ages, true, &m.workloads});
  EXPECT_NE(
      json.str().find(R"("comm":"nginx","cmdline":"nginx","workload":{"unit":"nginx.service")"),
      std::string::npos)
      << json.str();
  EXPECT_NE(
      json.str().find(R"("owners":[],"workload":{"unit":null,"container_id":")" + kApiId +
                      R"(","runtime":"containerd","pod_uid":")" + kPodUid +
                      R"(","pod_name":"cart-7d9","pod_namespace":"shop","container_name":"api"})"),
      std::string::npos)
      << json.str();
}

TEST(WorkloadRender, NamesAreEscaped) {
  core::Workload w;
  w.unit = "a\x1b[31m.service"; // only from a hand-made Workload: the decoder refuses it
  w.pod_uid = "u";
  analyze::Diagnosis d;
  analyze::Finding f;
  f.id = "x";
  f.title = "t";
  f.workload = w;
  d.findings.push_back(f);
  std::ostringstream text;
  render::render_findings_text(text, d, {});
  EXPECT_EQ(text.str().find('\x1b'), std::string::npos);
  EXPECT_NE(text.str().find("a\\x1b[31m.service"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("pod       uid u"), std::string::npos);
}

// Decoders take any bytes: pieces of real paths shuffled with hostile ones. Whatever comes in,
// nothing throws and what comes out is bounded and made of the characters each field allows.
TEST(CgroupPath, RandomInputKeepsTheInvariants) {
  const std::vector<std::string> pieces = {"/",
                                           "//",
                                           "kubepods",
                                           "kubepods.slice",
                                           "-pod",
                                           "pod",
                                           ".slice",
                                           ".scope",
                                           ".service",
                                           "docker-",
                                           "cri-containerd-",
                                           "crio-",
                                           "crio-conmon-",
                                           "libpod-",
                                           ":",
                                           "_",
                                           "-",
                                           "\x1b[2J",
                                           "\xff",
                                           std::string(1, '\0'),
                                           "\u202e",
                                           kApiId,
                                           kPodUid,
                                           "8f2d6a1e_3b4c",
                                           "abc",
                                           "@",
                                           "\\"};
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  auto next = [&x] { // xorshift64: deterministic, so a failure reproduces
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  auto allowed = [](const std::string& s, std::string_view extra) {
    for (char c : s)
      if (!std::isalnum(static_cast<unsigned char>(c)) && extra.find(c) == std::string_view::npos)
        return false;
    return true;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string in;
    const auto n = next() % 24;
    for (std::uint64_t j = 0; j < n; ++j)
      in += pieces[next() % pieces.size()];
    core::Workload w;
    ASSERT_NO_THROW(w = core::decode_cgroup_path(in));
    EXPECT_LE(w.unit.size(), core::kMaxUnitName);
    EXPECT_TRUE(allowed(w.unit, ":_.\\@-")) << w.unit;
    EXPECT_LE(w.container_id.size(), 64u);
    EXPECT_TRUE(allowed(w.container_id, "")) << w.container_id;
    EXPECT_LE(w.pod_uid.size(), 64u);
    EXPECT_TRUE(allowed(w.pod_uid, "-")) << w.pod_uid;
    ASSERT_NO_THROW(core::parse_pod_log_dir(in));
    ASSERT_NO_THROW(core::parse_container_log_name(in));
  }
}

// Figures for docs/performance.md: run with --gtest_also_run_disabled_tests.
TEST(WorkloadBench, DISABLED_WalkTenThousandCgroupsAndDecodeTheirPaths) {
  CgroupTree tree;
  std::vector<std::string> paths;
  for (int s = 0; s < 100; ++s)
    for (int c = 0; c < 100; ++c)
      paths.push_back("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                      std::to_string(s) + "aaaaaaaa.slice/cri-containerd-" + kApiId.substr(0, 60) +
                      std::to_string(1000 + c) + ".scope");
  for (const auto& p : paths)
    tree.make(p);
  const auto mount = collect::cgroup2_mount(fixture_root(tree.sys()));
  auto t0 = std::chrono::steady_clock::now();
  auto ids = collect::walk_cgroups(mount, {});
  auto t1 = std::chrono::steady_clock::now();
  std::size_t units = 0;
  for (int round = 0; round < 10; ++round)
    for (const auto& p : paths)
      units += core::decode_cgroup_path(p).container_id.size();
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(ids);
  std::printf("walk: %zu cgroups in %.1f ms; decode: %.2f us per path (%zu)\n", ids->size(),
              std::chrono::duration<double, std::milli>(t1 - t0).count(),
              std::chrono::duration<double, std::micro>(t2 - t1).count() / (10.0 * paths.size()),
              units);
}

// A TIME_WAIT entry carries no cgroup id, but the register recorded its closer's: a short-lived
// client that has exited is still named by its unit.
TEST(HostModelWorkloads, TimeWaitCloserFromTheRegisterNamedByItsCgroup) {
  SnapshotBuilder b;
  b.time_wait("10.0.0.1:40000", "10.0.0.9:443").cookie = 77;
  auto sample = std::make_shared<core::Sample>();
  sample->snapshot = b.finish();
  sample->snapshot.workloads.cgroup_paths[4242] = "/system.slice/cron-job.service";
  core::TracedView view;
  core::TracedSocket e;
  e.state = TcpState::TimeWait;
  e.owner.pid = 999;
  e.owner.comm = "curl";
  e.owner.cgroup_id = 4242;
  e.owner.role = core::OwnerRole::Close;
  view.by_cookie.emplace(77, e);
  sample->traced = view;
  const auto m = analyze::build_host_model(sample);
  ASSERT_EQ(m.time_wait.size(), 1u);
  EXPECT_EQ(m.time_wait[0].how, analyze::Attribution::Traced);
  EXPECT_EQ(m.time_wait[0].pid, 999);
  EXPECT_EQ(m.time_wait[0].workload.unit, "cron-job.service");
}

TEST(WorkloadCache, NoCgroupHierarchyIsSaidOncePerId) {
  collect::WorkloadCache cache(fixture_root("/nonexistent/sockdoctor-sys"));
  SnapshotBuilder b;
  b.add(TcpState::LastAck, "10.0.0.1:80", "10.0.0.9:5000").cgroup_id = 1234;
  core::Snapshot snap = b.finish();
  auto first = cache.fill(snap, nullptr, true, false);
  ASSERT_EQ(first.notes.size(), 1u);
  EXPECT_NE(first.notes[0].find("no cgroup2 hierarchy"), std::string::npos);
  EXPECT_TRUE(snap.workloads.cgroup_paths.empty());
  EXPECT_TRUE(cache.fill(snap, nullptr, true, false).notes.empty());
  EXPECT_EQ(cache.walks(), 0u);
}
