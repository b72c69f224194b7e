// Audit destinations of `sockdoctor kill`: syslog(3) and an append-only file.
#include "kill/audit.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "collect/netns.hpp"

namespace sockdoctor::kill {
namespace {

// syslog(3) drops messages silently when nothing listens on /dev/log: look first.
bool syslog_socket_present() {
  struct stat st {};
  return ::stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
}

std::string own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0')
    raw.pop_back();
  for (auto& c : raw)
    if (c == '\0') c = ' ';
  return raw;
}

} // namespace

core::Result<KillAudit> KillAudit::open(const std::string& file_path) {
  int fd = -1;
  if (!file_path.empty()) {
    fd = ::open(file_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return core::fail("--audit-file " + file_path + ": " + std::strerror(errno), errno);
  }
  const bool syslog = syslog_socket_present();
  if (!syslog && fd < 0)
    return core::fail("no syslog socket (/dev/log) to audit to: give --audit-file PATH; kill "
                      "never acts without an audit trail");
  if (syslog) ::openlog("sockdoctor", LOG_PID, LOG_AUTHPRIV);
  return KillAudit(fd, syslog);
}

KillAudit::KillAudit(KillAudit&& other) noexcept : fd_(other.fd_), syslog_(other.syslog_) {
  other.fd_ = -1;
  other.syslog_ = false;
}

KillAudit::~KillAudit() {
  if (fd_ >= 0) ::close(fd_);
  if (syslog_) ::closelog();
}

core::Result<void> KillAudit::record(const std::string& line) {
  if (syslog_) ::syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line.c_str());
  if (fd_ < 0) return {};
  const std::string text = line + "\n";
  // One write() per line: with O_APPEND, concurrent writers never interleave inside it.
  const ssize_t n = ::write(fd_, text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size()))
    return core::fail(std::string("audit file: ") + (n < 0 ? std::strerror(errno) : "short write"),
                      n < 0 ? errno : EIO);
  return {};
}

render::AuditActor current_actor() {
  render::AuditActor a;
  a.uid = ::getuid();
  a.pid = ::getpid();
  if (const passwd* pw = ::getpwuid(a.uid)) a.user = pw->pw_name;
  char login[256];
  if (::getlogin_r(login, sizeof login) == 0) a.login = login;
  a.command = own_command_line();
  a.own_netns = collect::current_netns_inode(core::FsRoot{});
  return a;
}

} // namespace sockdoctor::kill
