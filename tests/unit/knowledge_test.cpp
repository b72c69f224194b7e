// Explain knowledge base: every topic renders, every fact is sourced, no myth is stated as fact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <string>
#include <vector>

#include "analyze/knowledge.hpp"
#include "collect/kernel_settings.hpp"

namespace an = sockdoctor::analyze;
using sockdoctor::core::KernelSettings;

namespace {

KernelSettings fixture(const std::string& name) {
  sockdoctor::core::FsRoot r;
  r.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/" + name;
  auto k = sockdoctor::collect::read_kernel_settings(r);
  EXPECT_TRUE(k) << name;
  return k ? *k : KernelSettings{};
}

std::vector<KernelSettings> kernels() {
  KernelSettings v515;
  v515.kernel_release = "5.15.0";
  v515.kernel_major = 5;
  v515.kernel_minor = 15;
  KernelSettings alibaba = v515;
  alibaba.tcp_tw_timeout = 30;
  KernelSettings v612 = v515;
  v612.kernel_release = "6.12.30";
  v612.kernel_major = 6;
  v612.kernel_minor = 12;
  v612.kernel_patch = 30;
  return {KernelSettings{},
          fixture("linux-6.18"),
          fixture("linux-6.18-tuned"),
          fixture("linux-4.9"),
          fixture("linux-malformed"),
          v515,
          v612,
          alibaba};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// Every text that sockdoctor states as true: meanings, bases, facts, truths, reusable sentences.
std::vector<std::string> claims(const KernelSettings& k) {
  std::vector<std::string> out;
  for (const auto& t : an::build_all_topics(k)) {
    out.push_back(t.summary);
    for (const auto& s : t.settings)
      out.push_back(s.meaning);
    for (const auto& f : t.figures)
      out.push_back(f.name + ": " + f.display + ". " + f.basis);
    for (const auto& f : t.facts)
      out.push_back(f.text);
    for (const auto& m : t.myths)
      out.push_back(m.truth);
  }
  const auto lo = *sockdoctor::core::parse_address("127.0.0.1");
  const auto remote = *sockdoctor::core::parse_address("10.0.0.1");
  out.push_back(an::close_wait_lifetime_sentence(k, false));
  out.push_back(an::close_wait_lifetime_sentence(k, true));
  for (std::uint64_t q : {0, 1, 2, 100})
    out.push_back(an::close_wait_recv_q_sentence(q));
  out.push_back(an::close_wait_unowned_sentence());
  out.push_back(an::close_wait_fix_sentence());
  out.push_back(an::time_wait_lifetime_sentence(k));
  out.push_back(an::fin_wait2_lifetime_sentence(k, true));
  out.push_back(an::fin_wait2_lifetime_sentence(k, false));
  out.push_back(an::tw_reuse_sentence(k, lo, true));
  out.push_back(an::tw_reuse_sentence(k, remote, false));
  out.push_back(an::port_budget_sentence(k));
  out.push_back(an::tw_overflow_sentence(k));
  out.push_back(an::tw_recycle_sentence(k));
  out.push_back(an::keepalive_sentence(k));
  out.push_back(an::listen_overflow_sentence(k));
  out.push_back(an::listen_overflow_client_sentence(k));
  out.push_back(an::sock_destroy_sentence(k));
  out.push_back(an::orphan_retries_sentence(k));
  out.push_back(an::orphan_limit_sentence(k));
  for (const auto& t : an::build_all_topics(k))
    for (const auto& m : t.myths)
      out.push_back(m.correction);
  return out;
}

// Splits into sentences at ". " / "; " so a qualifier must sit in the same sentence.
std::vector<std::string> sentences(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if ((text[i] == '.' || text[i] == ';') && text[i + 1] == ' ') {
      out.push_back(text.substr(start, i - start));
      start = i + 2;
    }
  }
  out.push_back(text.substr(start));
  return out;
}

} // namespace

