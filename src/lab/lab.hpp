// `sockdoctor lab`: scenarios that recreate stuck sockets in a private network namespace on
// loopback and show sockdoctor diagnosing them live. Shared model, process control and helpers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analyze/findings.hpp"
#include "core/address.hpp"
#include "core/error.hpp"
#include "core/kernel_settings.hpp"
#include "core/socket.hpp"
#include "lab/run.hpp"

namespace sockdoctor::lab {

// ---------------------------------------------------------------------------------------------
// Result model: everything a run shows, rendered live as text or at the end as one JSON document.

struct Event {
  std::string kind; // stable snake_case: "client_close_wait", "eaddrnotavail", "prediction", ...
  std::string text; // for people
};

// One line of the timeline. States are snake_case TCP states, "gone" (not in sock_diag any more),
// "close" (unhashed by the kernel, the fd still open) or "none" (not created yet).
struct TimelineEntry {
  double t = 0;      // seconds since the scenario started
  std::string clock; // local time, HH:MM:SS
  std::vector<std::pair<std::string, std::string>> states;
  std::vector<std::pair<std::string, std::int64_t>> counts;
  std::vector<Event> events;
};

struct End {
  std::string key;         // "client", "server": the key in TimelineEntry::states
  std::string label;       // column title
  std::string description; // "127.0.0.1:40000 -> 127.0.0.1:80, pid 12 (lab-client)"
};

struct LabProcess {
  std::string role; // "client", "server", ...
  pid_t pid = 0;
  std::string comm;
};

// An expectation from research/kernel-facts.md, checked against what this kernel did.
struct Check {
  std::string id;
  std::string expectation;
  std::string observed;
  bool ok = false;
};

struct LabDiagnosis {
  double t = 0;
  std::string clock;
  std::string label;
  analyze::Diagnosis diagnosis;
};

// Where the claims a lesson corrects come from (research/kernel-facts.md checks both articles).
inline constexpr std::string_view kTheArticle = "the article this lab reproduces";
inline constexpr std::string_view kTheGuide = "a popular CLOSE_WAIT/TIME_WAIT guide";

struct LessonPoint {
  std::string text;
  std::string claim;        // non-empty: the point corrects this claim
  std::string claim_source; // kTheArticle, kTheGuide
};

struct Result {
  std::string scenario;
  std::string title;
  bool fast = false;
  std::string server;        // close-wait: "nginx" or "builtin"; else empty
  std::string server_detail; // "nginx/1.22.1 (/usr/sbin/nginx)"
  std::vector<std::pair<std::string, std::string>> sysctls; // set inside the namespace
  std::vector<std::string> setup;                           // what the scenario built, for people
  std::vector<LabProcess> processes;
  std::vector<End> ends;
  std::vector<std::string> count_keys; // TimelineEntry::counts keys, in column order
  std::vector<TimelineEntry> timeline;
  std::vector<LabDiagnosis> diagnoses;
  std::vector<Check> checks;
  std::vector<LessonPoint> lesson;
  std::string kernel_release;
  std::uint64_t netns_inode = 0; // the lab's namespace (tests check no process is left in it)
  double duration_seconds = 0;
  std::string error; // set when the scenario could not complete

  bool passed() const;
};

// ---------------------------------------------------------------------------------------------
// Scenarios (Options: lab/run.hpp).

// Everything a scenario needs; `rec` records and (in text mode) prints as it goes.
class Recorder;
struct Env {
  const Options& opt;
  Recorder& rec;
};

struct ScenarioInfo {
  std::string_view name;
  std::string_view summary;     // one line
  std::string_view description; // a paragraph for --list
  std::string_view duration;    // "about 35 s (--fast: 10 s)"
  core::Result<void> (*run)(Env&);
};
const std::vector<ScenarioInfo>& scenarios();

core::Result<void> run_close_wait(Env& env); // lab_close_wait.cpp
core::Result<void> run_keepalive(Env& env);  // lab_keepalive.cpp
core::Result<void> run_time_wait(Env& env);  // lab_time_wait.cpp
core::Result<void> run_fin_wait2(Env& env);  // lab_fin_wait.cpp
core::Result<void> run_kill(Env& env);       // kill.cpp

// ---------------------------------------------------------------------------------------------
// Namespace, sysctls, signals (lab_netns.cpp).

// Moves this process (and every child it starts later) into a new, anonymous network namespace
// with lo up. The namespace disappears with the last process in it, so no exit path leaves it
// behind. Fails with EPERM when not privileged.
core::Result<void> enter_private_netns();
// Writes /proc/sys/<name with dots as slashes> in the current network namespace.
core::Result<void> write_sysctl(std::string_view name, std::string_view value);

// SIGINT/SIGTERM/SIGHUP set a stop flag that every wait checks; the handlers are restored when
// the guard goes out of scope. A second signal gets the default action, and the children die
// with us (PR_SET_PDEATHSIG).
class SignalGuard {
public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
};
int stop_signal(); // 0 while no stop was requested
// The error every wait returns once a stop was requested (sys_errno EINTR).
core::Error interrupted_error();
bool is_interrupted(const core::Error& e);
// Sleeps in short slices; fails as soon as a stop is requested.
core::Result<void> sleep_for(double seconds);

// ---------------------------------------------------------------------------------------------
// Child processes (lab_netns.cpp). Each is killed by PID and reaped when its handle goes away.

// A line-oriented channel over one end of a socketpair (parent <-> child).
class LineChannel {
public:
  LineChannel() = default;
  explicit LineChannel(int fd) : fd_(fd) {}
  LineChannel(LineChannel&& o) noexcept;
  LineChannel& operator=(LineChannel&& o) noexcept;
  ~LineChannel();

