// lab: loopback sockets, the article's HTTP client, a built-in keep-alive HTTP server, and a
// private nginx configuration.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "lab/lab.hpp"

namespace sockdoctor::lab {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

sockaddr_in loopback_addr(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Waits until fd is readable or the parent's channel closes; false when the parent is gone.
bool wait_readable(int fd, LineChannel& io, int timeout_ms) {
  pollfd p[2] = {{fd, POLLIN, 0}, {io.fd(), POLLIN, 0}};
  const int n = ::poll(p, 2, timeout_ms);
  if (n > 0 && (p[1].revents & (POLLIN | POLLHUP)) != 0 && !io.pump()) return false;
  return true;
}

void report_error(LineChannel& io, std::string_view what) {
  (void)io.write_line(fmt::format("error {}: {}", what, std::strerror(errno)));
}

} // namespace

// ---- sockets -------------------------------------------------------------------------------

core::Endpoint loopback(std::uint16_t port) {
  return core::Endpoint{core::IpAddress::v4(htonl(INADDR_LOOPBACK)), port};
}

core::Result<int> listen_loopback(std::uint16_t port, int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::fail(fmt::format("socket: {}", std::strerror(errno)), errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const auto a = loopback_addr(port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, backlog) != 0) {
    const int e = errno;
    ::close(fd);
    return core::fail(fmt::format("listen 127.0.0.1:{}: {}", port, std::strerror(e)), e);
  }
  return fd;
}

core::Result<int> connect_loopback(std::uint16_t port, std::uint16_t* local_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::fail(fmt::format("socket: {}", std::strerror(errno)), errno);
  const auto a = loopback_addr(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    const int e = errno;
    ::close(fd);
    return core::fail(fmt::format("connect 127.0.0.1:{}: {}", port, std::strerror(e)), e);
  }
  if (local_port != nullptr) {
    sockaddr_in me{};
    socklen_t len = sizeof me;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
    *local_port = ntohs(me.sin_port);
  }
  return fd;
}

bool connect_and_report(LineChannel& io, std::uint16_t port, std::span<int> fds) {
  std::string ports;
  for (auto& fd : fds) {
    std::uint16_t local = 0;
    auto c = connect_loopback(port, &local);
    if (!c) {
      (void)io.write_line("error " + c.error().message);
      return false;
    }
    fd = *c;
    ports += fmt::format(" {}", local);
  }
  (void)io.write_line("connected" + ports);
  return true;
}

// ---- HTTP ----------------------------------------------------------------------------------

std::string mono_stamp() {
  return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count());
}

std::optional<std::chrono::steady_clock::time_point> parse_mono_stamp(std::string_view text) {
  const std::string num(text.substr(0, text.find(' ')));
  char* end = nullptr;
  const long long ns = std::strtoll(num.c_str(), &end, 10);
  if (num.empty() || *end != '\0' || ns <= 0) return std::nullopt;
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

std::string article_request() {
  return "GET /user?time=1 HTTP/1.1\r\n"
         "Host: www.test.com\r\n"
         "User-Agent: Mozilla/5.0 (Windows NT 6.1; WOW64; rv:53.0) Gecko/20100101 Firefox/53.0\r\n"
         "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
         "Accept-Language: zh-CN,zh;q=0.8,en-US;q=0.5,en;q=0.3\r\n"
         "Connection: keep-alive\r\n"
         "Upgrade-Insecure-Requests: 1\r\n"
         "\r\n";
}

std::optional<ResponseHead> parse_response_head(std::string_view data) {
  const auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::nullopt;
  const std::string_view head = data.substr(0, end);
  ResponseHead r;
  r.header_bytes = end + 4;
  const auto first = head.find("\r\n");
  r.status_line = std::string(head.substr(0, first));
  if (r.status_line.rfind("HTTP/1.", 0) != 0) return std::nullopt;
  bool have_length = false;
  std::size_t pos = first == std::string_view::npos ? head.size() : first + 2;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    const std::string_view line = head.substr(pos, eol - pos);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && lower(line.substr(0, colon)) == "content-length") {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ')
        v.remove_prefix(1);
      char* stop = nullptr;
      const std::string num(v);
      const unsigned long n = std::strtoul(num.c_str(), &stop, 10);
      if (num.empty() || *stop != '\0' || n > (1u << 20)) return std::nullopt;
      r.content_length = n;
      have_length = true;
    }
    pos = eol + 2;
  }
  if (!have_length) return std::nullopt; // keep-alive needs a length (no chunked in this lab)
  return r;
}

