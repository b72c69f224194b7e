// Socket table (two-pass column widths) and streamed JSON for `sockdoctor ls`.
#include "render/socket_list.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <ostream>
#include <string>
#include <vector>

#include "analyze/age.hpp"
#include "core/duration.hpp"
#include "render/escape.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

using namespace std::string_view_literals;

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
  if (e.port == 0) {
    buf[n++] = '*'; // a listener's peer, as ss prints it
  } else {
    n = static_cast<std::size_t>(std::to_chars(buf + n, buf + size - 1, e.port).ptr - buf);
  }
  buf[n] = '\0';
  return n;
}

// Pads text to `width` cells; text that is too wide is middle-elided so that the ":port" end of
// an endpoint stays visible.
void append_fitted(std::string& out, std::string_view text, std::size_t width, bool left) {
  const Align align = left ? Align::Left : Align::Right;
  // Cells never outnumber bytes: text.size() <= width fits without measuring.
  if (width < 4 || text.size() <= width || display_width(text) <= width)
    return append_padded(out, text, width, align);
  const auto colon = text.rfind(':');
  const std::size_t tail = (colon == std::string_view::npos) ? 0 : text.size() - colon;
  const std::size_t head = width > tail + 1 ? width - tail - 1 : width - 1;
  std::string s = truncate(text, head + 1);
  if (tail + head + 1 <= width) s += text.substr(text.size() - tail);
  append_padded(out, s, width, Align::Left);
}

// Table cells of the owners, built once per process rather than once per socket: "pid/comm"
// escaped, and (narrow mode) that text cut to the process column for a sole owner.
class OwnerTexts {
public:
  OwnerTexts(const core::OwnerTable& owners, bool wide, std::size_t width)
      : owners_(owners), wide_(wide), width_(width), texts_(owners.processes().size()),
        cut_(wide ? 0 : owners.processes().size()) {}

  // "pid/comm" of the first owner, ",+N" for the others; wide mode lists all with their fds.
  // Narrow mode cuts the first owner's text so that the ",+N" stays visible.
  void append(std::string& out, std::uint32_t inode);
  void append_closer(std::string& out, const analyze::SocketCloser& c);

private:
  const std::string& text(std::uint32_t process_index);
  const std::string& cut(std::uint32_t process_index);

  const core::OwnerTable& owners_;
  bool wide_;
  std::size_t width_;
  std::vector<std::string> texts_; // "" = not built yet (never a built value: it has a '/')
  std::vector<std::string> cut_;
};

// A namespace's name if it has one (escaped: container ids come from cgroup paths), else its inode.
std::string netns_label(const core::Snapshot& snap, std::uint32_t inode) {
  const auto name = netns_name(snap, inode);
  return name.empty() ? fmt::format("{}", inode) : escape_for_terminal(name);
}

// Digits of v, as measured for the Recv-Q and Send-Q columns.
std::size_t digits(std::uint32_t v) {
  std::size_t n = 1;
  for (; v >= 10; v /= 10)
    ++n;
  return n;
}

// ASCII text (states, numbers, addresses, ages) that fits its column (the usual case) is padded
// here; anything else goes through append_fitted, which measures cells and elides.
void append_cell(std::string& out, std::string_view text, std::size_t width, bool left) {
  if (text.size() > width) return append_fitted(out, text, width, left);
  if (!left) out.append(width - text.size(), ' ');
  out += text;
  if (left) out.append(width - text.size(), ' ');
}

void append_number_cell(std::string& out, std::uint32_t v, std::size_t width) {
  char buf[16];
  const auto n = static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf);
  append_cell(out, {buf, n}, width, false);
}

struct Widths {
  std::size_t netns = 0; // 0 = no Netns column (single namespace)
  std::size_t state = 10, recv_q = 6, send_q = 6, local = 13, peer = 12, age = 6;
  std::size_t process = 0; // 0 = unlimited (wide)
};

Widths measure(const SocketListView& v) {
  Widths w;
  char buf[64];
  for (auto idx : v.rows) {
    const auto& s = v.snapshot->sockets[idx];
    w.local = std::max(w.local, format_endpoint(s.local, buf, sizeof buf));
    w.peer = std::max(w.peer, format_endpoint(s.peer, buf, sizeof buf));
    w.recv_q = std::max(w.recv_q, digits(s.recv_q));
    w.send_q = std::max(w.send_q, digits(s.send_q));
    if (s.netns_ino != 0)
      w.netns = std::max(w.netns, display_width(netns_label(*v.snapshot, s.netns_ino)));
  }
  if (w.netns != 0) w.netns = std::max<std::size_t>(w.netns, 5);
  return w;
}

// Narrow mode: the process column keeps at least kMinProcess columns; the address columns give
// way first (middle-elided, the port stays visible), then the process text is cut.
constexpr std::size_t kMinProcess = 14;

void fit_to_width(Widths& w, const SocketListView& v, int target) {
  const std::size_t total = static_cast<std::size_t>(std::max(target, 60));
  const std::size_t fixed = (w.netns != 0 ? w.netns + 1 : 0) + w.state + 1 + w.recv_q + 1 +
                            w.send_q + 1 + 1 + (v.has_ages() ? w.age + 1 : 0) + 2;
  const std::size_t room = total > fixed + kMinProcess ? total - fixed - kMinProcess : 26;
  if (w.local + w.peer > room) {
    const std::size_t each = std::max<std::size_t>(room / 2, 13);
    w.local = std::min(w.local, each);
    w.peer = std::min(w.peer, each);
  }
  const std::size_t used = fixed + w.local + w.peer;
  w.process = total > used + 8 ? total - used : 8;
}

