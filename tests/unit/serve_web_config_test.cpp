// The exporter-toolkit web config: what is accepted, what is refused (never silently ignored),
// and basic auth against bcrypt hashes made here with libcrypt.
#include <crypt.h>
#include <gtest/gtest.h>

#include <string>

#include "serve/exporter.hpp"
#include "serve/web_config.hpp"

namespace sockdoctor::serve {
namespace {

std::string bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(::crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt), nullptr);
  crypt_data data{};
  const char* h = ::crypt_rn(password.c_str(), salt, &data, sizeof data);
  EXPECT_NE(h, nullptr);
  return h;
}

std::string basic(const std::string& user_colon_password) {
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  const auto& in = user_colon_password;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return "Basic " + out;
}

TEST(WebConfig, TlsAndUsers) {
  const auto hash = bcrypt("s3cret");
  auto c = parse_web_config("tls_server_config:\n  cert_file: tls/server.crt\n"
                            "  key_file: /etc/key.pem\nbasic_auth_users:\n  prom: " +
                                hash + "\n",
                            "/etc/sockdoctor");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_TRUE(c->tls());
  EXPECT_EQ(c->cert_file, "/etc/sockdoctor/tls/server.crt"); // relative to the file's directory
  EXPECT_EQ(c->key_file, "/etc/key.pem");
  EXPECT_EQ(c->users.at("prom"), hash);
}

TEST(WebConfig, EmptyIsPlainHttp) {
  auto c = parse_web_config("", ".");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->tls());
  EXPECT_TRUE(c->users.empty());
}

TEST(WebConfig, RefusesWhatItCannotHonour) {
  for (const char* yaml :
       {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: "
        "RequireAndVerifyClientCert\n",
        "http_server_config:\n  http2: false\n", "tls_server_config:\n  cert_file: a\n",
        "basic_auth_users:\n  prom: plaintext\n", "basic_auth_users: [a, b]\n", "{{{{"}) {
    auto c = parse_web_config(yaml, ".");
    EXPECT_FALSE(c.has_value()) << yaml;
  }
}

TEST(BasicAuth, ChecksBcryptAndCachesGoodPasswords) {
  BasicAuth auth({{"prom", bcrypt("s3cret")}});
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.allows(basic("prom:s3cret")));
  EXPECT_TRUE(auth.allows(basic("prom:s3cret"))); // from the cache
  EXPECT_FALSE(auth.allows(basic("prom:s3cret ")));
  EXPECT_FALSE(auth.allows(basic("prom:")));
  EXPECT_FALSE(auth.allows(basic("other:s3cret")));
  EXPECT_FALSE(auth.allows("Bearer x"));
  EXPECT_FALSE(auth.allows("Basic !!!!"));
  EXPECT_FALSE(auth.allows(""));
  EXPECT_FALSE(BasicAuth({}).enabled());
}

TEST(BasicAuth, AnUnknownUserCostsABcryptRunLikeAWrongPassword) {
  BasicAuth auth({{"prom", bcrypt("s3cret")}});
  EXPECT_FALSE(auth.allows(basic("prom:wrong")));
  EXPECT_EQ(auth.bcrypt_runs(), 1u);
  EXPECT_FALSE(auth.allows(basic("nobody:wrong"))); // no faster answer for a name that is absent
  EXPECT_EQ(auth.bcrypt_runs(), 2u);
  EXPECT_FALSE(auth.allows(basic("nobody:s3cret"))); // another user's password opens nothing
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
}

TEST(ListenAddress, Forms) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:10188")->host, "127.0.0.1");
  EXPECT_EQ(parse_listen_address("[::1]:9")->host, "::1");
  EXPECT_EQ(parse_listen_address(":10188")->host, "::"); // both families
  EXPECT_EQ(parse_listen_address(":10188")->port, 10188);
  EXPECT_FALSE(parse_listen_address("localhost").has_value());
  EXPECT_FALSE(parse_listen_address("a:70000").has_value());
}

} // namespace
} // namespace sockdoctor::serve