  int fd() const { return fd_; }
  // Next line without '\n'; nullopt at EOF (the other side is gone). Fails on timeout or stop.
  core::Result<std::optional<std::string>> read_line(double timeout_seconds);
  // Reads what is available without blocking; returns false at EOF.
  bool pump();
  // A complete line already buffered, if any.
  std::optional<std::string> take_line();
  core::Result<void> write_line(std::string_view line);

private:
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

class Child {
public:
  using Body = std::function<int(LineChannel&)>;
  // fork()s a child named `comm` (PR_SET_NAME) that runs body with its end of the channel and
  // exits with its return value. The child dies with this process (PR_SET_PDEATHSIG).
  static core::Result<Child> fork_run(std::string role, std::string comm, Body body);
  // fork()s and execs argv[0] with stdin from /dev/null and stdout+stderr appended to log_path.
  static core::Result<Child>
  exec(std::string role, std::vector<std::string> argv, const std::string& log_path);

  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  ~Child(); // SIGKILL + waitpid

  pid_t pid() const { return pid_; }
  const std::string& role() const { return role_; }
  LineChannel& channel() { return chan_; }
  // Reads lines until one starts with `prefix` and returns it; fails on timeout, EOF or stop.
  core::Result<std::string> expect(std::string_view prefix, double timeout_seconds);
  // True while the process has not exited (reaps it if it has; then *status is its wait status).
  bool alive(int* status = nullptr);
  // Waits for the process to exit by itself, at most timeout; returns its wait status.
  core::Result<int> wait_exit(double timeout_seconds);
  void kill_now(); // SIGKILL + waitpid now

private:
  pid_t pid_ = 0;
  std::string role_;
  LineChannel chan_;
  bool reaped_ = false;
};

// ---------------------------------------------------------------------------------------------
// Sockets and HTTP (lab_http.cpp).

inline constexpr std::uint16_t kServerPort = 80; // the article's nginx port; free in our netns

core::Endpoint loopback(std::uint16_t port);
// A listening TCP socket on 127.0.0.1:port (SO_REUSEADDR), or an error with context.
core::Result<int> listen_loopback(std::uint16_t port, int backlog);
// A connected TCP socket to 127.0.0.1:port; *local_port gets the chosen ephemeral port.
core::Result<int> connect_loopback(std::uint16_t port, std::uint16_t* local_port);
// A child's opening: one connection to 127.0.0.1:port per slot of `fds`, then "connected P1 P2
// ..." (the local ports) on `io`; false after writing "error ..." if one fails.
bool connect_and_report(LineChannel& io, std::uint16_t port, std::span<int> fds);

// A steady_clock reading as text, and back: children stamp their reports with it (CLOCK_MONOTONIC
// is the same clock in every process).
std::string mono_stamp();
std::optional<std::chrono::steady_clock::time_point> parse_mono_stamp(std::string_view text);

// The request the article's Java client sent (with the missing CRLF after Accept-Language fixed).
std::string article_request();
// Splits "HTTP/1.1 200 OK\r\n...Content-Length: 17\r\n\r\nbody" once the header is complete:
// the status line and the body length; nullopt while the header is incomplete or malformed.
struct ResponseHead {
  std::string status_line;
  std::size_t header_bytes = 0;
  std::size_t content_length = 0;
};
std::optional<ResponseHead> parse_response_head(std::string_view data);

// Child bodies.
// Reports "connected PORT", "response STAMP STATUS-LINE (N bytes)", "eof STAMP"; never closes.
int http_client_body(LineChannel& io, std::uint16_t port);
int builtin_http_server_body(LineChannel& io, std::uint16_t port, int keepalive_timeout);

// nginx with a private configuration (daemon off, master_process off, everything in `prefix`).
struct NginxConfig {
  std::string prefix; // a private temp dir: pid, logs and temp paths live here
  std::uint16_t port = kServerPort;
  int keepalive_timeout = 10;
};
std::string nginx_config_text(const NginxConfig& c);
// nginx on PATH, else /usr/sbin/nginx if it exists; nullopt if neither.
std::optional<std::string> find_nginx(const char* path_env);
// "nginx version: nginx/1.22.1" -> "nginx/1.22.1"; empty if not recognised.
std::string parse_nginx_version(std::string_view text);

// A private temp directory, removed with everything in it when the handle goes away.
class TempDir {
public:
  static core::Result<TempDir> create(std::string_view tag);
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Observation and recording (lab_timeline.cpp).

struct Tuple {
  core::Endpoint local;
  core::Endpoint peer;
  Tuple reversed() const { return {peer, local}; }
};

// One sock_diag dump of the lab's namespace.
class Observer {
public:
  core::Result<void> refresh();
  const core::TcpSocket* find(const Tuple& t) const;
  // "established", "fin_wait2", ... or "gone" when the 4-tuple is not in the dump.
  std::string state_of(const Tuple& t) const;
  const std::vector<core::TcpSocket>& sockets() const { return sockets_; }

private:
  std::vector<core::TcpSocket> sockets_;
};

// Upper-case netstat spelling for the text timeline: "fin_wait2" -> "FIN_WAIT2"; "gone" -> "-".
std::string display_state(std::string_view state);
// "HH:MM:SS" of a wall-clock time, local time zone.
std::string clock_text(std::chrono::system_clock::time_point t);
// Word-wraps text to width columns; continuation lines start with indent spaces.
std::string wrap_text(std::string_view text,
                      std::size_t width,
                      std::size_t indent,
                      std::size_t first_column = 0);
// One timeline row as text, columns of the given widths (escaped: states are ours, events may
// quote process names).
std::string format_timeline_row(const TimelineEntry& e, const std::vector<std::size_t>& widths);

class Recorder {
public:
  // live: where text is printed as the run goes (nullptr in JSON mode).
  Recorder(Result& result, std::ostream* live, bool color);

