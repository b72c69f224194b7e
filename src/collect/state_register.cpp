// Hosting the state register: find tw_timer_handler, load and attach, pin, stream transitions.
#include "collect/state_register.hpp"

#include "collect/fs_read.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <vector>

#include "collect/bpf_runtime.hpp"
#include "collect/state_register_decode.hpp"
#include "collect/state_register_pins.hpp"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collect/bpf/state_register.h"
#include "collect/bpf_skeleton.hpp"
#include "state_register.skel.h"
#endif

namespace sockdoctor::collect {

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

using Skeleton = BpfSkeleton<state_register_bpf>;
constexpr SkeletonOps<state_register_bpf> kOps{state_register_bpf__open, state_register_bpf__load,
                                               state_register_bpf__attach,
                                               state_register_bpf__destroy};
constexpr const char* kKernelHint =
    "the kernel needs BTF tracepoints (tp_btf, Linux 5.5+) and bpf_get_socket_cookie for tracing "
    "programs (5.12+)";

std::int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

std::uint32_t ring_size(std::uint32_t want) {
  const auto page = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
  std::uint32_t size = page;
  while (size < want && size < (1u << 30))
    size <<= 1;
  return size;
}

constexpr const char* kHiddenNote =
    "TIME_WAIT is not traced: the kernel hides its addresses (needs CAP_SYSLOG, or "
    "kernel.kptr_restrict=0)";

struct TimerHandler {
  std::uint64_t addr = 0; // 0: not found or hidden
  std::string note;       // why TIME_WAIT is not traced
  std::uint64_t us = 0;
};

// tw_timer_handler's address from kallsyms, read in big chunks and only up to the symbol: the
// kernel formats every line it is asked for, which is the whole cost.
TimerHandler find_tw_timer_handler(const core::FsRoot& root) {
  const auto start = std::chrono::steady_clock::now();
  TimerHandler out;
  const std::string path = root.proc_path("kallsyms");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::optional<std::uint64_t> addr;
  if (!fd.valid()) {
    out.note = "TIME_WAIT is not traced: " + path + ": " + std::strerror(errno);
    return out;
  }
  std::string buf;
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk.data(), static_cast<std::size_t>(n));
    const std::size_t last_line = buf.rfind('\n');
    if (last_line == std::string::npos) continue;
    addr = find_kallsyms_text(std::string_view(buf).substr(0, last_line + 1), "tw_timer_handler");
    if (addr) break;
    buf.erase(0, last_line + 1);
  }
  if (!addr)
    out.note = "TIME_WAIT is not traced: tw_timer_handler is not in " + path;
  else if (*addr == 0)
    out.note = kHiddenNote;
  out.addr = addr.value_or(0);
  out.us = micros_since(start);
  return out;
}

// tw_timer_handler's address from the find_tw_timer() program (the kernel's own lookup).
TimerHandler run_find_tw_timer(state_register_bpf* s) {
  const auto start = std::chrono::steady_clock::now();
  TimerHandler out;
  LIBBPF_OPTS(bpf_test_run_opts, run);
  if (bpf_prog_test_run_opts(bpf_program__fd(s->progs.find_tw_timer), &run) != 0)
    out.note = std::string("TIME_WAIT is not traced: symbol lookup: ") + std::strerror(errno);
  else if (const int rc = static_cast<int>(run.retval); rc == -EPERM)
    out.note = kHiddenNote;
  else if (rc != 0)
    out.note = "TIME_WAIT is not traced: tw_timer_handler is not a kernel symbol here";
  else
    out.addr = s->bss->tw_timer_fn;
  out.us = micros_since(start);
  return out;
}

core::Result<void> update_info(int fd, const core::RegisterInfo& info) {
  sr_info rec{};
  rec.abi_version = SR_ABI_VERSION;
  rec.host_pid = static_cast<__u32>(info.host_pid);
  rec.host_start_ticks = info.host_start_ticks;
  rec.started_boot_ns = info.started_boot_ns;
  rec.started_real_ns = static_cast<__u64>(info.started_real_ns);
  rec.max_entries = info.max_entries;
  rec.features = info.time_wait_traced ? SR_FEAT_TIME_WAIT : 0;
  std::uint32_t zero = 0;
  if (bpf_map_update_elem(fd, &zero, &rec, BPF_ANY) != 0)
    return tl::unexpected(bpf_error("state register: write info", errno));
  return {};
}

} // namespace

