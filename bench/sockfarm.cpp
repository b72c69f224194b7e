// Socket farm for benchmarks: N loopback TCP sockets in chosen states, held by child processes.
//
// Runs only inside a private network namespace. Every connection goes to a listener of the same
// holder process, which keeps the ends each state needs:
//   ESTABLISHED  both ends held (one pair = 2 sockets).
//   FIN_WAIT2    client shutdown(SHUT_WR), held; its peer is a held CLOSE_WAIT. Stable, unlike
//                an orphaned FIN_WAIT2 (a mini-socket that dies after tcp_fin_timeout).
//   CLOSE_WAIT   the rest: the client half-closes, then closes in FIN_WAIT2; its mini-socket is
//                gone ~1 s later (TCP_LINGER2), leaving a lone CLOSE_WAIT.
//   TIME_WAIT    client closes, then server closes: the client end lives ~60 s without an fd.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace sockdoctor::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBatch = 256;            // connections in flight per holder (accept queue use)
constexpr int kSpareFds = kBatch + 32; // listener, pipes, stdio, one batch
constexpr std::uint16_t kBasePort = 10000;
constexpr long kMaxPairsPerHolder = 50000; // client ports 1024..65535 minus listener ports

struct Share {
  long est_pairs = 0;
  long fw2_pairs = 0;
  long cw_only = 0; // CLOSE_WAIT whose peer closed and vanished
  long tw_pairs = 0;
  long held_fds() const { return 2 * est_pairs + 2 * fw2_pairs + cw_only; }
};

struct Plan {
  long established = 0, close_wait = 0, fin_wait2 = 0, time_wait = 0;
  long procs = 100;
  long v6_procs = 0;
  long hold_s = 600;
  long build_timeout_s = 300;
  std::string ready_file;
  Share total;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "sockfarm: %s\n", msg.c_str());
  std::exit(1);
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_ = -1;
};

// ---- command line -------------------------------------------------------------------------------

void usage() {
  std::fprintf(
      stderr, "usage: sockfarm [--established N] [--close-wait N] [--fin-wait2 N] [--time-wait N]\n"
              "                [--procs P] [--ipv6-procs K] [--hold SECONDS] [--build-timeout S]\n"
              "                --ready-file PATH\n"
              "Counts are sockets. Must run in a private network namespace (ip netns exec).\n"
              "Every FIN_WAIT2 socket's peer is a CLOSE_WAIT one, so --close-wait >= --fin-wait2.\n"
              "The ready file is written once the counts have settled; SIGTERM/SIGINT or the end\n"
              "of --hold (max 3600 s) stop the holders. TIME_WAIT sockets expire after ~60 s.\n");
  std::exit(64);
}

long parse_count(const char* flag, const char* text, long max) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > max)
    die(std::string(flag) + ": expected an integer in 0.." + std::to_string(max) + ", got '" +
        text + "'");
  return v;
}

Plan parse_args(int argc, char** argv) {
  Plan p;
  struct Flag {
    const char* name;
    long* value;
    long max;
  };
  const Flag flags[] = {{"--established", &p.established, 50'000'000},
                        {"--close-wait", &p.close_wait, 50'000'000},
                        {"--fin-wait2", &p.fin_wait2, 50'000'000},
                        {"--time-wait", &p.time_wait, 50'000'000},
                        {"--procs", &p.procs, 20000},
                        {"--ipv6-procs", &p.v6_procs, 20000},
                        {"--hold", &p.hold_s, 3600},
                        {"--build-timeout", &p.build_timeout_s, 3600}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    const Flag* f = std::find_if(std::begin(flags), std::end(flags),
                                 [&](const Flag& x) { return a == x.name; });
    if (f != std::end(flags))
      *f->value = parse_count(f->name, argv[i + 1], f->max);
    else if (a == "--ready-file")
      p.ready_file = argv[i + 1];
    else
      usage();
  }
  if (argc % 2 == 0) usage(); // a flag without its value
  if (p.ready_file.empty()) usage();
  if (p.procs < 1) die("--procs must be at least 1");
  if (p.v6_procs > p.procs) die("--ipv6-procs cannot exceed --procs");
  if (p.fin_wait2 > p.close_wait)
    die("--close-wait must be >= --fin-wait2: each FIN_WAIT2 socket's peer is in CLOSE_WAIT");
  if (p.established % 2 != 0) {
    std::fprintf(stderr, "sockfarm: --established %ld is odd; rounding up (both ends are ESTAB)\n",
                 p.established);
    ++p.established;
  }
  p.total = {p.established / 2, p.fin_wait2, p.close_wait - p.fin_wait2, p.time_wait};
  return p;
}

