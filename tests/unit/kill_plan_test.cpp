// kill's selection (no LISTEN unless named, never everything), durations, the --older-than test,
// what destroying does per state, and the audit line (escaped, one line).
#include <gtest/gtest.h>

#include <memory>

#include "analyze/kill_knowledge.hpp"
#include "analyze/kill_plan.hpp"
#include "render/kill_report.hpp"

using namespace sockdoctor;
using core::TcpState;

namespace {

core::TcpSocket sock(TcpState st, std::uint16_t lport, std::uint32_t inode) {
  core::TcpSocket s;
  s.local.addr = *core::parse_address("127.0.0.1");
  s.local.port = lport;
  s.peer.addr = *core::parse_address("127.0.0.1");
  s.peer.port = st == TcpState::Listen ? 0 : 8080;
  s.state = st;
  s.inode = inode;
  s.cookie = lport;
  return s;
}

analyze::HostModel model_with(std::vector<core::TcpSocket> socks, std::vector<analyze::Age> ages) {
  auto sample = std::make_shared<core::Sample>();
  sample->snapshot.sockets = std::move(socks);
  analyze::HostModel m;
  m.sample = sample;
  m.ages = std::move(ages);
  return m;
}

analyze::Age age(double s, bool lower = false) {
  analyze::Age a;
  a.seconds = s;
  a.lower_bound = lower;
  a.basis = analyze::AgeBasis::LastAck;
  return a;
}

} // namespace

TEST(KillPlan, Durations) {
  EXPECT_EQ(analyze::parse_duration("90"), 90);
  EXPECT_EQ(analyze::parse_duration("90s"), 90);
  EXPECT_EQ(analyze::parse_duration("5m"), 300);
  EXPECT_EQ(analyze::parse_duration("2h"), 7200);
  EXPECT_EQ(analyze::parse_duration("1d"), 86400);
  EXPECT_EQ(analyze::parse_duration("1h30m"), 5400);
  EXPECT_EQ(analyze::parse_duration("1.5h"), 5400);
  EXPECT_FALSE(analyze::parse_duration(""));
  EXPECT_FALSE(analyze::parse_duration("-5m"));
  EXPECT_FALSE(analyze::parse_duration("5x"));
  EXPECT_FALSE(analyze::parse_duration("1h30")); // a bare number only on its own
  EXPECT_FALSE(analyze::parse_duration("m"));
}

TEST(KillPlan, SelectionNeverMeansEverything) {
  EXPECT_FALSE(analyze::build_kill_selection({}, ""));
  analyze::FilterArgs a;
  a.states = {"all"};
  auto sel = analyze::build_kill_selection(a, "");
  ASSERT_TRUE(sel);
  EXPECT_FALSE(sel->listen_named);
  EXPECT_EQ(sel->filter.state_mask & core::state_bit(TcpState::Listen), 0u);
  EXPECT_NE(sel->filter.state_mask & core::state_bit(TcpState::CloseWait), 0u);
  a.states = {"close-wait,LISTEN"};
  sel = analyze::build_kill_selection(a, "");
  ASSERT_TRUE(sel);
  EXPECT_TRUE(sel->listen_named);
  EXPECT_NE(sel->filter.state_mask & core::state_bit(TcpState::Listen), 0u);
  a.states = {"bogus"};
  EXPECT_FALSE(analyze::build_kill_selection(a, ""));
  analyze::FilterArgs port_only;
  port_only.ports = {8080};
  sel = analyze::build_kill_selection(port_only, "");
  ASSERT_TRUE(sel);
  EXPECT_EQ(sel->filter.state_mask & core::state_bit(TcpState::Listen), 0u);
  EXPECT_FALSE(analyze::build_kill_selection(port_only, "soon"));
}

