// NETLINK_SOCK_DIAG: one dump per address family through libmnl, decoded straight from the buffer.
#include "collect/sock_diag.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "collect/fs_read.hpp"
#include "collect/netlink.hpp"
#include "collect/proc_counters.hpp"

namespace sockdoctor::collect {
namespace {

using core::Error;
using core::fail;
using core::Result;
using core::TcpSocket;

constexpr int kMaxAttempts = 5;
// Receive-buffer sizes tried after ENOBUFS (the first attempt keeps the default).
constexpr int kRcvbufSteps[] = {4 << 20, 16 << 20, 64 << 20, 64 << 20};

// Marks the error a dump attempt is redone for (the decoder's NLM_F_DUMP_INTR).
constexpr int kDumpInterrupted = EINTR;

std::string errno_text(int e) {
  return std::strerror(e);
}

// A reply's error code is a negated errno; a hostile or corrupt one may be INT_MIN, whose
// negation is undefined, or a positive number. Both become EPROTO.
int errno_of_reply(int code) {
  if (code < 0 && code > -4096) return -code;
  return EPROTO;
}

core::TcpState decode_state(std::uint8_t s) {
  if (s >= 1 && s <= core::kMaxTcpState) return static_cast<core::TcpState>(s);
  if (s == 12) return core::TcpState::SynRecv; // TCP_NEW_SYN_RECV: request socks
  if (s == 13) return core::TcpState::Close;   // TCP_BOUND_INACTIVE is reported as CLOSE
  return core::TcpState::Unknown;
}

core::TimerKind decode_timer(std::uint8_t t) {
  // The kernel only produces 0-4; anything else would be a newer ABI we do not know.
  return t <= 4 ? static_cast<core::TimerKind>(t) : core::TimerKind::Off;
}

bool family_wanted(const SockDiagRequest& f, std::uint8_t af) {
  return (af == AF_INET && f.ipv4) || (af == AF_INET6 && f.ipv6);
}

// What mnl_attr_parse saw of one message's attributes.
struct AttrScan {
  const nlattr* info = nullptr;
  const nlattr* cgroup = nullptr;    // INET_DIAG_CGROUP_ID (full sockets, CONFIG_CGROUPS)
  const char* aligned_end = nullptr; // end of the last well-formed attribute, padded
  const char* raw_end = nullptr;     // furthest unpadded attribute end
};

int scan_attr(const nlattr* attr, void* data) {
  auto* scan = static_cast<AttrScan*>(data);
  if (mnl_attr_get_type(attr) == INET_DIAG_INFO) scan->info = attr;
  if (mnl_attr_get_type(attr) == INET_DIAG_CGROUP_ID &&
      mnl_attr_get_payload_len(attr) >= sizeof(std::uint64_t))
    scan->cgroup = attr;
  const char* base = reinterpret_cast<const char*>(attr);
  scan->aligned_end = base + MNL_ALIGN(attr->nla_len);
  scan->raw_end = std::max(scan->raw_end, base + attr->nla_len);
  return MNL_CB_OK;
}

void fill_info(const nlattr* attr, core::TcpInfoLite& lite) {
  // Older kernels send a shorter struct, newer ones a longer one: copy what both know.
  tcp_info ti{};
  std::memcpy(&ti, mnl_attr_get_payload(attr),
              std::min<std::size_t>(mnl_attr_get_payload_len(attr), sizeof ti));
  lite.last_data_sent_ms = ti.tcpi_last_data_sent;
  lite.last_data_recv_ms = ti.tcpi_last_data_recv;
  lite.last_ack_recv_ms = ti.tcpi_last_ack_recv;
  lite.rtt_us = ti.tcpi_rtt;
  lite.rttvar_us = ti.tcpi_rttvar;
  lite.rto_us = ti.tcpi_rto;
  lite.options = ti.tcpi_options;
  lite.probes = ti.tcpi_probes;
  lite.retransmits = ti.tcpi_retransmits;
  lite.backoff = ti.tcpi_backoff;
}

void fill_endpoint(core::Endpoint& ep, std::uint8_t af, const __be32 (&addr)[4], __be16 port) {
  ep.addr.family = af == AF_INET ? core::Family::Ipv4 : core::Family::Ipv6;
  std::memcpy(ep.addr.bytes.data(), addr, af == AF_INET ? 4 : 16);
  ep.port = ntohs(port);
}

void fill_socket(TcpSocket& s, const inet_diag_msg& m) {
  fill_endpoint(s.local, m.idiag_family, m.id.idiag_src, m.id.idiag_sport);
  fill_endpoint(s.peer, m.idiag_family, m.id.idiag_dst, m.id.idiag_dport);
  s.cookie = m.id.idiag_cookie[0] | (std::uint64_t{m.id.idiag_cookie[1]} << 32);
  s.recv_q = m.idiag_rqueue;
  s.send_q = m.idiag_wqueue;
  s.timer_remaining_ms = m.idiag_expires;
  s.uid = m.idiag_uid;
  s.inode = m.idiag_inode;
  s.state = decode_state(m.idiag_state);
  s.timer = decode_timer(m.idiag_timer);
  s.retrans = m.idiag_retrans;
}

// Walks netlink messages of one or more dumps and appends the sockets the filter wants.
class DumpDecoder {
public:
  DumpDecoder(const SockDiagRequest& filter, std::vector<TcpSocket>& out)
      : filter_(filter), out_(out) {}

