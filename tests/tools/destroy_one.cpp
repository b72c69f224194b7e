// Test tool: drives SOCK_DESTROY for one socket named on the command line, the way `sockdoctor
// kill` does (tests/integration/kill_*_test.py and docs/kernel-behaviour.md's table use it).
//   destroy_one LOCAL PEER COOKIE [--raw] [--states MASK]
// LOCAL/PEER: 127.0.0.1:8080 or [::1]:8080. Default: the verified path (lookup, cookie and state
// check, destroy, look again). --raw: SOCK_DESTROY at once, then classify (a stale cookie reaches
// the kernel). Prints one JSON line: {"outcome":..., "errno":..., "sent":..., "state_before":...}.
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "analyze/socket_filter.hpp"
#include "collect/sock_destroy.hpp"

using namespace sockdoctor;

namespace {

bool parse_endpoint(const std::string& text, core::Endpoint& ep) {
  auto p = analyze::parse_peer(text);
  if (!p || !p->port) return false;
  ep.addr = p->addr;
  ep.port = *p->port;
  return true;
}

int report(const collect::DestroyReport& r) {
  std::printf("%s\n", fmt::format(R"({{"outcome":"{}","errno":{},"errno_name":"{}","sent":{},)"
                                  R"("state_before":"{}","other_cookie":"{}"}})",
                                  collect::outcome_name(r.outcome), r.err,
                                  r.err ? strerrorname_np(r.err) : "", r.sent ? "true" : "false",
                                  core::snake_name(r.state_now), r.other_cookie)
                          .c_str());
  return r.outcome == collect::DestroyOutcome::Failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: destroy_one LOCAL PEER COOKIE [--raw] [--states MASK]\n");
    return 2;
  }
  collect::SocketId id;
  if (!parse_endpoint(argv[1], id.local) || !parse_endpoint(argv[2], id.peer)) {
    std::fprintf(stderr, "destroy_one: bad endpoint\n");
    return 2;
  }
  id.cookie = std::stoull(argv[3]);
  bool raw = false;
  std::uint32_t mask = ~0u;
  for (int i = 4; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--raw") raw = true;
    if (a == "--states" && i + 1 < argc)
      mask = static_cast<std::uint32_t>(std::stoul(argv[++i], nullptr, 0));
  }
  auto nl = collect::DiagSocket::open();
  if (!nl) {
    std::fprintf(stderr, "destroy_one: %s\n", nl.error().message.c_str());
    return 1;
  }
  if (!raw) return report(collect::destroy_verified(*nl, id, mask));
  collect::DestroyReport r;
  auto err = collect::send_destroy(*nl, id);
  if (!err) {
    std::fprintf(stderr, "destroy_one: %s\n", err.error().message.c_str());
    return 1;
  }
  r.sent = true;
  r.err = *err;
  auto after = collect::lookup_socket(*nl, id, false);
  if (!after) {
    std::fprintf(stderr, "destroy_one: %s\n", after.error().message.c_str());
    return 1;
  }
  if (*after && (*after)->cookie != id.cookie) r.other_cookie = (*after)->cookie;
  r.outcome = collect::destroy_outcome(*err, *after, id.cookie);
  return report(r);
}
