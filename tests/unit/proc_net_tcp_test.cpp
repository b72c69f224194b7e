// /proc/net/tcp{,6} decoder: the recorded fixture, agreement with sock_diag, filters, bad input.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "collect/proc_net_tcp.hpp"
#include "collect/sock_diag.hpp"

using namespace sockdoctor;
using collect::decode_proc_net_tcp;
using collect::read_proc_net_tcp;
using collect::SockDiagRequest;
using core::Family;
using core::TcpSocket;
using core::TcpState;
using core::TimerKind;

namespace {

const std::string kFixtures = SOCKDOCTOR_FIXTURES;

core::FsRoot fixture_root() {
  core::FsRoot root;
  root.proc = kFixtures + "/proc_net";
  return root;
}

std::vector<TcpSocket> read_fixture(SockDiagRequest f = {}) {
  std::vector<TcpSocket> out;
  auto r = read_proc_net_tcp(fixture_root(), f, out);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return out;
}

const TcpSocket*
find(const std::vector<TcpSocket>& v, Family fam, std::uint16_t lport, std::uint16_t pport) {
  for (const auto& s : v)
    if (s.family() == fam && s.local.port == lport && s.peer.port == pport) return &s;
  return nullptr;
}

// A scratch /proc root, removed when the test ends.
class TempProc {
public:
  TempProc() {
    char tmpl[] = "/tmp/proc_net_tcp_test.XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    if (dir == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = dir;
    std::filesystem::create_directories(path_ / "net");
  }
  ~TempProc() { std::filesystem::remove_all(path_); }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(path_ / rel) << text;
  }
  core::FsRoot root() const {
    core::FsRoot r;
    r.proc = path_.string();
    return r;
  }

private:
  std::filesystem::path path_;
};

const char* kHeader4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
                       "   uid  timeout inode\n";
const char* kListenRow = "   0: 0100007F:1389 00000000:0000 0A 00000000:00000000 00:00000000 "
                         "00000000     0        0 30026 1 00000000cce09e44 100 0 0 10 0\n";

} // namespace

TEST(ProcNetTcpFixture, PerStateCountsMatchSockDiag) {
  auto v = read_fixture();
  EXPECT_EQ(v.size(), 32u);
  std::vector<TcpSocket> diag;
  auto r =
      collect::replay_sock_diag(kFixtures + "/netlink/all_states.bin", SockDiagRequest{}, diag);
  ASSERT_TRUE(r) << r.error().message;
  // Same sockets recorded moments apart: same states, endpoints, owners and receive queues.
  ASSERT_EQ(v.size(), diag.size());
  for (const auto& d : diag) {
    const auto* p = find(v, d.family(), d.local.port, d.peer.port);
    ASSERT_NE(p, nullptr) << core::to_string(d.local) << " " << core::to_string(d.peer);
    EXPECT_EQ(p->state, d.state);
    EXPECT_EQ(p->local, d.local);
    EXPECT_EQ(p->peer, d.peer);
    EXPECT_EQ(p->inode, d.inode);
    EXPECT_EQ(p->uid, d.uid);
    EXPECT_EQ(p->recv_q, d.recv_q);
    EXPECT_EQ(p->timer, d.timer) << core::to_string(d.local);
    // LISTEN rows print write_seq - snd_una, where sock_diag reports the max backlog.
    if (d.state != TcpState::Listen) {
      EXPECT_EQ(p->send_q, d.send_q);
    }
    EXPECT_EQ(p->cookie, 0u);
    EXPECT_FALSE(p->has_info);
  }
}

TEST(ProcNetTcpFixture, SpecificRows) {
  auto v = read_fixture();
  // "0100007F:1389" is 127.0.0.1:5001: the address word is host-endian, the port is not.
  const auto* l = find(v, Family::Ipv4, 5001, 0);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(core::to_string(l->local), "127.0.0.1:5001");
  EXPECT_EQ(l->state, TcpState::Listen);
  EXPECT_EQ(l->send_q, 0u);
  EXPECT_EQ(find(v, Family::Ipv4, 5002, 0)->recv_q, 1u); // accept backlog
  const auto* l6 = find(v, Family::Ipv6, 5001, 0);
  ASSERT_NE(l6, nullptr);
  EXPECT_EQ(core::to_string(l6->local), "[::1]:5001");
  EXPECT_EQ(core::to_string(l6->peer), "[::]:0");

  for (Family fam : {Family::Ipv4, Family::Ipv6}) {
    SCOPED_TRACE(fam == Family::Ipv4 ? "ipv4" : "ipv6");
    const auto* tw = find(v, fam, 40004, 5001);
    ASSERT_NE(tw, nullptr);
    EXPECT_EQ(tw->state, TcpState::TimeWait);
    EXPECT_EQ(tw->timer, TimerKind::TimeWait);
    EXPECT_EQ(tw->inode, 0u);
    // tm->when is in clock_t (1/100 s): 0x1752 = 5970 ticks = 59.7 s.
    EXPECT_GT(tw->timer_remaining_ms, 50000u);
    EXPECT_LE(tw->timer_remaining_ms, 60000u);
    EXPECT_EQ(tw->timer_remaining_ms % 10, 0u);
    const auto* fw2 = find(v, fam, 40002, 5001);
    EXPECT_EQ(fw2->state, TcpState::FinWait2); // the mini-socket's substate
    EXPECT_EQ(fw2->timer, TimerKind::TimeWait);
    EXPECT_EQ(find(v, fam, 5001, 40002)->recv_q, 8u); // CLOSE_WAIT: 7 bytes + the FIN
    const auto* syn = find(v, fam, 40008, 5002);
    EXPECT_EQ(syn->state, TcpState::SynSent);
    EXPECT_EQ(syn->timer, TimerKind::Retransmit);
    EXPECT_EQ(syn->send_q, 1u); // the SYN itself
    const auto* la = find(v, fam, 5001, 40006);
    EXPECT_EQ(la->state, TcpState::LastAck);
    EXPECT_EQ(la->inode, 0u);
    EXPECT_EQ(la->timer, TimerKind::Probe0);
  }
}

