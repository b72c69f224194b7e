// Test tool: looks cookies up in a pinned state register and prints NDJSON, the way the sampler
// will call collect::open_pinned_register() (tests/integration/trace_*_test.py use it).
//   register_lookup [--pin-root DIR] COOKIE...   one line of info, then one line per cookie
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "collect/state_register.hpp"
#include "render/escape.hpp"

using namespace sockdoctor;

namespace {

std::string owner_json(const core::TracedOwner& o) {
  if (!o.known()) return "null";
  std::string comm;
  render::append_json_string_body(comm, o.comm);
  return fmt::format(R"({{"pid":{},"uid":{},"cgroup_id":{},"comm":"{}","role":"{}"}})", o.pid,
                     o.uid, o.cgroup_id, comm, core::owner_role_name(o.role));
}

} // namespace

int main(int argc, char** argv) {
  std::string pin_root = collect::kRegisterPinRoot;
  std::vector<std::uint64_t> cookies;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--pin-root" && i + 1 < argc)
      pin_root = argv[++i];
    else
      cookies.push_back(std::stoull(std::string(a)));
  }
  auto reader = collect::open_pinned_register(pin_root);
  if (!reader) {
    std::fprintf(stderr, "register_lookup: %s\n", reader.error().message.c_str());
    return reader.error().code == core::ErrorCode::NotFound ? 2 : 1;
  }
  const auto now = collect::boot_time_ns();
  const auto& info = reader->info();
  auto counters = reader->counters();
  auto entries = reader->count_entries();
  std::printf("%s\n",
              fmt::format(R"({{"type":"info","host_pid":{},"started_boot_ns":{},"now_boot_ns":{},)"
                          R"("register_age_s":{:.6f},"capacity":{},"entries":{},"evicted":{},)"
                          R"("time_wait_traced":{},"host_alive":{}}})",
                          info.host_pid, info.started_boot_ns, now,
                          static_cast<double>(now - info.started_boot_ns) / 1e9, info.max_entries,
                          entries ? *entries : 0, counters ? counters->evictions : 0,
                          info.time_wait_traced, reader->host_alive())
                  .c_str());
  auto found = reader->lookup(cookies);
  if (!found) {
    std::fprintf(stderr, "register_lookup: %s\n", found.error().message.c_str());
    return 1;
  }
  for (std::size_t i = 0; i < cookies.size(); ++i) {
    const auto& e = (*found)[i];
    if (!e) {
      std::printf("{\"cookie\":\"%llu\",\"traced\":false}\n",
                  static_cast<unsigned long long>(cookies[i]));
      continue;
    }
    const auto age = now >= e->entered_boot_ns ? now - e->entered_boot_ns : 0;
    std::printf(
        "%s\n",
        fmt::format(R"({{"cookie":"{}","traced":true,"state":"{}","age_s":{:.6f},"exact":{},)"
                    R"("from_timer":{},"born_traced":{},"mini_socket":{},"closed_by_owner":{},)"
                    R"("owner":{}}})",
                    cookies[i], core::snake_name(e->state), static_cast<double>(age) / 1e9,
                    e->entered_exact, e->entered_from_timer, e->born_traced, e->mini_socket,
                    e->closed_by_owner(), owner_json(e->owner))
            .c_str());
  }
  return 0;
}
