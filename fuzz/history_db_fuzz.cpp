// Fuzzes the history reader on arbitrary database files: SQLite checks its own pages, but the
// rows it returns (counts, times, names, JSON-free text) are decoded by sockdoctor, and the trend
// analysis (onset, least squares, restarts) runs on whatever they hold.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "fuzz_util.hpp"
#include "store/history_reader.hpp"
#include "store/history_trends.hpp"

using namespace sockdoctor;

namespace {

// One file per fuzzing process, removed (with SQLite's companions) when the process exits.
struct ScratchFile {
  std::string path = "/tmp/sd-history-fuzz-" + std::to_string(::getpid()) + ".db";
  ~ScratchFile() {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      ::unlink((path + suffix).c_str());
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ScratchFile scratch;
  const std::string& path = scratch.path;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  ::unlink((path + "-wal").c_str());
  ::unlink((path + "-shm").c_str());
  auto history = store::read_history(path, store::HistoryQuery{}, {.busy_timeout_ms = 0});
  if (history) (void)store::history_trends(*history);
  return 0;
}
