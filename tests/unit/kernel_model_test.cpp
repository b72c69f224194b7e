// Kernel model numbers against research/kernel-facts.md sections 2, 4, 7 and 9.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "analyze/kernel_model.hpp"

namespace an = sockdoctor::analyze;
using sockdoctor::core::IpAddress;
using sockdoctor::core::KernelSettings;
using sockdoctor::core::parse_address;

namespace {

KernelSettings kernel(int major, int minor) {
  KernelSettings k;
  k.kernel_release = std::to_string(major) + "." + std::to_string(minor) + ".0";
  k.kernel_major = major;
  k.kernel_minor = minor;
  return k;
}

IpAddress addr(const char* text) {
  return *parse_address(text);
}

} // namespace

TEST(KernelModel, VersionComparisons) {
  const auto k = kernel(6, 14);
  EXPECT_TRUE(an::kernel_at_least(k, 6, 14));
  EXPECT_TRUE(an::kernel_at_least(k, 4, 19));
  EXPECT_FALSE(an::kernel_at_least(k, 6, 15));
  EXPECT_TRUE(an::kernel_before(k, 7, 0));
  EXPECT_FALSE(an::kernel_before(k, 6, 14));
  const KernelSettings unknown;
  EXPECT_FALSE(an::kernel_at_least(unknown, 1, 0));
  EXPECT_FALSE(an::kernel_before(unknown, 99, 0));
}

TEST(KernelModel, DefaultPortBudget) {
  const KernelSettings k; // nothing readable: kernel defaults
  EXPECT_EQ(an::usable_ephemeral_ports(k), 28232);
  EXPECT_DOUBLE_EQ(an::tuple_block_seconds(k, false), 60.0);
  EXPECT_NEAR(an::max_new_connection_rate(28232, 0, 60.0), 470.5, 0.1);
  // With worst-case slack at HZ=1000 it is about 440/s (kernel-facts section 9).
  EXPECT_NEAR(an::max_new_connection_rate(28232, 0, 60.0 + an::timer_slack_seconds(60, 1000)), 440,
              1.0);
}

TEST(KernelModel, ReservedPortsInsideTheRangeAreSubtracted) {
  KernelSettings k;
  k.ip_local_port_range = sockdoctor::core::PortRange{40000, 40999};
  EXPECT_EQ(an::usable_ephemeral_ports(k), 1000);
  k.ip_local_reserved_ports = {{1000, 1005}, {2000, 2000}, {40000, 40009}};
  EXPECT_EQ(an::usable_ephemeral_ports(k), 990);
  k.ip_local_reserved_ports.push_back({40005, 40019}); // overlaps: counted once
  EXPECT_EQ(an::usable_ephemeral_ports(k), 980);
  k.ip_local_reserved_ports.push_back({40990, 41100}); // straddles the top
  EXPECT_EQ(an::usable_ephemeral_ports(k), 970);
  k.ip_local_reserved_ports = {{1, 65535}};
  EXPECT_EQ(an::usable_ephemeral_ports(k), 0);
}

TEST(KernelModel, IntegrationFigures) {
  // The integration test's namespace: 40000-40999 and tcp_tw_reuse=0 -> 1000 ports, ~16.7/s.
  KernelSettings k = kernel(6, 18);
  k.ip_local_port_range = sockdoctor::core::PortRange{40000, 40999};
  k.tcp_tw_reuse = 0;
  const auto v = an::tw_reuse_verdict(k, addr("127.0.0.1"), true);
  EXPECT_FALSE(v.applies);
  const double rate = an::max_new_connection_rate(an::usable_ephemeral_ports(k), 0,
                                                  an::tuple_block_seconds(k, v.applies));
  EXPECT_NEAR(rate, 16.67, 0.01);
}

TEST(KernelModel, TwReuseTwoIsLoopbackOnly) {
  KernelSettings k = kernel(6, 18);
  k.tcp_tw_reuse = 2;
  EXPECT_TRUE(an::tw_reuse_verdict(k, addr("127.0.0.1"), true).applies);
  EXPECT_TRUE(an::tw_reuse_verdict(k, addr("127.8.9.10"), true).applies);
  EXPECT_TRUE(an::tw_reuse_verdict(k, addr("::1"), true).applies);
  EXPECT_TRUE(an::tw_reuse_verdict(k, addr("::ffff:127.0.0.1"), true).applies);
  const auto remote = an::tw_reuse_verdict(k, addr("10.1.2.3"), true);
  EXPECT_FALSE(remote.applies);
  EXPECT_NE(remote.reason.find("loopback"), std::string::npos);
  EXPECT_FALSE(an::tw_reuse_verdict(k, addr("::ffff:10.0.0.1"), true).applies);
}