int http_client_body(LineChannel& io, std::uint16_t port) {
  std::uint16_t local = 0;
  auto fd = connect_loopback(port, &local);
  if (!fd) {
    (void)io.write_line("error " + fd.error().message);
    return 1;
  }
  (void)io.write_line(fmt::format("connected {}", local));
  const std::string req = article_request();
  if (::send(*fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    report_error(io, "send");
    return 1;
  }
  // Read the response by Content-Length, as a keep-alive client does.
  std::string data;
  std::optional<ResponseHead> head;
  char buf[4096];
  while (!head || data.size() < head->header_bytes + head->content_length) {
    if (!wait_readable(*fd, io, 1000)) return 0;
    const ssize_t n = ::recv(*fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      report_error(io, "recv");
      return 1;
    }
    data.append(buf, static_cast<std::size_t>(n));
    if (!head) head = parse_response_head(data);
  }
  if (!head) {
    (void)io.write_line("error no complete HTTP response");
    return 1;
  }
  (void)io.write_line(fmt::format("response {} {} ({} bytes)", mono_stamp(), head->status_line,
                                  head->content_length));
  // Then, like the article's readLine() loop, read on until recv() returns 0: the server closed.
  for (;;) {
    if (!wait_readable(*fd, io, 1000)) return 0;
    const ssize_t n = ::recv(*fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      report_error(io, "recv");
      return 1;
    }
  }
  (void)io.write_line("eof " + mono_stamp());
  // The leak: the socket is kept, never closed, until the lab kills this process.
  while (io.pump()) {
    pollfd p{io.fd(), POLLIN, 0};
    ::poll(&p, 1, 1000);
  }
  return 0;
}

namespace {

struct Conn {
  int fd = -1;
  std::string buf;
  std::chrono::steady_clock::time_point idle_deadline;
};

void serve_requests(Conn& c, int keepalive_timeout) {
  const std::string body = "hello from the sockdoctor lab\n";
  for (auto end = c.buf.find("\r\n\r\n"); end != std::string::npos; end = c.buf.find("\r\n\r\n")) {
    c.buf.erase(0, end + 4);
    const std::string resp = fmt::format("HTTP/1.1 200 OK\r\nServer: sockdoctor-lab\r\n"
                                         "Content-Type: text/plain\r\nContent-Length: {}\r\n"
                                         "Connection: keep-alive\r\n\r\n{}",
                                         body.size(), body);
    (void)::send(c.fd, resp.data(), resp.size(), MSG_NOSIGNAL);
    c.idle_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(keepalive_timeout);
  }
}

} // namespace

// Behaves like nginx with keepalive_timeout N for this purpose: after a response, an idle
// connection is closed (close(), so a FIN) after N seconds.
int builtin_http_server_body(LineChannel& io, std::uint16_t port, int keepalive_timeout) {
  auto lfd = listen_loopback(port, 64);
  if (!lfd) {
    (void)io.write_line("error " + lfd.error().message);
    return 1;
  }
  (void)io.write_line("listening");
  std::vector<Conn> conns;
  for (;;) {
    std::vector<pollfd> p = {{io.fd(), POLLIN, 0}, {*lfd, POLLIN, 0}};
    for (const auto& c : conns)
      p.push_back({c.fd, POLLIN, 0});
    ::poll(p.data(), p.size(), 50);
    if ((p[0].revents & (POLLIN | POLLHUP)) != 0 && !io.pump()) return 0;
    const std::size_t polled = conns.size(); // p[2..] covers these; an accept adds after them
    if ((p[1].revents & POLLIN) != 0 && conns.size() < 256) {
      const int fd = ::accept4(*lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0)
        conns.push_back(
            {fd, {}, std::chrono::steady_clock::now() + std::chrono::seconds(keepalive_timeout)});
    }
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto& c = conns[i];
      bool closed = false;
      if (i < polled && (p[i + 2].revents & (POLLIN | POLLHUP)) != 0) {
        char buf[4096];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
          c.buf.append(buf, static_cast<std::size_t>(n));
          serve_requests(c, keepalive_timeout);
        } else if (n == 0) {
          closed = true; // the client closed first
        }
      }
      if (closed || now >= c.idle_deadline) {
        ::close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
  }
}

// ---- nginx ---------------------------------------------------------------------------------

std::string nginx_config_text(const NginxConfig& c) {
  const std::string& d = c.prefix;
  return fmt::format(
      "# Written by `sockdoctor lab close-wait`: a private nginx for the article's experiment.\n"
      "# One process in the foreground (killed by PID), everything it writes under {d}.\n"
      "daemon off;\n"
      "master_process off;\n"
      "worker_processes 1;\n"
      "pid {d}/nginx.pid;\n"
      "error_log {d}/error.log info;\n"
      "events {{\n"
      "    worker_connections 64;\n"
      "}}\n"
      "http {{\n"
      "    access_log {d}/access.log;\n"
      "    client_body_temp_path {d}/client_body;\n"
      "    proxy_temp_path {d}/proxy;\n"
      "    fastcgi_temp_path {d}/fastcgi;\n"
      "    uwsgi_temp_path {d}/uwsgi;\n"
      "    scgi_temp_path {d}/scgi;\n"
      "    # The idle time after which nginx closes a keep-alive connection (it sends FIN).\n"
      "    keepalive_timeout {ka};\n"
      "    server {{\n"
      "        listen 127.0.0.1:{port};\n"
      "        location / {{\n"
      "            default_type text/plain;\n"
      "            return 200 \"hello from nginx\\n\";\n"
      "        }}\n"
      "    }}\n"
      "}}\n",
      fmt::arg("d", d), fmt::arg("ka", c.keepalive_timeout), fmt::arg("port", c.port));
}

std::optional<std::string> find_nginx(const char* path_env) {
  auto executable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  std::string_view path = path_env != nullptr ? path_env : "";
  while (!path.empty()) {
    const auto colon = path.find(':');
    const std::string_view dir = path.substr(0, colon);
    // Only absolute directories: a relative PATH entry would depend on the current directory.
    if (!dir.empty() && dir.front() == '/') {
      const std::string candidate = std::string(dir) + "/nginx";
      if (executable(candidate)) return candidate;
    }
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  if (executable("/usr/sbin/nginx")) return std::string("/usr/sbin/nginx");
  return std::nullopt;
}

std::string parse_nginx_version(std::string_view text) {
  const auto at = text.find("nginx/");
  if (at == std::string_view::npos) return {};
  auto end = at + 6;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) != 0 || text[end] == '.'))
    ++end;
  if (end == at + 6) return {};
  return std::string(text.substr(at, end - at));
}

