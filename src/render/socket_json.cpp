// Streamed JSON for `sockdoctor ls --json`: one document, written in chunks, no object tree.
#include <array>
#include <charconv>
#include <ostream>

#include "analyze/age.hpp"
#include "render/json_writer.hpp"
#include "render/socket_list.hpp"
#include "render/workload.hpp"

namespace sockdoctor::render {
namespace {

void write_endpoint(JsonWriter& w, const core::Endpoint& e) {
  char addr[64];
  const auto n = core::format_address(e.addr, addr, sizeof addr);
  w.begin_object().key("addr").string({addr, n}).key("port").number(e.port).end_object();
}

void write_owners(JsonWriter& w, const SocketListView& v, std::uint32_t inode) {
  const auto& owners = v.snapshot->owners;
  w.begin_array();
  for (const auto& ref : owners.owners_of(inode)) {
    const auto& p = owners.process(ref.process_index);
    w.begin_object().key("pid").number(p.pid).key("fd").number(ref.fd).key("uid").number(p.uid);
    w.key("comm").string(p.comm).key("cmdline").string(p.cmdline);
    // The command line is kept to its first 4 KiB per process (an argv of megabytes repeated for
    // every socket made gigabytes of JSON); documented: present only when true.
    if (p.cmdline_truncated) w.key("cmdline_truncated").boolean(true);
    if (const auto* wl = v.workloads ? v.workloads->process(ref.process_index) : nullptr)
      write_workload_json(w.key("workload"), *wl); // present only when known
    w.end_object();
  }
  w.end_array();
}

void write_age(JsonWriter& w, const analyze::Age& age) {
  w.key("age").begin_object().key("seconds");
  if (age.seconds)
    w.number_fixed(*age.seconds, 3);
  else
    w.null();
  w.key("basis").string(analyze::basis_name(age.basis));
  w.key("lower_bound").boolean(age.lower_bound);
  if (age.estimate) w.key("estimate").boolean(true); // documented: present only when true
  w.end_object();
}

void write_tcp_info(JsonWriter& w, const core::TcpInfoLite& i) {
  w.key("tcp_info").begin_object();
  w.key("last_data_recv_ms").number(i.last_data_recv_ms);
  w.key("last_ack_recv_ms").number(i.last_ack_recv_ms);
  w.key("last_data_sent_ms").number(i.last_data_sent_ms);
  w.key("rtt_us").number(i.rtt_us).key("rttvar_us").number(i.rttvar_us);
  w.key("rto_us").number(i.rto_us);
  w.key("timestamps").boolean((i.options & core::kTcpiOptTimestamps) != 0);
  w.key("probes").number(i.probes).key("retransmits").number(i.retransmits);
  w.end_object();
}

void write_netns(JsonWriter& w, const SocketListView& v, std::uint32_t inode) {
  w.key("netns").begin_object().key("inode").number(inode).key("name");
  const auto name = netns_name(*v.snapshot, inode);
  if (name.empty())
    w.null();
  else
    w.string(name);
  w.end_object();
}

void write_socket(JsonWriter& w, const SocketListView& v, const core::TcpSocket& s) {
  w.begin_object();
  w.key("family").string(s.family() == core::Family::Ipv6 ? "ipv6" : "ipv4");
  w.key("state").string(core::snake_name(s.state));
  write_endpoint(w.key("local"), s.local);
  write_endpoint(w.key("peer"), s.peer);
  w.key("recv_q").number(s.recv_q).key("send_q").number(s.send_q);
  w.key("timer").begin_object().key("kind").string(core::timer_name(s.timer));
  w.key("remaining_ms").number(s.timer_remaining_ms).key("retrans").number(s.retrans);
  w.end_object();
  w.key("uid").number(s.uid).key("inode").number(s.inode);
  char cookie[24]; // a string: 64 bits do not survive a JavaScript number
  w.key("cookie").string(
      {cookie, static_cast<std::size_t>(
                   std::to_chars(cookie, cookie + sizeof cookie, s.cookie).ptr - cookie)});
  if (s.netns_ino != 0) write_netns(w, v, s.netns_ino);
  if (s.has_info) write_tcp_info(w, s.info);
  if (v.has_ages()) write_age(w, v.age_of(s));
  write_owners(w.key("owners"), v, s.inode);
  // An orphan has no owner; the cgroup it was created in names its workload.
  if (const auto* wl = s.inode == 0 && v.workloads ? v.workloads->cgroup(s.cgroup_id) : nullptr)
    write_workload_json(w.key("workload"), *wl);
  w.end_object();
}

void write_summary(JsonWriter& w, const SocketListView& v) {
  std::array<std::uint64_t, core::kMaxTcpState + 1> counts{};
  for (auto idx : v.rows) {
    const auto st = static_cast<std::size_t>(v.snapshot->sockets[idx].state);
    if (st < counts.size()) ++counts[st];
  }
  w.key("summary").begin_object().key("states").begin_object();
  for (auto st : core::kAllStates)
    if (const auto n = counts[static_cast<std::size_t>(st)]; n != 0)
      w.key_escaped(core::snake_name(st)).number(n);
  w.end_object();
  const auto& o = v.snapshot->owners;
  w.key("total").number(v.rows.size()).key("source").string(v.snapshot->source);
  w.key("owners").begin_object().key("scanned").boolean(v.owners_scanned && o.scanned);
  w.key("processes_vanished").number(o.vanished).key("processes_denied").number(o.denied);
  w.end_object().end_object();
}

} // namespace

void render_socket_json(std::ostream& out, const SocketListView& v) {
  JsonWriter w(out);
  w.begin_object().key("schema_version").number(1).key("sockets").begin_array(true);
  for (auto idx : v.rows)
    write_socket(w, v, v.snapshot->sockets[idx]);
  w.end_array();
  write_summary(w, v);
  w.end_object();
  w.finish();
}

} // namespace sockdoctor::render
