// iter/tcp sockets: load tcp_sockets.bpf.c once per process, read its records, decode them into
// the TcpSocket fields sock_diag fills (fill_socket and fill_info in sock_diag.cpp).
#include "collect/tcp_iter.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
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
static_assert(sizeof(tcp_sockets_tuple_key) == TCP_SOCKETS_TUPLE_KEY_SIZE &&
                  sizeof(tcp_sockets_tuple_value) == TCP_SOCKETS_TUPLE_VALUE_SIZE,
              "tcp_sockets.h tuple layout changed: the BPF side and this decoder disagree");

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

bool decode_port_tuple(std::span<const std::byte> key,
                       std::span<const std::byte> value,
                       int hz,
                       core::PortTupleCount& out) {
  tcp_sockets_tuple_key k;
  tcp_sockets_tuple_value v;
  if (key.size() != sizeof k || value.size() != sizeof v) return false;
  std::memcpy(&k, key.data(), sizeof k);
  std::memcpy(&v, value.data(), sizeof v);
  if (k.family != AF_INET && k.family != AF_INET6) return false;
  if (hz <= 0) hz = 250;
  const auto family = k.family == AF_INET ? core::Family::Ipv4 : core::Family::Ipv6;
  out = core::PortTupleCount{};
  out.source.family = family;
  std::memcpy(out.source.bytes.data(), k.saddr, family == core::Family::Ipv4 ? 4 : 16);
  fill_endpoint(out.destination, family, k.daddr, k.dport);
  out.live = v.live;
  out.time_wait = v.time_wait;
  if (v.time_wait > 0) {
    out.time_wait_left_min_ms = jiffies_to_ms(v.tw_left_min, hz);
    out.time_wait_left_max_ms = jiffies_to_ms(v.tw_left_max, hz);
  }
  return true;
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
  // Tests shrink the summary's destination map to reach its overflow with a handful of sockets.
  if (const char* n = std::getenv("SOCKDOCTOR_BPF_MAX_TUPLES"); n != nullptr && std::atoi(n) > 0)
    bpf_map__set_max_entries((*skel)->maps.port_tuples, static_cast<__u32>(std::atoi(n)));
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

// Summary mode's settings into the program's .bss; everything it fills during the walk zeroed.
void set_summary(Skeleton& skel, const TcpIterSummaryConfig* config) {
  auto* bss = skel->bss;
  bss->summary = config != nullptr ? 1 : 0;
  bss->aggregate_mask = config != nullptr ? config->aggregate_mask : 0;
  std::memset(bss->reserved_ports, 0, sizeof bss->reserved_ports);
  std::memset(bss->listening_ports, 0, sizeof bss->listening_ports);
  std::memset(bss->aggregated, 0, sizeof bss->aggregated);
  bss->tw_incoming = bss->tw_outgoing = 0;
  bss->tuples_full = bss->order_broken = bss->past_listeners = 0;
  bss->port_low = 1;
  bss->port_high = 0; // no ephemeral port unless a range is given
  if (config == nullptr) return;
  bss->port_low = static_cast<__u32>(config->range.low);
  bss->port_high = static_cast<__u32>(config->range.high);
  for (const auto& [lo, hi] : config->reserved)
    for (int p = std::max(lo, 0); p <= std::min(hi, 65535); ++p)
      bss->reserved_ports[p >> 6] |= 1ULL << (p & 63);
}

// Reads and empties the port_tuples map (the program stays loaded between samples).
core::Result<void> take_tuples(Skeleton& skel, int hz, std::vector<core::PortTupleCount>& out) {
  const int fd = bpf_map__fd(skel->maps.port_tuples);
  std::vector<tcp_sockets_tuple_key> keys;
  tcp_sockets_tuple_key key{};
  tcp_sockets_tuple_key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& k : keys) {
    tcp_sockets_tuple_value v{};
    if (bpf_map_lookup_elem(fd, &k, &v) != 0)
      return core::fail("eBPF socket iterator: port tuple map lookup failed", errno);
    core::PortTupleCount t;
    if (decode_port_tuple(std::as_bytes(std::span(&k, 1)), std::as_bytes(std::span(&v, 1)), hz, t))
      out.push_back(t);
    bpf_map_delete_elem(fd, &k);
  }
  return {};
}

core::Result<TcpIterStats> run_iterator(const SockDiagRequest& request,
                                        int hz,
                                        const TcpIterSummaryConfig* summary,
                                        std::vector<core::TcpSocket>& out,
                                        core::SocketAggregate* aggregate) {
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
  set_summary(skel, summary);
  UniqueFd iter(bpf_iter_create(bpf_link__fd(skel->links.dump_tcp)));
  if (!iter.valid()) return tl::unexpected(bpf_unavailable(skel.error("create iterator", errno)));
  stats.load_us = micros_since(start);
  const auto read_start = std::chrono::steady_clock::now();
  const std::size_t before = out.size();
  auto r = read_records(iter.get(), {hz, request.tcp_info}, out);
  std::vector<core::PortTupleCount> tuples;
  if (r && summary != nullptr) r = take_tuples(skel, hz, tuples);
  if (!r) {
    out.resize(before);
    return tl::unexpected(r.error());
  }
  stats.read_us = micros_since(read_start);
  stats.records = skel->bss->records_seen;
  if (summary == nullptr) return stats;
  if (skel->bss->tuples_full)
    stats.summary_incomplete = "more than " +
                               std::to_string(bpf_map__max_entries(skel->maps.port_tuples)) +
                               " destinations on ephemeral ports (the port tuple map is full)";
  else if (skel->bss->order_broken)
    stats.summary_incomplete = "a listener came after a connection in the walk";
  *aggregate = core::SocketAggregate{};
  aggregate->states = summary->aggregate_mask;
  for (std::size_t st = 0; st < aggregate->counts.size(); ++st)
    aggregate->counts[st] = skel->bss->aggregated[st];
  aggregate->time_wait_incoming = skel->bss->tw_incoming;
  aggregate->time_wait_outgoing = skel->bss->tw_outgoing;
  aggregate->tuples = std::move(tuples);
  return stats;
}

} // namespace

core::Result<TcpIterStats>
dump_tcp_iter(const SockDiagRequest& request, int hz, std::vector<core::TcpSocket>& out) {
  return run_iterator(request, hz, nullptr, out, nullptr);
}

core::Result<TcpIterStats> dump_tcp_iter_summary(const SockDiagRequest& request,
                                                 int hz,
                                                 const TcpIterSummaryConfig& config,
                                                 std::vector<core::TcpSocket>& out,
                                                 core::SocketAggregate& aggregate) {
  return run_iterator(request, hz, &config, out, &aggregate);
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

core::Result<TcpIterStats> dump_tcp_iter_summary(const SockDiagRequest& request,
                                                 int hz,
                                                 const TcpIterSummaryConfig&,
                                                 std::vector<core::TcpSocket>& out,
                                                 core::SocketAggregate&) {
  return dump_tcp_iter(request, hz, out);
}

bool tcp_iter_compiled() {
  return false;
}

#endif

} // namespace sockdoctor::collect
