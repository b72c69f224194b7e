// `top`'s keys: what each one does to the view state (the filter prompt parses what was typed).
#pragma once

#include <cstdint>

#include "render/top_frame.hpp"

namespace sockdoctor::top {

enum class KeyAction : std::uint8_t {
  None,         // nothing changed
  Redraw,       // the view changed (help, prompt, message)
  Quit,         // q, Ctrl-C
  QueryChanged, // sort or filter: rebuild the model
  PauseChanged,
};

// Applies one key (a byte; 27 = Esc, 127 or 8 = backspace, 10 or 13 = Enter). Escape sequences
// (arrows) must be dropped by the caller.
KeyAction apply_key(render::TopViewState& v, unsigned char key);

} // namespace sockdoctor::top