TEST(Knowledge, EveryTopicBuildsWithSourcedFacts) {
  for (const auto& k : kernels()) {
    const auto topics = an::build_all_topics(k);
    ASSERT_EQ(topics.size(), an::topic_ids().size());
    for (const auto& t : topics) {
      SCOPED_TRACE(t.id);
      EXPECT_FALSE(t.title.empty());
      EXPECT_FALSE(t.summary.empty());
      EXPECT_FALSE(t.settings.empty());
      EXPECT_FALSE(t.figures.empty());
      EXPECT_FALSE(t.facts.empty());
      EXPECT_FALSE(t.myths.empty());
      for (const auto& s : t.settings)
        EXPECT_FALSE(s.meaning.empty()) << s.name;
      for (const auto& f : t.figures) {
        EXPECT_FALSE(f.id.empty());
        EXPECT_FALSE(f.basis.empty()) << f.id;
        EXPECT_FALSE(f.display.empty()) << f.id;
      }
      for (const auto& f : t.facts) {
        const bool cited = has(f.source, ".c") || has(f.source, ".h") || has(f.source, "commit") ||
                           has(f.source, ".rst");
        EXPECT_TRUE(cited) << f.text << " -> " << f.source;
      }
      for (const auto& m : t.myths) {
        EXPECT_FALSE(m.truth.empty()) << m.myth;
        EXPECT_FALSE(m.source.empty()) << m.myth;
      }
    }
  }
}

TEST(Knowledge, TopicNames) {
  EXPECT_EQ(an::normalize_topic("TIME_WAIT"), "time-wait");
  EXPECT_EQ(an::normalize_topic("close_wait"), "close-wait");
  EXPECT_EQ(an::normalize_topic("Close-Wait"), "close-wait");
  EXPECT_EQ(an::normalize_topic("fin-wait2"), "fin-wait-2");
  EXPECT_EQ(an::normalize_topic("ports"), "ports");
  EXPECT_EQ(an::normalize_topic("all"), "all");
  EXPECT_FALSE(an::normalize_topic("bogus"));
  EXPECT_FALSE(an::normalize_topic(""));
  EXPECT_FALSE(an::build_topic("all", KernelSettings{}));
  for (const auto id : an::topic_ids())
    EXPECT_EQ(an::normalize_topic(id), std::string(id));
}

TEST(Knowledge, NoMythIsStatedAsFact) {
  for (const auto& k : kernels()) {
    for (const auto& claim : claims(k)) {
      for (const auto& s : sentences(claim)) {
        const std::string l = lower(s);
        SCOPED_TRACE(s);
        // Keepalive never bounds CLOSE_WAIT unless the application set SO_KEEPALIVE.
        if (has(l, "keepalive") && (has(l, "close_wait") || has(l, "close-wait"))) {
          EXPECT_TRUE(has(s, "SO_KEEPALIVE"));
        }
        if (has(s, "7875")) {
          EXPECT_TRUE(has(l, "answers nothing") || has(l, "nothing answers") ||
                      has(l, "unreachable") || has(s, "SO_KEEPALIVE"));
        }
        // TIME_WAIT is 60 s on Linux, never "1-4 minutes".
        EXPECT_FALSE(has(l, "1-4 min") || has(l, "1 to 4 min"));
        if (has(s, "MSL")) {
          EXPECT_TRUE(has(s, "not MSL") || has(s, "RFC 793"));
        }
        // tcp_tw_recycle is gone since 4.12; only mention it with that.
        if (has(s, "tcp_tw_recycle")) {
          EXPECT_TRUE(has(s, "4.12"));
        }
        // tcp_fin_timeout does not touch TIME_WAIT.
        if (has(s, "tcp_fin_timeout") && has(s, "TIME_WAIT")) {
          EXPECT_TRUE(has(l, "no effect") || has(l, "not"));
        }
        // Mainline prints nothing on TIME_WAIT overflow.
        EXPECT_FALSE(has(l, "bucket table overflow"));
        EXPECT_FALSE(has(l, "lower tcp_max_tw_buckets"));
        // TIME_WAIT blocks a 4-tuple, not a port (except after bind()).
        EXPECT_FALSE(has(l, "time_wait occupies") || has(l, "time_wait sockets occupy"));
        // Only in-window bare ACKs and rejected segments with an ACK restart TIME_WAIT.
        EXPECT_FALSE(has(l, "each segment") || has(l, "every segment"));
        // HZ is read from /proc/config.gz; a figure at HZ=1000 says whose HZ it is.
        if (has(s, "HZ=1000")) {
          EXPECT_TRUE(has(s, "this kernel's"));
        }
        // tcp_orphan_retries=0 is a time budget, not "8 while the peer is alive".
        EXPECT_FALSE(has(l, "while the peer is alive") || has(l, "while the peer answers"));
        // Recv-Q 0 does not prove that recv() returned 0.
        EXPECT_FALSE(has(s, "(recv() returned 0)"));
        // tcp_max_syn_backlog does not size the SYN queue.
        EXPECT_FALSE(has(l, "a listener remembers"));
        // ListenOverflows counts dropped segments.
        EXPECT_FALSE(has(l, "a connection attempt dropped"));
        // ss -K is not assumed to exist: CONFIG_INET_DIAG_DESTROY is read or said unknown.
        EXPECT_FALSE(has(s, "if it was built with CONFIG_INET_DIAG_DESTROY"));
      }
    }
  }
}

