// top's sampling helpers: counts from kernel counters, and the targeted fd rescan.
#include "collect/live_sampler.hpp"
#include "collect/proc_owners.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace sockdoctor::collect {
namespace {

using core::TcpState;

core::TcpSocket
sock(TcpState s, std::uint32_t inode = 1, core::TimerKind timer = core::TimerKind::Off) {
  core::TcpSocket x;
  x.state = s;
  x.inode = inode;
  x.timer = timer;
  return x;
}

std::uint64_t at(const core::StateCounts& c, TcpState s) {
  return c[static_cast<std::size_t>(s)];
}

TEST(LightCounts, BigStatesFromCounters) {
  const std::vector<core::TcpSocket> listed = {
      sock(TcpState::CloseWait), sock(TcpState::CloseWait), sock(TcpState::Listen),
      sock(TcpState::FinWait2, 7),                             // held half-close: a full socket
      sock(TcpState::FinWait2, 0, core::TimerKind::TimeWait)}; // orphan mini-socket: in "tw"
  const auto c = light_counts(listed, /*CurrEstab=*/102, /*tw=*/51);
  EXPECT_EQ(at(c, TcpState::Established), 100u) << "CurrEstab counts CLOSE_WAIT too";
  EXPECT_EQ(at(c, TcpState::TimeWait), 50u) << "sockstat tw counts FIN_WAIT2 mini-sockets too";
  EXPECT_EQ(at(c, TcpState::CloseWait), 2u);
  EXPECT_EQ(at(c, TcpState::FinWait2), 2u);
  EXPECT_EQ(at(c, TcpState::Listen), 1u);
}

TEST(LightCounts, CountersBehindTheDumpClampAtZero) {
  const auto c = light_counts({sock(TcpState::CloseWait), sock(TcpState::CloseWait)}, 1, 0);
  EXPECT_EQ(at(c, TcpState::Established), 0u);
  EXPECT_EQ(at(c, TcpState::TimeWait), 0u);
}

TEST(ScanFdsOf, ReadsOnlyTheGivenProcesses) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("sd-top-fds-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "10" / "fd");
  fs::create_directories(root / "20" / "fd");
  fs::create_symlink("socket:[111]", root / "10" / "fd" / "3");
  fs::create_symlink("pipe:[5]", root / "10" / "fd" / "4");
  fs::create_symlink("socket:[112]", root / "10" / "fd" / "7");
  fs::create_symlink("socket:[222]", root / "20" / "fd" / "3"); // not asked for
  core::FsRoot r;
  r.proc = root.string();
  core::ProcessInfo p10;
  p10.pid = 10;
  p10.comm = "leaker";
  core::ProcessInfo gone;
  gone.pid = 30; // exited since the full scan
  const auto scanned = scan_owners_of(r, {p10, gone});
  ASSERT_TRUE(scanned) << scanned.error().message;
  const auto& t = *scanned;
  fs::remove_all(root);
  EXPECT_TRUE(t.scanned);
  EXPECT_EQ(t.vanished, 1u);
  ASSERT_EQ(t.owners_of(111).size(), 1u);
  EXPECT_EQ(t.process(t.owners_of(111)[0].process_index).comm, "leaker");
  EXPECT_EQ(t.owners_of(112)[0].fd, 7);
  EXPECT_TRUE(t.owners_of(222).empty());
  EXPECT_EQ(t.reference_count(), 2u);
}

} // namespace
} // namespace sockdoctor::collect
