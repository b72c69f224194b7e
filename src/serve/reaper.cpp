// Shuts down connections to the exporter that outlive the deadline.
#include "serve/reaper.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <set>

namespace sockdoctor::serve {
namespace {

// Local port of a connected socket fd, 0 when fd is no connected inet socket.
std::uint16_t connected_local_port(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return 0;
  len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return 0; // a listener
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  return 0;
}

} // namespace

ConnectionReaper::ConnectionReaper(core::FsRoot root,
                                   std::uint16_t port,
                                   std::chrono::milliseconds max_age)
    : root_(std::move(root)), port_(port), max_age_(max_age) {}

ConnectionReaper::~ConnectionReaper() {
  stop();
}

void ConnectionReaper::start() {
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void ConnectionReaper::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ConnectionReaper::loop() {
  // A quarter of the deadline between scans (at most 1 s): a connection lives at most 1.25 x.
  const auto period = std::min<std::chrono::milliseconds>(max_age_ / 4, std::chrono::seconds(1));
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    scan();
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stopping_; });
  }
}

void ConnectionReaper::scan() {
  const auto now = std::chrono::steady_clock::now();
  const auto limit = max_age_ + std::chrono::milliseconds(grace_ms_.load());
  DIR* dir = ::opendir(root_.proc_path("self/fd").c_str());
  if (dir == nullptr) return;
  std::set<std::uint64_t> alive;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (connected_local_port(static_cast<int>(fd)) != port_) continue;
    alive.insert(st.st_ino);
    auto [it, fresh] = seen_.try_emplace(st.st_ino, Seen{now});
    if (fresh || it->second.shut || now - it->second.first < limit) continue;
    // The fd may have been closed and reused since fstat: shut it down only if it is still the
    // same socket (a reuse within these microseconds would cut a connection, never leak one).
    struct stat again {};
    if (::fstat(static_cast<int>(fd), &again) == 0 && again.st_ino == st.st_ino &&
        ::shutdown(static_cast<int>(fd), SHUT_RDWR) == 0) {
      it->second.shut = true;
      ++reaped_;
    }
  }
  ::closedir(dir);
  std::erase_if(seen_, [&](const auto& kv) { return alive.count(kv.first) == 0; });
  open_ = alive.size();
}

} // namespace sockdoctor::serve