TEST(Knowledge, MythsAreTheSeedClaims) {
  const auto k = fixture("linux-6.18");
  std::string all_myths;
  for (const auto& t : an::build_all_topics(k))
    for (const auto& m : t.myths)
      all_myths += m.myth + "\n";
  EXPECT_TRUE(has(all_myths, "7875"));
  EXPECT_TRUE(has(all_myths, "2 x MSL"));
  EXPECT_TRUE(has(all_myths, "tcp_tw_recycle"));
  EXPECT_TRUE(has(all_myths, "tcp_fin_timeout shortens TIME_WAIT"));
  EXPECT_TRUE(has(all_myths, "time wait bucket table overflow"));
  EXPECT_TRUE(has(all_myths, "Lower tcp_max_tw_buckets"));
}

TEST(Knowledge, CloseWaitLifetime) {
  const auto k = fixture("linux-6.18");
  const auto plain = an::close_wait_lifetime_sentence(k, false);
  EXPECT_TRUE(has(plain, "SO_KEEPALIVE"));
  EXPECT_TRUE(has(plain, "close()"));
  EXPECT_FALSE(has(plain, "7875"));
  EXPECT_FALSE(has(plain, "7200"));
  const auto armed = an::close_wait_lifetime_sentence(k, true);
  EXPECT_TRUE(has(armed, "7200 s"));
  EXPECT_TRUE(has(armed, "7875 s"));
  EXPECT_TRUE(has(armed, "never ends"));
  EXPECT_TRUE(has(armed, "fd stays open"));
  const auto topic = *an::build_topic("close-wait", k);
  EXPECT_FALSE(topic.figures.front().value); // without SO_KEEPALIVE: no bound
}

TEST(Knowledge, RecvQ) {
  EXPECT_TRUE(has(an::close_wait_recv_q_sentence(0), "never closed"));
  EXPECT_TRUE(has(an::close_wait_recv_q_sentence(1), "not even read"));
  EXPECT_TRUE(has(an::close_wait_recv_q_sentence(11), "10 bytes"));
  EXPECT_TRUE(has(an::close_wait_recv_q_sentence(11), "RST"));
}

TEST(Knowledge, VersionAwareTimeWait) {
  const auto new_k = fixture("linux-6.18");
  const auto old_k = fixture("linux-4.9");
  EXPECT_TRUE(has(an::tw_recycle_sentence(new_k), "absent, as expected since 4.12"));
  EXPECT_TRUE(has(an::tw_recycle_sentence(old_k), "keep it 0"));
  const auto find_setting = [](const an::Topic& t, const std::string& name) {
    for (const auto& s : t.settings)
      if (s.name == name) return s;
    ADD_FAILURE() << name;
    return an::SettingInfo{};
  };
  const auto tw_new = *an::build_topic("time-wait", new_k);
  const auto tw_old = *an::build_topic("time-wait", old_k);
  EXPECT_TRUE(find_setting(tw_new, "net.ipv4.tcp_tw_reuse_delay").present);
  const auto delay_old = find_setting(tw_old, "net.ipv4.tcp_tw_reuse_delay");
  EXPECT_FALSE(delay_old.present);
  EXPECT_TRUE(has(delay_old.meaning, "absent, as expected before 6.14"));
  EXPECT_TRUE(has(delay_old.meaning, "1-2 s"));
  EXPECT_TRUE(find_setting(tw_old, "net.ipv4.tcp_tw_recycle").present);
  EXPECT_TRUE(has(an::tw_overflow_sentence(old_k), "42"));
  EXPECT_TRUE(has(an::tw_overflow_sentence(old_k), "logged nothing"));

  KernelSettings mid;
  mid.kernel_major = 5;
  mid.kernel_minor = 15;
  const auto tw_mid = *an::build_topic("time-wait", mid);
  EXPECT_TRUE(has(find_setting(tw_mid, "net.ipv4.tcp_tw_reuse_delay").meaning, "0-1 s"));
}

