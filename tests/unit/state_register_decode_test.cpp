// Decoders of the state register's BPF records: recorded fixtures (tests/tools/record_register)
// and hand-made edge cases, plus the /proc/PID/stat parser its host uses.
#include "collect/state_register_decode.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "collect/bpf/state_register.h"
#include "collect/state_register.hpp"

namespace sockdoctor::collect {
namespace {

using core::TcpState;

std::vector<std::byte> read_fixture(const std::string& name) {
  std::ifstream f(std::string(SOCKDOCTOR_FIXTURES) + "/register/" + name, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

nlohmann::json meta() {
  std::ifstream f(std::string(SOCKDOCTOR_FIXTURES) + "/register/meta.json");
  return nlohmann::json::parse(f);
}

std::vector<core::SocketTransition> recorded_events() {
  const auto bytes = read_fixture("events.bin");
  EXPECT_EQ(bytes.size() % kRegisterEventSize, 0u);
  std::vector<core::SocketTransition> out;
  for (std::size_t off = 0; off + kRegisterEventSize <= bytes.size(); off += kRegisterEventSize) {
    auto t = decode_register_event(std::span(bytes).subspan(off, kRegisterEventSize));
    EXPECT_TRUE(t) << "record at " << off << ": " << (t ? "" : t.error().message);
    if (t) out.push_back(*t);
  }
  return out;
}

// ---------- recorded events ----------

TEST(RegisterEventFixture, EveryRecordDecodesWithTheRecordersOwner) {
  const auto events = recorded_events();
  const auto m = meta();
  ASSERT_GE(events.size(), 30u);
  for (const auto& t : events) {
    EXPECT_EQ(t.owner.pid, m["pid"].get<int>());
    EXPECT_EQ(t.owner.comm, m["comm"].get<std::string>());
    EXPECT_NE(t.cookie, 0u);
    EXPECT_NE(t.netns_ino, 0u);
    EXPECT_TRUE(t.tracked);
  }
  const auto& first = events.front();
  EXPECT_EQ(first.old_state, TcpState::Close);
  EXPECT_EQ(first.new_state, TcpState::Listen);
  EXPECT_EQ(first.owner.role, core::OwnerRole::Listen);
  EXPECT_EQ(core::to_string(first.local), "127.0.0.1:" + std::to_string(m["port"].get<int>()));
  EXPECT_FALSE(first.in_old_state_ns) << "the CLOSE state before listen() is not timed";
}

TEST(RegisterEventFixture, OwnersComeFromSyscallTransitionsOnly) {
  for (const auto& t : recorded_events()) {
    if (t.new_state == TcpState::CloseWait) { // runs in softirq: must not teach an owner
      EXPECT_NE(t.owner.role, core::OwnerRole::Close) << core::to_string(t.local);
    }
    if (t.new_state == TcpState::FinWait1 || t.new_state == TcpState::LastAck) {
      EXPECT_EQ(t.owner.role, core::OwnerRole::Close);
    }
    if (t.new_state == TcpState::SynRecv) {
      EXPECT_EQ(t.owner.role, core::OwnerRole::Accept);
    }
  }
}

TEST(RegisterEventFixture, ClientAndServerTimeWaitBelongToWhoClosedFirst) {
  const auto m = meta();
  const auto port = static_cast<std::uint16_t>(m["port"].get<int>());
  const core::SocketTransition* client_tw = nullptr; // IPv4: the client closed first
  const core::SocketTransition* server_tw = nullptr; // IPv6: the server closed first
  const auto events = recorded_events();             // kept alive: the pointers below point into it
  for (const auto& t : events) {
    if (t.new_state != TcpState::TimeWait) continue;
    if (t.local.addr.family == core::Family::Ipv4 && t.peer.port == port) client_tw = &t;
    if (t.local.addr.family == core::Family::Ipv6 && t.local.port == port) server_tw = &t;
  }
  ASSERT_NE(client_tw, nullptr);
  ASSERT_NE(server_tw, nullptr);
  EXPECT_EQ(client_tw->owner.role, core::OwnerRole::Close);
  EXPECT_EQ(server_tw->owner.role, core::OwnerRole::Close);
  // The client's mini-socket got the server's FIN 300 ms after its own close, in the same timer
  // wheel bucket: no timer event, found by the sweep, timed from the timer (one jiffy).
  EXPECT_EQ(client_tw->kind, core::TransitionKind::State);
  EXPECT_TRUE(client_tw->time_from_timer);
  ASSERT_TRUE(client_tw->in_old_state_ns);
  EXPECT_NEAR(static_cast<double>(*client_tw->in_old_state_ns) / 1e6, 300, 50);
  // The server's full socket was replaced by a TIME_WAIT mini-socket at once.
  EXPECT_EQ(server_tw->kind, core::TransitionKind::TimeWaitStart);
  EXPECT_EQ(server_tw->old_state, TcpState::FinWait2);
  EXPECT_FALSE(server_tw->time_from_timer);
  EXPECT_EQ(core::to_string(server_tw->local), "[::1]:" + std::to_string(port));
}

TEST(RegisterEventFixture, DurationsMatchTheEntryTimesOfTheSameSocket) {
  std::map<std::uint64_t, std::uint64_t> entered; // cookie -> time of its last transition
  for (const auto& t : recorded_events()) {
    auto it = entered.find(t.cookie);
    if (it != entered.end() && t.in_old_state_ns && !t.time_from_timer && !t.old_from_timer) {
      EXPECT_EQ(*t.in_old_state_ns, t.time_boot_ns - it->second) << t.cookie;
    }
    entered[t.cookie] = t.time_boot_ns;
  }
}

// ---------- recorded map entries and counters ----------

TEST(RegisterEntryFixture, TheStatesLeftAtTheEnd) {
  const auto bytes = read_fixture("entries.bin");
  constexpr std::size_t stride = 8 + kRegisterEntrySize;
  ASSERT_EQ(bytes.size() % stride, 0u);
  std::multiset<TcpState> states;
  for (std::size_t off = 0; off < bytes.size(); off += stride) {
    auto e = decode_register_entry(std::span(bytes).subspan(off + 8, kRegisterEntrySize));
    ASSERT_TRUE(e) << e.error().message;
    states.insert(e->state);
    EXPECT_TRUE(e->born_traced);
    EXPECT_TRUE(e->entered_exact);
    if (e->state == TcpState::TimeWait || e->state == TcpState::FinWait2) {
      EXPECT_TRUE(e->mini_socket);
      EXPECT_TRUE(e->closed_by_owner()) << "a TIME_WAIT or orphan belongs to its closer";
    }
    if (e->state == TcpState::CloseWait) {
      EXPECT_EQ(e->owner.role, core::OwnerRole::Accept);
    }
  }
  const std::multiset<TcpState> want = {TcpState::Listen,   TcpState::Listen,   TcpState::Listen,
                                        TcpState::TimeWait, TcpState::TimeWait, TcpState::FinWait2,
                                        TcpState::CloseWait};
  EXPECT_EQ(states, want);
}

TEST(RegisterCountersFixture, SummedOverTheRecordedCpus) {
  const auto bytes = read_fixture("counters.bin");
  const auto cpus = meta()["cpus"].get<std::size_t>();
  auto c = decode_register_counters(bytes, cpus);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_GE(c->transitions, 25u);
  EXPECT_EQ(c->inserts, 9u); // 3 connections x (listener, client, accepted)
  EXPECT_EQ(c->insert_failures, 0u);
  EXPECT_EQ(c->ring_drops, 0u);
  EXPECT_EQ(c->tw_starts, 3u); // v4 client (FIN_WAIT2), v6 server, the CLOSE_WAIT's peer
  EXPECT_EQ(c->tw_swept, 1u);
  EXPECT_EQ(c->evictions, 0u); // recorded with room to spare
  EXPECT_EQ(c->reclaimed, 0u);
  EXPECT_FALSE(decode_register_counters(bytes, cpus + 1)) << "too few bytes for more CPUs";
  EXPECT_FALSE(decode_register_counters(bytes, 0));
}

// ---------- hand-made records ----------

sr_event good_event() {
  sr_event ev{};
  ev.ts_ns = 5'000'000'000;
  ev.cookie = 77;
  ev.old_entered_ns = 4'000'000'000;
  ev.owner.pid = 4242;
  std::memcpy(ev.owner.comm, "nginx", 5);
  ev.netns = 4026531840u;
  ev.family = 2;
  ev.sport = 443;
  ev.dport = 51000;
  ev.old_state = 1;
  ev.new_state = 8;
  ev.kind = SR_EV_STATE;
  ev.flags = SR_EVF_OLD_SEEN;
  ev.role = SR_ROLE_ACCEPT;
  const std::uint8_t local[4] = {10, 0, 0, 1}, peer[4] = {127, 0, 0, 1};
  std::memcpy(ev.saddr, local, 4);
  std::memcpy(ev.daddr, peer, 4);
  return ev;
}

std::vector<std::byte> bytes_of(const sr_event& ev, std::size_t extra = 0) {
  std::vector<std::byte> out(sizeof ev + extra);
  std::memcpy(out.data(), &ev, sizeof ev);
  return out;
}

TEST(RegisterEventDecode, FieldsAndByteOrder) {
  auto t = decode_register_event(bytes_of(good_event()));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(core::to_string(t->local), "10.0.0.1:443");
  EXPECT_EQ(core::to_string(t->peer), "127.0.0.1:51000");
  EXPECT_EQ(t->old_state, TcpState::Established);
  EXPECT_EQ(t->new_state, TcpState::CloseWait);
  ASSERT_TRUE(t->in_old_state_ns);
  EXPECT_EQ(*t->in_old_state_ns, 1'000'000'000u);
  EXPECT_EQ(t->owner.comm, "nginx");
  EXPECT_EQ(t->owner.role, core::OwnerRole::Accept);
  EXPECT_EQ(t->netns_ino, 4026531840u);
}

TEST(RegisterEventDecode, Ipv6AndAFullSixteenByteComm) {
  sr_event ev = good_event();
  ev.family = 10;
  std::memset(ev.saddr, 0, 16);
  ev.saddr[15] = 1;
  std::memset(ev.daddr, 0, 16);
  ev.daddr[10] = ev.daddr[11] = 0xff;
  ev.daddr[12] = 127;
  ev.daddr[15] = 1;
  std::memcpy(ev.owner.comm, "0123456789abcdef", 16); // no NUL: the kernel's comm is 16 bytes
  auto t = decode_register_event(bytes_of(ev));
  ASSERT_TRUE(t);
  EXPECT_EQ(core::to_string(t->local), "[::1]:443");
  EXPECT_EQ(core::to_string(t->peer), "[::ffff:127.0.0.1]:51000");
  EXPECT_EQ(t->owner.comm, "0123456789abcdef");
}

TEST(RegisterEventDecode, UnknownStartOrClockGoingBackGivesNoDuration) {
  sr_event ev = good_event();
  ev.flags = 0;
  EXPECT_FALSE(decode_register_event(bytes_of(ev))->in_old_state_ns);
  ev = good_event();
  ev.old_entered_ns = ev.ts_ns + 1;
  EXPECT_FALSE(decode_register_event(bytes_of(ev))->in_old_state_ns);
  ev = good_event();
  ev.flags = SR_EVF_OLD_SEEN | SR_EVF_NO_ENTRY;
  EXPECT_FALSE(decode_register_event(bytes_of(ev))->tracked);
}

TEST(RegisterEventDecode, RejectsShortAndOutOfRangeRecords) {
  const auto good = bytes_of(good_event());
  EXPECT_EQ(decode_register_event(std::span(good).first(good.size() - 1)).error().code,
            core::ErrorCode::Malformed);
  EXPECT_FALSE(decode_register_event({}));
  EXPECT_TRUE(decode_register_event(bytes_of(good_event(), 16))) << "a longer record is newer";
  auto broken = [](auto change) {
    sr_event ev = good_event();
    change(ev);
    return !decode_register_event(bytes_of(ev));
  };
  EXPECT_TRUE(broken([](sr_event& e) { e.old_state = 0; }));
  EXPECT_TRUE(broken([](sr_event& e) { e.new_state = 12; }));
  EXPECT_TRUE(broken([](sr_event& e) { e.kind = 0; }));
  EXPECT_TRUE(broken([](sr_event& e) { e.kind = 6; }));
  EXPECT_TRUE(broken([](sr_event& e) { e.family = 1; }));
  EXPECT_TRUE(broken([](sr_event& e) { e.role = 5; }));
}

TEST(RegisterEventDecode, AnyBytesDecodeOrAreRejectedNeverCrash) {
  std::mt19937_64 rng(12345);
  std::vector<std::byte> buf(kRegisterEventSize);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    for (auto& b : buf)
      b = static_cast<std::byte>(rng());
    if (i % 2 == 0) { // keep the enum fields in range half of the time
      buf[offsetof(sr_event, old_state)] = std::byte{static_cast<unsigned char>(1 + rng() % 11)};
      buf[offsetof(sr_event, new_state)] = std::byte{static_cast<unsigned char>(1 + rng() % 11)};
      buf[offsetof(sr_event, kind)] = std::byte{static_cast<unsigned char>(1 + rng() % 5)};
      buf[offsetof(sr_event, role)] = std::byte{static_cast<unsigned char>(rng() % 5)};
      buf[offsetof(sr_event, family)] = std::byte{static_cast<unsigned char>(rng() % 2 ? 2 : 10)};
      buf[offsetof(sr_event, family) + 1] = std::byte{0};
    }
    const std::size_t len = i % 8 == 7 ? rng() % buf.size() : buf.size();
    auto t = decode_register_event(std::span(buf).first(len));
    if (t) {
      ++decoded;
      EXPECT_LE(t->owner.comm.size(), 16u);
    }
  }
  EXPECT_GT(decoded, 1000);
}

TEST(RegisterEntryDecode, FlagsAndRejects) {
  sr_entry e{};
  e.entered_ns = 123;
  e.state = 6;
  e.flags = SR_F_ENTRY_SEEN | SR_F_MINISOCK | SR_F_FROM_TIMER;
  e.role = SR_ROLE_CLOSE;
  e.owner.pid = 9;
  std::vector<std::byte> raw(sizeof e);
  std::memcpy(raw.data(), &e, sizeof e);
  auto d = decode_register_entry(raw);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, TcpState::TimeWait);
  EXPECT_TRUE(d->entered_exact && d->entered_from_timer && d->mini_socket);
  EXPECT_FALSE(d->born_traced);
  EXPECT_TRUE(d->closed_by_owner());
  EXPECT_FALSE(decode_register_entry(std::span(raw).first(47)));
  e.state = 0;
  std::memcpy(raw.data(), &e, sizeof e);
  EXPECT_FALSE(decode_register_entry(raw));
}

TEST(RegisterInfoDecode, VersionMustMatch) {
  sr_info info{};
  info.abi_version = SR_ABI_VERSION;
  info.host_pid = 31;
  info.host_start_ticks = 99;
  info.started_boot_ns = 1'000;
  info.started_real_ns = 1'700'000'000'000'000'000ULL;
  info.max_entries = 4096;
  info.features = SR_FEAT_TIME_WAIT;
  std::vector<std::byte> raw(sizeof info);
  std::memcpy(raw.data(), &info, sizeof info);
  auto d = decode_register_info(raw);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host_pid, 31);
  EXPECT_EQ(d->max_entries, 4096u);
  EXPECT_TRUE(d->time_wait_traced);
  EXPECT_EQ(d->to_real_ns(2'000), 1'700'000'000'000'001'000LL);
  info.abi_version = SR_ABI_VERSION + 1;
  std::memcpy(raw.data(), &info, sizeof info);
  EXPECT_EQ(decode_register_info(raw).error().code, core::ErrorCode::Malformed);
}

// ---------- /proc texts ----------

TEST(ProcStat, StartTimeCountsFieldsFromTheLastParenthesis) {
  const std::string stat = "1234 (evil) comm ) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 6 0 0 20 "
                           "0 1 0 987654 12345678 300 18446744073709551615\n";
  EXPECT_EQ(parse_stat_starttime(stat), 987654u);
  EXPECT_FALSE(parse_stat_starttime("1234 (short) S 1 2 3\n"));
  EXPECT_FALSE(parse_stat_starttime("no parenthesis at all"));
  EXPECT_FALSE(parse_stat_starttime("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12ab 1\n"));
}

TEST(TracedAge, OnlyForTheObservedStateAndAnExactStart) {
  core::TracedSocket e;
  e.state = TcpState::CloseWait;
  e.entered_boot_ns = 1'000;
  e.entered_exact = true;
  EXPECT_EQ(core::traced_age_ns(e, TcpState::CloseWait, 5'000), 4'000u);
  EXPECT_FALSE(core::traced_age_ns(e, TcpState::LastAck, 5'000)) << "the sample saw another state";
  EXPECT_FALSE(core::traced_age_ns(e, TcpState::CloseWait, 500)) << "clock before the entry";
  e.entered_exact = false;
  EXPECT_FALSE(core::traced_age_ns(e, TcpState::CloseWait, 5'000));
}

} // namespace
} // namespace sockdoctor::collect
