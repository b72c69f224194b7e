// OwnerTable: grouping fd references by inode once, then O(1) lookups.
#include "core/owner.hpp"

#include <algorithm>

namespace sockdoctor::core {

std::uint32_t OwnerTable::add_process(ProcessInfo info) {
  processes_.push_back(std::move(info));
  return static_cast<std::uint32_t>(processes_.size() - 1);
}

void OwnerTable::add_fd(std::uint32_t socket_inode, std::uint32_t process_index, std::int32_t fd) {
  pending_.push_back({socket_inode, {process_index, fd}});
}

namespace {

std::size_t slot_of(std::uint32_t inode, std::size_t mask) {
  return (std::uint64_t{inode} * 0x9E3779B97F4A7C15u >> 32) & mask; // Fibonacci hashing
}

} // namespace

void OwnerTable::finalize() {
  std::sort(pending_.begin(), pending_.end(), [this](const Pending& a, const Pending& b) {
    if (a.inode != b.inode) return a.inode < b.inode;
    const auto pa = processes_[a.ref.process_index].pid, pb = processes_[b.ref.process_index].pid;
    if (pa != pb) return pa < pb;
    return a.ref.fd < b.ref.fd;
  });
  refs_.clear();
  refs_.reserve(pending_.size());
  group_inode_.clear();
  group_begin_.clear();
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (i == 0 || pending_[i].inode != pending_[i - 1].inode) {
      group_inode_.push_back(pending_[i].inode);
      group_begin_.push_back(static_cast<std::uint32_t>(i));
    }
    refs_.push_back(pending_[i].ref);
  }
  group_begin_.push_back(static_cast<std::uint32_t>(refs_.size()));
  pending_.clear();
  pending_.shrink_to_fit();
  std::size_t size = 16;
  while (size < 2 * group_inode_.size())
    size *= 2;
  slots_.assign(size, 0);
  const std::size_t mask = size - 1;
  for (std::size_t g = 0; g < group_inode_.size(); ++g) {
    std::size_t i = slot_of(group_inode_[g], mask);
    while (slots_[i] != 0)
      i = (i + 1) & mask;
    slots_[i] = static_cast<std::uint32_t>(g + 1);
  }
}

std::span<const FdRef> OwnerTable::owners_of(std::uint32_t inode) const {
  if (inode == 0 || slots_.empty()) return {};
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = slot_of(inode, mask); slots_[i] != 0; i = (i + 1) & mask) {
    const std::uint32_t g = slots_[i] - 1;
    if (group_inode_[g] == inode)
      return std::span<const FdRef>(refs_.data() + group_begin_[g],
                                    group_begin_[g + 1] - group_begin_[g]);
  }
  return {};
}

} // namespace sockdoctor::core
