"""The man pages stay true to the binary: every command has sockdoctor-CMD(8) and is listed in
sockdoctor(8); every option (and choice) `sockdoctor [CMD] --help` prints is documented in the
OPTIONS of its page, and no option there is gone; the sections, the version and README's exit
statuses match; `groff -man -ww -z` reports nothing. Exit 0 pass, 1 fail, 77 skip."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clihelp  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "PRIVILEGES", "EXAMPLES",
            "FILES", "SEE ALSO"]
problems: list[str] = []


def plain(roff: str) -> str:
    """Roff source as text, enough to find words in it: no font escapes, \\- as -."""
    text = re.sub(r"\\f[BIRP]", "", roff).replace("\\-", "-").replace("\\(ti", "~")
    return re.sub(r"\\&", "", text)


def sections(roff: str) -> dict[str, str]:
    out, name = {}, None
    for line in roff.splitlines():
        m = re.match(r'\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def documented_options(options_section: str) -> set[str]:
    """Options named in the tags (the line after .TP) of the OPTIONS section. Names may hold
    dots inside (serve's exporter-toolkit --web.config.file), not at the end."""
    lines, names = options_section.splitlines(), set()
    for i, line in enumerate(lines[:-1]):
        if line.startswith(".TP"):
            names.update(re.findall(r"(?<![\w.-])(--?[A-Za-z0-9](?:[\w-]|\.(?=\w))*)",
                                    plain(lines[i + 1])))
    return names


def check_page(path: str, label: str, helptext: clihelp.Help, version: str) -> None:
    roff = open(path, encoding="utf-8").read()
    secs = sections(roff)
    order = [s for s in secs if s in SECTIONS]
    if order != SECTIONS:
        problems.append(f"{label}: sections {order}, expected {SECTIONS} in this order")
    th = re.search(r'^\.TH .*"(sockdoctor [^"]*)"', roff, re.M)
    if not th or th.group(1) != version:
        problems.append(f"{label}: .TH says {th.group(1) if th else 'nothing'}, binary is {version}")
    documented = documented_options(secs.get("OPTIONS", ""))
    printed = helptext.option_names()
    for name in sorted(printed - documented):
        problems.append(f"{label}: option {name} (in --help) is not described in OPTIONS")
    for name in sorted(documented - printed):
        problems.append(f"{label}: OPTIONS describes {name}, which --help does not print")
    text = plain(roff)
    for entry in helptext.options + helptext.positionals:
        for choice in entry.choices:
            if not re.search(rf"(?<![\w-]){re.escape(choice)}(?![\w-])", text):
                problems.append(f"{label}: {entry.names[-1]}'s choice {choice!r} is not mentioned")
    lint = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True, text=True)
    if lint.returncode != 0 or lint.stderr.strip():
        problems.append(f"{label}: groff -man -ww -z: {lint.stderr.strip() or lint.returncode}")


def readme_exit_statuses() -> list[str]:
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    table = readme.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| (\d+) \|", table, re.M)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sockdoctor", required=True)
    p.add_argument("--man-dir", default=os.path.join(ROOT, "docs", "man"))
    a = p.parse_args()
    if not shutil.which("groff"):
        print("SKIP: groff is not installed (Debian groff-base)")
        return 77
    version = subprocess.run([a.sockdoctor, "--version"], capture_output=True, text=True,
                             timeout=60).stdout.strip()
    top = clihelp.read(a.sockdoctor)
    main_page = os.path.join(a.man_dir, "sockdoctor.8")
    check_page(main_page, "sockdoctor(8)", top, version)
    main_text = plain(open(main_page, encoding="utf-8").read())
    exit_status = sections(open(main_page, encoding="utf-8").read()).get("EXIT STATUS", "")
    main_desc = sections(open(main_page, encoding="utf-8").read()).get("DESCRIPTION", "")
    for status in readme_exit_statuses():
        if not re.search(rf"^\.B {status}$", exit_status, re.M):
            problems.append(f"sockdoctor(8): EXIT STATUS lacks {status} (README, Exit status)")

    commands = [c.names[0] for c in top.commands]
    if not commands:
        problems.append("sockdoctor --help lists no commands (has its layout changed?)")
    for cmd in commands:
        page = os.path.join(a.man_dir, f"sockdoctor-{cmd}.8")
        if not os.path.exists(page):
            problems.append(f"{cmd}: no man page docs/man/sockdoctor-{cmd}.8 (start from "
                            "sockdoctor-ls.8; it is installed by the glob in cmake/Install.cmake)")
            continue
        check_page(page, f"sockdoctor-{cmd}(8)", clihelp.read(a.sockdoctor, cmd), version)
        if f"sockdoctor-{cmd}(8)" not in re.sub(r"\s+", "", main_text.replace(".BR", "")):
            problems.append(f"sockdoctor(8) does not refer to sockdoctor-{cmd}(8) (SEE ALSO)")
        if not re.search(rf"^\.TP\n\.BI? \"?{re.escape(cmd)}\b", main_desc, re.M):
            problems.append(f"sockdoctor(8) DESCRIPTION does not list the command {cmd} "
                            "(a .TP entry like the others)")
    for name in sorted(os.listdir(a.man_dir)):
        m = re.fullmatch(r"sockdoctor-(.+)\.8", name)
        if m and m.group(1) not in commands:
            problems.append(f"{name}: sockdoctor has no command {m.group(1)!r}")

    for line in problems:
        print(f"FAIL: {line}")
    if not problems:
        print(f"ok: sockdoctor(8) and {len(commands)} command pages match --help")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
