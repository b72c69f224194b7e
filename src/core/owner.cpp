// OwnerTable: grouping fd references by inode once, then O(1) lookups.
#include "core/owner.hpp"

#include <algorithm>

namespace sockdoctor::core {

std::uint32_t OwnerTable::add_process(ProcessInfo info) {
  processes_.push_back(std::move(info));
  return static_cast<std::uint32_t>(processes_.size() - 1);
}

void OwnerTable::add_fd(std::uint32_t socket_inode, std::uint32_t process_index, std::int32_t fd) {
  refs_.push_back({process_index, fd, socket_inode});
}

namespace {

// Fibonacci hashing onto [0, size) by multiply-shift, so the table need not be a power of two.
std::size_t slot_of(std::uint32_t inode, std::size_t size) {
  const std::uint64_t h = (std::uint64_t{inode} * 0x9E3779B97F4A7C15u) >> 32;
  return static_cast<std::size_t>((h * size) >> 32);
}

std::size_t table_size(std::size_t runs) {
  return std::max<std::size_t>(16, runs + runs * 3 / 5); // load factor at most 5/8
}

} // namespace

void OwnerTable::finalize() {
  std::sort(refs_.begin(), refs_.end(), [this](const FdRef& a, const FdRef& b) {
    if (a.inode != b.inode) return a.inode < b.inode;
    const auto pa = processes_[a.process_index].pid, pb = processes_[b.process_index].pid;
    if (pa != pb) return pa < pb;
    return a.fd < b.fd;
  });
  std::size_t runs = 0;
  for (std::size_t i = 0; i < refs_.size(); ++i)
    runs += (i == 0 || refs_[i].inode != refs_[i - 1].inode);
  const std::size_t size = table_size(runs);
  slots_.assign(size, 0);
  for (std::size_t r = 0; r < refs_.size(); ++r) {
    if (r != 0 && refs_[r].inode == refs_[r - 1].inode) continue;
    std::size_t i = slot_of(refs_[r].inode, size);
    while (slots_[i] != 0)
      i = (i + 1 == size) ? 0 : i + 1;
    slots_[i] = static_cast<std::uint32_t>(r + 1);
  }
}

std::span<const FdRef> OwnerTable::owners_of(std::uint32_t inode) const {
  if (inode == 0 || slots_.empty()) return {};
  const std::size_t size = slots_.size();
  for (std::size_t i = slot_of(inode, size); slots_[i] != 0; i = (i + 1 == size) ? 0 : i + 1) {
    const std::size_t begin = slots_[i] - 1;
    if (refs_[begin].inode != inode) continue;
    std::size_t end = begin + 1;
    while (end < refs_.size() && refs_[end].inode == inode)
      ++end;
    return std::span<const FdRef>(refs_.data() + begin, end - begin);
  }
  return {};
}

} // namespace sockdoctor::core
