// iter/tcp sockets: load tcp_sockets.bpf.c once per process, read its records, decode them into
// the TcpSocket fields sock_diag fills (fill_socket and fill_info in sock_diag.cpp).
#include "collect/tcp_iter.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "collect/bpf/tcp_sockets.h"
#include "collect/bpf_runtime.hpp"
#include "collect/unique_fd.hpp"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>

#include "collect/bpf/tcp_sockets_loader.h"
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

constexpr const char* kContext = "eBPF socket iterator unavailable";
constexpr const char* kKernelHint =
    "kernel without iter/tcp or the bpf_skc_to_* helpers, Linux 5.12+ with BTF; the light "
    "skeleton needs CO-RE relocations done by the kernel and bpf_rdonly_cast, Linux 6.2+";

// The light skeleton (collect/bpf/tcp_sockets_loader.h): destroy detaches the link.
struct LoaderDeleter {
  void operator()(tcpi_loader* l) const { tcpi_loader_destroy(l); }
};
using Loader = std::unique_ptr<tcpi_loader, LoaderDeleter>;

core::Error unavailable(std::string_view step, int err) {
  return bpf_unavailable(
      bpf_error(std::string(kContext) + ": " + std::string(step), err, kKernelHint));
}

core::Result<Loader> load_program() {
  install_bpf_log();
  errno = 0;
  Loader l(tcpi_loader_open());
  if (l == nullptr) return tl::unexpected(unavailable("open", errno != 0 ? errno : ENOMEM));
  tcpi_loader_config c{};
  // Tests shrink the summary's destination map to reach its overflow with a handful of sockets.
  if (const char* n = std::getenv("SOCKDOCTOR_BPF_MAX_TUPLES"); n != nullptr && std::atoi(n) > 0)
    c.max_tuples = static_cast<std::uint32_t>(std::atoi(n));
  const int err = load_light_skeleton([&](char* log, std::uint32_t size) {
    c.log_buf = log;
    c.log_size = size;
    return tcpi_loader_load(l.get(), &c);
  });
  if (err != 0) return tl::unexpected(unavailable("load", err));
  if (const int a = tcpi_loader_attach(l.get()); a != 0)
    return tl::unexpected(unavailable("attach iter/tcp", -a));
  return l;
}

// Loaded once per process (tens of ms) and kept: serve and top sample every few seconds. Reads
// are serialised because the filter lives in the program's .bss.
std::mutex g_mutex;
std::optional<Loader> g_program;

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

// One walk's settings into the program's .bss; everything it fills during the walk zeroed.
void begin_walk(tcpi_loader* l,
                const SockDiagRequest& request,
                const TcpIterSummaryConfig* config) {
  tcpi_walk w{};
  w.state_mask = request.state_mask;
  w.families = (request.ipv4 ? 1u : 0u) | (request.ipv6 ? 2u : 0u);
  w.summary = config != nullptr ? 1 : 0;
  w.aggregate_mask = config != nullptr ? config->aggregate_mask : 0;
  w.port_low = 1;
  w.port_high = 0; // no ephemeral port unless a range is given
  std::vector<std::uint64_t> reserved;
  if (config != nullptr) {
    w.port_low = static_cast<std::uint32_t>(config->range.low);
    w.port_high = static_cast<std::uint32_t>(config->range.high);
    reserved.assign(TCPI_PORT_WORDS, 0);
    for (const auto& [lo, hi] : config->reserved)
      for (int p = std::max(lo, 0); p <= std::min(hi, 65535); ++p)
        reserved[static_cast<std::size_t>(p >> 6)] |= 1ULL << (p & 63);
    w.reserved_ports = reserved.data();
  }
  tcpi_loader_begin(l, &w);
}

// Reads and empties the port_tuples map (the program stays loaded between samples).
core::Result<void> take_tuples(int fd, int hz, std::vector<core::PortTupleCount>& out) {
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
  tcpi_loader* l = g_program->get();
  begin_walk(l, request, summary);
  UniqueFd iter(bpf_iter_create(tcpi_loader_link_fd(l)));
  if (!iter.valid()) return tl::unexpected(unavailable("create iterator", errno));
  stats.load_us = micros_since(start);
  const auto read_start = std::chrono::steady_clock::now();
  const std::size_t before = out.size();
  auto r = read_records(iter.get(), {hz, request.tcp_info}, out);
  std::vector<core::PortTupleCount> tuples;
  if (r && summary != nullptr) r = take_tuples(tcpi_loader_tuples_fd(l), hz, tuples);
  if (!r) {
    out.resize(before);
    return tl::unexpected(r.error());
  }
  stats.read_us = micros_since(read_start);
  tcpi_totals totals{};
  tcpi_loader_totals(l, &totals);
  stats.records = totals.records_seen;
  if (summary == nullptr) return stats;
  if (totals.tuples_full)
    stats.summary_incomplete = "more than " + std::to_string(tcpi_loader_max_tuples(l)) +
                               " destinations on ephemeral ports (the port tuple map is full)";
  else if (totals.order_broken)
    stats.summary_incomplete = "a listener came after a connection in the walk";
  *aggregate = core::SocketAggregate{};
  aggregate->states = summary->aggregate_mask;
  static_assert(std::tuple_size_v<decltype(aggregate->counts)> <= TCPI_STATES);
  for (std::size_t st = 0; st < aggregate->counts.size(); ++st)
    aggregate->counts[st] = totals.aggregated[st];
  aggregate->time_wait_incoming = totals.tw_incoming;
  aggregate->time_wait_outgoing = totals.tw_outgoing;
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
