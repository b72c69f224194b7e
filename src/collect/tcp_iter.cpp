// iter/tcp sockets: load tcp_sockets.bpf.c once per process, read its records, decode them into
// the TcpSocket fields sock_diag fills (fill_socket and fill_info in sock_diag.cpp).
#include "collect/tcp_iter.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include <sys/socket.h>
#include <unistd.h>

#include "collect/bpf/tcp_sockets.h"
#include "collect/bpf_runtime.hpp"
#include "collect/unique_fd.hpp"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collect/bpf_skeleton.hpp"
#include "tcp_sockets.skel.h"
#endif

namespace sockdoctor::collect {

static_assert(sizeof(tcp_sockets_record) == TCP_SOCKETS_RECORD_SIZE,
              "tcp_sockets.h record layout changed: the BPF side and this decoder disagree");

namespace {

// jiffies_to_msecs() and jiffies_to_usecs() of include/linux/jiffies.h, in the kernel's unsigned
// 32-bit arithmetic (a value wraps where the kernel's wraps).
std::uint32_t jiffies_to_ms(std::uint32_t j, int hz) {
  if (1000 % hz == 0) return j * static_cast<std::uint32_t>(1000 / hz);
  if (hz % 1000 == 0) {
    const auto per = static_cast<std::uint32_t>(hz / 1000);
    return (j + per - 1) / per;
  }
  return static_cast<std::uint32_t>(std::uint64_t{j} * 1000 / static_cast<std::uint64_t>(hz));
}

std::uint32_t jiffies_to_us(std::uint32_t j, int hz) {
  if (1000000 % hz == 0) return j * static_cast<std::uint32_t>(1000000 / hz);
  return static_cast<std::uint32_t>(std::uint64_t{j} * 1000000 / static_cast<std::uint64_t>(hz));
}

void fill_endpoint(core::Endpoint& ep,
                   core::Family f,
                   const std::uint8_t (&addr)[16],
                   std::uint16_t port) {
  ep.addr.family = f;
  std::memcpy(ep.addr.bytes.data(), addr, f == core::Family::Ipv4 ? 4 : 16);
  ep.port = port;
}

core::TcpState decode_state(std::uint8_t s) {
  return s <= core::kMaxTcpState ? static_cast<core::TcpState>(s) : core::TcpState::Unknown;
}

core::TimerKind decode_timer(std::uint8_t t) {
  return t <= 4 ? static_cast<core::TimerKind>(t) : core::TimerKind::Off;
}

} // namespace

std::size_t decode_tcp_socket_records(std::span<const std::byte> data,
                                      const TcpRecordDecoding& how,
                                      std::vector<core::TcpSocket>& out,
                                      std::uint64_t* skipped) {
  const std::size_t whole = data.size() - data.size() % sizeof(tcp_sockets_record);
  const int hz = how.hz > 0 ? how.hz : 250;
  for (std::size_t off = 0; off < whole; off += sizeof(tcp_sockets_record)) {
    tcp_sockets_record r;
    std::memcpy(&r, data.data() + off, sizeof r);
    const bool known_kind = r.kind >= TCP_SOCKETS_FULL && r.kind <= TCP_SOCKETS_REQUEST;
    if (!known_kind || (r.family != AF_INET && r.family != AF_INET6)) {
      if (skipped) ++*skipped;
      continue;
    }
    const auto family = r.family == AF_INET ? core::Family::Ipv4 : core::Family::Ipv6;
    core::TcpSocket& s = out.emplace_back();
    fill_endpoint(s.local, family, r.saddr, r.sport);
    fill_endpoint(s.peer, family, r.daddr, r.dport);
    s.cookie = r.cookie;
    s.cgroup_id = r.cgroup_id;
    s.recv_q = r.recv_q;
    s.send_q = r.send_q;
    s.timer_remaining_ms = jiffies_to_ms(r.timer_left, hz);
    s.uid = r.uid;
    s.inode = r.inode;
    s.state = decode_state(r.state);
    s.timer = decode_timer(r.timer);
    s.retrans = r.retrans;
    if (how.tcp_info && r.kind == TCP_SOCKETS_FULL) {
      s.has_info = true;
      s.info.last_data_sent_ms = jiffies_to_ms(r.sent_ago, hz);
      s.info.last_data_recv_ms = jiffies_to_ms(r.recv_ago, hz);
      s.info.last_ack_recv_ms = jiffies_to_ms(r.ack_ago, hz);
      s.info.rtt_us = r.rtt_us;
      s.info.rttvar_us = r.rttvar_us;
      s.info.rto_us = jiffies_to_us(r.rto, hz);
      s.info.options = r.options;
      s.info.probes = r.probes;
      s.info.retransmits = r.retransmits;
      s.info.backoff = r.backoff;
    }
  }
  return whole;
}

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

using Skeleton = BpfSkeleton<tcp_sockets_bpf>;
constexpr SkeletonOps<tcp_sockets_bpf> kSkeletonOps{tcp_sockets_bpf__open, tcp_sockets_bpf__load,
                                                    tcp_sockets_bpf__attach,
                                                    tcp_sockets_bpf__destroy};

core::Result<Skeleton> load_program() {
  auto skel = Skeleton::open(kSkeletonOps, "eBPF socket iterator unavailable",
                             "kernel without iter/tcp or the bpf_skc_to_* helpers, Linux 5.12+ "
                             "with BTF");
  if (!skel) return tl::unexpected(bpf_unavailable(skel.error()));
  if (auto loaded = skel->load(); !loaded) return tl::unexpected(bpf_unavailable(loaded.error()));
  (*skel)->links.dump_tcp = bpf_program__attach_iter((*skel)->progs.dump_tcp, nullptr);
  if (!(*skel)->links.dump_tcp)
    return tl::unexpected(bpf_unavailable(skel->error("attach iter/tcp", errno)));
  return skel;
}

// Loaded once per process (tens of ms) and kept: serve and top sample every few seconds. Reads
// are serialised because the filter lives in the program's .bss.
std::mutex g_mutex;
std::optional<Skeleton> g_program;

core::Result<void>
read_records(int fd, const TcpRecordDecoding& how, std::vector<core::TcpSocket>& out) {
  constexpr std::uint64_t kMaxBytes = 8ULL << 30; // 76M sockets: far beyond any real host
  std::uint64_t skipped = 0;
  auto r = read_bpf_iterator(fd, "eBPF socket iterator", 1 << 20, kMaxBytes,
                             [&](std::span<const std::byte> data) {
                               return decode_tcp_socket_records(data, how, out, &skipped);
                             });
  if (!r) return r;
  // Our own program writes only known kinds and families: anything else means the program and
  // this decoder disagree, and a listing that silently left sockets out would be wrong.
  if (skipped != 0)
    return core::fail("eBPF socket iterator: " + std::to_string(skipped) +
                      " records of an unknown kind or family (program and decoder disagree)");
  return {};
}

} // namespace