struct StateRegister::Impl {
  std::optional<Skeleton> skel;
  core::RegisterInfo info;
  RegisterStartReport report;
  ring_buffer* ring = nullptr;
  std::string pinned_dir;
  std::uint64_t malformed = 0;
  const Sink* sink = nullptr;
  RawSink raw;
  int delivered = 0;

  ~Impl() { stop(); }

  void stop() {
    if (ring != nullptr) ring_buffer__free(ring);
    ring = nullptr;
    if (!pinned_dir.empty()) (void)remove_register_pins(pinned_dir);
    pinned_dir.clear();
    skel.reset(); // detaches every program
  }

  static int on_sample(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (self->raw) self->raw(std::span(static_cast<const std::byte*>(data), size));
    auto t = decode_register_event(std::span(static_cast<const std::byte*>(data), size));
    if (!t) {
      ++self->malformed;
      return 0;
    }
    ++self->delivered;
    if (self->sink != nullptr && *self->sink) (*self->sink)(*t);
    return 0;
  }

  core::Result<void> configure(const StateRegisterOptions& o) {
    state_register_bpf* s = skel->get();
    s->rodata->stream_events = o.stream ? 1 : 0;
    // Ages need no more than a jiffy; the stream's durations need the exact clock.
    s->rodata->tick_clock = o.tick_clock && !o.stream ? 1 : 0;
    s->rodata->lazy_entries = o.lazy_entries && !o.stream ? 1 : 0;
    s->rodata->filter_netns = o.filter_netns;
    s->rodata->filter_port = o.filter_port;
    s->rodata->wakeup_bytes = ring_size(o.stream ? o.ring_bytes : 0) / 4;
    int err = bpf_map__set_max_entries(s->maps.sockets, o.max_entries);
    if (err == 0)
      err = bpf_map__set_max_entries(s->maps.events, ring_size(o.stream ? o.ring_bytes : 0));
    if (err == 0 && s->rodata->lazy_entries) // no accepted socket learns its listener's owner
      err = bpf_map__set_max_entries(s->maps.listeners, 1);
    for (bpf_program* p :
         {s->progs.on_timer_start, s->progs.on_timer_cancel, s->progs.on_timer_expire})
      if (err == 0 && !o.time_wait) err = bpf_program__set_autoload(p, false);
    if (err == 0 && (o.stream || !o.tick_clock))
      err = bpf_program__set_autoload(s->progs.calibrate, false);
    // bpf_kallsyms_lookup_name is Linux 5.16+; older kernels read /proc/kallsyms instead.
    if (err == 0 &&
        (!o.time_wait || libbpf_probe_bpf_helper(BPF_PROG_TYPE_SYSCALL,
                                                 BPF_FUNC_kallsyms_lookup_name, nullptr) != 1))
      err = bpf_program__set_autoload(s->progs.find_tw_timer, false);
    if (err != 0) return tl::unexpected(skel->error("configure", -err));
    return {};
  }

  // The socket programs always; the timer ones only once tw_timer_handler is known (they run
  // for every timer of the host, so they are not attached to wait for nothing).
  core::Result<void> attach(std::uint64_t tw_fn) {
    state_register_bpf* s = skel->get();
    s->bss->tw_timer_fn = tw_fn;
    struct Prog {
      bpf_program* prog;
      bpf_link** link;
      bool timer;
    };
    const Prog progs[] = {{s->progs.on_set_state, &s->links.on_set_state, false},
                          {s->progs.on_destroy, &s->links.on_destroy, false},
                          {s->progs.on_timer_start, &s->links.on_timer_start, true},
                          {s->progs.on_timer_cancel, &s->links.on_timer_cancel, true},
                          {s->progs.on_timer_expire, &s->links.on_timer_expire, true}};
    for (const Prog& p : progs) {
      if (p.timer && tw_fn == 0) continue;
      *p.link = bpf_program__attach(p.prog); // the skeleton's destroy detaches it
      if (*p.link == nullptr)
        return tl::unexpected(
            skel->error(std::string("attach ") + bpf_program__name(p.prog), errno));
    }
    return {};
  }

