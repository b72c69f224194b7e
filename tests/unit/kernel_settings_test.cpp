// Kernel settings: pure decoders (good and malformed input) and reads of recorded /proc trees.
#include <gtest/gtest.h>

#include <string>

#include "collect/kernel_settings.hpp"

namespace sc = sockdoctor::collect;
using sockdoctor::core::FsRoot;

namespace {

FsRoot fixture(const std::string& name) {
  FsRoot r;
  r.proc = std::string(SOCKDOCTOR_FIXTURES) + "/proc_sys/" + name;
  return r;
}

} // namespace

TEST(SysctlParse, Integers) {
  EXPECT_EQ(sc::parse_sysctl_long("60\n"), 60);
  EXPECT_EQ(sc::parse_sysctl_long("  7200 \n"), 7200);
  EXPECT_EQ(sc::parse_sysctl_long("-1\n"), -1);
  EXPECT_EQ(sc::parse_sysctl_long("9223372036854775807"), 9223372036854775807L);
  EXPECT_FALSE(sc::parse_sysctl_long(""));
  EXPECT_FALSE(sc::parse_sysctl_long("\n"));
  EXPECT_FALSE(sc::parse_sysctl_long("sixty"));
  EXPECT_FALSE(sc::parse_sysctl_long("12abc"));
  EXPECT_FALSE(sc::parse_sysctl_long("1 2"));
  EXPECT_FALSE(sc::parse_sysctl_long("99999999999999999999999"));
  EXPECT_EQ(sc::parse_sysctl_int("2\n"), 2);
  EXPECT_FALSE(sc::parse_sysctl_int("4294967296"));
}

TEST(SysctlParse, PortRange) {
  const auto r = sc::parse_port_range("32768\t60999\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->low, 32768);
  EXPECT_EQ(r->high, 60999);
  EXPECT_TRUE(sc::parse_port_range("40000 40999"));
  EXPECT_TRUE(sc::parse_port_range("1024 1024"));
  EXPECT_FALSE(sc::parse_port_range("60999 32768"));
  EXPECT_FALSE(sc::parse_port_range("0 100"));
  EXPECT_FALSE(sc::parse_port_range("1 70000"));
  EXPECT_FALSE(sc::parse_port_range("1 2 3"));
  EXPECT_FALSE(sc::parse_port_range("32768"));
  EXPECT_FALSE(sc::parse_port_range(""));
  EXPECT_FALSE(sc::parse_port_range("a b"));
}

TEST(SysctlParse, ReservedPorts) {
  const auto none = sc::parse_reserved_ports("\n");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  const auto r = sc::parse_reserved_ports("1000-1005,2000\n");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0], std::make_pair(1000, 1005));
  EXPECT_EQ((*r)[1], std::make_pair(2000, 2000));
  EXPECT_FALSE(sc::parse_reserved_ports("1000-"));
  EXPECT_FALSE(sc::parse_reserved_ports("1000,,2000"));
  EXPECT_FALSE(sc::parse_reserved_ports("5-3"));
  EXPECT_FALSE(sc::parse_reserved_ports("70000"));
  EXPECT_FALSE(sc::parse_reserved_ports("abc"));
  EXPECT_FALSE(sc::parse_reserved_ports(","));
}

TEST(SysctlParse, KernelVersion) {
  EXPECT_EQ(sc::parse_kernel_version("6.18.44-fc-v595\n"), std::make_pair(6, 18));
  EXPECT_EQ(sc::parse_kernel_version("4.9.0-19-amd64"), std::make_pair(4, 9));
  EXPECT_EQ(sc::parse_kernel_version("5.15"), std::make_pair(5, 15));
  EXPECT_EQ(sc::parse_kernel_version("6.1-rc1"), std::make_pair(6, 1));
  EXPECT_EQ(sc::parse_kernel_version("4.19.91-26.al7.x86_64"), std::make_pair(4, 19));
  EXPECT_FALSE(sc::parse_kernel_version("garbage"));
  EXPECT_FALSE(sc::parse_kernel_version(""));
  EXPECT_FALSE(sc::parse_kernel_version("6."));
  EXPECT_FALSE(sc::parse_kernel_version(".5"));
  EXPECT_FALSE(sc::parse_kernel_version("0.5"));
}

