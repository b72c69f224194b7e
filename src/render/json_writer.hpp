// The one way renderers write JSON: a streaming writer, no document tree, no allocation per field.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace sockdoctor::render {

enum class JsonLayout : std::uint8_t {
  Compact,  // no whitespace at all (ls --json, NDJSON lines)
  Indented, // two spaces a level, one member or element a line, "key": value (check, explain)
};

// An object key written in the source: checked at compile time (printable ASCII, no '"' or '\\')
// so that it is written verbatim, without a scan at run time.
class JsonKey {
public:
  template <std::size_t N>
  consteval JsonKey(const char (&name)[N]) : text_(name, N - 1) { // NOLINT: implicit on purpose
    for (char c : text_)
      if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') throw "JSON key needs escaping";
  }
  std::string_view text() const { return text_; }

private:
  std::string_view text_;
};

// Appends tokens to a buffer and hands it to the stream in chunks of about kFlushBytes, so a
// million-socket document never sits in memory whole. Strings go through
// append_json_string_body (escape.hpp): always valid UTF-8 JSON whatever the input bytes.
//
//   JsonWriter w(out);
//   w.begin_object().key("pid").number(42).key("comm").string(comm).end_object();
//   w.finish();
//
// Numbers: integers exactly; number(double) the shortest text that reads back as the same double
// ("302.0", "0.125", "1e-05"; NaN and infinities as null); number_fixed and number_trimmed for
// the fixed-decimals formats documented by ls and top. The writer places commas, indentation
// and the '\n' that ends a document; that objects alternate keys and values is the caller's duty.
class JsonWriter {
public:
  static constexpr std::size_t kFlushBytes = 1 << 20;

  explicit JsonWriter(std::ostream& out, JsonLayout layout = JsonLayout::Compact);
  // Collects the document in memory; take() returns it (one NDJSON line, a test).
  explicit JsonWriter(JsonLayout layout = JsonLayout::Compact);
  ~JsonWriter(); // finish()es what is left
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& begin_object();
  JsonWriter& end_object();
  // one_per_line (Compact layout): each element starts on a new line and "\n]" closes the array,
  // so a huge array stays greppable: `[\n{..},\n{..}\n]`.
  JsonWriter& begin_array(bool one_per_line = false);
  JsonWriter& end_array();

  JsonWriter& key(JsonKey name);
  // A key made at run time (a state name, an evidence key): escaped like any string.
  JsonWriter& key_escaped(std::string_view name);
  JsonWriter& string(std::string_view raw);
  JsonWriter& boolean(bool v);
  JsonWriter& null();
  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonWriter& number(T v) {
    char buf[24];
    return raw_value(
        {buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf)});
  }
  JsonWriter& number(double v);
  // Exactly `decimals` decimals, as printf("%.*f") ("125.000").
  JsonWriter& number_fixed(double v, int decimals);
  // At most `decimals` decimals, trailing zeros and a bare point dropped ("0.25", "120", never
  // "-0"); NaN and infinities as null.
  JsonWriter& number_trimmed(double v, int decimals);
  // A value a renderer's own fast path appends, already in JSON form, to the buffer it is given
  // (`append(std::string&)`): the caller vouches for it. Separators and flushing as for any value.
  template <class Append> JsonWriter& json_value(Append&& append) {
    before_value();
    append(buf_);
    flush_if_full();
    return *this;
  }

  // Writes what is buffered to the stream (stream mode); the document should be complete.
  void finish();
  // Memory mode: the document so far, leaving the writer empty.
  std::string take();

private:
  struct Frame {
    bool empty = true;
    bool one_per_line = false;
  };

  // Separator and indentation owed before the next member or element; none right after a key.
  void before_value() {
    if (after_key_)
      after_key_ = false;
    else if (!frames_.empty())
      separate();
  }
  void separate();
  void open(char bracket, bool one_per_line);
  void close(char bracket);
  void newline_indent(std::size_t depth);
  void flush_if_full();
  JsonWriter& raw_value(std::string_view json); // a token already in JSON form

  std::ostream* out_ = nullptr;
  JsonLayout layout_;
  std::string buf_;
  std::vector<Frame> frames_;
  bool after_key_ = false;
};

} // namespace sockdoctor::render