  // The tick clock's zero (see calibrate() in the .bpf.c): samples over several jiffy changes,
  // so that one was taken just after a tick began. Each sample is late by the time since its
  // tick began, and so are entry times by the smallest of them: with two changes a loaded box
  // (this process preempted across both ticks) left entries up to 0.9 ms late; over six, one
  // prompt sample is far likelier (20-24 ms at HZ=250, at most 100 ms). Until it succeeds the
  // programs read the exact clock.
  void calibrate_tick_clock() {
    state_register_bpf* s = skel->get();
    if (!bpf_program__autoload(s->progs.calibrate)) return;
    const int fd = bpf_program__fd(s->progs.calibrate);
    const auto start = std::chrono::steady_clock::now();
    LIBBPF_OPTS(bpf_test_run_opts, run);
    std::optional<__u32> last;
    int changes = 0;
    while (changes < 6 &&
           std::chrono::steady_clock::now() - start < std::chrono::milliseconds(100)) {
      if (bpf_prog_test_run_opts(fd, &run) != 0) return;
      if (last && *last != run.retval) ++changes;
      last = run.retval;
    }
  }

  core::Result<void> pin(const StateRegisterOptions& o);
};

core::Result<void> StateRegister::Impl::pin(const StateRegisterOptions& o) {
  const std::string mount(kBpffsMount);
  if (o.pin_root.rfind(mount + "/", 0) == 0)
    if (auto m = ensure_bpffs(mount); !m) return m;
  if (auto d = make_pin_dir(o.pin_root); !d) return d;
  if (!is_bpffs(o.pin_root))
    return core::fail(core::ErrorCode::Unavailable, o.pin_root + " is not on a bpffs mount");
  const std::string dir = register_pin_dir(o.pin_root);
  auto existing = read_pinned_info(dir);
  if (existing && register_host_alive(*existing, o.root))
    return core::fail("a state register is already hosted by pid " +
                      std::to_string(existing->host_pid) + " at " + dir);
  if (existing || existing.error().code != core::ErrorCode::NotFound) {
    if (auto r = remove_register_pins(dir); !r) return r;
    report.replaced_pin_note =
        existing
            ? "replaced the stale pins of pid " + std::to_string(existing->host_pid) + " (gone)"
            : "replaced unreadable pins (" + existing.error().message + ")";
  }
  state_register_bpf* s = skel->get();
  if (auto r = pin_register(bpf_map__fd(s->maps.sockets), bpf_map__fd(s->maps.counters),
                            bpf_map__fd(s->maps.info), dir, o.pin_mode);
      !r)
    return r;
  pinned_dir = dir;
  report.pin_dir = dir;
  return {};
}

core::Result<StateRegister> StateRegister::start(const StateRegisterOptions& o) {
  if (auto usable = bpf_usable(); !usable) return tl::unexpected(usable.error());
  if (o.max_entries == 0) return core::fail(core::ErrorCode::Usage, "register size must be > 0");
  auto impl = std::make_unique<Impl>();

  const auto load_start = std::chrono::steady_clock::now();
  auto skel = Skeleton::open(kOps, "state register", kKernelHint);
  if (!skel) return tl::unexpected(skel.error());
  impl->skel.emplace(std::move(*skel));
  if (auto c = impl->configure(o); !c) return tl::unexpected(c.error());
  state_register_bpf* s = impl->skel->get();
  std::future<TimerHandler> handler; // /proc/kallsyms, read while the programs load
  if (o.time_wait && !bpf_program__autoload(s->progs.find_tw_timer))
    handler = std::async(std::launch::async, find_tw_timer_handler, o.root);
  if (auto l = impl->skel->load(); !l) return tl::unexpected(l.error());
  impl->calibrate_tick_clock();
  TimerHandler tw;
  if (handler.valid())
    tw = handler.get();
  else if (o.time_wait)
    tw = run_find_tw_timer(s);
  else
    tw.note = "TIME_WAIT is not traced (turned off)";
  impl->report.time_wait_note = tw.note;
  impl->report.kallsyms_us = tw.us;
  if (auto a = impl->attach(tw.addr); !a) return tl::unexpected(a.error());
  impl->report.load_us = micros_since(load_start);
  const std::uint64_t tw_fn = tw.addr;

  core::RegisterInfo& info = impl->info;
  info.host_pid = ::getpid();
  auto stat = read_file(o.root.proc_path("self/stat"));
  if (stat) info.host_start_ticks = parse_stat_starttime(*stat).value_or(0);
  info.started_boot_ns = static_cast<std::uint64_t>(clock_ns(CLOCK_BOOTTIME));
  info.started_real_ns = clock_ns(CLOCK_REALTIME);
  info.max_entries = o.max_entries;
  info.time_wait_traced = tw_fn != 0;
  if (auto u = update_info(bpf_map__fd((*impl->skel)->maps.info), info); !u)
    return tl::unexpected(u.error());

  if (o.stream) {
    impl->ring = ring_buffer__new(bpf_map__fd((*impl->skel)->maps.events), &Impl::on_sample,
                                  impl.get(), nullptr);
    if (impl->ring == nullptr)
      return tl::unexpected(bpf_error("state register: ring buffer", errno));
  }
  if (o.pin)
    if (auto p = impl->pin(o); !p)
      return tl::unexpected(core::with_context("state register: pin", p.error()));
  return StateRegister(std::move(impl));
}