TEST(ProcNetParse, PairsAndNegativeValues) {
  const std::string snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
                           "Tcp: RtoAlgorithm MaxConn ActiveOpens CurrEstab\n"
                           "Tcp: 1 -1 500 7\n";
  const auto m = sc::parse_proc_net_pairs(snmp, "Tcp");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->at("ActiveOpens"), 500u);
  EXPECT_EQ(m->at("CurrEstab"), 7u);
  EXPECT_EQ(m->count("MaxConn"), 0u); // -1 means "no limit", not a count
  EXPECT_EQ(m->count("Forwarding"), 0u);
}

TEST(ProcNetParse, MalformedIsAnError) {
  EXPECT_FALSE(sc::parse_proc_net_pairs("TcpExt: A B C\nTcpExt: 1 2\n", "TcpExt"));
  EXPECT_FALSE(sc::parse_proc_net_pairs("TcpExt: A B\n", "TcpExt"));
  EXPECT_FALSE(sc::parse_proc_net_pairs("TcpExt: A B\nTcpExt: 1 x\n", "TcpExt"));
  EXPECT_FALSE(sc::parse_proc_net_pairs("", "TcpExt"));
  // "TcpExtra:" is not "TcpExt:".
  EXPECT_FALSE(sc::parse_proc_net_pairs("TcpExtra: A\nTcpExtra: 1\n", "TcpExt"));
}

TEST(ProcNetParse, Sockstat) {
  const auto s = sc::parse_sockstat_tcp(
      "sockets: used 14\nTCP: inuse 1 orphan 2 tw 3 alloc 4 mem 254\nUDP: inuse 0 mem 0\n");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->inuse, 1u);
  EXPECT_EQ(s->orphan, 2u);
  EXPECT_EQ(s->tw, 3u);
  EXPECT_EQ(s->alloc, 4u);
  EXPECT_FALSE(sc::parse_sockstat_tcp("TCP: inuse x orphan 0\n"));
  EXPECT_FALSE(sc::parse_sockstat_tcp("TCP: inuse 1 orphan\n"));
  EXPECT_FALSE(sc::parse_sockstat_tcp("UDP: inuse 0\n"));
}

TEST(ReadKernelSettings, Linux618) {
  const auto k = sc::read_kernel_settings(fixture("linux-6.18"));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->kernel_release, "6.18.44-fc-v595");
  EXPECT_EQ(k->kernel_major, 6);
  EXPECT_EQ(k->kernel_minor, 18);
  EXPECT_EQ(k->tcp_fin_timeout, 60);
  EXPECT_EQ(k->tcp_keepalive_time, 7200);
  EXPECT_EQ(k->tcp_keepalive_intvl, 75);
  EXPECT_EQ(k->tcp_keepalive_probes, 9);
  EXPECT_EQ(k->tcp_tw_reuse, 2);
  EXPECT_EQ(k->tcp_tw_reuse_delay, 1000);
  EXPECT_EQ(k->tcp_timestamps, 1);
  EXPECT_EQ(k->tcp_max_tw_buckets, 131072);
  EXPECT_EQ(k->tcp_orphan_retries, 0);
  EXPECT_EQ(k->tcp_retries2, 15);
  EXPECT_EQ(k->somaxconn, 4096);
  ASSERT_TRUE(k->ip_local_port_range);
  EXPECT_EQ(k->ip_local_port_range->low, 32768);
  EXPECT_EQ(k->ip_local_port_range->high, 60999);
  EXPECT_TRUE(k->ip_local_reserved_ports.empty());
  EXPECT_FALSE(k->tcp_tw_recycle_present);
  EXPECT_FALSE(k->tcp_tw_timeout);
  EXPECT_EQ(k->tcp_ext.at("ListenOverflows"), 11u);
  EXPECT_EQ(k->tcp_ext.at("TCPTimeWaitOverflow"), 0u);
  EXPECT_EQ(k->tcp_snmp.count("CurrEstab"), 1u);
  EXPECT_EQ(k->tcp_snmp.count("MaxConn"), 0u);
  EXPECT_EQ(k->sockstat_orphan, 4u);
  EXPECT_EQ(k->sockstat_tw, 0u);
}