TEST(Knowledge, TimeWaitIsSixtySeconds) {
  const auto k = fixture("linux-6.18");
  const auto t = *an::build_topic("time-wait", k);
  EXPECT_EQ(t.figures.front().id, "time_wait_length");
  EXPECT_EQ(t.figures.front().value, 60.0);
  EXPECT_TRUE(has(an::time_wait_lifetime_sentence(k), "60 s"));
  KernelSettings alibaba;
  alibaba.tcp_tw_timeout = 30;
  EXPECT_TRUE(has(an::time_wait_lifetime_sentence(alibaba), "30 s"));
  EXPECT_TRUE(has(an::time_wait_lifetime_sentence(alibaba), "Alibaba"));
}

TEST(Knowledge, PortBudget) {
  const auto k = fixture("linux-6.18");
  const auto s = an::port_budget_sentence(k);
  EXPECT_TRUE(has(s, "28232"));
  EXPECT_TRUE(has(s, "about 470 new connections/s"));
  EXPECT_TRUE(has(s, "loopback"));
  const auto t = *an::build_topic("ports", fixture("linux-6.18-tuned"));
  const auto figure = [&](const std::string& id) {
    for (const auto& f : t.figures)
      if (f.id == id) return f;
    ADD_FAILURE() << id;
    return an::Figure{};
  };
  EXPECT_EQ(figure("usable_ephemeral_ports").value, 990.0);
  EXPECT_EQ(figure("max_rate_without_reuse").value, 16.5);         // 990 / 60
  EXPECT_NEAR(*figure("max_rate_other_peers").value, 3944.2, 0.1); // 990 / 0.251 (reuse 1)
}

TEST(Knowledge, FinWait2) {
  KernelSettings k;
  EXPECT_TRUE(has(an::fin_wait2_lifetime_sentence(k, true), "60 s"));
  EXPECT_TRUE(has(an::fin_wait2_lifetime_sentence(k, false), "indefinitely"));
  k.tcp_fin_timeout = 90;
  EXPECT_TRUE(has(an::fin_wait2_lifetime_sentence(k, true), "60 s in total"));
}

TEST(Knowledge, Formatting) {
  EXPECT_EQ(an::format_seconds(60), "60 s");
  EXPECT_EQ(an::format_seconds(7200), "7200 s (2 h)");
  EXPECT_EQ(an::format_seconds(7875), "7875 s (2 h 11 min)");
  EXPECT_EQ(an::format_seconds(924.6), "924.6 s (15 min)");
  EXPECT_EQ(an::format_seconds(-1), "unbounded");
  EXPECT_EQ(an::format_rate(16.666), "16.7");
  EXPECT_EQ(an::format_rate(470.53), "470");
}

namespace {

an::SettingInfo setting(const an::Topic& t, const std::string& name) {
  for (const auto& s : t.settings)
    if (s.name == name) return s;
  ADD_FAILURE() << name;
  return an::SettingInfo{};
}

an::Figure figure(const an::Topic& t, const std::string& id) {
  for (const auto& f : t.figures)
    if (f.id == id) return f;
  ADD_FAILURE() << id;
  return an::Figure{};
}

std::string facts(const an::Topic& t) {
  std::string out;
  for (const auto& f : t.facts)
    out += f.text + "\n";
  return out;
}

KernelSettings release(int major, int minor, int patch) {
  KernelSettings k;
  k.kernel_release =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  k.kernel_major = major;
  k.kernel_minor = minor;
  k.kernel_patch = patch;
  return k;
}

} // namespace