  Result& result() { return r_; }
  double elapsed() const;
  // Seconds from the start to a steady_clock reading (children report such readings).
  double at(std::chrono::steady_clock::time_point t) const;
  void start_clock();
  // Text mode: prints the header (setup, ends, column titles) once the ends are known.
  void begin_timeline();
  // Appends an entry stamped now and prints it.
  void add(std::vector<std::pair<std::string, std::string>> states,
           std::vector<std::pair<std::string, std::int64_t>> counts,
           std::vector<Event> events);
  // at: when its snapshot was taken (seconds since the start); default now.
  void diagnosis(std::string label, analyze::Diagnosis d, double at = -1);
  void note(std::string_view text); // a line of commentary between timeline rows
  void check(std::string id, std::string expectation, std::string observed, bool ok);
  void lesson(std::string text, std::string claim = {}, std::string_view source = kTheArticle);
  // Text mode: checks and lesson at the end. JSON mode: the whole document.
  void finish(std::ostream& out);

private:
  std::vector<std::size_t> widths() const;
  Result& r_;
  std::ostream* live_;
  bool color_;
  std::chrono::steady_clock::time_point t0_;
};

// Records a timeline entry when the states change, when there are events, or once a second.
class Ticker {
public:
  explicit Ticker(Recorder& rec, double period = 1.0) : rec_(rec), period_(period) {}
  void offer(std::vector<std::pair<std::string, std::string>> states,
             std::vector<std::pair<std::string, std::int64_t>> counts,
             std::vector<Event> events = {});
  // The states of the last offer, by key ("" if unknown).
  std::string last(std::string_view key) const;

private:
  Recorder& rec_;
  double period_;
  double last_t_ = -1e9;
  std::vector<std::pair<std::string, std::string>> last_states_;
  std::vector<std::pair<std::string, std::int64_t>> last_counts_;
};

// When a change happened, as far as sampling can tell: after `before`, by `after` (seconds since
// the start). A slow sample (a loaded host) widens the interval instead of skewing a check.
struct Change {
  double before = -1; // the last sample that did not show it yet
  double after = -1;  // the first sample that showed it
  bool seen() const { return after >= 0; }
  void sample(double t, bool happened);
  // Seconds since origin: "4.1 s", or "4.0-7.7 s" when the samples were far apart.
  std::string since(double origin) const;
  // Whether it can have happened within [origin + want - below, origin + want + above].
  bool within(double origin, double want, double below, double above) const;
};

// Snapshot of the lab's namespace (owners included), its kernel settings, and sockdoctor's
// diagnosis with --min-age 1.
struct Diagnosed {
  analyze::Diagnosis diagnosis;
  core::KernelSettings kernel;
};
core::Result<Diagnosed> diagnose_namespace(bool owners = true);
// A diagnosis taken on a worker thread (same namespace), so that a slow owner scan on a busy host
// does not stall the per-second timeline; poll() records it once it is ready.
class PendingDiagnosis {
public:
  void start(std::string label, double now);
  // Records the diagnosis when ready; true once recorded. Fails if the diagnosis failed.
  core::Result<bool> poll(Recorder& rec);
  bool started() const { return started_; }

private:
  std::future<core::Result<Diagnosed>> future_;
  std::string label_;
  double at_ = 0;
  bool started_ = false, done_ = false;
};
core::Result<core::KernelSettings> namespace_settings();
// The first finding with this id (and, if pid != 0, naming this process).
const analyze::Finding*
find_finding(const analyze::Diagnosis& d, std::string_view id, pid_t pid = 0);

// "12.3 s"
std::string seconds_text(double s);

} // namespace sockdoctor::lab
