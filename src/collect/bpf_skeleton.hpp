// RAII over a bpftool skeleton (open -> set rodata/sizes -> load -> attach -> destroy), with
// every failure mapped by bpf_error(). Only for collect/*.cpp built with SOCKDOCTOR_HAVE_BPF:
// it includes libbpf, which is not part of collect's public interface.
#pragma once

#ifdef SOCKDOCTOR_HAVE_BPF

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include <bpf/libbpf.h>

#include "collect/bpf_runtime.hpp"
#include "core/error.hpp"

namespace sockdoctor::collect {

// The functions bpftool generates for skeleton `name`: name__open, __load, __attach, __destroy.
template <typename Skel> struct SkeletonOps {
  Skel* (*open)();
  int (*load)(Skel*);
  int (*attach)(Skel*);
  void (*destroy)(Skel*);
};

template <typename Skel> class BpfSkeleton {
public:
  // `context` prefixes every error ("state register"); `kernel_hint` says what a kernel that
  // refuses the programs lacks.
  static core::Result<BpfSkeleton>
  open(SkeletonOps<Skel> ops, std::string context, std::string kernel_hint) {
    install_bpf_log();
    errno = 0;
    Skel* raw = ops.open();
    if (raw == nullptr) {
      const int e = errno != 0 ? errno : ENOMEM;
      return tl::unexpected(bpf_error(context + ": open", e, kernel_hint));
    }
    return BpfSkeleton(ops, raw, std::move(context), std::move(kernel_hint));
  }

  BpfSkeleton(BpfSkeleton&& other) noexcept
      : ops_(other.ops_), skel_(std::exchange(other.skel_, nullptr)),
        context_(std::move(other.context_)), hint_(std::move(other.hint_)) {}
  BpfSkeleton& operator=(BpfSkeleton&&) = delete;
  BpfSkeleton(const BpfSkeleton&) = delete;
  BpfSkeleton& operator=(const BpfSkeleton&) = delete;
  ~BpfSkeleton() {
    if (skel_ != nullptr) ops_.destroy(skel_); // detaches every link, closes every map
  }

  core::Result<void> load() { return step("load", ops_.load(skel_)); }
  core::Result<void> attach() { return step("attach", ops_.attach(skel_)); }

  // An error for a step the caller did by hand (an iterator attach, a map update).
  core::Error error(std::string_view step_name, int err) const {
    return bpf_error(context_ + ": " + std::string(step_name), err, hint_);
  }

  Skel* get() const { return skel_; }
  Skel* operator->() const { return skel_; }

private:
  BpfSkeleton(SkeletonOps<Skel> ops, Skel* skel, std::string context, std::string hint)
      : ops_(ops), skel_(skel), context_(std::move(context)), hint_(std::move(hint)) {}

  // libbpf returns -errno (and sets errno) from load and attach.
  core::Result<void> step(std::string_view name, int rc) {
    if (rc == 0) return {};
    return tl::unexpected(error(name, rc < 0 ? -rc : (errno != 0 ? errno : EINVAL)));
  }

  SkeletonOps<Skel> ops_;
  Skel* skel_;
  std::string context_;
  std::string hint_;
};

} // namespace sockdoctor::collect

#endif // SOCKDOCTOR_HAVE_BPF
