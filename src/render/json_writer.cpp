// Streaming JSON: separators and indentation from a small stack of open containers, numbers via
// std::to_chars into stack buffers, strings through the project's one JSON escaper.
#include "render/json_writer.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>

#include "render/escape.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

// nlohmann::json's layout of the shortest round-trip digits (so check --json and explain --json
// keep their bytes): a point always ("302.0"), plain notation for exponents -5 to 14, otherwise
// "d.ddde+XX" with at least two exponent digits.
void append_shortest(std::string& out, double v) {
  if (v == 0) {
    out += std::signbit(v) ? "-0.0" : "0.0";
    return;
  }
  char sci[40];
  const auto end = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific).ptr;
  std::string_view s(sci, static_cast<std::size_t>(end - sci)); // [-]d[.ddd]e(+|-)XX
  if (s.front() == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  const auto e = s.find('e');
  char digits[24]; // at most 17 significant digits
  std::size_t k = 0;
  for (char c : s.substr(0, e))
    if (c != '.') digits[k++] = c;
  int exp10 = 0;
  std::from_chars(s.data() + e + 2, s.data() + s.size(), exp10);
  if (s[e + 1] == '-') exp10 = -exp10;
  const std::string_view d(digits, k);
  const int n = exp10 + 1; // the decimal point sits after the first n digits
  const int len = static_cast<int>(k);
  if (len <= n && n <= 15) {
    out += d;
    out.append(static_cast<std::size_t>(n - len), '0');
    out += ".0";
  } else if (0 < n && n <= 15) {
    out += d.substr(0, static_cast<std::size_t>(n));
    out += '.';
    out += d.substr(static_cast<std::size_t>(n));
  } else if (-4 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += d;
  } else {
    out += d[0];
    if (k > 1) {
      out += '.';
      out += d.substr(1);
    }
    const int x = std::abs(n - 1);
    out += n - 1 < 0 ? "e-" : "e+";
    if (x < 10) out += '0';
    char buf[8];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, x).ptr);
  }
}

// printf("%.*f"); false if it does not fit (never for the decimals renderers use).
bool append_fixed(std::string& out, double v, int decimals) {
  char buf[400];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed,
                               std::clamp(decimals, 0, 20));
  if (r.ec != std::errc{}) return false;
  out.append(buf, r.ptr);
  return true;
}

} // namespace

JsonWriter::JsonWriter(std::ostream& out, JsonLayout layout) : out_(&out), layout_(layout) {
  buf_.reserve(kFlushBytes + kFlushBytes / 8);
  frames_.reserve(16);
}

JsonWriter::JsonWriter(JsonLayout layout) : layout_(layout) {
  buf_.reserve(4096);
  frames_.reserve(16);
}

JsonWriter::~JsonWriter() {
  finish();
}

void JsonWriter::newline_indent(std::size_t depth) {
  buf_ += '\n';
  buf_.append(depth * 2, ' ');
}

void JsonWriter::separate() {
  Frame& f = frames_.back();
  if (!f.empty) buf_ += ',';
  f.empty = false;
  if (layout_ == JsonLayout::Indented)
    newline_indent(frames_.size());
  else if (f.one_per_line)
    buf_ += '\n';
}

void JsonWriter::open(char bracket, bool one_per_line) {
  before_value();
  buf_ += bracket;
  frames_.push_back({true, one_per_line && layout_ == JsonLayout::Compact});
}

void JsonWriter::close(char bracket) {
  const Frame f = frames_.back();
  frames_.pop_back();
  if (layout_ == JsonLayout::Indented && !f.empty)
    newline_indent(frames_.size());
  else if (f.one_per_line)
    buf_ += '\n';
  buf_ += bracket;
  if (frames_.empty()) buf_ += '\n'; // a document ends its line (NDJSON, and files end in one)
  flush_if_full();
}

void JsonWriter::flush_if_full() {
  if (out_ != nullptr && buf_.size() >= kFlushBytes) finish();
}

JsonWriter& JsonWriter::begin_object() {
  open('{', false);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  close('}');
  return *this;
}

JsonWriter& JsonWriter::begin_array(bool one_per_line) {
  open('[', one_per_line);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  close(']');
  return *this;
}

JsonWriter& JsonWriter::key(JsonKey name) {
  before_value();
  buf_ += '"';
  buf_ += name.text();
  buf_ += layout_ == JsonLayout::Indented ? "\": " : "\":";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::key_escaped(std::string_view name) {
  before_value();
  buf_ += '"';
  append_json_string_body(buf_, name);
  buf_ += layout_ == JsonLayout::Indented ? "\": " : "\":";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view raw) {
  before_value();
  buf_ += '"';
  append_json_string_body(buf_, raw);
  buf_ += '"';
  return *this;
}

JsonWriter& JsonWriter::boolean(bool v) {
  return raw_value(v ? "true" : "false");
}

JsonWriter& JsonWriter::null() {
  return raw_value("null");
}

JsonWriter& JsonWriter::raw_value(std::string_view json) {
  before_value();
  buf_ += json;
  return *this;
}

JsonWriter& JsonWriter::number(double v) {
  if (!std::isfinite(v)) return null();
  before_value();
  append_shortest(buf_, v);
  return *this;
}

JsonWriter& JsonWriter::number_fixed(double v, int decimals) {
  if (!std::isfinite(v)) return null();
  before_value();
  if (!append_fixed(buf_, v, decimals)) buf_ += "null";
  return *this;
}

JsonWriter& JsonWriter::number_trimmed(double v, int decimals) {
  if (!std::isfinite(v)) return null();
  before_value();
  if (!append_trimmed_decimal(buf_, v, decimals)) buf_ += "null";
  return *this;
}

void JsonWriter::finish() {
  if (out_ == nullptr || buf_.empty()) return;
  out_->write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

std::string JsonWriter::take() {
  std::string out;
  out.swap(buf_);
  return out;
}

} // namespace sockdoctor::render
