// Records the state register's raw records for tests/fixtures/register/ (root): in a private
// network namespace, with the register streaming, it makes an IPv4 connection the client closes
// first (client-side TIME_WAIT through a FIN_WAIT2 mini-socket), an IPv6 one the server closes
// first (server-side TIME_WAIT) and a CLOSE_WAIT, then writes
//   events.bin   the ring records, back to back (struct sr_event)
//   entries.bin  the socket map: 8-byte cookie + struct sr_entry, per entry
//   counters.bin the per-CPU counters as the kernel returns them
//   meta.json    what the recorder knows: its pid and comm, the port, CPU count
//   record_register OUTPUT_DIR
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "collect/state_register.hpp"
#include "collect/state_register_decode.hpp"

using namespace sockdoctor;

namespace {

constexpr int kPort = 8417;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "record_register: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

int tcp_socket(int family) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  return fd;
}

// listener, client, accepted
struct Trio {
  int listener, client, server;
};

Trio connect_pair(int family, int port) {
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  }
  Trio t{tcp_socket(family), tcp_socket(family), -1};
  if (::bind(t.listener, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(t.listener, 8))
    die("listen");
  if (::connect(t.client, reinterpret_cast<sockaddr*>(&ss), len) != 0) die("connect");
  t.server = ::accept4(t.listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (t.server < 0) die("accept");
  return t;
}

void pause_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

void write_file(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) die("write " + path);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: record_register OUTPUT_DIR (root)\n");
    return 64;
  }
  const std::string out = argv[1];
  if (::unshare(CLONE_NEWNET) != 0) die("unshare(CLONE_NEWNET)");
  if (std::system("ip link set lo up") != 0) die("ip link set lo up");
  ::prctl(PR_SET_NAME, "sd-recorder", 0, 0, 0);

  collect::StateRegisterOptions opts;
  opts.stream = true;
  auto reg = collect::StateRegister::start(opts);
  if (!reg) {
    std::fprintf(stderr, "record_register: %s\n", reg.error().message.c_str());
    return 77;
  }
  std::vector<std::byte> events;
  reg->set_raw_sink([&events](std::span<const std::byte> rec) {
    events.insert(events.end(), rec.begin(), rec.end());
  });

  Trio v4 = connect_pair(AF_INET, kPort); // the client closes first, the server 300 ms later
  ::close(v4.client);
  pause_ms(300);
  ::close(v4.server);
  Trio v6 = connect_pair(AF_INET6, kPort); // the server closes first
  ::shutdown(v6.server, SHUT_WR);
  pause_ms(100);
  ::close(v6.client);
  pause_ms(100);
  ::close(v6.server);
  Trio cw = connect_pair(AF_INET, kPort + 1); // the server keeps its CLOSE_WAIT
  ::close(cw.client);
  pause_ms(200); // the FIN_WAIT2 sweep runs every 50 ms
  const collect::StateRegister::Sink ignore = [](const core::SocketTransition&) {};
  for (int i = 0; i < 5; ++i)
    (void)reg->poll(20, ignore);

  auto reader = reg->reader();
  if (!reader) die("reader: " + reader.error().message);
  std::vector<std::byte> entries;
  auto walked =
      reader->for_each_raw([&entries](std::uint64_t cookie, std::span<const std::byte> e) {
        const auto* c = reinterpret_cast<const std::byte*>(&cookie);
        entries.insert(entries.end(), c, c + sizeof cookie);
        entries.insert(entries.end(), e.begin(), e.end());
      });
  auto counters = reader->raw_counters();
  if (!walked || !counters) die("read maps");
  write_file(out + "/events.bin", events);
  write_file(out + "/entries.bin", entries);
  write_file(out + "/counters.bin", counters->first);
  std::ofstream meta(out + "/meta.json");
  meta << "{\"pid\":" << ::getpid() << ",\"comm\":\"sd-recorder\",\"port\":" << kPort
       << ",\"close_wait_port\":" << kPort + 1 << ",\"cpus\":" << counters->second << "}\n";
  for (int fd : {v4.listener, v6.listener, cw.listener, cw.server})
    ::close(fd);
  std::printf("record_register: %zu events, %zu entries -> %s\n",
              events.size() / collect::kRegisterEventSize,
              entries.size() / (8 + collect::kRegisterEntrySize), out.c_str());
  return 0;
}