const std::string& OwnerTexts::text(std::uint32_t process_index) {
  std::string& t = texts_[process_index];
  if (t.empty()) {
    const auto& p = owners_.process(process_index);
    char pid[16];
    t.append(pid, std::to_chars(pid, pid + sizeof pid, p.pid).ptr);
    t += '/';
    append_escaped_for_terminal(t, p.comm);
  }
  return t;
}

const std::string& OwnerTexts::cut(std::uint32_t process_index) {
  std::string& c = cut_[process_index];
  if (c.empty()) c = truncate(text(process_index), width_);
  return c;
}

// "closed by pid/comm": the process that closed a socket that has no fd now.
void OwnerTexts::append_closer(std::string& out, const analyze::SocketCloser& c) {
  std::string t = fmt::format("closed by {}/", c.pid);
  append_escaped_for_terminal(t, c.comm);
  out += wide_ ? t : truncate(t, width_);
}

void OwnerTexts::append(std::string& out, std::uint32_t inode) {
  const auto refs = owners_.owners_of(inode);
  if (refs.empty()) return;
  if (wide_) {
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (i > 0) out += ',';
      out += text(refs[i].process_index);
      char fd[16];
      out += "(fd "sv;
      out.append(fd, std::to_chars(fd, fd + sizeof fd, refs[i].fd).ptr);
      out += ')';
    }
    return;
  }
  if (refs.size() < 2) {
    out += cut(refs[0].process_index);
    return;
  }
  const std::string more = fmt::format(",+{}", refs.size() - 1);
  out += truncate(text(refs[0].process_index), width_ > more.size() + 4 ? width_ - more.size() : 4);
  out += more;
}

void append_age(std::string& out, const analyze::Age& age, std::size_t width) {
  if (!age.seconds) return append_cell(out, "-", width, false);
  std::string text(age_mark(age));
  text += core::compact_duration(*age.seconds);
  append_cell(out, text, width, false);
}

void append_row(std::string& out,
                const SocketListView& v,
                const Widths& w,
                const core::TcpSocket& s,
                OwnerTexts& owners) {
  char local[64], peer[64];
  const auto ln = format_endpoint(s.local, local, sizeof local);
  const auto pn = format_endpoint(s.peer, peer, sizeof peer);
  if (w.netns != 0) {
    append_fitted(out, netns_label(*v.snapshot, s.netns_ino), w.netns, true);
    out += ' ';
  }
  append_cell(out, core::ss_name(s.state), w.state, true);
  out += ' ';
  append_number_cell(out, s.recv_q, w.recv_q);
  out += ' ';
  append_number_cell(out, s.send_q, w.send_q);
  out += ' ';
  append_cell(out, std::string_view(local, ln), w.local, true);
  out += ' ';
  append_cell(out, std::string_view(peer, pn), w.peer, true);
  if (v.has_ages()) {
    out += ' ';
    append_age(out, v.age_of(s), w.age);
  }
  if (v.owners_scanned) {
    out += "  "sv;
    if (const auto* c = s.inode == 0 ? v.closer_of(s) : nullptr)
      owners.append_closer(out, *c);
    else
      owners.append(out, s.inode);
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  out += '\n';
}

} // namespace

const analyze::SocketCloser* SocketListView::closer_of(const core::TcpSocket& s) const {
  if (closers.empty()) return nullptr;
  const auto index = static_cast<std::uint32_t>(&s - snapshot->sockets.data());
  const auto it = std::lower_bound(
      closers.begin(), closers.end(), index,
      [](const analyze::SocketCloser& c, std::uint32_t i) { return c.socket < i; });
  return it != closers.end() && it->socket == index ? &*it : nullptr;
}

std::string_view netns_name(const core::Snapshot& snap, std::uint32_t inode) {
  for (const auto& ns : snap.namespaces)
    if (ns.inode == inode) return ns.name;
  return {};
}

void render_socket_table(std::ostream& out, const SocketListView& v, const TableOptions& opts) {
  Widths w = measure(v);
  if (!opts.wide) fit_to_width(w, v, opts.width);
  std::string buf;
  buf.reserve(kFlushBytes + 4096);
  if (opts.header) {
    if (w.netns != 0) {
      append_fitted(buf, "Netns", w.netns, true);
      buf += ' ';
    }
    append_fitted(buf, "State", w.state, true);
    buf += ' ';
    append_fitted(buf, "Recv-Q", w.recv_q, false);
    buf += ' ';
    append_fitted(buf, "Send-Q", w.send_q, false);
    buf += ' ';
    append_fitted(buf, "Local Address", w.local, true);
    buf += ' ';
    append_fitted(buf, "Peer Address", w.peer, true);
    if (v.has_ages()) {
      buf += ' ';
      append_fitted(buf, "Age", w.age, false);
    }
    if (v.owners_scanned) buf += "  Process";
    while (!buf.empty() && buf.back() == ' ')
      buf.pop_back();
    buf += '\n';
  }
  OwnerTexts owners(v.snapshot->owners, opts.wide, w.process);
  for (auto idx : v.rows) {
    append_row(buf, v, w, v.snapshot->sockets[idx], owners);
    flush_if_big(out, buf);
  }
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
}

bool table_reads_tcp_info(std::uint32_t state_mask) {
  constexpr std::uint32_t kAgedByTcpInfo =
      core::state_bit(core::TcpState::CloseWait) | core::state_bit(core::TcpState::FinWait2);
  return (state_mask & kAgedByTcpInfo) != 0;
}

} // namespace sockdoctor::render
