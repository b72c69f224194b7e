// Fuzzes the state register's BPF record decoders (ring-buffer events, map entries, table ways,
// per-CPU counters, info) and the iterator records of the eBPF owner scan and socket iterator. Byte
// 0 picks the decoder.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "collect/bpf_owners.hpp"
#include "collect/state_register_decode.hpp"
#include "collect/state_register_table.hpp"
#include "collect/tcp_iter.hpp"
#include "fuzz_util.hpp"

using namespace sockdoctor;

namespace {

// The owner scan reads the iterator in chunks and carries a cut record over to the next read:
// decoding in two pieces must give what one piece gives.
void task_records(std::span<const std::byte> in) {
  collect::TaskSocketRecords whole;
  const std::size_t used = collect::decode_task_socket_records(in, whole);
  fuzz::require(used <= in.size() && in.size() - used < 32, "records consumed badly");
  const std::size_t cut = in.empty() ? 0 : std::to_integer<std::size_t>(in[0]) % in.size();
  collect::TaskSocketRecords pieces;
  const std::size_t first = collect::decode_task_socket_records(in.first(cut), pieces);
  const std::size_t second = collect::decode_task_socket_records(in.subspan(first), pieces);
  fuzz::require(first + second == used, "chunked decoding consumed a different length");
  fuzz::require(pieces.sockets.size() == whole.sockets.size() &&
                    pieces.processes.size() == whole.processes.size() &&
                    pieces.unknown == whole.unknown,
                "chunked decoding gave different records");
}

// The socket iterator's records, read the same way; byte 0 also picks HZ (100, 250, 300, 1000).
void tcp_records(std::span<const std::byte> in) {
  constexpr int kHz[] = {100, 250, 300, 1000};
  const collect::TcpRecordDecoding how{
      in.empty() ? 250 : kHz[std::to_integer<std::size_t>(in[0]) % 4], true};
  std::vector<core::TcpSocket> whole;
  std::uint64_t skipped = 0;
  const std::size_t used = collect::decode_tcp_socket_records(in, how, whole, &skipped);
  fuzz::require(used <= in.size() && in.size() - used < 112, "socket records consumed badly");
  fuzz::require(whole.size() + skipped == used / 112, "a record neither decoded nor skipped");
  const std::size_t cut = in.empty() ? 0 : std::to_integer<std::size_t>(in[0]) % in.size();
  std::vector<core::TcpSocket> pieces;
  std::uint64_t skipped2 = 0;
  const std::size_t first =
      collect::decode_tcp_socket_records(in.first(cut), how, pieces, &skipped2);
  const std::size_t second =
      collect::decode_tcp_socket_records(in.subspan(first), how, pieces, &skipped2);
  fuzz::require(first + second == used && pieces.size() == whole.size() && skipped2 == skipped,
                "chunked socket records decoded differently");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto in = fuzz::bytes(data + 1, size - 1);
  switch (data[0] % 7) {
  case 0:
    // The ring buffer hands over records one at a time; a read may hold several back to back.
    for (std::size_t off = 0; off < in.size(); off += collect::kRegisterEventSize)
      (void)collect::decode_register_event(in.subspan(off));
    break;
  case 1:
    for (std::size_t off = 0; off < in.size(); off += collect::kRegisterEntrySize)
      (void)collect::decode_register_entry(in.subspan(off));
    break;
  case 2:
    for (std::size_t cpus = 0; cpus <= 4; ++cpus)
      (void)collect::decode_register_counters(in, cpus);
    (void)collect::decode_register_counters(in, in.size() / 128 + 1);
    break;
  case 3:
    (void)collect::decode_register_info(in);
    break;
  case 4:
    task_records(in);
    break;
  case 5: { // two copies of a way, as a reader takes them
    const auto half = in.size() / 2;
    if (auto way = collect::stable_register_way(in.first(half), in.subspan(half)))
      (void)collect::decode_register_entry(way->entry);
    break;
  }
  default:
    tcp_records(in);
  }
  return 0;
}
