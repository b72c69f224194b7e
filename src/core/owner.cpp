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

void OwnerTable::finalize() {
  std::sort(pending_.begin(), pending_.end(), [this](const Pending& a, const Pending& b) {
    if (a.inode != b.inode) return a.inode < b.inode;
    const auto pa = processes_[a.ref.process_index].pid, pb = processes_[b.ref.process_index].pid;
    if (pa != pb) return pa < pb;
    return a.ref.fd < b.ref.fd;
  });
  refs_.clear();
  refs_.reserve(pending_.size());
  index_.clear();
  index_.reserve(pending_.size());
  for (std::size_t i = 0; i < pending_.size();) {
    std::size_t j = i;
    while (j < pending_.size() && pending_[j].inode == pending_[i].inode) {
      refs_.push_back(pending_[j].ref);
      ++j;
    }
    index_[pending_[i].inode] =
        Range{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j - i)};
    i = j;
  }
  pending_.clear();
  pending_.shrink_to_fit();
}

std::span<const FdRef> OwnerTable::owners_of(std::uint32_t inode) const {
  if (inode == 0) return {};
  auto it = index_.find(inode);
  if (it == index_.end()) return {};
  return std::span<const FdRef>(refs_.data() + it->second.begin, it->second.count);
}

} // namespace sockdoctor::core
