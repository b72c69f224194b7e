// Connection churn on loopback for bench/trace_overhead.sh: client threads connect, the server
// accepts and closes first (its side ends in TIME_WAIT, as a busy HTTP server's does), the
// client reads EOF and closes. Bounded in count and time; prints one line of results.
//
//   churn [--port P] [--clients N] [--connections N] [--seconds S]
//   -> "connections=N seconds=S rate=R failures=F cpu_us_per_conn=C"
// C is this process's user + system CPU per connection: on loopback the kernel's TCP work (and
// any BPF program it runs) is charged to it, so C shows a tracer's cost even when a shared
// machine makes the rate noisy.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int port = 9300;
  int clients = 2;
  long connections = 200000; // in total, a bound
  double seconds = 5;        // a bound as well
};

constexpr const char* kUsage =
    "usage: churn [--port P] [--clients N] [--connections N] [--seconds S]\n"
    "Connection churn on 127.0.0.1, bounded in count and time; run it in a private network\n"
    "namespace (bench/trace_overhead.sh does): it refuses to run where an interface other than lo\n"
    "exists.\n";

[[noreturn]] void usage(int status) {
  std::fputs(kUsage, status == 0 ? stdout : stderr);
  std::exit(status);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") usage(0);
    if (i + 1 >= argc) {
      std::fprintf(stderr, "churn: %s needs a value\n", a.c_str());
      usage(64);
    }
    const char* v = argv[i + 1];
    if (a == "--port")
      o.port = std::atoi(v);
    else if (a == "--clients")
      o.clients = std::atoi(v);
    else if (a == "--connections")
      o.connections = std::atol(v);
    else if (a == "--seconds")
      o.seconds = std::atof(v);
    else {
      std::fprintf(stderr, "churn: unknown option %s\n", a.c_str());
      usage(64);
    }
  }
  if (o.clients < 1 || o.clients > 64 || o.seconds <= 0 || o.seconds > 600) {
    std::fprintf(stderr, "churn: --clients 1..64, --seconds (0, 600]\n");
    std::exit(64);
  }
  return o;
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int listen_on(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in a = loopback(port);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, 4096) != 0) {
    std::perror("churn: listen");
    std::exit(1);
  }
  return fd;
}

// One connection from the client's side: connect, wait for the server's FIN (unless wait_fin is
// false), close.
bool one_connection(const sockaddr_in& server, bool wait_fin = true) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0;
  char c;
  while (ok && wait_fin) {
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n == 0) break;
    if (n < 0 && errno != EINTR) ok = false;
  }
  ::close(fd);
  return ok;
}

// True when this network namespace has an interface other than lo: the host's (or another
// shared one), where a benchmark must not churn. A namespace made for the run has lo only.
bool in_shared_netns() {
  std::FILE* f = std::fopen("/proc/self/net/dev", "re");
  if (f == nullptr) return true; // unknown: refuse
  char line[512];
  bool other = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    const char* colon = std::strchr(line, ':');
    if (colon == nullptr) continue; // the two header lines
    const char* name = line;
    while (*name == ' ')
      ++name;
    if (std::string(name, colon) != "lo") other = true;
  }
  std::fclose(f);
  return other;
}

} // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (in_shared_netns()) {
    std::fputs("churn: this network namespace has interfaces other than lo; run it in a "
               "private one, e.g.\n"
               "  unshare --net sh -c 'ip link set lo up && churn ...'\n",
               stderr);
    return 69;
  }
  const int lfd = listen_on(o.port);
  std::atomic<bool> stop{false};
  std::thread server([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) ::close(c); // the server closes first
    }
  });

  const sockaddr_in addr = loopback(o.port);
  std::atomic<long> made{0}, failed{0};
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> clients;
  for (int i = 0; i < o.clients; ++i)
    clients.emplace_back([&] {
      while (std::chrono::steady_clock::now() < deadline &&
             made.load(std::memory_order_relaxed) + failed.load(std::memory_order_relaxed) <
                 o.connections) {
        if (one_connection(addr))
          made.fetch_add(1, std::memory_order_relaxed);
        else
          failed.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (auto& t : clients)
    t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop.store(true);
  // Wake the accept() with one last connection, then stop. Not waiting for its FIN: the server
  // may have seen `stop` before accepting it and never close it (a churn run hung so).
  one_connection(addr, false);
  server.join();
  ::close(lfd);
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu_us = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                        static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  std::printf("connections=%ld seconds=%.3f rate=%.0f failures=%ld cpu_us_per_conn=%.2f\n",
              made.load(), secs, static_cast<double>(made.load()) / secs, failed.load(),
              made.load() > 0 ? cpu_us / static_cast<double>(made.load()) : 0.0);
  return failed.load() > made.load() / 100 ? 1 : 0;
}
