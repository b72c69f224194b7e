// Hosting the state register: find tw_timer_handler, load and attach, pin, stream transitions.
#include "collect/state_register.hpp"

#include "collect/fs_read.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "collect/bpf_runtime.hpp"
#include "collect/kernel_config.hpp"
#include "collect/state_register_decode.hpp"
#include "collect/state_register_pins.hpp"

#ifdef SOCKDOCTOR_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collect/bpf/state_register.h"
#include "collect/bpf/state_register_loader.h"
#endif

namespace sockdoctor::collect {

#ifdef SOCKDOCTOR_HAVE_BPF

namespace {

constexpr const char* kKernelHint =
    "the kernel needs BTF tracepoints, bpf_get_socket_cookie for tracing programs, "
    "bpf_kallsyms_lookup_name and CO-RE relocations done by the kernel (light skeleton): "
    "Linux 5.17+";

// The light skeleton (collect/bpf/state_register_loader.h): destroy detaches every program.
struct LoaderDeleter {
  void operator()(sr_loader* l) const { sr_loader_destroy(l); }
};
using Loader = std::unique_ptr<sr_loader, LoaderDeleter>;

core::Error loader_error(std::string_view step, int err) {
  return bpf_error("state register: " + std::string(step), err, kKernelHint);
}

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

// tw_timer_handler's address from the find_tw_timer() program (the kernel's own lookup).
TimerHandler run_find_tw_timer(sr_loader* s) {
  const auto start = std::chrono::steady_clock::now();
  TimerHandler out;
  LIBBPF_OPTS(bpf_test_run_opts, run);
  if (bpf_prog_test_run_opts(sr_loader_prog_fd(s, SR_PROG_FIND_TW_TIMER), &run) != 0)
    out.note = std::string("TIME_WAIT is not traced: symbol lookup: ") + std::strerror(errno);
  else if (const int rc = static_cast<int>(run.retval); rc == -EPERM)
    out.note = kHiddenNote;
  else if (rc != 0)
    out.note = "TIME_WAIT is not traced: tw_timer_handler is not a kernel symbol here";
  else
    out.addr = sr_loader_tw_timer_fn(s);
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
  Loader skel;
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

  // .rodata, .kconfig and map sizes, then the load. A light skeleton loads every program; the
  // timer ones are attached only if wanted, the syscall ones run only if needed.
  core::Result<void> load(const StateRegisterOptions& o) {
    sr_loader_config c{};
    c.stream_events = o.stream ? 1 : 0;
    // Ages need no more than a jiffy; the stream's durations need the exact clock.
    c.tick_clock = o.tick_clock && !o.stream ? 1 : 0;
    c.lazy_entries = o.lazy_entries && !o.stream ? 1 : 0;
    // The register alone needs no timer program (see tw_from_close in the .bpf.c).
    c.tw_from_close = c.lazy_entries && o.time_wait ? 1 : 0;
    tw_from_close = c.tw_from_close != 0;
    c.filter_netns = o.filter_netns;
    c.filter_port = o.filter_port;
    c.wakeup_bytes = ring_size(o.stream ? o.ring_bytes : 0) / 4;
    c.set_bits = register_set_bits(o.max_entries);
    c.sockets_sets = 1u << c.set_bits;
    capacity = SR_WAYS * c.sockets_sets;
    c.events_bytes = ring_size(o.stream ? o.ring_bytes : 0);
    c.listeners_entries = c.lazy_entries ? 1 : 0; // lazy: no child learns its listener's owner
    c.fw2_entries = c.tw_from_close ? 1 : 0;      // only the timer programs watch mini-sockets
    // CONFIG_HZ for the tick clock: a light skeleton holds the build machine's value.
    c.config_hz = read_kernel_build_config(o.root, nullptr).hz.value_or(0);
    tick_clock = c.tick_clock != 0 && c.config_hz > 0;
    const char* step = nullptr;
    // bpf_runtime collects the verifier's log and maps the loader's EINVAL to a missing capability.
    const int err = load_light_skeleton([&](char* log, std::uint32_t size) {
      c.log_buf = log;
      c.log_size = size;
      return sr_loader_load(skel.get(), &c, &step);
    });
    if (err != 0)
      return tl::unexpected(loader_error(std::string("load: ") + (step ? step : "?"), err));
    return {};
  }

  // The socket programs always; the timer ones only once tw_timer_handler is known (they run
  // for every timer of the host, so they are not attached to wait for nothing).
  core::Result<void> attach(std::uint64_t tw_fn) {
    sr_loader_set_tw_timer_fn(skel.get(), tw_fn);
    struct Prog {
      sr_loader_prog prog;
      const char* name;
      bool timer;
    };
    const Prog progs[] = {{SR_PROG_SET_STATE, "on_set_state", false},
                          {SR_PROG_DESTROY, "on_destroy", false},
                          {SR_PROG_TIMER_START, "on_timer_start", true},
                          {SR_PROG_TIMER_CANCEL, "on_timer_cancel", true},
                          {SR_PROG_TIMER_EXPIRE, "on_timer_expire", true}};
    for (const Prog& p : progs) {
      if (p.timer && tw_fn == 0) continue;
      if (tw_from_close && p.prog != SR_PROG_SET_STATE) continue;
      if (const int err = sr_loader_attach(skel.get(), p.prog); err != 0) // destroy detaches
        return tl::unexpected(loader_error(std::string("attach ") + p.name, -err));
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
    if (!tick_clock) return;
    const int fd = sr_loader_prog_fd(skel.get(), SR_PROG_CALIBRATE);
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

  int map_fd(sr_loader_map m) const { return sr_loader_map_fd(skel.get(), m); }

  bool tick_clock = false;    // the programs use the tick clock once calibrated
  bool tw_from_close = false; // only on_set_state is attached
  std::uint32_t capacity = 0; // entries the table holds: --entries rounded up to whole sets
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
  if (auto r = pin_register(map_fd(SR_MAP_SOCKETS), map_fd(SR_MAP_COUNTERS), map_fd(SR_MAP_INFO),
                            dir, o.pin_mode);
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
  errno = 0;
  impl->skel.reset(sr_loader_open());
  if (impl->skel == nullptr) return tl::unexpected(loader_error("open", errno ? errno : ENOMEM));
  if (auto l = impl->load(o); !l) return tl::unexpected(l.error());
  impl->calibrate_tick_clock();
  TimerHandler tw;
  if (!o.time_wait)
    tw.note = "TIME_WAIT is not traced (turned off)";
  else if (!impl->tw_from_close) // TIME_WAIT from ->CLOSE needs no timer program, no symbol
    tw = run_find_tw_timer(impl->skel.get()); // same rule as /proc/kallsyms, without its cost
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
  info.max_entries = impl->capacity;
  info.time_wait_traced = tw_fn != 0 || impl->tw_from_close; // tw_from_close implies time_wait
  if (auto u = update_info(impl->map_fd(SR_MAP_INFO), info); !u) return tl::unexpected(u.error());

  if (o.stream) {
    impl->ring =
        ring_buffer__new(impl->map_fd(SR_MAP_EVENTS), &Impl::on_sample, impl.get(), nullptr);
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
  auto c = read_register_counters(impl_->map_fd(SR_MAP_COUNTERS));
  if (!c) return c;
  for (const sr_loader_prog p : {SR_PROG_SET_STATE, SR_PROG_DESTROY, SR_PROG_TIMER_START,
                                 SR_PROG_TIMER_CANCEL, SR_PROG_TIMER_EXPIRE}) {
    bpf_prog_info prog{};
    __u32 len = sizeof(prog);
    if (bpf_obj_get_info_by_fd(sr_loader_prog_fd(impl_->skel.get(), p), &prog, &len) == 0)
      c->skipped_runs += prog.recursion_misses;
  }
  return c;
}

core::Result<std::uint64_t> StateRegister::count_entries() const {
  return count_register_entries(impl_->map_fd(SR_MAP_SOCKETS));
}

core::Result<RegisterReader> StateRegister::reader() const {
  auto table =
      RegisterTable::open(UniqueFd(::fcntl(impl_->map_fd(SR_MAP_SOCKETS), F_DUPFD_CLOEXEC, 0)));
  if (!table) return tl::unexpected(table.error());
  UniqueFd counters(::fcntl(impl_->map_fd(SR_MAP_COUNTERS), F_DUPFD_CLOEXEC, 0));
  if (!counters.valid())
    return core::fail("state register: dup map fd: " + std::string(std::strerror(errno)), errno);
  return RegisterReader(std::move(*table), std::move(counters), impl_->info);
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
