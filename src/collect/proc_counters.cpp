// Decoders and readers of /proc/net/{sockstat,sockstat6,netstat,snmp}.
#include "collect/proc_counters.hpp"

#include "collect/fs_read.hpp"
#include "core/parse.hpp"

namespace sockdoctor::collect {
namespace {

// Each line of text, in order, to fn; stops when fn returns true.
template <typename Fn> void each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (fn(text.substr(0, nl))) return;
    if (nl == std::string_view::npos) return;
    text.remove_prefix(nl + 1);
  }
}

} // namespace

core::Result<std::map<std::string, std::uint64_t>> parse_proc_net_pairs(std::string_view text,
                                                                        std::string_view prefix) {
  const std::string tag = std::string(prefix) + ":";
  std::vector<std::string_view> lines;
  each_line(text, [&](std::string_view line) {
    if (line.starts_with(tag)) lines.push_back(line.substr(tag.size()));
    return lines.size() == 2;
  });
  if (lines.size() < 2)
    return core::fail(core::ErrorCode::Malformed, tag + " header and value lines not found");
  const auto names = core::split_words(lines[0]);
  const auto values = core::split_words(lines[1]);
  if (names.size() != values.size())
    return core::fail(core::ErrorCode::Malformed, tag + " " + std::to_string(names.size()) +
                                                      " names but " +
                                                      std::to_string(values.size()) + " values");
  std::map<std::string, std::uint64_t> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (const auto u = core::parse_number<std::uint64_t>(values[i])) {
      out.emplace(std::string(names[i]), *u);
    } else if (!core::parse_number<std::int64_t>(values[i])) {
      return core::fail(core::ErrorCode::Malformed,
                        tag + " " + std::string(names[i]) +
                            ": not a number: " + std::string(values[i]));
    }
  }
  return out;
}

core::Result<SockstatTcp> parse_sockstat_tcp(std::string_view text) {
  std::optional<std::string_view> tcp;
  each_line(text, [&](std::string_view line) {
    if (line.starts_with("TCP:")) tcp = line.substr(4);
    return tcp.has_value();
  });
  if (!tcp) return core::fail(core::ErrorCode::Malformed, "no TCP: line");
  const auto words = core::split_words(*tcp);
  if (words.size() % 2 != 0)
    return core::fail(core::ErrorCode::Malformed, "TCP: odd number of words");
  SockstatTcp out;
  for (std::size_t i = 0; i < words.size(); i += 2) {
    const auto v = core::parse_number<std::uint64_t>(words[i + 1]);
    if (!v)
      return core::fail(core::ErrorCode::Malformed,
                        "TCP: " + std::string(words[i]) + ": not a number");
    if (words[i] == "inuse") out.inuse = v;
    if (words[i] == "orphan") out.orphan = v;
    if (words[i] == "tw") out.tw = v;
    if (words[i] == "alloc") out.alloc = v;
    if (words[i] == "mem") out.mem = v;
  }
  return out;
}

std::optional<std::uint64_t> parse_sockstat6_tcp_inuse(std::string_view text) {
  std::optional<std::uint64_t> inuse;
  each_line(text, [&](std::string_view line) {
    if (!line.starts_with("TCP6:")) return false;
    const auto words = core::split_words(line.substr(5));
    if (words.size() >= 2 && words[0] == "inuse")
      inuse = core::parse_number<std::uint64_t>(words[1]);
    return true;
  });
  return inuse;
}

core::Result<SocketCounts> read_socket_counts(const std::string& net_dir) {
  SocketCounts c;
  auto sockstat = read_file(net_dir + "/sockstat");
  if (!sockstat) return tl::unexpected(sockstat.error());
  auto v4 = parse_sockstat_tcp(*sockstat);
  if (!v4) return tl::unexpected(core::with_context(net_dir + "/sockstat", v4.error()));
  c.v4 = *v4;
  if (auto v6 = read_file(net_dir + "/sockstat6")) c.v6_inuse = parse_sockstat6_tcp_inuse(*v6);
  if (auto snmp = read_file(net_dir + "/snmp")) {
    if (auto tcp = parse_proc_net_pairs(*snmp, "Tcp")) {
      if (auto it = tcp->find("CurrEstab"); it != tcp->end()) c.curr_estab = it->second;
    }
  }
  return c;
}

} // namespace sockdoctor::collect