TEST(ProcNetTcpFixture, Filters) {
  SockDiagRequest f;
  f.state_mask = core::state_bit(TcpState::CloseWait) | core::state_bit(TcpState::TimeWait);
  auto v = read_fixture(f);
  EXPECT_EQ(v.size(), 6u);
  f.ipv6 = false;
  v = read_fixture(f);
  EXPECT_EQ(v.size(), 3u);
  for (const auto& s : v)
    EXPECT_EQ(s.family(), Family::Ipv4);
  f = SockDiagRequest{};
  f.ipv4 = false;
  v = read_fixture(f);
  EXPECT_EQ(v.size(), 16u);
  for (const auto& s : v)
    EXPECT_EQ(s.family(), Family::Ipv6);
}

TEST(ProcNetTcpDecode, ValuesOfOneRow) {
  std::vector<TcpSocket> out;
  const std::string text = std::string(kHeader4) +
                           "   1: 0100007F:9C45 0200007F:1389 04 00001001:00000010 04:00000005 "
                           "00000003  1000        2 0 2 00000000d9a74ef8 21 0 0 14 -1\n";
  ASSERT_TRUE(decode_proc_net_tcp(text, Family::Ipv4, SockDiagRequest{}, out));
  ASSERT_EQ(out.size(), 1u);
  const auto& s = out[0];
  EXPECT_EQ(core::to_string(s.local), "127.0.0.1:40005");
  EXPECT_EQ(core::to_string(s.peer), "127.0.0.2:5001");
  EXPECT_EQ(s.state, TcpState::FinWait1);
  EXPECT_EQ(s.send_q, 0x1001u);
  EXPECT_EQ(s.recv_q, 0x10u);
  EXPECT_EQ(s.timer, TimerKind::Probe0);
  EXPECT_EQ(s.timer_remaining_ms, 50u);
  EXPECT_EQ(s.retrans, 2); // zero-window timer: the probes column, as idiag_retrans
  EXPECT_EQ(s.uid, 1000u);
  EXPECT_EQ(s.inode, 0u);
}

TEST(ProcNetTcpDecode, HeaderOnlyAndBlankLines) {
  std::vector<TcpSocket> out;
  EXPECT_TRUE(decode_proc_net_tcp(kHeader4, Family::Ipv4, SockDiagRequest{}, out));
  EXPECT_TRUE(decode_proc_net_tcp("", Family::Ipv4, SockDiagRequest{}, out));
  EXPECT_TRUE(decode_proc_net_tcp(std::string(kHeader4) + "\n" + kListenRow + "\n", Family::Ipv4,
                                  SockDiagRequest{}, out));
  EXPECT_EQ(out.size(), 1u);
}

TEST(ProcNetTcpDecode, GarbageLinesAreErrorsWithLineNumbers) {
  const std::string bad_rows[] = {
      "garbage\n",
      "   1: 0100007F:1389\n", // cut short
      "   1: 0100007Z:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
      "   1: 0100007F:1389 00000000:0000 0A 00000000-00000000 00:00000000 00000000 0 0 1\n",
      "   1: 0100007F:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000 x 0 1\n",
      // An IPv6-sized address in the IPv4 file.
      "   1: 0000000000000000FFFF00000100007F:1389 00000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000 0 0 1\n",
  };
  for (const auto& row : bad_rows) {
    std::vector<TcpSocket> out(1);
    auto r = decode_proc_net_tcp(std::string(kHeader4) + kListenRow + row, Family::Ipv4,
                                 SockDiagRequest{}, out);
    ASSERT_FALSE(r) << row;
    EXPECT_NE(r.error().message.find("line 3"), std::string::npos) << r.error().message;
    EXPECT_EQ(out.size(), 1u); // nothing appended on error
  }
}

TEST(ProcNetTcpRead, MalformedFileIsNamed) {
  TempProc proc;
  proc.write("net/tcp", std::string(kHeader4) + kListenRow);
  proc.write("net/tcp6", std::string(kHeader4) + "  0: nonsense\n");
  std::vector<TcpSocket> out;
  auto r = read_proc_net_tcp(proc.root(), SockDiagRequest{}, out);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("net/tcp6: line 2"), std::string::npos) << r.error().message;
  EXPECT_TRUE(out.empty());
}

TEST(ProcNetTcpRead, MissingTcp6IsNotAnErrorButMissingTcpIs) {
  TempProc proc;
  proc.write("net/tcp", std::string(kHeader4) + kListenRow);
  std::vector<TcpSocket> out;
  auto r = read_proc_net_tcp(proc.root(), SockDiagRequest{}, out);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out.size(), 1u);

  TempProc empty;
  out.clear();
  r = read_proc_net_tcp(empty.root(), SockDiagRequest{}, out);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("net/tcp"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().sys_errno, ENOENT);
}

TEST(ProcNetTcpRead, LiveProcParses) {
  // Whatever this machine has right now must parse (format drift would show here first).
  std::vector<TcpSocket> out;
  auto r = read_proc_net_tcp(core::FsRoot{}, SockDiagRequest{}, out);
  ASSERT_TRUE(r) << r.error().message;
}
