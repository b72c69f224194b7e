// Landing page HTML; every line it shows is HTML-escaped (netns names come from the command line).
#include "serve/landing.hpp"

#include "render/escape.hpp"

namespace sockdoctor::serve {
namespace {

void append_html(std::string& out, const std::string& raw) {
  for (char c : render::escape_for_terminal(raw)) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
}

void list(std::string& out, const std::vector<std::string>& lines) {
  out += "<ul>\n";
  for (const auto& l : lines) {
    out += "<li>";
    append_html(out, l);
    out += "</li>\n";
  }
  out += "</ul>\n";
}

} // namespace

std::string landing_page(const LandingFacts& f) {
  std::string out = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                    "<title>sockdoctor exporter</title></head>\n<body>\n"
                    "<h1>sockdoctor exporter</h1>\n<p>Version ";
  append_html(out, f.version);
  out += "</p>\n<p><a href=\"/metrics\">Metrics</a> (Prometheus text format, or OpenMetrics when "
         "asked for)</p>\n<h2>What it watches</h2>\n";
  list(out, f.scope);
  out += "<h2>What it cannot see</h2>\n";
  if (f.missing.empty())
    out += "<p>Nothing: it has every privilege it uses.</p>\n";
  else
    list(out, f.missing);
  out += "</body></html>\n";
  return out;
}

} // namespace sockdoctor::serve
