// Streamed JSON for `sockdoctor ls --json`: one document, written in chunks, no object tree.
#include <array>
#include <charconv>
#include <cmath>
#include <concepts>
#include <ostream>
#include <string>
#include <vector>

#include "analyze/age.hpp"
#include "render/escape.hpp"
#include "render/json_writer.hpp"
#include "render/socket_list.hpp"
#include "render/workload.hpp"

namespace sockdoctor::render {
namespace {

using namespace std::string_view_literals;

// Each socket object is appended to a string by hand and handed to the writer whole: a million
// sockets through the generic writer cost a call, a separator check and an escape scan per field.
// Only names the kernel or a process chose (comm, cmdline, cgroup and netns names) are escaped;
// everything else here is ASCII without quotes or backslashes. The bytes equal what the generic
// writer produced (the render goldens and ls tests compare them).

template <std::integral T> void append_int(std::string& out, T v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void append_bool(std::string& out, bool v) {
  out += v ? "true"sv : "false"sv;
}

void append_endpoint(std::string& out, const core::Endpoint& e) {
  char addr[64];
  const auto n = core::format_address(e.addr, addr, sizeof addr);
  out += "{\"addr\":\""sv;
  out.append(addr, n);
  out += "\",\"port\":"sv;
  append_int(out, e.port);
  out += '}';
}

// A value written by the generic writer in memory (a small document ends in '\n': dropped).
template <class Write> std::string generic_json(Write write) {
  JsonWriter w;
  write(w);
  std::string s = w.take();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The owner objects of a socket differ only in the fd: what follows the fd is built once per
// process (uid, comm, cmdline, workload), the escaping of a long cmdline included.
class OwnerJson {
public:
  explicit OwnerJson(const SocketListView& v)
      : v_(v), after_fd_(v.snapshot->owners.processes().size()) {}

  void append(std::string& out, std::uint32_t inode) {
    const auto& owners = v_.snapshot->owners;
    out += '[';
    bool first = true;
    for (const auto& ref : owners.owners_of(inode)) {
      if (!first) out += ',';
      first = false;
      out += "{\"pid\":"sv;
      append_int(out, owners.process(ref.process_index).pid);
      out += ",\"fd\":"sv;
      append_int(out, ref.fd);
      out += after_fd(ref.process_index);
    }
    out += ']';
  }

private:
  const std::string& after_fd(std::uint32_t index) {
    std::string& s = after_fd_[index];
    if (!s.empty()) return s;
    const auto& p = v_.snapshot->owners.process(index);
    const auto* wl = v_.workloads ? v_.workloads->process(index) : nullptr;
    // {"uid":..,"comm":..}: its '{' becomes the ',' after the fd.
    s = generic_json([&](JsonWriter& w) {
      w.begin_object().key("uid").number(p.uid);
      w.key("comm").string(p.comm).key("cmdline").string(p.cmdline);
      // The command line is kept to its first 4 KiB per process (an argv of megabytes repeated
      // for every socket made gigabytes of JSON); documented: present only when true.
      if (p.cmdline_truncated) w.key("cmdline_truncated").boolean(true);
      if (wl != nullptr) write_workload_json(w.key("workload"), *wl); // present only when known
      w.end_object();
    });
    s.front() = ',';
    return s;
  }

  const SocketListView& v_;
  std::vector<std::string> after_fd_; // "" = not built yet
};

void append_age(std::string& out, const analyze::Age& age) {
  out += ",\"age\":{\"seconds\":"sv;
  if (age.seconds && std::isfinite(*age.seconds)) {
    char buf[400];
    const auto r = std::to_chars(buf, buf + sizeof buf, *age.seconds, std::chars_format::fixed, 3);
    if (r.ec == std::errc{})
      out.append(buf, r.ptr);
    else
      out += "null"sv;
  } else {
    out += "null"sv;
  }
  out += ",\"basis\":\""sv;
  out += analyze::basis_name(age.basis);
  out += "\",\"lower_bound\":"sv;
  append_bool(out, age.lower_bound);
  if (age.estimate) out += ",\"estimate\":true"sv; // documented: present only when true
  out += '}';
}

void append_tcp_info(std::string& out, const core::TcpInfoLite& i) {
  out += ",\"tcp_info\":{\"last_data_recv_ms\":"sv;
  append_int(out, i.last_data_recv_ms);
  out += ",\"last_ack_recv_ms\":"sv;
  append_int(out, i.last_ack_recv_ms);
  out += ",\"last_data_sent_ms\":"sv;
  append_int(out, i.last_data_sent_ms);
  out += ",\"rtt_us\":"sv;
  append_int(out, i.rtt_us);
  out += ",\"rttvar_us\":"sv;
  append_int(out, i.rttvar_us);
  out += ",\"rto_us\":"sv;
  append_int(out, i.rto_us);
  out += ",\"timestamps\":"sv;
  append_bool(out, (i.options & core::kTcpiOptTimestamps) != 0);
  out += ",\"probes\":"sv;
  append_int(out, i.probes);
  out += ",\"retransmits\":"sv;
  append_int(out, i.retransmits);
  out += '}';
}

void append_netns(std::string& out, const SocketListView& v, std::uint32_t inode) {
  out += ",\"netns\":{\"inode\":"sv;
  append_int(out, inode);
  out += ",\"name\":"sv;
  const auto name = netns_name(*v.snapshot, inode);
  if (name.empty()) {
    out += "null"sv;
  } else {
    out += '"';
    append_json_string_body(out, name);
    out += '"';
  }
  out += '}';
}

void append_socket(std::string& out,
                   const SocketListView& v,
                   const core::TcpSocket& s,
                   OwnerJson& owners) {
  out += "{\"family\":\""sv;
  out += s.family() == core::Family::Ipv6 ? "ipv6"sv : "ipv4"sv;
  out += "\",\"state\":\""sv;
  out += core::snake_name(s.state);
  out += "\",\"local\":"sv;
  append_endpoint(out, s.local);
  out += ",\"peer\":"sv;
  append_endpoint(out, s.peer);
  out += ",\"recv_q\":"sv;
  append_int(out, s.recv_q);
  out += ",\"send_q\":"sv;
  append_int(out, s.send_q);
  out += ",\"timer\":{\"kind\":\""sv;
  out += core::timer_name(s.timer);
  out += "\",\"remaining_ms\":"sv;
  append_int(out, s.timer_remaining_ms);
  out += ",\"retrans\":"sv;
  append_int(out, s.retrans);
  out += "},\"uid\":"sv;
  append_int(out, s.uid);
  out += ",\"inode\":"sv;
  append_int(out, s.inode);
  out += ",\"cookie\":\""sv; // a string: 64 bits do not survive a JavaScript number
  append_int(out, s.cookie);
  out += '"';
  if (s.netns_ino != 0) append_netns(out, v, s.netns_ino);
  if (s.has_info) append_tcp_info(out, s.info);
  if (v.has_ages()) append_age(out, v.age_of(s));
  out += ",\"owners\":"sv;
  owners.append(out, s.inode);
  // Without an fd, the process that closed it, when the eBPF register saw the close.
  if (const auto* c = s.inode == 0 ? v.closer_of(s) : nullptr) {
    out += ",\"closed_by\":"sv;
    out += generic_json([&](JsonWriter& w) {
      w.begin_object().key("pid").number(c->pid).key("comm").string(c->comm).end_object();
    });
  }
  // An orphan has no owner; the cgroup it was created in names its workload.
  if (const auto* wl = s.inode == 0 && v.workloads ? v.workloads->cgroup(s.cgroup_id) : nullptr) {
    out += ",\"workload\":"sv;
    out += generic_json([&](JsonWriter& w) { write_workload_json(w, *wl); });
  }
  out += '}';
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
  OwnerJson owners(v);
  for (auto idx : v.rows)
    w.json_value(
        [&](std::string& buf) { append_socket(buf, v, v.snapshot->sockets[idx], owners); });
  w.end_array();
  write_summary(w, v);
  w.end_object();
  w.finish();
}

} // namespace sockdoctor::render
