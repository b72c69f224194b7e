// Streamed JSON for `sockdoctor ls --json`: one document, written in chunks, no object tree.
#include <fmt/format.h>

#include <array>
#include <ostream>
#include <string>

#include "analyze/age.hpp"
#include "render/escape.hpp"
#include "render/socket_list.hpp"

namespace sockdoctor::render {
namespace {

void append_quoted(std::string& out, std::string_view raw) {
  out += '"';
  append_json_string_body(out, raw);
  out += '"';
}

void append_endpoint(std::string& out, const core::Endpoint& e) {
  char addr[64];
  const auto n = core::format_address(e.addr, addr, sizeof addr);
  out += "{\"addr\":\"";
  out.append(addr, n);
  fmt::format_to(std::back_inserter(out), "\",\"port\":{}}}", e.port);
}

void append_owners(std::string& out, const core::OwnerTable& owners, std::uint32_t inode) {
  out += '[';
  bool first = true;
  for (const auto& ref : owners.owners_of(inode)) {
    const auto& p = owners.process(ref.process_index);
    if (!first) out += ',';
    first = false;
    fmt::format_to(std::back_inserter(out), "{{\"pid\":{},\"fd\":{},\"uid\":{},\"comm\":", p.pid,
                   ref.fd, p.uid);
    append_quoted(out, p.comm);
    out += ",\"cmdline\":";
    append_quoted(out, p.cmdline);
    out += '}';
  }
  out += ']';
}

void append_age(std::string& out, const analyze::Age& age) {
  out += ",\"age\":{\"seconds\":";
  if (age.seconds)
    fmt::format_to(std::back_inserter(out), "{:.3f}", *age.seconds);
  else
    out += "null";
  fmt::format_to(std::back_inserter(out), ",\"basis\":\"{}\",\"lower_bound\":{}}}",
                 analyze::basis_name(age.basis), age.lower_bound);
}

void append_socket(std::string& out, const SocketListView& v, const core::TcpSocket& s) {
  fmt::format_to(std::back_inserter(out), "{{\"family\":\"{}\",\"state\":\"{}\",\"local\":",
                 s.family() == core::Family::Ipv6 ? "ipv6" : "ipv4", core::snake_name(s.state));
  append_endpoint(out, s.local);
  out += ",\"peer\":";
  append_endpoint(out, s.peer);
  fmt::format_to(std::back_inserter(out),
                 ",\"recv_q\":{},\"send_q\":{},\"timer\":{{\"kind\":\"{}\",\"remaining_ms\":{},"
                 "\"retrans\":{}}},\"uid\":{},\"inode\":{},\"cookie\":\"{}\"",
                 s.recv_q, s.send_q, core::timer_name(s.timer), s.timer_remaining_ms, s.retrans,
                 s.uid, s.inode, s.cookie);
  if (s.netns_ino != 0) {
    fmt::format_to(std::back_inserter(out), ",\"netns\":{{\"inode\":{},\"name\":", s.netns_ino);
    const auto name = netns_name(*v.snapshot, s.netns_ino);
    if (name.empty())
      out += "null";
    else
      append_quoted(out, name);
    out += '}';
  }
  if (s.has_info) {
    const auto& i = s.info;
    fmt::format_to(std::back_inserter(out),
                   ",\"tcp_info\":{{\"last_data_recv_ms\":{},\"last_ack_recv_ms\":{},"
                   "\"last_data_sent_ms\":{},\"rtt_us\":{},\"rttvar_us\":{},\"rto_us\":{},"
                   "\"timestamps\":{},\"probes\":{},\"retransmits\":{}}}",
                   i.last_data_recv_ms, i.last_ack_recv_ms, i.last_data_sent_ms, i.rtt_us,
                   i.rttvar_us, i.rto_us, (i.options & core::kTcpiOptTimestamps) != 0, i.probes,
                   i.retransmits);
  }
  if (v.has_ages()) append_age(out, v.age_of(s));
  out += ",\"owners\":";
  append_owners(out, v.snapshot->owners, s.inode);
  out += '}';
}

void append_summary(std::string& out, const SocketListView& v) {
  std::array<std::uint64_t, core::kMaxTcpState + 1> counts{};
  for (auto idx : v.rows) {
    const auto st = static_cast<std::size_t>(v.snapshot->sockets[idx].state);
    if (st < counts.size()) ++counts[st];
  }
  out += "\"summary\":{\"states\":{";
  bool first = true;
  for (auto st : core::kAllStates) {
    const auto n = counts[static_cast<std::size_t>(st)];
    if (n == 0) continue;
    fmt::format_to(std::back_inserter(out), "{}\"{}\":{}", first ? "" : ",", core::snake_name(st),
                   n);
    first = false;
  }
  const auto& o = v.snapshot->owners;
  fmt::format_to(std::back_inserter(out), "}},\"total\":{},\"source\":", v.rows.size());
  append_quoted(out, v.snapshot->source);
  fmt::format_to(
      std::back_inserter(out),
      ",\"owners\":{{\"scanned\":{},\"processes_vanished\":{},\"processes_denied\":{}}}}}",
      v.owners_scanned && o.scanned, o.vanished, o.denied);
}

} // namespace

void render_socket_json(std::ostream& out, const SocketListView& v) {
  std::string buf;
  buf.reserve((1 << 20) + 4096);
  buf += "{\"schema_version\":1,\"sockets\":[";
  bool first = true;
  for (auto idx : v.rows) {
    if (!first) buf += ',';
    first = false;
    buf += '\n';
    append_socket(buf, v, v.snapshot->sockets[idx]);
    if (buf.size() >= (1 << 20)) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
  }
  buf += "\n],";
  append_summary(buf, v);
  buf += "}\n";
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
}

} // namespace sockdoctor::render
