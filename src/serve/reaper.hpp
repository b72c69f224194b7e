// A hard deadline on every connection to the exporter: cpp-httplib's timeouts are per read, so a
// client that sends one byte a second would hold a worker for hours. The reaper finds the
// exporter's accepted sockets in /proc/self/fd and shuts down each one older than the limit;
// the worker's next read returns 0 and it closes the socket (no CLOSE_WAIT is ever left).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "core/fs_root.hpp"

namespace sockdoctor::serve {

class ConnectionReaper {
public:
  ConnectionReaper(core::FsRoot root, std::uint16_t port, std::chrono::milliseconds max_age);
  ~ConnectionReaper();
  ConnectionReaper(const ConnectionReaper&) = delete;
  ConnectionReaper& operator=(const ConnectionReaper&) = delete;

  void start();
  void stop();
  // Also give connections this much more time (the last sample's duration: a scrape that waits
  // for a slow dump is not a slow client).
  void set_grace(std::chrono::milliseconds grace) { grace_ms_ = grace.count(); }

  std::uint64_t reaped() const { return reaped_; }
  std::size_t open_connections() const { return open_; }

private:
  void loop();
  void scan();

  core::FsRoot root_;
  std::uint16_t port_;
  std::chrono::milliseconds max_age_;
  std::atomic<std::int64_t> grace_ms_{0};
  struct Seen {
    std::chrono::steady_clock::time_point first;
    bool shut = false; // shut down already; waiting for its worker to close it
  };
  std::map<std::uint64_t, Seen> seen_; // by socket inode
  std::atomic<std::uint64_t> reaped_{0};
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace sockdoctor::serve