TEST(KernelModel, TwReuseNeedsTimestampsOnBothEnds) {
  KernelSettings k = kernel(6, 18);
  k.tcp_tw_reuse = 1;
  EXPECT_TRUE(an::tw_reuse_verdict(k, addr("10.1.2.3"), true).applies);
  const auto peer_without = an::tw_reuse_verdict(k, addr("10.1.2.3"), false);
  EXPECT_FALSE(peer_without.applies);
  EXPECT_NE(peer_without.reason.find("timestamps"), std::string::npos);
  k.tcp_timestamps = 0;
  const auto local_off = an::tw_reuse_verdict(k, addr("127.0.0.1"), true);
  EXPECT_FALSE(local_off.applies);
  EXPECT_NE(local_off.reason.find("tcp_timestamps=0"), std::string::npos);
  k.tcp_timestamps = 1;
  k.tcp_tw_reuse = 0;
  EXPECT_FALSE(an::tw_reuse_verdict(k, addr("127.0.0.1"), true).applies);
}

TEST(KernelModel, TwReuseDefaultsByVersion) {
  EXPECT_EQ(an::effective_tw_reuse(kernel(6, 18)), 2);
  EXPECT_EQ(an::effective_tw_reuse(kernel(4, 18)), 2);
  EXPECT_EQ(an::effective_tw_reuse(kernel(4, 9)), 0);
  EXPECT_EQ(an::effective_tw_reuse(KernelSettings{}), 2);
}

TEST(KernelModel, ReuseDelayByVersion) {
  KernelSettings k = kernel(6, 18);
  k.tcp_tw_reuse_delay = 1000;
  EXPECT_NEAR(an::tuple_block_seconds(k, true), 1.001, 1e-9); // [N, N+1] ms
  EXPECT_TRUE(an::tw_reuse_delay(k).configurable);
  k.tcp_tw_reuse_delay = 250;
  EXPECT_NEAR(an::tuple_block_seconds(k, true), 0.251, 1e-9);
  EXPECT_DOUBLE_EQ(an::tuple_block_seconds(k, false), 60.0);

  EXPECT_NEAR(an::tuple_block_seconds(kernel(6, 14), true), 1.001, 1e-9); // default 1000 ms
  const auto mid = an::tw_reuse_delay(kernel(5, 15));
  EXPECT_FALSE(mid.configurable);
  EXPECT_DOUBLE_EQ(mid.min_seconds, 0);
  EXPECT_DOUBLE_EQ(mid.max_seconds, 1);
  EXPECT_DOUBLE_EQ(an::tw_reuse_delay(kernel(6, 13)).max_seconds, 1);
  EXPECT_DOUBLE_EQ(an::tw_reuse_delay(kernel(4, 19)).max_seconds, 1);
  const auto old = an::tw_reuse_delay(kernel(4, 18));
  EXPECT_DOUBLE_EQ(old.min_seconds, 1);
  EXPECT_DOUBLE_EQ(old.max_seconds, 2);
  EXPECT_DOUBLE_EQ(an::tw_reuse_delay(KernelSettings{}).max_seconds, 2);
}

TEST(KernelModel, RatesWithReuse) {
  KernelSettings k = kernel(6, 18);
  k.tcp_tw_reuse_delay = 1000;
  EXPECT_GT(an::max_new_connection_rate(28232, 0, an::tuple_block_seconds(k, true)), 28000);
  EXPECT_GT(an::max_new_connection_rate(28232, 0, an::tuple_block_seconds(kernel(5, 15), true)),
            28000 - 1);
  EXPECT_NEAR(an::max_new_connection_rate(28232, 0, an::tuple_block_seconds(kernel(4, 14), true)),
              14116, 0.5);
}

TEST(KernelModel, RateEdgeCases) {
  EXPECT_DOUBLE_EQ(an::max_new_connection_rate(1000, 400, 60), 10.0);
  EXPECT_DOUBLE_EQ(an::max_new_connection_rate(1000, 2000, 60), 0.0);
  EXPECT_TRUE(std::isinf(an::max_new_connection_rate(1000, 0, 0)));
}

TEST(KernelModel, AlibabaTimeWaitTimeout) {
  KernelSettings k = kernel(4, 19);
  EXPECT_EQ(an::time_wait_seconds(k), 60);
  k.tcp_tw_timeout = 20;
  EXPECT_EQ(an::time_wait_seconds(k), 20);
  EXPECT_DOUBLE_EQ(an::tuple_block_seconds(k, false), 20.0);
}

