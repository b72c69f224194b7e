// The exporter's HTTP server (cpp-httplib): routes, method and auth checks, timeouts, the
// connection reaper, and shutdown on SIGINT/SIGTERM.
#include "serve/exporter.hpp"

#include <httplib.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <memory>
#include <ostream>
#include <thread>

#include "collect/state_register.hpp"
#include "core/parse.hpp"
#include "render/escape.hpp"
#include "serve/reaper.hpp"
#include "serve/status.hpp"
#include "serve/web_config.hpp"

namespace sockdoctor::serve {
namespace {

using core::ErrorCode;

// cpp-httplib's server with its listening socket reachable (to raise its backlog of 5).
template <class Base> class Server : public Base {
public:
  using Base::Base;
  int listener() const { return this->svr_sock_; }
};

bool wants_openmetrics(const std::string& accept) {
  return accept.find("application/openmetrics-text") != std::string::npos;
}

struct Handlers {
  Scraper& scraper;
  BasicAuth& auth;
  ConnectionReaper& reaper;
  StatusPage& status;
};

void install(httplib::Server& svr, Handlers& h) {
  svr.set_pre_routing_handler([&h](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("Only GET and HEAD are served.\n", "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (h.auth.enabled() && !h.auth.allows(req.get_header_value("Authorization"))) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"sockdoctor\"");
      res.set_content("Unauthorized\n", "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.Get("/metrics", [&h](const httplib::Request& req, httplib::Response& res) {
    const auto scrape = h.scraper.get();
    // A scrape that waited for a slow dump is not a slow client.
    h.reaper.set_grace(
        std::chrono::milliseconds(static_cast<std::int64_t>(scrape->sample_seconds * 2000)));
    const auto format = wants_openmetrics(req.get_header_value("Accept"))
                            ? render::ExpositionFormat::OpenMetrics
                            : render::ExpositionFormat::Text;
    res.set_content(format == render::ExpositionFormat::OpenMetrics ? scrape->openmetrics
                                                                    : scrape->text,
                    std::string(render::content_type(format)).c_str());
  });
  svr.Get("/", [&h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h.status.html(), "text/html; charset=utf-8");
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty())
      res.set_content(fmt::format("HTTP status {}\n", res.status), "text/plain; charset=utf-8");
  });
}

// Blocks SIGINT and SIGTERM in every thread started after this, and stops the server when one
// arrives (sigwait on a thread of its own: no work in a signal handler).
class SignalStop {
public:
  explicit SignalStop(httplib::Server& svr) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this, &svr] {
      int sig = 0;
      sigwait(&set_, &sig);
      // A signal during start-up (the register loads) arrives before the server listens, and
      // cpp-httplib's stop() does nothing then: wait until it does listen.
      while (!finishing_ && !svr.is_running())
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      svr.stop();
    });
  }
  ~SignalStop() {
    // The server stopped for another reason: wake the waiter with a signal of our own.
    finishing_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

private:
  sigset_t set_{}, old_{};
  std::atomic<bool> finishing_{false};
  std::thread thread_;
};

// Hosts the eBPF state register for the life of the exporter, when it can; what it could not do
// is one line on stderr and, for missing privileges, a sockdoctor_capability_missing row.
std::optional<collect::StateRegister> host_register(const ExporterOptions& o,
                                                    ScraperOptions& scraper,
                                                    std::vector<std::string>& missing_lines) {
  const auto& pin_root = scraper.sampler.register_pin_root;
  if (!o.host_register || pin_root.empty() || !scraper.sampler.replay_file.empty())
    return std::nullopt;
  collect::StateRegisterOptions ro;
  ro.pin = true;
  ro.tick_clock = true;   // ages to a jiffy: the exporter's (and ls's) resolution is coarser
  ro.lazy_entries = true; // its readers want closing states only (ages, closers)
  ro.pin_root = pin_root;
  ro.root = scraper.sampler.root;
  auto reg = collect::StateRegister::start(ro);
  if (!reg) {
    const auto code = reg.error().code;
    if (code == ErrorCode::PermissionDenied || code == ErrorCode::Unavailable) {
      scraper.info.missing.push_back("ebpf_register");
      missing_lines.push_back("exact ages and the processes that closed TIME_WAIT sockets (the "
                              "eBPF state register: " +
                              reg.error().message + ")");
    }
    if (o.err != nullptr)
      render::write_notice(*o.err, "sockdoctor serve: cannot host the eBPF state register: ",
                           reg.error().message + " (ages stay estimates unless another host "
                                                 "such as `trace --pin` runs)");
    return std::nullopt;
  }
  if (o.err != nullptr) {
    const auto& rep = reg->report();
    render::write_notice(*o.err,
                         "sockdoctor serve: ", "hosting the eBPF state register at " + rep.pin_dir);
    if (!rep.time_wait_note.empty())
      render::write_notice(*o.err, "sockdoctor serve: ", rep.time_wait_note);
  }
  return std::move(*reg);
}

} // namespace

