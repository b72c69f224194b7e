// Records one live sock_diag dump (v4 then v6, raw netlink replies) to a file, for fixtures.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "collect/sock_diag.hpp"

int main(int argc, char** argv) {
  using namespace sockdoctor;
  if (argc < 2 || argc > 3 || (argc == 3 && std::strcmp(argv[2], "--no-info") != 0)) {
    std::fprintf(stderr, "usage: %s OUTPUT_FILE [--no-info]\n", argv[0]);
    return 64;
  }
  collect::SockDiagRequest req;
  req.tcp_info = argc == 2;
  std::vector<core::TcpSocket> sockets;
  std::string record;
  auto stats = collect::dump_sock_diag(req, sockets, &record);
  if (!stats) {
    std::fprintf(stderr, "record_sock_diag: %s\n", stats.error().message.c_str());
    return 1;
  }
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out.write(record.data(), static_cast<std::streamsize>(record.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "record_sock_diag: cannot write %s\n", argv[1]);
    return 1;
  }
  std::printf("%zu sockets, %u messages, %u retries, %zu bytes -> %s\n", sockets.size(),
              stats->messages, stats->retries, record.size(), argv[1]);
  return 0;
}