// Splits `total` over `parts` as evenly as possible.
long share_of(long total, long parts, long index) {
  return total / parts + (index < total % parts ? 1 : 0);
}

Share holder_share(const Plan& p, int index) {
  return {share_of(p.total.est_pairs, p.procs, index), share_of(p.total.fw2_pairs, p.procs, index),
          share_of(p.total.cw_only, p.procs, index), share_of(p.total.tw_pairs, p.procs, index)};
}

// ---- namespace set-up ---------------------------------------------------------------------------

// The namespace must hold nothing but lo: then no packet of ours can leave the machine. The
// /proc/1 comparison is a second check where allowed (it is EACCES on hardened hosts).
bool in_private_netns() {
  struct stat self = {};
  struct stat init = {};
  if (::stat("/proc/self/ns/net", &self) != 0) die(errno_text("stat /proc/self/ns/net"));
  if (::stat("/proc/1/ns/net", &init) == 0 && self.st_ino == init.st_ino &&
      self.st_dev == init.st_dev)
    return false;
  struct if_nameindex* ifs = ::if_nameindex();
  if (ifs == nullptr) die(errno_text("if_nameindex"));
  bool only_lo = true;
  for (auto* i = ifs; i->if_index != 0; ++i) {
    if (std::strcmp(i->if_name, "lo") == 0) continue;
    std::fprintf(stderr, "sockfarm: this namespace has interface %s\n", i->if_name);
    only_lo = false;
  }
  ::if_freenameindex(ifs);
  return only_lo;
}

void bring_lo_up() {
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) die(errno_text("socket for SIOCSIFFLAGS"));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) die(errno_text("SIOCGIFFLAGS lo"));
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) die(errno_text("SIOCSIFFLAGS lo up"));
}

// These sysctls are per network namespace, so raising them touches nothing outside the farm.
void set_sysctl(const char* name, long value) {
  std::string path = std::string("/proc/sys/") + name;
  std::ofstream f(path);
  f << value << '\n';
  f.flush();
  if (!f) std::fprintf(stderr, "sockfarm: warning: cannot set %s = %ld\n", path.c_str(), value);
}

void prepare_netns(const Plan& p) {
  bring_lo_up();
  set_sysctl("net/core/somaxconn", 65535);
  set_sysctl("net/ipv4/tcp_max_syn_backlog", 65535);
  // RFC 1337: a stray RST must not kill a TIME_WAIT socket we count.
  set_sysctl("net/ipv4/tcp_rfc1337", 1);
  // tcp_tw_reuse=2 (default) lets connect() on loopback take over a mini-socket's 4-tuple; the
  // farm never reuses a tuple anyway (see Endpoints), so make that explicit.
  set_sysctl("net/ipv4/tcp_tw_reuse", 0);
  // Orphaned FIN_WAIT2 ends are timewait mini-sockets too; avoid "bucket table overflow".
  set_sysctl("net/ipv4/tcp_max_tw_buckets",
             std::max<long>(262144, 2 * (p.total.tw_pairs + p.total.cw_only)));
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) die(errno_text("getrlimit"));
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) die(errno_text("setrlimit RLIMIT_NOFILE"));
  for (int i = 0; i < p.procs; ++i) {
    Share sh = holder_share(p, i);
    // Each holder's clients share one source address and one server port: one client port per
    // connection, never reused (see Endpoints).
    if (sh.est_pairs + sh.fw2_pairs + sh.cw_only + sh.tw_pairs > kMaxPairsPerHolder)
      die("holder " + std::to_string(i) + " would need more than " +
          std::to_string(kMaxPairsPerHolder) + " connections: raise --procs");
    long need = sh.held_fds() + kSpareFds;
    if (need > static_cast<long>(rl.rlim_max))
      die("holder " + std::to_string(i) + " would need " + std::to_string(need) +
          " fds but the limit is " + std::to_string(rl.rlim_max) + ": raise --procs");
  }
}