namespace {

// cpp-httplib's default sets SO_REUSEPORT: a second exporter on the same port then binds
// too and the kernel splits the scrapes between the two. SO_REUSEADDR alone still allows a
// restart beside the old process's TIME_WAIT sockets; "::" serves IPv4 as well.
void listener_options(int fd) {
  const int yes = 1, no = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  int domain = 0;
  socklen_t len = sizeof domain;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_INET6)
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
}

// The bound port, or <= 0 with errno set. ":PORT" binds "::", or 0.0.0.0 where IPv6 is off
// (a.host then says which).
int bind_listener(httplib::Server& svr, ListenAddress& a) {
  auto bind = [&](const std::string& host) {
    if (a.port == 0) return svr.bind_to_any_port(host);
    return svr.bind_to_port(host, a.port) ? static_cast<int>(a.port) : -1;
  };
  const int port = bind(a.host);
  if (port > 0 || a.host != "::" || errno == EADDRINUSE) return port;
  a.host = "0.0.0.0";
  return bind(a.host);
}

} // namespace

core::Result<ListenAddress> parse_listen_address(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return core::fail(ErrorCode::Usage, "expected HOST:PORT, got '" + std::string(text) + "'");
  ListenAddress a;
  a.host = std::string(text.substr(0, colon));
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']')
    a.host = a.host.substr(1, a.host.size() - 2);
  if (a.host.empty()) a.host = "::"; // dual stack (IPV6_V6ONLY off), 0.0.0.0 without IPv6
  const auto port = core::parse_number<std::uint16_t>(text.substr(colon + 1));
  if (!port) return core::fail(ErrorCode::Usage, "bad port in '" + std::string(text) + "'");
  a.port = *port;
  return a;
}

core::Result<void> run_exporter(const ExporterOptions& o) {
  auto addr = parse_listen_address(o.listen);
  if (!addr) return tl::unexpected(addr.error());
  WebConfig web;
  if (!o.web_config_file.empty()) {
    auto loaded = load_web_config(o.web_config_file);
    if (!loaded) return tl::unexpected(loaded.error());
    web = std::move(*loaded);
  }
  std::unique_ptr<httplib::Server> svr;
  int listener = -1;
  if (web.tls()) {
    auto tls =
        std::make_unique<Server<httplib::SSLServer>>(web.cert_file.c_str(), web.key_file.c_str());
    if (!tls->is_valid())
      return core::fail(ErrorCode::Malformed,
                        "TLS: cannot load " + web.cert_file + " and " + web.key_file);
    svr = std::move(tls);
  } else {
    svr = std::make_unique<Server<httplib::Server>>();
  }
  const std::size_t threads = o.threads;
  svr->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr->set_read_timeout(5, 0);
  svr->set_write_timeout(5, 0);
  svr->set_keep_alive_timeout(5);
  svr->set_keep_alive_max_count(20);
  svr->set_payload_max_length(4096); // GET and HEAD carry no body

  svr->set_socket_options(listener_options);
  int port = bind_listener(*svr, *addr);
  if (port <= 0) return core::fail(ErrorCode::Failed, "cannot listen on " + o.listen, errno);
  listener = web.tls() ? static_cast<Server<httplib::SSLServer>*>(svr.get())->listener()
                       : static_cast<Server<httplib::Server>*>(svr.get())->listener();
  ::listen(listener, 1024); // cpp-httplib listens with a backlog of 5: 200 scrapers would wait

  // A client that vanishes while TLS writes to it must cost an EPIPE, not the process (OpenSSL
  // writes without MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  // A long-running process that allocates one big sample per scrape: glibc would raise its mmap
  // threshold to the sample's size (big vectors then come from the heap and stay there) and give
  // every thread (16 HTTP workers, the per-namespace dump threads) an arena that keeps what it
  // freed. Measured at 100k sockets: RSS grew 11 MB a scrape. Fixed thresholds, two arenas.
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  ::mallopt(M_ARENA_MAX, 2);
  ScraperOptions scraper_options = o.scraper;
  SignalStop stop(*svr); // before the register: a signal during its load must not kill us
  auto missing_lines = o.missing_lines;
  auto reg = host_register(o, scraper_options, missing_lines);
  if (scraper_options.err == nullptr) scraper_options.err = o.err;
  auto started = Scraper::start(scraper_options);
  if (!started) return tl::unexpected(started.error());
  Scraper& scraper = **started;
  BasicAuth auth(web.users);
  ConnectionReaper reaper(o.scraper.sampler.root, static_cast<std::uint16_t>(port),
                          o.connection_timeout);
  StatusPage status(
      scraper,
      {.version = scraper_options.info.version, .scope = o.scope_lines, .missing = missing_lines});
  Handlers h{scraper, auth, reaper, status};
  install(*svr, h);
  if (o.err != nullptr)
    *o.err << fmt::format(
                  "sockdoctor serve: listening on {}://{}:{}{}\n", web.tls() ? "https" : "http",
                  addr->host.find(':') != std::string::npos ? "[" + addr->host + "]" : addr->host,
                  port, auth.enabled() ? " (basic auth)" : "")
           << std::flush;
  reaper.start();
  const bool ok = svr->listen_after_bind();
  reaper.stop();
  if (!ok) return core::fail(ErrorCode::Failed, "the listener failed");
  return {};
}

} // namespace sockdoctor::serve
