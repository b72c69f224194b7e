// Reads the TCP sysctls and counters of the current network namespace: pure decoders + file I/O.
#include "collect/kernel_settings.hpp"

#include <cerrno>
#include <climits>

#include "collect/fs_read.hpp"
#include "collect/kernel_config.hpp"
#include "collect/proc_counters.hpp"
#include "core/parse.hpp"

namespace sockdoctor::collect {
namespace {

using core::parse_number;
using core::trim;

std::optional<int> parse_port(std::string_view s) {
  const auto v = parse_number<int>(trim(s));
  if (!v || *v < 0 || *v > 65535) return std::nullopt;
  return v;
}

} // namespace

std::optional<long> parse_sysctl_long(std::string_view text) {
  return parse_number<long>(trim(text));
}

std::optional<int> parse_sysctl_int(std::string_view text) {
  const auto v = parse_sysctl_long(text);
  if (!v || *v < INT_MIN || *v > INT_MAX) return std::nullopt;
  return static_cast<int>(*v);
}

std::optional<core::PortRange> parse_port_range(std::string_view text) {
  const auto parts = core::split_words(text);
  if (parts.size() != 2) return std::nullopt;
  const auto low = parse_port(parts[0]);
  const auto high = parse_port(parts[1]);
  if (!low || !high || *low < 1 || *low > *high) return std::nullopt;
  return core::PortRange{*low, *high};
}

std::optional<std::vector<std::pair<int, int>>> parse_reserved_ports(std::string_view text) {
  std::vector<std::pair<int, int>> out;
  text = trim(text);
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item.empty()) return std::nullopt;
    const auto dash = item.find('-');
    const auto low = parse_port(item.substr(0, dash));
    const auto high = dash == std::string_view::npos ? low : parse_port(item.substr(dash + 1));
    if (!low || !high || *low > *high) return std::nullopt;
    out.emplace_back(*low, *high);
  }
  return out;
}

std::optional<std::pair<int, int>> parse_kernel_version(std::string_view release) {
  release = trim(release);
  const auto dot = release.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto major = parse_number<int>(release.substr(0, dot));
  auto rest = release.substr(dot + 1);
  const auto end = rest.find_first_not_of("0123456789");
  const auto minor = parse_number<int>(rest.substr(0, end));
  if (!major || !minor || *major <= 0 || *minor < 0) return std::nullopt;
  return std::pair{*major, *minor};
}

namespace {

// Reads files under one root and keeps count of what could be read, for the "nothing" check.
class SettingsReader {
public:
  SettingsReader(const core::FsRoot& root, std::string net_dir, std::vector<std::string>* problems)
      : root_(root), net_dir_(std::move(net_dir)), problems_(problems) {}

  // nullopt when absent (ENOENT is normal) or unreadable (noted).
  std::optional<std::string> read(std::string_view rel) { return read_path(path(rel)); }

  // Files of /proc/net: per network namespace, so they may live elsewhere (net_dir).
  std::optional<std::string> read_net(std::string_view name) { return read_path(net_path(name)); }

  std::optional<std::string> read_path(const std::string& path) {
    auto text = read_file(path);
    if (!text) {
      if (text.error().sys_errno != ENOENT && text.error().sys_errno != ENOTDIR)
        note(text.error().message);
      return std::nullopt;
    }
    ++files_read_;
    return std::move(*text);
  }

  bool exists(std::string_view rel) { return read(rel).has_value(); }

  template <typename T, typename Parse>
  void value(std::string_view rel, std::optional<T>& field, Parse parse) {
    const auto text = read(rel);
    if (!text) return;
    field = parse(*text);
    if (!field) note(path(rel) + ": unexpected content");
  }

  void note(std::string line) {
    if (problems_ != nullptr) problems_->push_back(std::move(line));
  }

