// The history chart, twice: block characters for a terminal, and a self-contained SVG picture.
// Both bucket the intervals into columns by time and show each column's largest value, so a
// short peak stays visible however long the window.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ostream>

#include "render/escape.hpp"
#include "render/history.hpp"
#include "render/text.hpp"

namespace sockdoctor::render {
namespace {

constexpr std::string_view kEighths[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

// Largest value per column; NaN for a column no interval falls in (the recorder was down).
std::vector<double> columns(const ChartSeries& s, std::size_t n) {
  std::vector<double> col(n, std::nan(""));
  const double t0 = s.time.front(), span = s.time.back() - t0;
  for (std::size_t i = 0; i < s.time.size(); ++i) {
    std::size_t c = span > 0 ? static_cast<std::size_t>((s.time[i] - t0) / span * double(n)) : 0;
    c = std::min(c, n - 1);
    col[c] = std::isnan(col[c]) ? s.value[i] : std::max(col[c], s.value[i]);
  }
  return col;
}

double top_of(const ChartSeries& s) {
  double top = 1;
  for (double v : s.value)
    top = std::max(top, v);
  return top;
}

std::string label(double v) {
  std::string s;
  append_trimmed_decimal(s, v, 0);
  return s;
}

} // namespace

void append_text_chart(std::string& out, const ChartSeries& s, int width, int height) {
  if (s.time.empty() || height < 1) return;
  const double top = top_of(s);
  const std::string top_label = label(top);
  const std::size_t axis = std::max<std::size_t>(top_label.size(), 1) + 1;
  const std::size_t room = static_cast<std::size_t>(std::max(width, 20)) - axis - 2;
  const auto col = columns(s, std::min(room, std::max<std::size_t>(s.time.size(), 1)));
  for (int row = 0; row < height; ++row) {
    const std::string y = row == 0 ? top_label : row == height - 1 ? "0" : "";
    out += std::string(axis - 1 - y.size(), ' ') + y + " ┤";
    const double base = double(height - 1 - row) * 8;
    for (double v : col) {
      if (std::isnan(v)) {
        out += ' ';
        continue;
      }
      double eighths = std::round(v / top * height * 8);
      if (v > 0 && eighths < 1) eighths = 1; // anything above zero shows
      out += kEighths[static_cast<std::size_t>(std::clamp(eighths - base, 0.0, 8.0))];
    }
    out += '\n';
  }
  out += std::string(axis, ' ') + "└";
  for (std::size_t i = 0; i < col.size(); ++i)
    out += "─";
  out += '\n';
  const auto t0 = utc_time(s.time.front()).substr(11, 8);
  const auto t1 = utc_time(s.time.back()).substr(11, 8);
  out += std::string(axis + 1, ' ') + t0;
  if (col.size() > t0.size() + t1.size())
    out += std::string(col.size() - t0.size() - t1.size(), ' ') + t1;
  out += '\n';
}

void render_history_svg(std::ostream& out, const ChartSeries& s, const std::string& subtitle) {
  constexpr double kW = 800, kH = 320, kLeft = 60, kRight = 20, kTop = 50, kBottom = 40;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  const double top = s.time.empty() ? 1 : top_of(s);
  std::string o =
      fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
                  "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
                  "<rect width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
                  "<text x=\"{2}\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{3}</text>\n"
                  "<text x=\"{2}\" y=\"38\" fill=\"#555555\">{4}</text>\n",
                  kW, kH, kLeft, escape_for_markup(s.title), escape_for_markup(subtitle));
  o += fmt::format("<g stroke=\"#888888\" stroke-width=\"1\">"
                   "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
                   "<line x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\"/></g>\n",
                   kLeft, kTop, kTop + ph, kLeft + pw);
  o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, kTop + 4,
                   label(top));
  o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n", kLeft - 6,
                   kTop + ph + 4);
  if (!s.time.empty()) {
    const double t0 = s.time.front(), span = std::max(s.time.back() - t0, 1e-9);
    std::string points;
    for (std::size_t i = 0; i < s.time.size(); ++i) {
      const double x = s.time.size() == 1 ? kLeft : kLeft + (s.time[i] - t0) / span * pw;
      const double y = kTop + ph - s.value[i] / top * ph;
      points += fmt::format("{}{:.1f},{:.1f}", i ? " " : "", x, y);
    }
    o += fmt::format("<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" "
                     "points=\"{}\"/>\n",
                     points);
    o += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", kLeft, kH - 15,
                     escape_for_markup(utc_time(s.time.front())));
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", kLeft + pw, kH - 15,
                     escape_for_markup(utc_time(s.time.back())));
  }
  o += "</svg>\n";
  out << o;
}

} // namespace sockdoctor::render