TEST(KillPlan, ListenersAndAges) {
  const auto m =
      model_with({sock(TcpState::Listen, 8080, 1), sock(TcpState::CloseWait, 40001, 2),
                  sock(TcpState::CloseWait, 40002, 3), sock(TcpState::Established, 40003, 4)},
                 {analyze::Age{}, age(700, true), age(30, true), analyze::Age{}});
  analyze::FilterArgs a;
  a.ports = {8080};
  auto sel = analyze::build_kill_selection(a, "");
  ASSERT_TRUE(sel);
  EXPECT_EQ(analyze::plan_kill(m, *sel).rows, (std::vector<std::uint32_t>{1, 2, 3}));
  sel = analyze::build_kill_selection(a, "10m");
  ASSERT_TRUE(sel);
  const auto plan = analyze::plan_kill(m, *sel);
  EXPECT_EQ(plan.rows, (std::vector<std::uint32_t>{1})); // only the bound that reaches 10 min
  EXPECT_EQ(plan.too_young, 1u);
  EXPECT_EQ(plan.age_unknown, 1u); // ESTABLISHED: no age, never matched by --older-than
}

TEST(KillKnowledge, EffectsFollowTheKernel) {
  core::KernelSettings k618;
  k618.kernel_release = "6.18.44";
  k618.kernel_major = 6;
  k618.kernel_minor = 18;
  k618.config_inet_diag_destroy = true;
  const auto now = analyze::destroy_effects(k618);
  const auto* cw = analyze::effect_for(now, TcpState::CloseWait, false);
  ASSERT_NE(cw, nullptr);
  EXPECT_EQ(cw->result, "destroyed");
  EXPECT_EQ(cw->rst, true);
  EXPECT_NE(cw->owner_sees.find("fd stays open"), std::string::npos);
  EXPECT_EQ(analyze::effect_for(now, TcpState::LastAck, true)->rst, false);
  EXPECT_EQ(analyze::effect_for(now, TcpState::TimeWait, true)->result, "destroyed");

  auto k510 = k618;
  k510.kernel_major = 5;
  k510.kernel_minor = 10;
  const auto old = analyze::destroy_effects(k510);
  EXPECT_NE(analyze::effect_for(old, TcpState::TimeWait, true)->result.find("EOPNOTSUPP"),
            std::string::npos);
  EXPECT_NE(analyze::effect_for(old, TcpState::LastAck, true)->result.find("does nothing"),
            std::string::npos);
  EXPECT_EQ(analyze::effect_for(old, TcpState::CloseWait, false)->result, "destroyed");

  auto unbuilt = k618;
  unbuilt.config_inet_diag_destroy = false;
  for (const auto& e : analyze::destroy_effects(unbuilt))
    EXPECT_NE(e.result.find("CONFIG_INET_DIAG_DESTROY"), std::string::npos) << e.label;
}

TEST(KillReport, AuditLineIsOneEscapedLine) {
  core::Snapshot snap;
  auto s = sock(TcpState::CloseWait, 40001, 77);
  s.netns_ino = 4026531840u;
  snap.sockets.push_back(s);
  core::ProcessInfo p;
  p.pid = 4242;
  p.comm = "evil\n\x1b[2Jname\"";
  const auto idx = snap.owners.add_process(p);
  snap.owners.add_fd(77, idx, 5);
  snap.owners.finalize();
  render::AuditActor who;
  who.uid = 0;
  who.user = "root";
  who.pid = 99;
  who.command = "sockdoctor kill --comm \"x y\" --yes";
  render::KillRow row{0, "destroyed", 0, 0, ""};
  const auto line = render::audit_line(who, snap, row);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_NE(line.find("result=destroyed"), std::string::npos);
  EXPECT_NE(line.find("netns=4026531840 cookie=40001 state=close_wait"), std::string::npos);
  EXPECT_NE(line.find("local=127.0.0.1:40001 peer=127.0.0.1:8080"), std::string::npos);
  EXPECT_NE(line.find("owner=\"4242/evil\\u000a\\u001b[2Jname\\\"\""), std::string::npos) << line;
  EXPECT_NE(line.find("cmd=\"sockdoctor kill --comm \\\"x y\\\" --yes\""), std::string::npos);
  EXPECT_EQ(render::kill_summary({row, {0, "stale", 0, 0, ""}}), "1 destroyed, 1 stale");
}
