// The eBPF iterators load from light skeletons: loading them must not parse vmlinux BTF here.
#include <sys/resource.h>

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "collect/bpf_owners.hpp"
#include "collect/bpf_runtime.hpp"
#include "collect/tcp_iter.hpp"
#include "core/socket.hpp"

namespace sockdoctor::collect {
namespace {

std::int64_t peak_rss_kb() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// A full skeleton's load read /sys/kernel/btf/vmlinux (5.5 MB on 6.18) into two heap copies:
// +11 MB of peak RSS for each iterator. Both walks here output next to nothing (no state
// wanted; every TCP socket's owner skipped), so what the first call adds is the loads'.
TEST(BpfLightSkeleton, LoadingBothIteratorsLeavesNoVmlinuxBtfInThePeak) {
  if (auto usable = bpf_usable(); !usable) GTEST_SKIP() << usable.error().message;
  const std::int64_t before = peak_rss_kb();
  SockDiagRequest nothing;
  nothing.state_mask = 0;
  std::vector<core::TcpSocket> out;
  auto sockets = dump_tcp_iter(nothing, 250, out);
  if (!sockets && bpf_owner_scan_unavailable(sockets.error()))
    GTEST_SKIP() << sockets.error().message;
  ASSERT_TRUE(sockets) << sockets.error().message;
  EXPECT_TRUE(out.empty());
  auto owners = run_bpf_owner_scan(core::FsRoot{}, /*details=*/false, ~0u);
  ASSERT_TRUE(owners) << owners.error().message;
  const std::int64_t grew_kb = peak_rss_kb() - before;
  EXPECT_LT(grew_kb, 6 * 1024) << "loading the iterators raised the peak by " << grew_kb
                               << " KiB: is a full skeleton (vmlinux BTF) back?";
}

} // namespace
} // namespace sockdoctor::collect