  // Live mode: replies must carry this sequence number and port id, and a chunk ends at DONE.
  void expect_reply_to(std::uint32_t seq, std::uint32_t portid) {
    live_ = true;
    seq_ = seq;
    portid_ = portid;
  }

  // Decodes whole messages; returns true once the (live) dump's NLMSG_DONE was seen.
  Result<bool> feed(const std::byte* data, std::size_t len);

  // Replay mode: the data must have ended with NLMSG_DONE.
  Result<void> finish() const {
    if (offset_ == 0) return fail("no netlink messages");
    if (!last_was_done_)
      return fail(fmt::format("missing NLMSG_DONE at the end of the data (offset {}): the dump "
                              "is truncated",
                              offset_));
    return {};
  }

  std::uint32_t messages() const { return messages_; }
  std::uint32_t dumps() const { return dumps_; }
  std::vector<core::BoundDevice> take_bound_devices() { return std::move(bound_); }

private:
  Result<bool> handle(const nlmsghdr* nlh);
  Result<void> decode_diag(const nlmsghdr* nlh);
  tl::unexpected<Error> bad(const std::string& what, int err = 0) const {
    return fail(fmt::format("message at offset {}: {}", offset_, what), err);
  }

  const SockDiagRequest& filter_;
  std::vector<TcpSocket>& out_;
  std::vector<core::BoundDevice> bound_;
  bool live_ = false;
  std::uint32_t seq_ = 0;
  std::uint32_t portid_ = 0;
  std::size_t offset_ = 0; // of the message being decoded, from the first byte ever fed
  std::uint32_t messages_ = 0;
  std::uint32_t dumps_ = 0;
  bool last_was_done_ = false;
};

Result<bool> DumpDecoder::feed(const std::byte* data, std::size_t len) {
  const std::byte* p = data;
  std::size_t left = len;
  while (left > 0) {
    if (left < sizeof(nlmsghdr))
      return bad(fmt::format("truncated netlink header ({} bytes left)", left));
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(p);
    if (nlh->nlmsg_len < sizeof(nlmsghdr))
      return bad(fmt::format("nlmsg_len {} is smaller than the netlink header", nlh->nlmsg_len));
    if (nlh->nlmsg_len > left)
      return bad(fmt::format("nlmsg_len {} overruns the data ({} bytes left): truncated message",
                             nlh->nlmsg_len, left));
    // libmnl walks attributes up to the padded length, so the padding must exist too.
    const std::size_t step =
        (std::size_t{nlh->nlmsg_len} + MNL_ALIGNTO - 1) & ~std::size_t{MNL_ALIGNTO - 1};
    if (step > left) return bad(fmt::format("unpadded nlmsg_len {} at the end", nlh->nlmsg_len));
    if (!mnl_nlmsg_ok(nlh, static_cast<int>(std::min<std::size_t>(left, INT_MAX))))
      return bad("malformed netlink header");
    auto r = handle(nlh);
    if (!r) return tl::unexpected(r.error());
    p += step;
    left -= step;
    offset_ += step;
    if (*r && live_) {
      if (left != 0) return bad(fmt::format("{} bytes after NLMSG_DONE", left));
      return true;
    }
  }
  return false;
}

Result<bool> DumpDecoder::handle(const nlmsghdr* nlh) {
  if (live_ && (!mnl_nlmsg_seq_ok(nlh, seq_) || !mnl_nlmsg_portid_ok(nlh, portid_)))
    return bad(
        fmt::format("reply with seq {} port {} is not ours", nlh->nlmsg_seq, nlh->nlmsg_pid));
  // DUMP_INTR says the dumped tables changed between two chunks, so the list may miss or repeat
  // sockets: the whole attempt is worthless and the caller redoes it.
  if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
    return bad("dump interrupted (NLM_F_DUMP_INTR): the socket tables changed during the dump",
               kDumpInterrupted);
  last_was_done_ = false;
  switch (nlh->nlmsg_type) {
  case NLMSG_NOOP:
    return false;
  case NLMSG_ERROR: {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) return bad("short NLMSG_ERROR");
    nlmsgerr e;
    std::memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof e);
    if (e.error == 0) return false; // an ACK
    const int err = errno_of_reply(e.error);
    return bad("NLMSG_ERROR: " + errno_text(err), err);
  }
  case NLMSG_DONE: {
    // A dump callback that fails reports its error in DONE's payload.
    int status = 0;
    if (mnl_nlmsg_get_payload_len(nlh) >= sizeof status)
      std::memcpy(&status, mnl_nlmsg_get_payload(nlh), sizeof status);
    if (status < 0) {
      const int err = errno_of_reply(status);
      return bad("NLMSG_DONE carries error: " + errno_text(err), err);
    }
    last_was_done_ = true;
    ++dumps_;
    return true;
  }
  case SOCK_DIAG_BY_FAMILY:
  case TCPDIAG_GETSOCK: { // the pre-3.3 request type, still answered in kind
    auto r = decode_diag(nlh);
    if (!r) return tl::unexpected(r.error());
    return false;
  }
  default:
    return bad(fmt::format("unexpected netlink message type {}", nlh->nlmsg_type));
  }
}