// ---- holder process -----------------------------------------------------------------------------

// Client source ports are chosen here, not by the kernel, and never reused within a holder: a
// client port whose mini-socket has expired looks free to connect(), yet the server end of that
// old connection (a lone CLOSE_WAIT) still holds the 4-tuple. A new SYN to it draws a challenge
// ACK, the client answers with an RST, and the CLOSE_WAIT is gone (measured: ~150 per 100k).
struct Endpoints {
  sockaddr_storage listen{};
  sockaddr_storage source{}; // 127.1.x.y per holder for IPv4; ::1 (shared) for IPv6
  socklen_t len = 0;
  int family = AF_INET;
  int procs = 0; // listener ports kBasePort.. + procs are never client ports
  std::uint32_t next_port = 1024;
};

Endpoints endpoints_for(int index, int procs, bool v6) {
  Endpoints e;
  e.procs = procs;
  auto port = htons(static_cast<std::uint16_t>(kBasePort + index));
  if (v6) {
    e.family = AF_INET6;
    e.len = sizeof(sockaddr_in6);
    auto* l = reinterpret_cast<sockaddr_in6*>(&e.listen);
    l->sin6_family = AF_INET6;
    l->sin6_port = port;
    l->sin6_addr = in6addr_loopback;
    auto* s = reinterpret_cast<sockaddr_in6*>(&e.source);
    s->sin6_family = AF_INET6;
    s->sin6_addr = in6addr_loopback;
    return e;
  }
  e.len = sizeof(sockaddr_in);
  auto* l = reinterpret_cast<sockaddr_in*>(&e.listen);
  l->sin_family = AF_INET;
  l->sin_port = port;
  l->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto* s = reinterpret_cast<sockaddr_in*>(&e.source);
  s->sin_family = AF_INET;
  // 127.1.x.y: many peer addresses, so per-peer grouping has something to group.
  s->sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | (static_cast<unsigned>(index / 250) << 8) |
                             static_cast<unsigned>(1 + index % 250));
  return e;
}

std::uint16_t take_client_port(Endpoints& e) {
  if (e.next_port >= kBasePort && e.next_port < kBasePort + static_cast<std::uint32_t>(e.procs))
    e.next_port = kBasePort + static_cast<std::uint32_t>(e.procs);
  if (e.next_port > 65535) return 0;
  return static_cast<std::uint16_t>(e.next_port++);
}

struct HolderFail {
  std::string msg;
};

