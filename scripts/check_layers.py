#!/usr/bin/env python3
"""Layer check: every #include of ours in src/, and every link between our libraries in src/'s
CMakeLists.txt, points down the layer rule; prints each one that does not, with the rule it breaks.

The rule (README, Layout): core <- collect <- analyze <- store <- render <- {cli, lab, serve, top,
trace, kill}. A room may use itself and the rooms below it; core uses nothing of ours; of the
composition roots (cli and the commands with rooms of their own) only cli may use the others. All libraries share src/ as their include root, so the
compiler cannot tell an include that points up from one that points down: this script does.

Usage: check_layers.py [ROOT]   (ROOT holds src/; default: the repository this script is in)
Exit status: 0 the arrows point down, 1 a violation, 2 usage.
"""

import os
import re
import sys

LAYERS = ["core", "collect", "analyze", "store", "render"]  # bottom to top; each may use those before it
ROOTS = ["cli", "lab", "serve", "top", "trace", "kill"]  # composition roots, above render
ROOT_USERS = {"cli": ROOTS[1:]}  # the only arrows between composition roots
RULE = "core <- collect <- analyze <- store <- render <- {cli, lab, serve, top, trace, kill}"
SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".h", ".hh", ".hpp", ".inl", ".ipp")
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^">\n]+)[">]', re.MULTILINE)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
LINK_CALL = re.compile(r"\btarget_link_libraries\s*\(([^)]*)\)", re.DOTALL)
OUR_TARGET = re.compile(r"^sockdoctor_(\w+)$")


def allowed(room):
    """The rooms `room` may use besides itself."""
    if room in LAYERS:
        return LAYERS[: LAYERS.index(room)]
    return LAYERS + ROOT_USERS.get(room, [])


def why(room, used):
    """The part of the rule that `room` using `used` breaks."""
    if room == "core":
        return "core includes nothing of ours"
    if room in ROOTS and used in ROOTS:
        return "composition roots stand side by side; only cli may use the others"
    below = ", ".join(allowed(room))
    return f"{room} may use only {below} (arrows point down: {RULE})"


def is_room(name):
    return name in LAYERS or name in ROOTS


class Checker:
    def __init__(self, root):
        self.src = os.path.join(os.path.abspath(root), "src")
        self.problems = []  # (path, line, text)
        self.includes = 0
        self.links = 0

    def report(self, path, line, text):
        self.problems.append((path, line, text))

    def room_of(self, path):
        """The room a path under src/ is in, or None (with a problem reported by the caller)."""
        rel = os.path.relpath(path, self.src)
        parts = rel.split(os.sep)
        return parts[0] if len(parts) > 1 and parts[0] != ".." else None

    def target_room(self, path, kind, name):
        """The room an include names, or None when it is not ours (system, generated headers)."""
        here = os.path.dirname(path)
        beside = os.path.normpath(os.path.join(here, name))
        if kind == '"' and (os.path.isfile(beside) or name.startswith(".")):
            return self.room_of(beside)  # relative to the including file, as the compiler tries
        first = name.split("/", 1)[0]
        if "/" not in name or not is_room(first):
            return None  # <fmt/format.h>, "vmlinux.h", "task_sockets.skel.h" (generated)
        if kind == "<" and not os.path.isfile(os.path.join(self.src, name)):
            return None  # a system header that happens to share a room's name
        return first

    def check_source(self, path):
        room = self.room_of(path)
        if not is_room(room):
            if room is None:
                self.report(path, 1, f"a file directly in src/ is in no room ({RULE})")
            else:
                self.report(path, 1, f"src/{room} is not a room of the layer rule ({RULE}); add "
                            "it to scripts/check_layers.py and README's Layout")
            return
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        # Blank out block comments but keep their newlines, so line numbers stay true.
        text = BLOCK_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
        for m in INCLUDE.finditer(text):
            kind, name = m.group(1), m.group(2).strip()
            used = self.target_room(path, kind, name)
            if used is None:
                continue
            self.includes += 1
            line = text.count("\n", 0, m.start()) + 1
            if not is_room(used):
                self.report(path, line, f"includes {name}, outside every room ({RULE})")
            elif used != room and used not in allowed(room):
                self.report(path, line, f"{room} includes {name}: {why(room, used)}")

    def check_links(self, path):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        text = re.sub(r"#[^\n]*", lambda m: " " * len(m.group(0)), text)  # CMake comments
        for m in LINK_CALL.finditer(text):
            tokens = [(t.group(0), m.start(1) + t.start()) for t in re.finditer(r"\S+", m.group(1))]
            if not tokens:
                continue
            target = OUR_TARGET.match(tokens[0][0])
            if not target or not is_room(target.group(1)):
                continue  # the executable, tests, sockdoctor_warnings
            room = target.group(1)
            for token, at in tokens[1:]:
                dep = OUR_TARGET.match(token)
                if not dep or not is_room(dep.group(1)):
                    continue
                self.links += 1
                used = dep.group(1)
                if used != room and used not in allowed(room):
                    line = text.count("\n", 0, at) + 1
                    self.report(path, line, f"sockdoctor_{room} links {token}: {why(room, used)}")

    def run(self):
        for dirpath, dirnames, filenames in os.walk(self.src):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if name.endswith(SOURCE_SUFFIXES):
                    self.check_source(path)
                elif name == "CMakeLists.txt":
                    self.check_links(path)


def shown(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(__file__), "..")
    checker = Checker(root)
    if not os.path.isdir(checker.src):
        print(f"check_layers: {checker.src}: no such directory", file=sys.stderr)
        return 2
    checker.run()
    for path, line, text in checker.problems:
        print(f"{shown(path)}:{line}: {text}")
    if checker.problems:
        print(f"layers: {len(checker.problems)} violation(s) of {RULE}")
        return 1
    print(f"layers: {checker.includes} includes and {checker.links} links of ours point down "
          f"({RULE})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
