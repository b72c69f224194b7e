// The audit trail of `sockdoctor kill --yes`: one line per socket to syslog (LOG_AUTHPRIV, which
// the journal keeps) and, with --audit-file, appended to a file created 0600.
#pragma once

#include <string>

#include "core/error.hpp"
#include "render/kill_report.hpp"

namespace sockdoctor::kill {

class KillAudit {
public:
  // Opens the file (O_APPEND | O_CREAT, mode 0600, O_NOFOLLOW) when a path is given, and syslog.
  // Fails when the file cannot be opened, or when there is no audit destination at all (no
  // syslog socket and no file): kill never acts unaudited.
  static core::Result<KillAudit> open(const std::string& file_path);
  KillAudit(KillAudit&& other) noexcept;
  KillAudit& operator=(KillAudit&&) = delete;
  ~KillAudit();

  // One line to each destination; a failed file write is returned (the caller stops acting).
  core::Result<void> record(const std::string& line);
  bool syslog_available() const { return syslog_; }

private:
  KillAudit(int fd, bool syslog) : fd_(fd), syslog_(syslog) {}
  int fd_ = -1;
  bool syslog_ = false;
};

// Who runs this process: uid, user name, login name (getlogin), pid, command line.
render::AuditActor current_actor();

} // namespace sockdoctor::kill