TEST(KnowledgeSeeds, EverySeedMythHasAOneLineCorrection) {
  for (const auto& k : kernels()) {
    std::string seeds;
    int count = 0;
    for (const auto& t : an::build_all_topics(k))
      for (const auto& m : t.myths) {
        if (!m.seed) continue;
        ++count;
        seeds += m.myth + "\n";
        SCOPED_TRACE(m.myth);
        EXPECT_FALSE(m.correction.empty());
        EXPECT_LE(m.correction.size(), 140u); // fits two overview lines
        EXPECT_EQ(m.correction.find('\n'), std::string::npos);
      }
    // The claims of seeds/000 and seeds/004 that kernel-facts.md proves wrong or outdated.
    EXPECT_EQ(count, 12);
    for (const char* claim :
         {"acknowledges the peer's FIN", "7875", "TCP_KEEPIDLE", "CLOSE_WAIT sockets occupy ports",
          "TIME_WAIT and CLOSE_WAIT sockets occupy ports", "2 x MSL", "tcp_tw_recycle",
          "reuse a TIME_WAIT port after 1 s", "tcp_fin_timeout=30", "probes every idle connection",
          "about 2 hours", "lets a server accept"})
      EXPECT_TRUE(has(seeds, claim)) << claim;
  }
}

TEST(KnowledgeTruth, SynBacklogDoesNotSizeTheSynQueue) {
  const auto t = *an::build_topic("listen-queue", fixture("linux-6.18"));
  const auto s = setting(t, "net.ipv4.tcp_max_syn_backlog");
  EXPECT_FALSE(has(s.meaning, "remembers"));
  EXPECT_TRUE(has(s.meaning, "does not size the SYN queue"));
  EXPECT_TRUE(has(s.meaning, "listen() backlog"));
  EXPECT_TRUE(has(s.meaning, "tcp_syncookies=0"));
  EXPECT_TRUE(has(facts(t), "bounded by the same listen() backlog"));
}

TEST(KnowledgeTruth, OrphanRetriesAreATimeBudget) {
  const auto k = fixture("linux-6.18");
  const auto t = *an::build_topic("orphans", k);
  const auto s = setting(t, "net.ipv4.tcp_orphan_retries");
  EXPECT_FALSE(has(s.meaning, "while the peer is alive"));
  EXPECT_TRUE(has(s.meaning, "time budget of 102.2 s"));
  EXPECT_TRUE(has(s.meaning, "tcp_rto_max"));
  EXPECT_EQ(figure(t, "orphan_retry_budget").value, 102.2);
  const auto why = an::orphan_retries_sentence(k);
  EXPECT_TRUE(has(why, "zero window"));
  EXPECT_TRUE(has(why, "probe backoff reaches tcp_rto_max"));
  // tcp_rto_max_ms (6.15+) shortens it: 1.4 s of doubling, then 6 x 1 s.
  KernelSettings fast = k;
  fast.tcp_rto_max_ms = 1000;
  EXPECT_EQ(figure(*an::build_topic("orphans", fast), "orphan_retry_budget").value, 7.4);
  EXPECT_TRUE(has(setting(*an::build_topic("orphans", fast), "net.ipv4.tcp_rto_max_ms").meaning,
                  "14.4 s and 7.4 s here"));
  EXPECT_EQ(figure(*an::build_topic("close-wait", fast), "close_wait_unacked_writes").value, 14.4);
}

TEST(KnowledgeTruth, RecvQZeroDoesNotProveEofWasSeen) {
  const auto s = an::close_wait_recv_q_sentence(0);
  EXPECT_FALSE(has(s, "(recv() returned 0)"));
  EXPECT_TRUE(has(s, "does not prove"));
  EXPECT_TRUE(has(s, "same segment"));
}

TEST(KnowledgeTruth, CloseWaitHasWaysOutBesidesClose) {
  const auto k = fixture("linux-6.18");
  const auto plain = an::close_wait_lifetime_sentence(k, false);
  EXPECT_FALSE(has(plain, "the kernel will not end"));
  EXPECT_TRUE(has(plain, "RST"));
  EXPECT_TRUE(has(plain, "ss -K"));
  const auto f = facts(*an::build_topic("close-wait", k));
  EXPECT_TRUE(has(f, "Besides close() and shutdown()"));
  EXPECT_TRUE(has(f, "SOCK_DESTROY"));
}