Result<void> DumpDecoder::decode_diag(const nlmsghdr* nlh) {
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(inet_diag_msg))
    return bad(fmt::format("inet_diag_msg needs {} bytes, message has {}", sizeof(inet_diag_msg),
                           mnl_nlmsg_get_payload_len(nlh)));
  inet_diag_msg m;
  std::memcpy(&m, mnl_nlmsg_get_payload(nlh), sizeof m);
  if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
    return bad(fmt::format("unexpected address family {}", m.idiag_family));
  ++messages_;

  AttrScan scan;
  const char* payload_start =
      static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(inet_diag_msg)));
  scan.aligned_end = payload_start;
  scan.raw_end = payload_start;
  mnl_attr_parse(nlh, sizeof(inet_diag_msg), scan_attr, &scan);
  // mnl_attr_parse stops quietly at a bad attribute; a quiet stop would drop data, so check.
  const char* msg_end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
  if (msg_end - scan.aligned_end >= static_cast<std::ptrdiff_t>(sizeof(nlattr)) ||
      scan.raw_end > msg_end)
    return bad(fmt::format("attribute at message offset {} overruns its message",
                           scan.aligned_end - reinterpret_cast<const char*>(nlh)));

  const auto state = decode_state(m.idiag_state);
  if (!family_wanted(filter_, m.idiag_family) || !(filter_.state_mask & core::state_bit(state)))
    return {};
  TcpSocket& s = out_.emplace_back();
  fill_socket(s, m);
  if (scan.info != nullptr) {
    s.has_info = true;
    fill_info(scan.info, s.info);
  }
  if (scan.cgroup != nullptr)
    std::memcpy(&s.cgroup_id, mnl_attr_get_payload(scan.cgroup), sizeof s.cgroup_id);
  if (m.id.idiag_if != 0) bound_.push_back({s.cookie, m.id.idiag_if});
  return {};
}

// --- live dump ---------------------------------------------------------------------------------