TEST(KernelModel, FinTimeout) {
  KernelSettings k;
  EXPECT_EQ(an::fin_timeout_seconds(k), 60);
  EXPECT_EQ(an::orphan_fin_wait2_seconds(k), 60);
  k.tcp_fin_timeout = 30;
  EXPECT_EQ(an::fin_timeout_seconds(k), 30);
  EXPECT_EQ(an::orphan_fin_wait2_seconds(k), 30);
  k.tcp_fin_timeout = 90; // above 60: 2 x (tmo - 60), a quirk as of v6.19
  EXPECT_EQ(an::fin_timeout_seconds(k), 90);
  EXPECT_EQ(an::orphan_fin_wait2_seconds(k), 60);
  k.tcp_fin_timeout = 120;
  EXPECT_EQ(an::orphan_fin_wait2_seconds(k), 120);
}

TEST(KernelModel, Keepalive) {
  KernelSettings k;
  EXPECT_EQ(an::keepalive_first_probe_seconds(k), 7200);
  EXPECT_EQ(an::keepalive_abort_seconds(k), 7875);
  k.tcp_keepalive_time = 600;
  k.tcp_keepalive_intvl = 10;
  k.tcp_keepalive_probes = 3;
  EXPECT_EQ(an::keepalive_first_probe_seconds(k), 600);
  EXPECT_EQ(an::keepalive_abort_seconds(k), 630);
}

TEST(KernelModel, Retries2Timeout) {
  EXPECT_NEAR(an::retries2_timeout_seconds(15), 924.6, 1e-6);
  EXPECT_NEAR(an::retries2_timeout_seconds(3), 3.0, 1e-9);
  EXPECT_NEAR(an::retries2_timeout_seconds(9), 204.6, 1e-6);
  EXPECT_NEAR(an::retries2_timeout_seconds(10), 324.6, 1e-6);
  EXPECT_GT(an::retries2_timeout_seconds(1000), 0);
}

TEST(KernelModel, TimerSlack) {
  EXPECT_NEAR(an::timer_slack_seconds(60, 1000), 4.096, 1e-9);     // TIME_WAIT at HZ=1000
  EXPECT_NEAR(an::timer_slack_seconds(7200, 1000), 262.144, 1e-9); // keepalive at HZ=1000
  EXPECT_NEAR(an::timer_slack_seconds(60, 250), 2.048, 1e-9);
  EXPECT_NEAR(an::timer_slack_seconds(7200, 250), 131.072, 1e-9);
  EXPECT_NEAR(an::timer_slack_seconds(60, 300), 1.7, 0.01);
  EXPECT_NEAR(an::timer_slack_seconds(60, 100), 5.12, 1e-9);
}

TEST(KernelModel, TimerSlackFollowsTheRunningKernelsHz) {
  KernelSettings k = kernel(6, 18);
  EXPECT_EQ(an::timer_slack_seconds(k, 60), std::nullopt); // HZ unknown: no silent HZ=1000
  k.config_hz = 250;
  EXPECT_NEAR(*an::timer_slack_seconds(k, 60), 2.048, 1e-9);
  EXPECT_NEAR(*an::timer_slack_seconds(k, 7200), 131.072, 1e-9);
}

TEST(KernelModel, StableSublevels) {
  KernelSettings k = kernel(6, 18);
  k.kernel_patch = 44;
  EXPECT_EQ(an::stable_at_least(k, 6, 18, 17), true);
  k.kernel_patch = 16;
  EXPECT_EQ(an::stable_at_least(k, 6, 18, 17), false);
  k.kernel_patch = -1;
  EXPECT_EQ(an::stable_at_least(k, 6, 18, 17), std::nullopt);
  EXPECT_EQ(an::stable_at_least(kernel(6, 12), 6, 18, 17), std::nullopt);
}

TEST(KernelModel, TimestampOffsetsByRelease) {
  using an::TsOffsets;
  KernelSettings k = kernel(6, 18);
  k.kernel_patch = 44; // this machine kind: per connection since 6.18.17
  EXPECT_EQ(an::timestamp_offsets(k), TsOffsets::PerConnection);
  k.kernel_patch = 10;
  EXPECT_EQ(an::timestamp_offsets(k), TsOffsets::PerHostPair);
  k.kernel_patch = -1;
  EXPECT_EQ(an::timestamp_offsets(k), TsOffsets::Unknown);
  EXPECT_EQ(an::timestamp_offsets(kernel(5, 15)), TsOffsets::PerHostPair);
  EXPECT_EQ(an::timestamp_offsets(kernel(6, 12)),
            TsOffsets::Unknown); // backport release unverified
  EXPECT_EQ(an::timestamp_offsets(kernel(7, 0)), TsOffsets::PerConnection);
  EXPECT_EQ(an::timestamp_offsets(kernel(4, 10)), TsOffsets::Unknown); // 4.10.0 vs late 4.10.y
  EXPECT_EQ(an::timestamp_offsets(kernel(4, 9)), TsOffsets::NoOffset);
  EXPECT_EQ(an::timestamp_offsets(KernelSettings{}), TsOffsets::Unknown);
  KernelSettings off = kernel(6, 18);
  off.tcp_timestamps = 0;
  EXPECT_EQ(an::timestamp_offsets(off), TsOffsets::Off);
  off.tcp_timestamps = 2;
  EXPECT_EQ(an::timestamp_offsets(off), TsOffsets::NoOffset);
}