TEST(KnowledgeTruth, TimestampOffsetsFollowTheRelease) {
  const auto meaning = [](KernelSettings k) {
    k.tcp_timestamps = 1;
    return setting(*an::build_topic("time-wait", k), "net.ipv4.tcp_timestamps").meaning;
  };
  EXPECT_TRUE(has(meaning(fixture("linux-6.18")), "per connection")); // 6.18.44
  EXPECT_TRUE(has(meaning(release(6, 18, 16)), "per (saddr, daddr) pair"));
  EXPECT_FALSE(has(meaning(release(6, 18, 16)), "this kernel has it"));
  EXPECT_TRUE(has(meaning(release(6, 12, 30)), "is not known"));
  const auto v410 = meaning(release(4, 10, 17));
  EXPECT_FALSE(has(v410, "(4.10-4.11)"));
  EXPECT_TRUE(has(v410, "not verified"));
}

TEST(KnowledgeTruth, TimerSlackUsesTheRunningKernelsHz) {
  const auto k = fixture("linux-6.18"); // CONFIG_HZ=250 in its config.gz
  ASSERT_EQ(k.config_hz, 250);
  const auto s = an::time_wait_lifetime_sentence(k);
  EXPECT_TRUE(has(s, "up to 2 s at HZ=250"));
  EXPECT_FALSE(has(s, "HZ=1000"));
  EXPECT_FALSE(has(s, "64.1"));
  const auto ka = *an::build_topic("keepalive", k);
  EXPECT_NEAR(*figure(ka, "keepalive_first_probe_latest").value, 7331.1, 1e-9);
  EXPECT_NEAR(*figure(*an::build_topic("time-wait", k), "time_wait_longest").value, 62.0, 1e-9);

  KernelSettings unknown; // no config.gz: no silent HZ=1000
  EXPECT_TRUE(has(an::time_wait_lifetime_sentence(unknown), "HZ is unknown"));
  const auto latest =
      figure(*an::build_topic("keepalive", unknown), "keepalive_first_probe_latest");
  EXPECT_FALSE(latest.value);
  EXPECT_TRUE(has(latest.display, "unknown"));
  const auto slack = figure(*an::build_topic("ports", unknown), "max_rate_without_reuse_slack");
  EXPECT_FALSE(slack.value);
  EXPECT_TRUE(has(slack.display, "unknown"));
}

TEST(KnowledgeTruth, TimeWaitRestartsOnlyOnAcks) {
  const auto k = fixture("linux-6.18");
  const auto s = an::time_wait_lifetime_sentence(k);
  EXPECT_TRUE(has(s, "in-window bare ACK"));
  EXPECT_TRUE(has(s, "a RST never does"));
  EXPECT_TRUE(has(facts(*an::build_topic("time-wait", k)), "not on an ACK-less SYN"));
}

TEST(KnowledgeTruth, OrphanLimitAndTcpMem) {
  KernelSettings k;
  k.tcp_max_orphans = 4096;
  const auto s = an::orphan_limit_sentence(k);
  EXPECT_TRUE(has(s, "too many orphaned sockets"));
  EXPECT_TRUE(has(s, "TcpExtTCPAbortOnMemory"));
  EXPECT_TRUE(has(s, "doubled"));
  EXPECT_TRUE(has(s, "RST only while"));
  EXPECT_TRUE(has(s, "tcp_mem"));
  EXPECT_FALSE(
      has(setting(*an::build_topic("orphans", fixture("linux-6.18")), "net.ipv4.tcp_max_orphans")
              .meaning,
          "reset at once"));
}

TEST(KnowledgeTruth, Retries2DoesNotBoundAnAnsweredZeroWindow) {
  const auto t = *an::build_topic("close-wait", fixture("linux-6.18"));
  EXPECT_TRUE(has(setting(t, "net.ipv4.tcp_retries2").meaning, "zero-window probes"));
  EXPECT_TRUE(has(setting(t, "net.ipv4.tcp_retries2").meaning, "TCP_USER_TIMEOUT"));
}