Fd make_listener(const Endpoints& e) {
  Fd l(::socket(e.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (l.get() < 0) throw HolderFail{errno_text("socket (listener)")};
  int one = 1;
  ::setsockopt(l.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(l.get(), reinterpret_cast<const sockaddr*>(&e.listen), e.len) != 0)
    throw HolderFail{errno_text("bind (listener)")};
  if (::listen(l.get(), 65535) != 0) throw HolderFail{errno_text("listen")};
  // Bounded accept: a lost handshake must not hang the farm.
  timeval tv{10, 0};
  ::setsockopt(l.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return l;
}

Fd connect_client(Endpoints& e) {
  Fd c(::socket(e.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (c.get() < 0) throw HolderFail{errno_text("socket (client)")};
  std::uint16_t port = take_client_port(e);
  if (port == 0) throw HolderFail{"out of client ports: raise --procs"};
  // IPv6 holders share ::1, so the same port is bound by several clients (distinct 4-tuples).
  int one = 1;
  ::setsockopt(c.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (e.family == AF_INET6)
    reinterpret_cast<sockaddr_in6*>(&e.source)->sin6_port = htons(port);
  else
    reinterpret_cast<sockaddr_in*>(&e.source)->sin_port = htons(port);
  if (::bind(c.get(), reinterpret_cast<const sockaddr*>(&e.source), e.len) != 0)
    throw HolderFail{errno_text("bind (client source)")};
  timeval tv{10, 0};
  ::setsockopt(c.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); // bounds connect()
  if (::connect(c.get(), reinterpret_cast<const sockaddr*>(&e.listen), e.len) != 0)
    throw HolderFail{errno_text("connect")};
  return c;
}

// Why not just close(): an orphan whose FIN is acked while close() still owns the socket gets a
// keepalive timer instead of a mini-socket, and that timer ends it with an RST that kills the
// peer's CLOSE_WAIT. Closing in FIN_WAIT2 goes straight to a mini-socket, which dies silently
// after TCP_LINGER2 (1 s here, so the lone CLOSE_WAIT is what remains).
void half_close_and_wait(const std::vector<Fd>& clients) {
  int secs = 1;
  for (const auto& c : clients) {
    ::setsockopt(c.get(), IPPROTO_TCP, TCP_LINGER2, &secs, sizeof(secs));
    if (::shutdown(c.get(), SHUT_WR) != 0) throw HolderFail{errno_text("shutdown")};
  }
  std::size_t ready = 0;
  for (int round = 0; round < 2500 && ready < clients.size(); ++round) { // 5 s at most
    for (; ready < clients.size(); ++ready) {
      tcp_info ti{};
      socklen_t len = sizeof(ti);
      if (::getsockopt(clients[ready].get(), IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        throw HolderFail{errno_text("TCP_INFO")};
      if (ti.tcpi_state != TCP_FIN_WAIT2) break; // the peer's ACK may be delayed
    }
    if (ready < clients.size()) ::usleep(2000);
  }
  if (ready < clients.size()) throw HolderFail{"half-closed client never reached FIN_WAIT2"};
}

enum class Kind { TimeWait, CloseWaitOnly, FinWait2, Established };

// Makes `count` connections of one kind, `kBatch` at a time; keeps the fds the kind needs.
void make_connections(Endpoints& e, int listener, Kind kind, long count, std::vector<int>& held) {
  std::vector<Fd> clients, servers;
  for (long done = 0; done < count;) {
    int n = static_cast<int>(std::min<long>(kBatch, count - done));
    clients.clear();
    servers.clear();
    for (int i = 0; i < n; ++i)
      clients.push_back(connect_client(e));
    for (int i = 0; i < n; ++i) {
      int s = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (s < 0) throw HolderFail{errno_text("accept")};
      servers.emplace_back(s);
    }
    if (kind == Kind::CloseWaitOnly) half_close_and_wait(clients);
    for (int i = 0; i < n; ++i) {
      switch (kind) {
      case Kind::Established:
        held.push_back(clients[i].release());
        held.push_back(servers[i].release());
        break;
      case Kind::FinWait2:
        if (::shutdown(clients[i].get(), SHUT_WR) != 0) throw HolderFail{errno_text("shutdown")};
        held.push_back(clients[i].release());
        held.push_back(servers[i].release());
        break;
      case Kind::CloseWaitOnly:
        clients[i].reset(); // in FIN_WAIT2 already: becomes a mini-socket that expires silently
        held.push_back(servers[i].release());
        break;
      case Kind::TimeWait:
        clients[i].reset(); // the client closes first, so the client end enters TIME_WAIT
        break;
      }
    }
    servers.clear(); // TimeWait: now the server closes (CLOSE_WAIT -> LAST_ACK -> CLOSE)
    done += n;
  }
}

// Closes with RST (SO_LINGER 0): a million FIN exchanges and TIME_WAITs would outlive the farm.
void abort_close_all(std::vector<int>& held) {
  linger lg{1, 0};
  for (int fd : held) {
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ::close(fd);
  }
  held.clear();
}

void report(int status_fd, const std::string& line) {
  std::string l = line.substr(0, 400) + "\n"; // < PIPE_BUF: one atomic write
  if (::write(status_fd, l.data(), l.size()) < 0) _exit(3);
}

[[noreturn]] void run_holder(const Plan& p,
                             int index,
                             pid_t parent,
                             int status_fd,
                             int ctrl_fd,
                             int sigfd,
                             Clock::time_point deadline) {
  // Die with the parent: PDEATHSIG, checked against a parent that is already gone.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) _exit(2);
  Share sh = holder_share(p, index);
  bool v6 = index >= p.procs - p.v6_procs;
  Endpoints e = endpoints_for(index, static_cast<int>(p.procs), v6);
  std::vector<int> held;
  held.reserve(static_cast<std::size_t>(sh.held_fds()) + 1);
  try {
    Fd listener = make_listener(e);
    make_connections(e, listener.get(), Kind::CloseWaitOnly, sh.cw_only, held);
    make_connections(e, listener.get(), Kind::FinWait2, sh.fw2_pairs, held);
    make_connections(e, listener.get(), Kind::Established, sh.est_pairs, held);
    make_connections(e, listener.get(), Kind::TimeWait, sh.tw_pairs, held); // last: see above
    held.push_back(listener.release());
  } catch (const HolderFail& f) {
    report(status_fd, "fail " + std::to_string(index) + " " + f.msg);
    abort_close_all(held);
    _exit(1);
  }
  report(status_fd, "ok " + std::to_string(index) + " " + std::to_string(held.size()));
  ::close(status_fd);
  // Wait for a signal, the parent's end of the control pipe closing, or the hold deadline.
  pollfd fds[2] = {{sigfd, POLLIN, 0}, {ctrl_fd, POLLIN, 0}};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int r = ::poll(fds, 2, static_cast<int>(std::min<long>(left.count(), 60'000)));
    if (r > 0) break;
    if (r < 0 && errno != EINTR) break;
  }
  abort_close_all(held);
  _exit(0);
}

// ---- parent -------------------------------------------------------------------------------------

struct Farm {
  std::vector<pid_t> holders;
  int alive = 0;
};

void stop_holders(Farm& farm) {
  for (pid_t pid : farm.holders)
    if (pid > 0) ::kill(pid, SIGTERM);
  auto until = Clock::now() + std::chrono::seconds(60);
  while (farm.alive > 0) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      --farm.alive;
      std::replace(farm.holders.begin(), farm.holders.end(), pid, pid_t{-1});
      continue;
    }
    if (pid < 0 && errno == ECHILD) break;
    if (Clock::now() > until) { // bounded: a stuck holder is killed, then reaped
      for (pid_t h : farm.holders)
        if (h > 0) ::kill(h, SIGKILL);
      until = Clock::now() + std::chrono::seconds(3600);
    }
    ::usleep(20'000);
  }
}

// /proc/net/sockstat{,6} of this netns: TCP sockets in use (v4 + v6) and timewait mini-sockets.
struct SockStat {
  long inuse = 0, tw = 0;
};

SockStat read_sockstat() {
  SockStat s;
  for (const char* path : {"/proc/net/sockstat", "/proc/net/sockstat6"}) {
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string proto, key;
      long value = 0;
      in >> proto;
      if (proto != "TCP:" && proto != "TCP6:") continue;
      while (in >> key >> value) {
        if (key == "inuse") s.inuse += value;
        if (key == "tw" && proto == "TCP:") s.tw = value;
      }
    }
  }
  return s;
}

// Waits until orphans have gone and TIME_WAITs exist: the kernel's counters match the plan.
bool settle(const Plan& p, int sigfd) {
  long want_inuse = p.total.held_fds() + p.procs; // + one listener per holder
  long want_tw = p.total.tw_pairs;
  SockStat s;
  for (int i = 0; i < 300; ++i) { // 30 s at most (orphans need ~1 s)
    s = read_sockstat();
    if (s.inuse == want_inuse && s.tw == want_tw) return true;
    pollfd pf{sigfd, POLLIN, 0};
    if (::poll(&pf, 1, 100) > 0) return false;
  }
  std::fprintf(stderr, "sockfarm: counts did not settle: inuse %ld (want %ld), tw %ld (want %ld)\n",
               s.inuse, want_inuse, s.tw, want_tw);
  return false;
}

void write_ready_file(const Plan& p, double build_s) {
  std::string tmp = p.ready_file + ".tmp";
  {
    std::ofstream f(tmp);
    f << "pid " << ::getpid() << "\nsockets "
      << (p.established + p.close_wait + p.fin_wait2 + p.time_wait) << "\nestablished "
      << p.established << "\nclose_wait " << p.close_wait << "\nfin_wait2 " << p.fin_wait2
      << "\ntime_wait " << p.time_wait << "\nprocs " << p.procs << "\nipv6_procs " << p.v6_procs
      << "\nbuild_seconds " << build_s << "\n";
    if (!f) die("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), p.ready_file.c_str()) != 0) die(errno_text("rename ready file"));
}

// Collects one status line per holder; false on a failure, a signal or the build timeout.
bool wait_for_holders(const Plan& p, int status_fd, int sigfd) {
  auto until = Clock::now() + std::chrono::seconds(p.build_timeout_s);
  int ok = 0;
  bool child_died = false;
  std::string buf;
  char chunk[4096];
  while (ok < p.procs) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      std::fprintf(stderr, "sockfarm: %s: %d of %ld holders ready\n",
                   child_died ? "a holder died while building" : "build timeout", ok, p.procs);
      return false;
    }
    pollfd fds[2] = {{status_fd, POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) {
      signalfd_siginfo si{};
      if (::read(sigfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGCHLD) {
        // A holder exited while building: let its "fail" line (if any) arrive first.
        child_died = true;
        until = std::min(until, Clock::now() + std::chrono::milliseconds(500));
        continue;
      }
      std::fprintf(stderr, "sockfarm: interrupted while building\n");
      return false;
    }
    if (fds[0].revents == 0) continue;
    ssize_t n = ::read(status_fd, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      std::string line = buf.substr(0, nl);
      if (line.rfind("ok ", 0) != 0) {
        std::fprintf(stderr, "sockfarm: holder %s\n", line.c_str());
        return false;
      }
      ++ok;
    }
  }
  return true;
}

int run(const Plan& p) {
  if (!in_private_netns())
    die("refusing to run outside a private network namespace with only lo: use `ip netns exec`");
  prepare_netns(p);
  // A benchmark script killed with SIGKILL must not leave a million sockets behind.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);

  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD})
    sigaddset(&sigs, s);
  if (::sigprocmask(SIG_BLOCK, &sigs, nullptr) != 0) die(errno_text("sigprocmask"));
  Fd sigfd(::signalfd(-1, &sigs, SFD_CLOEXEC));
  if (sigfd.get() < 0) die(errno_text("signalfd"));
  int status_pipe[2], ctrl_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0 || ::pipe2(ctrl_pipe, O_CLOEXEC) != 0)
    die(errno_text("pipe2"));
  Fd status_r(status_pipe[0]), status_w(status_pipe[1]), ctrl_r(ctrl_pipe[0]), ctrl_w(ctrl_pipe[1]);

  auto start = Clock::now();
  auto deadline = start + std::chrono::seconds(p.hold_s);
  Farm farm;
  pid_t self = ::getpid();
  for (int i = 0; i < p.procs; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) {
      std::fprintf(stderr, "sockfarm: %s\n", errno_text("fork").c_str());
      stop_holders(farm);
      return 1;
    }
    if (pid == 0) {
      status_r.reset();
      ctrl_w.reset();
      run_holder(p, i, self, status_w.get(), ctrl_r.get(), sigfd.get(), deadline);
    }
    farm.holders.push_back(pid);
    ++farm.alive;
  }
  status_w.reset();
  ctrl_r.reset();

  bool ok = wait_for_holders(p, status_r.get(), sigfd.get()) && settle(p, sigfd.get());
  double build_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (ok) {
    write_ready_file(p, build_s);
    std::fprintf(stderr, "sockfarm: %ld sockets ready in %.1f s, held by %ld processes\n",
                 p.established + p.close_wait + p.fin_wait2 + p.time_wait, build_s, p.procs);
    // Hold until the deadline or a signal; a holder dying early spoils the counts, so stop too.
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd pf{sigfd.get(), POLLIN, 0};
      if (::poll(&pf, 1, static_cast<int>(std::min<long>(left.count(), 60'000))) <= 0) continue;
      signalfd_siginfo si{};
      if (::read(sigfd.get(), &si, sizeof(si)) != sizeof(si)) continue;
      if (si.ssi_signo == SIGCHLD) std::fprintf(stderr, "sockfarm: a holder exited early\n");
      ok = si.ssi_signo != SIGCHLD;
      break;
    }
    ::unlink(p.ready_file.c_str());
  }
  ctrl_w.reset(); // holders also see EOF on the control pipe
  stop_holders(farm);
  return ok ? 0 : 1;
}

} // namespace
} // namespace sockdoctor::bench

int main(int argc, char** argv) {
  auto plan = sockdoctor::bench::parse_args(argc, argv);
  return sockdoctor::bench::run(plan);
}
