"""What `sockdoctor [COMMAND] --help` says: commands, options and their choices, so that the man
pages and completions can be checked against the binary rather than against a copy of it."""

from __future__ import annotations

import dataclasses
import re
import subprocess


@dataclasses.dataclass
class Entry:
    names: list[str]        # ["-s", "--state"], or a positional's name
    takes_value: bool
    choices: list[str]      # from CLI11's TYPE:{a,b,c}
    description: str


@dataclasses.dataclass
class Help:
    text: str
    options: list[Entry]
    commands: list[Entry]
    positionals: list[Entry]

    def option_names(self) -> set[str]:
        return {n for e in self.options for n in e.names}


def parse(text: str) -> Help:
    """CLI11's layout: 'Options:' / 'Subcommands:' / 'Positionals:' headings, entries indented by
    two spaces, NAMES [TYPE[:{choices}][=default]] [...], the description after 2+ spaces or on
    the next, deeper indented line."""
    sections: dict[str, list[Entry]] = {"Options:": [], "Subcommands:": [], "Positionals:": []}
    current: list[Entry] | None = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Za-z ]*:", line):
            current = sections.get(line)
            continue
        if not line.strip():
            current = None
            continue
        if current is None:
            continue
        if line.startswith("   ") and current:
            current[-1].description += " " + line.strip()
            continue
        if not re.match(r"  \S", line):
            continue
        head, desc = (re.split(r"\s{2,}", line.strip(), maxsplit=1) + [""])[:2]
        fields = head.split(" ")
        kind = fields[1] if len(fields) > 1 and fields[1] != "..." else ""
        m = re.search(r"\{([^}]*)\}", kind)
        current.append(Entry(names=fields[0].split(","), takes_value=bool(kind),
                             choices=m.group(1).split(",") if m else [], description=desc.strip()))
    return Help(text, sections["Options:"], sections["Subcommands:"], sections["Positionals:"])


def read(sockdoctor: str, command: str = "") -> Help:
    argv = [sockdoctor] + ([command] if command else []) + ["--help"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {out.returncode}: {out.stderr.strip()}")
    return parse(out.stdout)


def footer_section(text: str, heading: str) -> list[str]:
    """The first words of the lines of a footer section such as 'Topics:'."""
    words, inside = [], False
    for line in text.splitlines():
        if line.strip() == heading:
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            words.append(line.split()[0])
    return words
