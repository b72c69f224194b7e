// Records one live sock_diag dump (v4 then v6, raw netlink replies) to a file, for fixtures;
// with --dry-run it only dumps and decodes, and prints how long that took (benchmarks).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "collect/sock_diag.hpp"

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--no-info] (OUTPUT_FILE | --dry-run [--repeat N])\n", argv0);
  std::exit(64);
}

} // namespace

int main(int argc, char** argv) {
  using namespace sockdoctor;
  collect::SockDiagRequest req;
  const char* output = nullptr;
  bool dry_run = false;
  int repeat = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-info") == 0)
      req.tcp_info = false;
    else if (std::strcmp(argv[i], "--dry-run") == 0)
      dry_run = true;
    else if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
      repeat = std::max(1, std::min(100, std::atoi(argv[++i])));
    else if (argv[i][0] != '-' && output == nullptr)
      output = argv[i];
    else
      usage(argv[0]);
  }
  if (dry_run == (output != nullptr)) usage(argv[0]);

  for (int run = 0; run < repeat; ++run) {
    std::vector<core::TcpSocket> sockets;
    std::string record;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    auto stats = collect::dump_sock_diag(req, sockets, dry_run ? nullptr : &record);
    const double cpu = cpu_seconds() - c0;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!stats) {
      std::fprintf(stderr, "record_sock_diag: %s\n", stats.error().message.c_str());
      return 1;
    }
    std::printf("%zu sockets, %u messages, %u retries, %zu bytes recorded; dump+decode %.3f s "
                "wall, %.3f s cpu\n",
                sockets.size(), stats->messages, stats->retries, record.size(), wall, cpu);
    if (dry_run) continue;
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    out.write(record.data(), static_cast<std::streamsize>(record.size()));
    out.close();
    if (!out) {
      std::fprintf(stderr, "record_sock_diag: cannot write %s\n", output);
      return 1;
    }
  }
  return 0;
}
