// Fuzzes render/escape: whatever bytes a process name, cmdline or path holds, terminal output
// must carry no control, C1, bidi or invisible character and be valid UTF-8, and a JSON string
// body must parse back (nlohmann) to valid UTF-8. This makes the class "hostile text reaches the
// terminal or breaks JSON" impossible rather than fixed case by case.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "render/escape.hpp"

using namespace sockdoctor;

namespace {

// Next code point of valid UTF-8 at s[i] (advancing i), or nullopt on an invalid sequence.
std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const int len = b0 < 0x80         ? 1
                  : (b0 >> 5) == 6  ? 2
                  : (b0 >> 4) == 14 ? 3
                  : (b0 >> 3) == 30 ? 4
                                    : 0;
  if (len == 0 || i + static_cast<std::size_t>(len) > s.size()) return std::nullopt;
  char32_t cp = len == 1 ? b0 : b0 & (0x7f >> len);
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if ((b >> 6) != 2) return std::nullopt;
    cp = (cp << 6) | (b & 0x3f);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
  i += static_cast<std::size_t>(len);
  return cp;
}

bool shows_harm(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
         (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

void check_terminal_text(std::string_view out) {
  for (std::size_t i = 0; i < out.size();) {
    const std::size_t at = i;
    const auto cp = next_code_point(out, i);
    fuzz::require(cp.has_value(), "escaped terminal text is not valid UTF-8");
    fuzz::require(!shows_harm(*cp), "escaped terminal text holds a control or bidi character");
    if (*cp == '\\') {
      const std::size_t n = render::escape_length(out, at);
      fuzz::require(n >= 2 && n <= out.size() - at, "a backslash that starts no escape");
      i = at + n;
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto raw = fuzz::text(data, size);
  check_terminal_text(render::escape_for_terminal(raw));

  std::string doc = "\"";
  render::append_json_string_body(doc, raw);
  doc += '"';
  const auto parsed = nlohmann::json::parse(doc, nullptr, /*allow_exceptions=*/false);
  fuzz::require(!parsed.is_discarded() && parsed.is_string(), "JSON string body does not parse");
  const auto& back = parsed.get_ref<const std::string&>();
  for (std::size_t i = 0; i < back.size();)
    fuzz::require(next_code_point(back, i).has_value(), "JSON string is not valid UTF-8");
  return 0;
}