// Why a failed attempt is redone, if it is.
enum class Redo { No, Interrupted, NoBuffers };

struct AttemptError {
  Error error;
  Redo redo = Redo::No;
};

Result<void>
send_request(DiagSocket& nl, std::uint8_t af, const SockDiagRequest& req, std::uint32_t seq) {
  alignas(nlmsghdr) char buf[MNL_ALIGN(sizeof(nlmsghdr)) + MNL_ALIGN(sizeof(inet_diag_req_v2))];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  auto* r =
      static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
  r->sdiag_family = af;
  r->sdiag_protocol = IPPROTO_TCP;
  r->idiag_ext = req.tcp_info ? static_cast<std::uint8_t>(1u << (INET_DIAG_INFO - 1)) : 0;
  r->idiag_states = req.state_mask & ~core::state_bit(core::TcpState::Close);
  return nl.send(nlh);
}

// One attempt at one family's dump, on a fresh socket so nothing of an abandoned dump is left.
tl::expected<std::uint32_t, AttemptError> attempt_dump(std::uint8_t af,
                                                       const SockDiagRequest& req,
                                                       int rcvbuf,
                                                       std::byte* buf,
                                                       std::vector<TcpSocket>& out,
                                                       std::string* record,
                                                       std::vector<core::BoundDevice>& bound) {
  auto nl = DiagSocket::open(rcvbuf);
  if (!nl) return tl::unexpected(AttemptError{nl.error()});
  const auto seq = static_cast<std::uint32_t>(std::time(nullptr));
  if (auto s = send_request(*nl, af, req, seq); !s) return tl::unexpected(AttemptError{s.error()});

  DumpDecoder decoder(req, out);
  decoder.expect_reply_to(seq, nl->port_id());
  while (true) {
    auto n = nl->receive(buf, kNetlinkRecvBuffer);
    if (!n) {
      // ENOBUFS: replies were dropped because the receive buffer overflowed.
      const Redo redo = n.error().sys_errno == ENOBUFS ? Redo::NoBuffers : Redo::No;
      return tl::unexpected(AttemptError{n.error(), redo});
    }
    if (record != nullptr) record->append(reinterpret_cast<const char*>(buf), *n);
    auto done = decoder.feed(buf, *n);
    if (!done) {
      const Redo redo = done.error().sys_errno == kDumpInterrupted ? Redo::Interrupted : Redo::No;
      return tl::unexpected(AttemptError{done.error(), redo});
    }
    if (*done) {
      for (const auto& b : decoder.take_bound_devices())
        bound.push_back(b);
      return decoder.messages();
    }
  }
}

Result<void> dump_family(std::uint8_t af,
                         const SockDiagRequest& req,
                         std::byte* buf,
                         std::vector<TcpSocket>& out,
                         std::string* record,
                         DumpStats& stats) {
  const char* name = af == AF_INET ? "AF_INET" : "AF_INET6";
  int rcvbuf = 0;
  int nobufs = 0;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    if (attempt > 0) ++stats.retries;
    const std::size_t out_mark = out.size();
    const std::size_t record_mark = record ? record->size() : 0;
    auto r = attempt_dump(af, req, rcvbuf, buf, out, record, stats.bound_devices);
    if (r) {
      stats.messages += *r;
      return {};
    }
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(out_mark), out.end());
    if (record) record->resize(record_mark);
    if (r.error().redo == Redo::No)
      return tl::unexpected(core::with_context(fmt::format("sock_diag {}", name), r.error().error));
    if (r.error().redo == Redo::NoBuffers) rcvbuf = kRcvbufSteps[nobufs++];
  }
  return fail(fmt::format("sock_diag {}: dump still interrupted or overflowing after {} attempts",
                          name, kMaxAttempts),
              EAGAIN);
}

// Counts whole messages without validating them, to size the output once.
std::size_t count_messages(std::span<const std::byte> data) {
  std::size_t count = 0;
  std::size_t off = 0;
  while (data.size() - off >= sizeof(nlmsghdr)) {
    std::uint32_t len;
    std::memcpy(&len, data.data() + off, sizeof len);
    // The padded step, as feed() checks it: an unpadded last message would move off past the
    // end, and data.size() - off would wrap (found by fuzz/sock_diag_fuzz).
    const std::size_t step = (std::size_t{len} + MNL_ALIGNTO - 1) & ~std::size_t{MNL_ALIGNTO - 1};
    if (len < sizeof(nlmsghdr) || step > data.size() - off) break;
    ++count;
    off += step;
  }
  return count;
}