TEST(ReadKernelSettings, OldKernelWithTwRecycle) {
  std::vector<std::string> problems;
  const auto k = sc::read_kernel_settings(fixture("linux-4.9"), &problems);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(k->kernel_major, 4);
  EXPECT_EQ(k->kernel_minor, 9);
  EXPECT_TRUE(k->tcp_tw_recycle_present);
  EXPECT_FALSE(k->tcp_tw_reuse_delay); // absence is information: < 6.14
  EXPECT_EQ(k->tcp_tw_reuse, 0);
  EXPECT_EQ(k->somaxconn, 128);
  EXPECT_EQ(k->tcp_ext.at("TCPTimeWaitOverflow"), 42u);
  EXPECT_EQ(k->tcp_ext.at("TWRecycled"), 17u);
  EXPECT_EQ(k->tcp_snmp.at("ActiveOpens"), 500u);
  EXPECT_EQ(k->sockstat_tw, 3u);
  EXPECT_EQ(k->sockstat_inuse, 5u);
}

TEST(ReadKernelSettings, TunedReservedPorts) {
  const auto k = sc::read_kernel_settings(fixture("linux-6.18-tuned"));
  ASSERT_TRUE(k) << k.error().message;
  ASSERT_EQ(k->ip_local_reserved_ports.size(), 3u);
  EXPECT_EQ(k->ip_local_reserved_ports[2], std::make_pair(40000, 40009));
  EXPECT_EQ(k->ip_local_port_range->low, 40000);
  EXPECT_EQ(k->tcp_tw_reuse, 1);
  EXPECT_EQ(k->tcp_tw_reuse_delay, 250);
}

TEST(ReadKernelSettings, MalformedFilesAreUnsetAndReported) {
  std::vector<std::string> problems;
  const auto k = sc::read_kernel_settings(fixture("linux-malformed"), &problems);
  ASSERT_TRUE(k) << k.error().message; // files exist, so this is not "nothing readable"
  EXPECT_FALSE(k->tcp_fin_timeout);
  EXPECT_FALSE(k->tcp_keepalive_time);
  EXPECT_FALSE(k->tcp_tw_reuse);
  EXPECT_FALSE(k->tcp_timestamps);
  EXPECT_FALSE(k->tcp_max_tw_buckets);
  EXPECT_FALSE(k->ip_local_port_range);
  EXPECT_TRUE(k->ip_local_reserved_ports.empty());
  EXPECT_FALSE(k->somaxconn);
  EXPECT_EQ(k->kernel_release, "garbage");
  EXPECT_EQ(k->kernel_major, 0);
  EXPECT_TRUE(k->tcp_ext.empty());
  EXPECT_TRUE(k->tcp_snmp.empty());
  EXPECT_FALSE(k->sockstat_inuse);
  EXPECT_GE(problems.size(), 12u);
  bool named = false;
  for (const auto& p : problems)
    named = named || p.find("tcp_fin_timeout") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(ReadKernelSettings, NothingReadableIsAnError) {
  const auto k = sc::read_kernel_settings(fixture("does-not-exist"));
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("does-not-exist"), std::string::npos);
}

TEST(SysctlParse, RandomBytesNeverCrash) {
  // A cheap stand-in for a fuzzer: bounded, deterministic, exercised under ASan/UBSan builds.
  std::uint32_t seed = 12345;
  const auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
  const std::string alphabet = "0123456789 -,:\t\nTCPcpExtinuse\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string s(next() % 40, ' ');
    for (auto& c : s)
      c = alphabet[next() % alphabet.size()];
    (void)sc::parse_sysctl_long(s);
    (void)sc::parse_port_range(s);
    (void)sc::parse_reserved_ports(s);
    (void)sc::parse_kernel_version(s);
    (void)sc::parse_proc_net_pairs(s, "TcpExt");
    (void)sc::parse_sockstat_tcp(s);
  }
  SUCCEED();
}