TEST(KnowledgeTruth, ListenQueueCountsAndLimits) {
  const auto k = fixture("linux-6.18");
  const auto s = an::listen_overflow_sentence(k);
  EXPECT_FALSE(has(s, "connection attempt dropped"));
  EXPECT_TRUE(has(s, "segment"));
  EXPECT_TRUE(has(s, "backlog + 1"));
  const auto t = *an::build_topic("listen-queue", k);
  EXPECT_EQ(figure(t, "somaxconn").value, 4097.0);
  const auto client = an::listen_overflow_client_sentence(k);
  EXPECT_TRUE(has(client, "stall"));
  EXPECT_TRUE(has(client, "ECONNRESET"));
  EXPECT_TRUE(has(client, "(here: 0)"));
}

TEST(KnowledgeTruth, PortsBindZeroLoopbackAndPerSocketRanges) {
  const auto f618 = facts(*an::build_topic("ports", fixture("linux-6.18")));
  EXPECT_TRUE(has(f618, "bind() fails with EADDRINUSE"));
  EXPECT_TRUE(has(f618, "bound to lo"));
  EXPECT_TRUE(has(f618, "On this kernel (6.3 and later)"));
  EXPECT_TRUE(has(f618, "IP_LOCAL_PORT_RANGE"));
  EXPECT_TRUE(has(facts(*an::build_topic("ports", release(5, 15, 0))), "arrived in 6.3"));
  KernelSettings two = fixture("linux-6.18");
  two.tcp_tw_reuse = 2;
  EXPECT_TRUE(has(setting(*an::build_topic("ports", two), "net.ipv4.tcp_tw_reuse").meaning,
                  "local address"));
}

TEST(KnowledgeTruth, LingerZeroSkipsTimeWait) {
  const auto f = facts(*an::build_topic("time-wait", fixture("linux-6.18")));
  EXPECT_TRUE(has(f, "SO_LINGER"));
  EXPECT_TRUE(has(f, "TcpExtTCPAbortOnData"));
  EXPECT_TRUE(has(f, "no RST is sent"));
}

TEST(KnowledgeTruth, SockDestroyFollowsTheKernelConfig) {
  KernelSettings k;
  EXPECT_TRUE(has(an::sock_destroy_sentence(k), "could not be checked"));
  k.config_inet_diag_destroy = true;
  EXPECT_TRUE(has(an::sock_destroy_sentence(k), "works on this kernel"));
  k.config_inet_diag_destroy = false;
  EXPECT_TRUE(has(an::sock_destroy_sentence(k), "does not work on this kernel"));
  const auto orphans = facts(*an::build_topic("orphans", fixture("linux-6.18")));
  EXPECT_TRUE(has(orphans, "On LAST_ACK and CLOSING it sends no RST"));
}

// `explain --proc-root T` with sysctls the kernel would refuse (2147483647 in tcp_fin_timeout,
// tcp_keepalive_intvl, tcp_tw_reuse_delay): every topic builds, no time figure is negative (an
// int overflow wraps there; UBSan in the asan preset stops at it).
TEST(Knowledge, SysctlsTheKernelWouldRefuseStillBuildEveryTopic) {
  for (const int v : {std::numeric_limits<int>::max(), std::numeric_limits<int>::min()}) {
    KernelSettings k = fixture("linux-6.18");
    k.tcp_fin_timeout = k.tcp_keepalive_time = k.tcp_keepalive_intvl = v;
    k.tcp_keepalive_probes = k.tcp_tw_reuse_delay = k.tcp_orphan_retries = v;
    k.tcp_retries2 = k.tcp_rto_max_ms = k.somaxconn = k.tcp_max_syn_backlog = v;
    k.tcp_tw_reuse = k.tcp_timestamps = k.tcp_abort_on_overflow = k.config_hz = v;
    k.tcp_max_tw_buckets = k.tcp_max_orphans = std::numeric_limits<long>::max();
    const auto topics = an::build_all_topics(k);
    ASSERT_EQ(topics.size(), an::topic_ids().size());
    for (const auto& t : topics)
      for (const auto& f : t.figures)
        if (f.unit == "s" && f.value && v > 0) {
          EXPECT_GE(*f.value, 0) << t.id << " " << f.id;
        }
  }
}
