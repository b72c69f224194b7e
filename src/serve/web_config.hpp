// The exporter-toolkit web configuration (--web.config.file), as every official exporter reads
// it: tls_server_config (cert_file, key_file) and basic_auth_users (bcrypt hashes).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace sockdoctor::serve {

struct WebConfig {
  std::string cert_file; // "" = plain HTTP
  std::string key_file;
  std::map<std::string, std::string> users; // name -> bcrypt hash ($2a$, $2b$, $2y$)

  bool tls() const { return !cert_file.empty(); }
};

// Parses the YAML text; relative file names are relative to `base_dir` (the file's directory).
// Keys this exporter does not implement are errors, never silently ignored: a config that asks
// for client certificates must not run without them.
core::Result<WebConfig> parse_web_config(std::string_view yaml, const std::string& base_dir);
core::Result<WebConfig> load_web_config(const std::string& path);

// Checks "Authorization: Basic ..." headers against the bcrypt hashes. bcrypt is slow on purpose
// (tens of ms): a verified (user, password) pair is remembered by its SHA-256, like
// exporter-toolkit's cache, so a scraper pays the cost once.
class BasicAuth {
public:
  explicit BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {}

  bool enabled() const { return !users_.empty(); }
  bool allows(std::string_view authorization_header);
  // bcrypt evaluations so far: an unknown user costs one as well (see allows()).
  std::size_t bcrypt_runs() const { return bcrypt_runs_.load(); }

private:
  bool bcrypt_checks(const std::string& password, const std::string& hash);

  std::map<std::string, std::string> users_;
  std::atomic<std::size_t> bcrypt_runs_{0};
  std::mutex mutex_;
  std::set<std::string> verified_; // sha256(user + '\0' + password)
};

} // namespace sockdoctor::serve
