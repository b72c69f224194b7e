// Key handling of `sockdoctor top`: what each key does to the view state.
#include "top/keys.hpp"

#include "analyze/top_model.hpp"

namespace sockdoctor::top {

KeyAction apply_key(render::TopViewState& v, unsigned char key) {
  const bool had_message = !v.message.empty();
  v.message.clear();
  if (v.prompting) {
    if (key == '\r' || key == '\n') {
      v.prompting = false;
      auto f = analyze::parse_top_filter(v.prompt);
      if (!f) {
        v.message = "filter: " + f.error().message;
        return KeyAction::Redraw;
      }
      v.filter_text = v.prompt;
      v.query.filter = *f;
      v.message = f->empty() ? "filter cleared" : "filter: " + f->describe();
      return KeyAction::QueryChanged;
    }
    if (key == 27) {
      v.prompting = false;
    } else if (key == 127 || key == 8) {
      while (!v.prompt.empty() && (static_cast<unsigned char>(v.prompt.back()) & 0xC0) == 0x80)
        v.prompt.pop_back();
      if (!v.prompt.empty()) v.prompt.pop_back();
    } else if (key == 21) { // Ctrl-U
      v.prompt.clear();
    } else if (key >= 32 && v.prompt.size() < 120) {
      v.prompt.push_back(static_cast<char>(key));
    } else {
      return KeyAction::None;
    }
    return KeyAction::Redraw;
  }
  if (key == 'q' || key == 'Q' || key == 3) return KeyAction::Quit;
  if (v.help) {
    v.help = false;
    return KeyAction::Redraw;
  }
  switch (key) {
  case 'p':
  case 'P':
  case ' ':
    v.paused = !v.paused;
    return KeyAction::PauseChanged;
  case 's':
  case 'S':
    v.query.sort = analyze::next_sort(v.query.sort);
    return KeyAction::QueryChanged;
  case '/':
  case 'f':
  case 'F':
    v.prompting = true;
    v.prompt = v.filter_text;
    return KeyAction::Redraw;
  case 'h':
  case 'H':
  case '?':
    v.help = true;
    return KeyAction::Redraw;
  case 12: // Ctrl-L
    return KeyAction::Redraw;
  default:
    return had_message ? KeyAction::Redraw : KeyAction::None;
  }
}

} // namespace sockdoctor::top