// How many TCP sockets the caller's netns holds, from /proc/thread-self/net/sockstat{,6}: the
// netns of this thread is the one the netlink socket dumps, so no FsRoot applies. Reserving once
// saves the vector's doublings (copies and page faults).
std::size_t socket_count_hint(const SockDiagRequest& req) {
  auto counts = read_socket_counts("/proc/thread-self/net");
  if (!counts) return 64;
  std::size_t n = counts->v4.tw.value_or(0); // both families' TIME_WAIT and FIN_WAIT2 minis
  if (req.ipv4) n += counts->v4.inuse.value_or(0);
  if (req.ipv6) n += counts->v6_inuse.value_or(0);
  return n + n / 16 + 64; // sockets keep arriving while we dump
}

} // namespace

Result<DumpStats>
dump_sock_diag(const SockDiagRequest& req, std::vector<TcpSocket>& out, std::string* record) {
  auto buf = std::make_unique_for_overwrite<std::byte[]>(kNetlinkRecvBuffer);
  DumpStats stats;
  const std::size_t out_mark = out.size();
  const std::size_t record_mark = record ? record->size() : 0;
  // Only when most sockets will be kept: a narrow filter would reserve for nothing.
  if ((req.state_mask & core::kAllStatesMask) == core::kAllStatesMask) {
    // Callers append one netns after another: keep the growth geometric across calls.
    const std::size_t want = out_mark + socket_count_hint(req);
    if (want > out.capacity()) out.reserve(std::max(want, out.capacity() + out.capacity() / 2));
  }
  for (std::uint8_t af : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    if (!family_wanted(req, af)) continue;
    auto r = dump_family(af, req, buf.get(), out, record, stats);
    if (!r) {
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(out_mark), out.end());
      if (record) record->resize(record_mark);
      return tl::unexpected(r.error());
    }
  }
  return stats;
}

Result<DumpStats> decode_sock_diag(std::span<const std::byte> data,
                                   const SockDiagRequest& filter,
                                   std::vector<TcpSocket>& out) {
  // Netlink headers are read in place, which needs 4-byte alignment; copy the rare odd buffer.
  std::vector<std::byte> aligned;
  if (reinterpret_cast<std::uintptr_t>(data.data()) % alignof(nlmsghdr) != 0) {
    aligned.assign(data.begin(), data.end());
    data = aligned;
  }
  const std::size_t out_mark = out.size();
  out.reserve(out_mark + count_messages(data));
  DumpDecoder decoder(filter, out);
  auto r = decoder.feed(data.data(), data.size());
  Result<void> finished = r ? decoder.finish() : Result<void>(tl::unexpected(r.error()));
  if (!finished) {
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(out_mark), out.end());
    return tl::unexpected(core::with_context("sock_diag", finished.error()));
  }
  return DumpStats{decoder.messages(), 0, decoder.dumps(), decoder.take_bound_devices()};
}

Result<DumpStats> replay_sock_diag(const std::string& path,
                                   const SockDiagRequest& filter,
                                   std::vector<TcpSocket>& out) {
  auto data = read_file(path, kRecordingFileLimit);
  if (!data) return tl::unexpected(data.error());
  const std::size_t out_mark = out.size();
  auto r = decode_sock_diag(std::as_bytes(std::span(*data)), filter, out);
  if (!r) return tl::unexpected(core::with_context(path, r.error()));
  const std::uint32_t wanted = (filter.ipv4 ? 1u : 0u) + (filter.ipv6 ? 1u : 0u);
  if (r->dumps < wanted) {
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(out_mark), out.end());
    return core::fail(fmt::format("{}: holds {} complete dump(s), expected {} (IPv4 and IPv6): the "
                                  "recording is truncated (if it was made with -4 or -6, replay "
                                  "with the same flag)",
                                  path, r->dumps, wanted));
  }
  return r;
}

} // namespace sockdoctor::collect
