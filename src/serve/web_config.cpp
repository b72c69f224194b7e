// exporter-toolkit web configuration: YAML with yaml-cpp, bcrypt with libcrypt, base64 and
// SHA-256 with OpenSSL.
#include "serve/web_config.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

namespace sockdoctor::serve {
namespace {

using core::ErrorCode;

std::string resolve(const std::string& base, const std::string& file) {
  if (file.empty() || file.front() == '/' || base.empty()) return file;
  return base + "/" + file;
}

core::Result<void> only_keys(const YAML::Node& map,
                             std::initializer_list<std::string_view> known,
                             std::string_view where) {
  if (!map.IsMap()) return core::fail(ErrorCode::Malformed, std::string(where) + ": not a map");
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    bool ok = false;
    for (auto k : known)
      ok = ok || key == k;
    if (!ok)
      return core::fail(ErrorCode::Unavailable,
                        std::string(where) + ": " + key + " is not supported by sockdoctor serve");
  }
  return {};
}

core::Result<WebConfig> parse(const YAML::Node& root, const std::string& base) {
  WebConfig c;
  if (root.IsNull()) return c;
  if (auto ok = only_keys(root, {"tls_server_config", "basic_auth_users"}, "web config"); !ok)
    return tl::unexpected(ok.error());
  if (const auto tls = root["tls_server_config"]; tls && !tls.IsNull()) {
    if (auto ok = only_keys(tls, {"cert_file", "key_file"}, "tls_server_config"); !ok)
      return tl::unexpected(ok.error());
    c.cert_file = resolve(base, tls["cert_file"] ? tls["cert_file"].as<std::string>() : "");
    c.key_file = resolve(base, tls["key_file"] ? tls["key_file"].as<std::string>() : "");
    if (c.cert_file.empty() || c.key_file.empty())
      return core::fail(ErrorCode::Malformed,
                        "tls_server_config: both cert_file and key_file are required");
  }
  if (const auto users = root["basic_auth_users"]; users && !users.IsNull()) {
    if (!users.IsMap()) return core::fail(ErrorCode::Malformed, "basic_auth_users: not a map");
    for (const auto& kv : users) {
      auto hash = kv.second.as<std::string>();
      if (hash.rfind("$2a$", 0) != 0 && hash.rfind("$2b$", 0) != 0 && hash.rfind("$2y$", 0) != 0)
        return core::fail(ErrorCode::Malformed, "basic_auth_users: the hash of " +
                                                    kv.first.as<std::string>() +
                                                    " is not bcrypt ($2a$, $2b$ or $2y$)");
      c.users[kv.first.as<std::string>()] = std::move(hash);
    }
  }
  return c;
}

std::string sha256(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  ::SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// Standard base64 with padding; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = ::EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  for (std::size_t i = in.size(); i > 0 && in[i - 1] == '=' && len > 0; --i)
    --len; // EVP_DecodeBlock counts the padding as zero bytes
  out.resize(len);
  return out;
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>(); // about 32 KiB: not on a worker's stack
  const char* got = ::crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  if (got == nullptr || got[0] == '*') return false;
  const std::string_view g(got);
  return g.size() == hash.size() && CRYPTO_memcmp(g.data(), hash.data(), g.size()) == 0;
}

} // namespace

core::Result<WebConfig> parse_web_config(std::string_view yaml, const std::string& base_dir) {
  try {
    return parse(YAML::Load(std::string(yaml)), base_dir);
  } catch (const YAML::Exception& e) {
    return core::fail(ErrorCode::Malformed, std::string("web config: ") + e.what());
  }
}

core::Result<WebConfig> load_web_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) return core::fail(ErrorCode::NotFound, path + ": cannot be read", errno);
  std::stringstream ss;
  ss << f.rdbuf();
  const auto slash = path.rfind('/');
  auto c = parse_web_config(ss.str(), slash == std::string::npos ? "." : path.substr(0, slash));
  if (!c) return tl::unexpected(core::with_context(path, c.error()));
  return c;
}

bool BasicAuth::allows(std::string_view header) {
  if (users_.empty()) return false;
  constexpr std::string_view kBasic = "Basic ";
  if (header.substr(0, kBasic.size()) != kBasic) return false;
  const auto decoded = base64_decode(header.substr(kBasic.size()));
  if (!decoded) return false;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string user = decoded->substr(0, colon);
  const std::string password = decoded->substr(colon + 1);
  const auto it = users_.find(user);
  if (it == users_.end()) {
    // An unknown user costs a bcrypt evaluation too (against a configured hash of the same
    // cost, result ignored), as exporter-toolkit does: answering it faster than a wrong password
    // would tell a prober which user names exist.
    bcrypt_checks(password, users_.begin()->second);
    return false;
  }
  const std::string key = sha256(user + '\0' + password);
  {
    std::lock_guard lock(mutex_);
    if (verified_.count(key) != 0) return true;
  }
  if (!bcrypt_checks(password, it->second)) return false;
  std::lock_guard lock(mutex_);
  if (verified_.size() < 1024) verified_.insert(key); // bounded: one entry per good password
  return true;
}

bool BasicAuth::bcrypt_checks(const std::string& password, const std::string& hash) {
  ++bcrypt_runs_;
  return bcrypt_matches(password, hash);
}

} // namespace sockdoctor::serve
