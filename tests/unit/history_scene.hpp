// Synthetic host models and a scratch directory for the history tests: a leaking holder, a
// steady one, a port budget and a finding, at any Unix time.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "analyze/host_model.hpp"
#include "core/address.hpp"

namespace sockdoctor::testing {

// A directory removed with everything in it when the test ends.
class ScratchDir {
public:
  ScratchDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "sd-history-XXXXXX").string();
    path_ = ::mkdtemp(templ.data()) ? templ : "";
    EXPECT_FALSE(path_.empty());
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

inline analyze::StuckHolder
holder(std::int32_t pid, std::string comm, std::uint64_t cw, std::uint64_t fw2 = 0) {
  analyze::StuckHolder h;
  h.pid = pid;
  h.workload.unit = comm + ".service";
  h.comm = std::move(comm);
  h.close_wait = cw;
  h.fin_wait2 = fw2;
  h.oldest.seconds = 30.0 + static_cast<double>(cw);
  return h;
}

// A model with `close_wait` sockets held by `pid` ("leaker"), 2 by pid 900 ("steady"), one
// orphaned FIN_WAIT2, 40 ESTABLISHED, a budget toward 127.0.0.1:5432 and one finding.
inline analyze::HostModel model(std::uint64_t close_wait, std::int32_t pid = 100) {
  auto sample = std::make_shared<core::Sample>();
  sample->counts[static_cast<std::size_t>(core::TcpState::CloseWait)] = close_wait + 2;
  sample->counts[static_cast<std::size_t>(core::TcpState::Established)] = 40;
  sample->counts[static_cast<std::size_t>(core::TcpState::FinWait2)] = 1;
  analyze::HostModel m;
  m.sample = sample;
  if (close_wait > 0) m.holders.push_back(holder(pid, "leaker", close_wait));
  m.holders.push_back(holder(900, "steady", 2));
  m.holders.push_back(holder(analyze::kNoOwner, "", 0, 1));
  analyze::PortBudget b;
  b.source = *core::parse_address("127.0.0.1");
  b.destination = {*core::parse_address("127.0.0.1"), 5432};
  b.time_wait = 7;
  b.live = 3;
  b.usable = 28232;
  m.budgets.push_back(b);
  analyze::Finding f;
  f.id = "close_wait_leak";
  f.severity = analyze::Severity::Warning;
  f.title = "pid 100 (leaker) holds CLOSE_WAIT sockets";
  f.process = analyze::ProcessRef{pid, "leaker", "leaker --serve"};
  f.count = close_wait;
  m.diagnosis.findings.push_back(f);
  return m;
}

} // namespace sockdoctor::testing