// ---- TempDir -------------------------------------------------------------------------------

namespace {

// "sockdoctor-lab-TAG-PID-XXXXXX" -> PID, or 0 when the name is not one of ours.
pid_t creator_of(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) != prefix) return 0;
  const std::string_view rest = name.substr(prefix.size());
  const auto dash = rest.find('-');
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || dash == std::string_view::npos || end != rest.data() + dash) return 0;
  return pid > 0 ? pid : 0;
}

// A lab killed by SIGKILL cannot remove its directory; the next one removes those whose creator
// is gone. Only real directories (not symlinks) that this user owns and that carry our pattern.
void remove_abandoned(const std::string& base, std::string_view tag) {
  const std::string prefix = fmt::format("sockdoctor-lab-{}-", tag);
  std::error_code ec;
  std::filesystem::directory_iterator it(base, ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const pid_t pid = creator_of(it->path().filename().native(), prefix);
    if (pid == 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue; // alive, or not ours to ask
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
      continue;
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
}

} // namespace

core::Result<TempDir> TempDir::create(std::string_view tag) {
  // nginx's configuration quotes nothing: keep the path to characters that need no quoting.
  std::string base = "/tmp";
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && t[0] == '/') {
    const std::string_view v(t);
    if (std::all_of(v.begin(), v.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '.' ||
                 c == '_' || c == '-';
        }))
      base = std::string(v);
  }
  remove_abandoned(base, tag);
  // The creator's pid in the name lets a later run tell an abandoned directory from a live one.
  std::string tmpl = fmt::format("{}/sockdoctor-lab-{}-{}-XXXXXX", base, tag, ::getpid());
  if (::mkdtemp(tmpl.data()) == nullptr)
    return core::fail(fmt::format("mkdtemp {}: {}", tmpl, std::strerror(errno)), errno);
  TempDir d;
  d.path_ = std::move(tmpl);
  return d;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec); // best effort: nothing useful to do if it fails
}

} // namespace sockdoctor::lab
