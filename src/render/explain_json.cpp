// JSON rendering of `sockdoctor explain --json`: the same topics the text renderer shows.
#include "render/explain_json.hpp"

#include <ostream>

#include "render/json_writer.hpp"

namespace sockdoctor::render {
namespace {

void write_setting(JsonWriter& w, const analyze::SettingInfo& s) {
  w.begin_object().key("name").string(s.name).key("value");
  if (!s.present)
    w.null();
  else if (s.number)
    w.number(*s.number);
  else
    w.string(s.value_text);
  w.key("meaning").string(s.meaning).end_object();
}

void write_figure(JsonWriter& w, const analyze::Figure& f) {
  w.begin_object().key("id").string(f.id).key("name").string(f.name).key("value");
  if (f.value)
    w.number(*f.value);
  else
    w.null();
  w.key("unit").string(f.unit).key("basis").string(f.basis).end_object();
}

void write_topic(JsonWriter& w, const analyze::Topic& t) {
  w.begin_object().key("id").string(t.id).key("title").string(t.title);
  w.key("summary").string(t.summary).key("settings").begin_array();
  for (const auto& s : t.settings)
    write_setting(w, s);
  w.end_array().key("figures").begin_array();
  for (const auto& f : t.figures)
    write_figure(w, f);
  w.end_array().key("facts").begin_array();
  for (const auto& f : t.facts)
    w.begin_object().key("text").string(f.text).key("source").string(f.source).end_object();
  w.end_array().key("myths").begin_array();
  for (const auto& m : t.myths) {
    w.begin_object().key("myth").string(m.myth).key("truth").string(m.truth);
    w.key("source").string(m.source).end_object();
  }
  w.end_array().end_object();
}

} // namespace

void render_explain_json(std::ostream& out,
                         const core::KernelSettings& k,
                         const std::vector<analyze::Topic>& topics) {
  JsonWriter w(out, JsonLayout::Indented);
  w.begin_object().key("schema_version").number(1);
  // A recorded osrelease may hold any bytes: the writer turns invalid UTF-8 into \xNN text.
  w.key("kernel").begin_object().key("release").string(k.kernel_release).key("major");
  if (k.kernel_major > 0)
    w.number(k.kernel_major).key("minor").number(k.kernel_minor);
  else
    w.null().key("minor").null();
  w.end_object().key("topics").begin_array();
  for (const auto& t : topics)
    write_topic(w, t);
  w.end_array().end_object();
  w.finish();
}

} // namespace sockdoctor::render