TEST(KernelModel, RtoMaxChangesTheBudgets) {
  KernelSettings k = kernel(6, 18);
  EXPECT_DOUBLE_EQ(an::rto_max_seconds(k), 120.0);
  EXPECT_NEAR(an::retries2_timeout_seconds(k), 924.6, 1e-6);
  // tcp_orphan_retries=0 means 8: a time budget of tcp_model_timeout(8) = 511 x 200 ms.
  EXPECT_EQ(an::effective_orphan_retries(k), 8);
  EXPECT_NEAR(an::orphan_retry_budget_seconds(k), 102.2, 1e-6);
  k.tcp_rto_max_ms = 1000; // 6.15+: RTO stops doubling at 1 s
  EXPECT_DOUBLE_EQ(an::rto_max_seconds(k), 1.0);
  EXPECT_NEAR(an::retries2_timeout_seconds(k), 1.4 + 13 * 1.0, 1e-6);
  EXPECT_NEAR(an::orphan_retry_budget_seconds(k), 1.4 + 6 * 1.0, 1e-6);
  k.tcp_rto_max_ms = 30000;
  EXPECT_NEAR(an::retries2_timeout_seconds(k), 51.0 + 8 * 30.0, 1e-6); // thresh ilog2(150) = 7
  k.tcp_orphan_retries = 3;
  EXPECT_EQ(an::effective_orphan_retries(k), 3);
  EXPECT_NEAR(an::orphan_retry_budget_seconds(k), 3.0, 1e-6);
  k.tcp_rto_max_ms = 5; // outside 1000..120000: the kernel would refuse it
  EXPECT_DOUBLE_EQ(an::rto_max_seconds(k), 120.0);
}

TEST(KernelModel, TwReuseTwoAlsoCountsLoopbackLocalAddresses) {
  KernelSettings k = kernel(6, 18);
  k.tcp_tw_reuse = 2;
  const auto v = an::tw_reuse_verdict(k, addr("10.1.2.3"), true, addr("127.0.0.1"));
  EXPECT_TRUE(v.applies);
  const auto remote = an::tw_reuse_verdict(k, addr("10.1.2.3"), true, addr("10.0.0.5"));
  EXPECT_FALSE(remote.applies);
  EXPECT_NE(remote.reason.find("bound to lo"), std::string::npos);
  EXPECT_NE(remote.reason.find("local"), std::string::npos);
}

// A recorded tree (--proc-root) may hold values the kernel would refuse; no figure may overflow
// (UBSan in the asan preset) or wrap into a negative time (here).
TEST(KernelModel, SysctlsTheKernelWouldRefuseDoNotOverflow) {
  for (const int v : {std::numeric_limits<int>::max(), std::numeric_limits<int>::min()}) {
    KernelSettings k = kernel(6, 18);
    k.tcp_fin_timeout = k.tcp_keepalive_time = k.tcp_keepalive_intvl = v;
    k.tcp_keepalive_probes = k.tcp_tw_reuse_delay = k.tcp_orphan_retries = v;
    k.tcp_retries2 = k.tcp_rto_max_ms = k.tcp_tw_timeout = k.config_hz = v;
    EXPECT_GE(an::orphan_fin_wait2_seconds(k), 0) << v;
    EXPECT_GT(an::tw_reuse_delay(k).max_seconds, an::tw_reuse_delay(k).min_seconds) << v;
    EXPECT_TRUE(std::isfinite(an::retries2_timeout_seconds(k))) << v;
    EXPECT_TRUE(std::isfinite(an::orphan_retry_budget_seconds(k))) << v;
    (void)an::timer_slack_seconds(k, 60);
    if (v > 0) {
      EXPECT_EQ(an::orphan_fin_wait2_seconds(k), std::numeric_limits<int>::max());
      EXPECT_EQ(an::keepalive_abort_seconds(k), std::numeric_limits<int>::max());
    }
  }
}