  int files_read() const { return files_read_; }
  std::string path(std::string_view rel) const { return root_.proc_path(rel); }
  std::string net_path(std::string_view name) const { return net_dir_ + "/" + std::string(name); }

private:
  const core::FsRoot& root_;
  std::string net_dir_;
  std::vector<std::string>* problems_;
  int files_read_ = 0;
};

void read_ipv4_sysctls(SettingsReader& r, core::KernelSettings& k) {
  constexpr std::string_view d = "sys/net/ipv4/";
  const auto p = [&](std::string_view name) { return std::string(d) + std::string(name); };
  r.value(p("tcp_fin_timeout"), k.tcp_fin_timeout, parse_sysctl_int);
  r.value(p("tcp_keepalive_time"), k.tcp_keepalive_time, parse_sysctl_int);
  r.value(p("tcp_keepalive_intvl"), k.tcp_keepalive_intvl, parse_sysctl_int);
  r.value(p("tcp_keepalive_probes"), k.tcp_keepalive_probes, parse_sysctl_int);
  r.value(p("tcp_tw_reuse"), k.tcp_tw_reuse, parse_sysctl_int);
  r.value(p("tcp_tw_reuse_delay"), k.tcp_tw_reuse_delay, parse_sysctl_int);
  r.value(p("tcp_timestamps"), k.tcp_timestamps, parse_sysctl_int);
  r.value(p("tcp_max_tw_buckets"), k.tcp_max_tw_buckets, parse_sysctl_long);
  r.value(p("tcp_max_orphans"), k.tcp_max_orphans, parse_sysctl_long);
  r.value(p("tcp_orphan_retries"), k.tcp_orphan_retries, parse_sysctl_int);
  r.value(p("tcp_retries2"), k.tcp_retries2, parse_sysctl_int);
  r.value(p("tcp_rto_max_ms"), k.tcp_rto_max_ms, parse_sysctl_int);
  r.value(p("tcp_abort_on_overflow"), k.tcp_abort_on_overflow, parse_sysctl_int);
  r.value(p("tcp_rfc1337"), k.tcp_rfc1337, parse_sysctl_int);
  r.value(p("tcp_syncookies"), k.tcp_syncookies, parse_sysctl_int);
  r.value(p("tcp_max_syn_backlog"), k.tcp_max_syn_backlog, parse_sysctl_int);
  r.value(p("tcp_tw_timeout"), k.tcp_tw_timeout, parse_sysctl_int);
  r.value(p("ip_local_port_range"), k.ip_local_port_range, parse_port_range);
  std::optional<std::vector<std::pair<int, int>>> reserved;
  r.value(p("ip_local_reserved_ports"), reserved, parse_reserved_ports);
  if (reserved) k.ip_local_reserved_ports = std::move(*reserved);
  // Only presence matters: the file itself is the evidence of a pre-4.12 kernel.
  k.tcp_tw_recycle_present = r.exists(p("tcp_tw_recycle"));
}

void read_release(SettingsReader& r, core::KernelSettings& k) {
  const auto text = r.read("sys/kernel/osrelease");
  if (!text) return;
  const auto nl = text->find('\n');
  k.kernel_release = text->substr(0, nl);
  if (const auto v = parse_kernel_version(k.kernel_release)) {
    k.kernel_major = v->first;
    k.kernel_minor = v->second;
    k.kernel_patch = parse_kernel_sublevel(k.kernel_release).value_or(-1);
  } else {
    r.note(r.path("sys/kernel/osrelease") + ": cannot parse a version from '" + k.kernel_release +
           "'");
  }
}

void read_counters(SettingsReader& r, core::KernelSettings& k) {
  const auto pairs = [&](std::string_view name, std::string_view prefix, auto& field) {
    const auto text = r.read_net(name);
    if (!text) return;
    auto parsed = parse_proc_net_pairs(*text, prefix);
    if (parsed)
      field = std::move(*parsed);
    else
      r.note(r.net_path(name) + ": " + parsed.error().message);
  };
  pairs("netstat", "TcpExt", k.tcp_ext);
  pairs("snmp", "Tcp", k.tcp_snmp);
  if (const auto text = r.read_net("sockstat")) {
    if (auto s = parse_sockstat_tcp(*text)) {
      k.sockstat_inuse = s->inuse;
      k.sockstat_orphan = s->orphan;
      k.sockstat_tw = s->tw;
      k.sockstat_alloc = s->alloc;
    } else {
      r.note(r.net_path("sockstat") + ": " + s.error().message);
    }
  }
}

} // namespace

core::Result<core::KernelSettings> read_kernel_settings(const core::FsRoot& root,
                                                        std::vector<std::string>* problems) {
  return read_kernel_settings(root, root.proc_path("net"), problems);
}

core::Result<core::KernelSettings> read_kernel_settings(const core::FsRoot& root,
                                                        const std::string& net_dir,
                                                        std::vector<std::string>* problems) {
  SettingsReader reader(root, net_dir, problems);
  core::KernelSettings k;
  read_ipv4_sysctls(reader, k);
  if (const auto text = reader.read("sys/net/core/somaxconn")) {
    k.somaxconn = parse_sysctl_int(*text);
    if (!k.somaxconn) reader.note(reader.path("sys/net/core/somaxconn") + ": unexpected content");
  }
  read_release(reader, k);
  const auto build = read_kernel_build_config(root, problems);
  k.config_hz = build.hz;
  k.config_inet_diag_destroy = build.inet_diag_destroy;
  read_counters(reader, k);
  if (reader.files_read() == 0)
    return core::fail(root.proc_path("sys/net/ipv4") +
                      ": no kernel settings readable (is /proc mounted?)");
  return k;
}

core::Result<core::KernelSettings> read_kernel_settings(const core::FsRoot& root) {
  return read_kernel_settings(root, nullptr);
}

} // namespace sockdoctor::collect