core::Result<int> StateRegister::poll(int timeout_ms, const Sink& sink) {
  if (impl_ == nullptr || impl_->ring == nullptr)
    return core::fail(core::ErrorCode::Usage, "state register: not streaming");
  impl_->sink = &sink;
  impl_->delivered = 0;
  int rc = ring_buffer__poll(impl_->ring, timeout_ms);
  // The programs wake us only for a quarter-full ring: what came without a wakeup is read here.
  if (rc >= 0 || rc == -EINTR) {
    const int more = ring_buffer__consume(impl_->ring);
    if (more < 0 && rc >= 0) rc = more;
  }
  impl_->sink = nullptr;
  if (rc == -EINTR) return impl_->delivered;
  if (rc < 0) return tl::unexpected(bpf_error("state register: poll", -rc));
  return impl_->delivered;
}

core::Result<core::RegisterCounters> StateRegister::counters() const {
  return read_register_counters(bpf_map__fd((*impl_->skel)->maps.counters));
}

core::Result<std::uint64_t> StateRegister::count_entries() const {
  return count_register_entries(bpf_map__fd((*impl_->skel)->maps.sockets));
}

core::Result<RegisterReader> StateRegister::reader() const {
  state_register_bpf* s = impl_->skel->get();
  UniqueFd sockets(::fcntl(bpf_map__fd(s->maps.sockets), F_DUPFD_CLOEXEC, 0));
  UniqueFd counters(::fcntl(bpf_map__fd(s->maps.counters), F_DUPFD_CLOEXEC, 0));
  if (!sockets.valid() || !counters.valid())
    return core::fail("state register: dup map fd: " + std::string(std::strerror(errno)), errno);
  return RegisterReader(std::move(sockets), std::move(counters), impl_->info);
}

void StateRegister::stop() {
  if (impl_ != nullptr) impl_->stop();
}

#else // !SOCKDOCTOR_HAVE_BPF

struct StateRegister::Impl {
  core::RegisterInfo info;
  RegisterStartReport report;
  std::uint64_t malformed = 0;
  void stop() {}
};

core::Result<StateRegister> StateRegister::start(const StateRegisterOptions&) {
  return tl::unexpected(bpf_probe().why_not);
}

core::Result<int> StateRegister::poll(int, const Sink&) {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<core::RegisterCounters> StateRegister::counters() const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<std::uint64_t> StateRegister::count_entries() const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

core::Result<RegisterReader> StateRegister::reader() const {
  return core::fail(core::ErrorCode::Unavailable, "state register: built without eBPF");
}

void StateRegister::stop() {}

#endif

StateRegister::StateRegister(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateRegister::StateRegister(StateRegister&&) noexcept = default;
StateRegister::~StateRegister() = default;

const core::RegisterInfo& StateRegister::info() const {
  return impl_->info;
}

const RegisterStartReport& StateRegister::report() const {
  return impl_->report;
}

std::uint64_t StateRegister::malformed_events() const {
  return impl_->malformed;
}

void StateRegister::set_raw_sink(RawSink raw) {
#ifdef SOCKDOCTOR_HAVE_BPF
  impl_->raw = std::move(raw);
#else
  (void)raw;
#endif
}

} // namespace sockdoctor::collect