core::Result<TcpIterStats>
dump_tcp_iter(const SockDiagRequest& request, int hz, std::vector<core::TcpSocket>& out) {
  TcpIterStats stats;
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(g_mutex);
  if (!g_program) {
    auto skel = load_program();
    if (!skel) return tl::unexpected(skel.error());
    g_program.emplace(std::move(*skel));
  }
  auto& skel = *g_program;
  skel->bss->records_seen = 0;
  skel->bss->state_mask = request.state_mask;
  skel->bss->families = (request.ipv4 ? 1u : 0u) | (request.ipv6 ? 2u : 0u);
  UniqueFd iter(bpf_iter_create(bpf_link__fd(skel->links.dump_tcp)));
  if (!iter.valid()) return tl::unexpected(bpf_unavailable(skel.error("create iterator", errno)));
  stats.load_us = micros_since(start);
  const auto read_start = std::chrono::steady_clock::now();
  const std::size_t before = out.size();
  if (auto r = read_records(iter.get(), {hz, request.tcp_info}, out); !r) {
    out.resize(before);
    return tl::unexpected(r.error());
  }
  stats.read_us = micros_since(read_start);
  stats.records = skel->bss->records_seen;
  return stats;
}

bool tcp_iter_compiled() {
  return true;
}

#else // !SOCKDOCTOR_HAVE_BPF

core::Result<TcpIterStats>
dump_tcp_iter(const SockDiagRequest&, int, std::vector<core::TcpSocket>&) {
  return core::fail(core::ErrorCode::Unavailable,
                    "eBPF socket iterator unavailable: built without eBPF (clang, bpftool, "
                    "libbpf or kernel BTF were missing)");
}

bool tcp_iter_compiled() {
  return false;
}

#endif

} // namespace sockdoctor::collect
