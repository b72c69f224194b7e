// Socket table (two-pass column widths) and streamed JSON for `sockdoctor ls`.
#include "render/socket_list.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ostream>
#include <string>

#include "analyze/age.hpp"
#include "render/escape.hpp"

namespace sockdoctor::render {
namespace {

constexpr std::size_t kFlushBytes = 1 << 20;

void flush_if_big(std::ostream& out, std::string& buf) {
  if (buf.size() >= kFlushBytes) {
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    buf.clear();
  }
}

// "127.0.0.1:80" or "[::1]:80" into buf; returns the length.
std::size_t format_endpoint(const core::Endpoint& e, char* buf, std::size_t size) {
  std::size_t n = 0;
  const bool v6 = e.addr.family == core::Family::Ipv6;
  if (v6) buf[n++] = '[';
  n += core::format_address(e.addr, buf + n, size - n - 8);
  if (v6) buf[n++] = ']';
  buf[n++] = ':';
  auto r = fmt::format_to_n(buf + n, size - n - 1, "{}", e.port);
  n += r.size;
  buf[n] = '\0';
  return n;
}

// Middle-elides an endpoint to `width` columns, keeping the ":port" end visible.
void append_fitted(std::string& out, std::string_view text, std::size_t width, bool left) {
  if (text.size() > width && width >= 4) {
    const auto colon = text.rfind(':');
    const std::size_t tail = (colon == std::string_view::npos) ? 0 : text.size() - colon;
    const std::size_t head = width > tail + 1 ? width - tail - 1 : width - 1;
    std::string s(text.substr(0, head));
    s += "\xe2\x80\xa6";  // one column: "…"
    if (tail + head + 1 <= width) s += text.substr(text.size() - tail);
    out += s;
    const std::size_t shown = display_width(s);
    if (shown < width) out.append(width - shown, ' ');
    return;
  }
  if (!left && text.size() < width) out.append(width - text.size(), ' ');
  out += text;
  if (left && text.size() < width) out.append(width - text.size(), ' ');
}

std::string owner_text(const core::OwnerTable& owners, std::uint32_t inode, bool wide) {
  const auto refs = owners.owners_of(inode);
  std::string s;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (i > 0) s += ',';
    if (!wide && i == 1) {
      s += fmt::format("+{}", refs.size() - 1);
      break;
    }
    const auto& p = owners.process(refs[i].process_index);
    s += fmt::format("{}/", p.pid);
    append_escaped_for_terminal(s, p.comm);
    if (wide) s += fmt::format("(fd {})", refs[i].fd);
  }
  return s;
}

struct Widths {
  std::size_t state = 10, recv_q = 6, send_q = 6, local = 17, peer = 17, age = 7;
};

Widths measure(const SocketListView& v) {
  Widths w;
  char buf[64];
  for (auto idx : v.rows) {
    const auto& s = v.snapshot->sockets[idx];
    w.local = std::max(w.local, format_endpoint(s.local, buf, sizeof buf));
    w.peer = std::max(w.peer, format_endpoint(s.peer, buf, sizeof buf));
    w.recv_q = std::max(w.recv_q, fmt::formatted_size("{}", s.recv_q));
    w.send_q = std::max(w.send_q, fmt::formatted_size("{}", s.send_q));
  }
  return w;
}

// Narrow mode: shrink the address columns so the line fits, leaving the process column >= 12.
void fit_to_width(Widths& w, const SocketListView& v, int target) {
  const std::size_t age = v.kernel ? w.age + 1 : 0;
  const std::size_t fixed = w.state + 1 + w.recv_q + 1 + w.send_q + 1 + 2 + age + 12;
  const std::size_t total = static_cast<std::size_t>(std::max(target, 40));
  if (fixed + w.local + w.peer <= total) return;
  const std::size_t room = total > fixed ? total - fixed : 16;
  const std::size_t each = std::max<std::size_t>(room / 2, 8);
  w.local = std::min(w.local, each);
  w.peer = std::min(w.peer, each);
}

std::string age_text(const core::TcpSocket& s, const core::KernelSettings& k) {
  const auto age = analyze::estimate_age(s, k);
  if (!age.seconds) return "-";
  return (age.lower_bound ? ">" : "") + format_duration(*age.seconds);
}

void append_row(std::string& out, const SocketListView& v, const Widths& w, const core::TcpSocket& s,
                bool wide) {
  char local[64], peer[64];
  const auto ln = format_endpoint(s.local, local, sizeof local);
  const auto pn = format_endpoint(s.peer, peer, sizeof peer);
  append_fitted(out, core::ss_name(s.state), w.state, true);
  out += ' ';
  append_fitted(out, fmt::format("{}", s.recv_q), w.recv_q, false);
  out += ' ';
  append_fitted(out, fmt::format("{}", s.send_q), w.send_q, false);
  out += ' ';
  append_fitted(out, std::string_view(local, ln), w.local, true);
  out += ' ';
  append_fitted(out, std::string_view(peer, pn), w.peer, true);
  if (v.kernel) {
    out += ' ';
    append_fitted(out, age_text(s, *v.kernel), w.age, false);
  }
  if (v.owners_scanned) {
    out += "  ";
    out += owner_text(v.snapshot->owners, s.inode, wide);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += '\n';
}

}  // namespace

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  const auto t = static_cast<long long>(seconds);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  if (t < 86400) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  return fmt::format("{}d{:02}h", t / 86400, (t % 86400) / 3600);
}

void render_socket_table(std::ostream& out, const SocketListView& v, const TableOptions& opts) {
  Widths w = measure(v);
  if (!opts.wide) fit_to_width(w, v, opts.width);
  std::string buf;
  buf.reserve(kFlushBytes + 4096);
  if (opts.header) {
    append_fitted(buf, "State", w.state, true);
    buf += ' ';
    append_fitted(buf, "Recv-Q", w.recv_q, false);
    buf += ' ';
    append_fitted(buf, "Send-Q", w.send_q, false);
    buf += ' ';
    append_fitted(buf, "Local Address:Port", w.local, true);
    buf += ' ';
    append_fitted(buf, "Peer Address:Port", w.peer, true);
    if (v.kernel) {
      buf += ' ';
      append_fitted(buf, "Age", w.age, false);
    }
    if (v.owners_scanned) buf += "  Process";
    while (!buf.empty() && buf.back() == ' ') buf.pop_back();
    buf += '\n';
  }
  for (auto idx : v.rows) {
    append_row(buf, v, w, v.snapshot->sockets[idx], opts.wide);
    flush_if_big(out, buf);
  }
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
}

}  // namespace sockdoctor::render
