"""The bash and zsh completions offer what the binary has: every command `sockdoctor --help`
lists, every option `sockdoctor CMD --help` prints, the choices of options and positionals, the
explain topics, and state names the binary accepts. bash is driven through its completion
function with COMP_WORDS; zsh's spec builders are called with compsys stubbed out, and a real
interactive zsh (zpty) lists commands, options and choices after TAB.
Exit 0 pass, 1 fail, 77 skip (no bash)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clihelp  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
problems: list[str] = []


def bash_complete(script: str, words: list[str]) -> list[str]:
    """COMPREPLY of _sockdoctor for the command line `words`, the cursor on the last word."""
    prog = (f'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
            f'complete -p sockdoctor >/dev/null || exit 9; _sockdoctor; '
            f'printf "%s\\n" "${{COMPREPLY[@]}}"')
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog, "bash", script] + words,
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        problems.append(f"bash: completing {words[1:]} failed: {out.returncode} {out.stderr}")
    return [w for w in out.stdout.splitlines() if w]


def expect(shell: str, what: str, got: list[str], want: list[str], exact: bool = True) -> None:
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want)) if exact else []
    if missing or extra:
        problems.append(f"{shell}: {what}: missing {missing}, unexpected {extra}")


def check_bash(sd: str, script: str, top: clihelp.Help, helps: dict[str, clihelp.Help]) -> None:
    commands = list(helps)
    expect("bash", "commands", bash_complete(script, [sd, ""]), commands)
    expect("bash", "global options", bash_complete(script, [sd, "-"]), sorted(top.option_names()))
    # A global option's value is not taken for the command.
    expect("bash", "command after --source proc",
           bash_complete(script, [sd, "--source", "proc", ""]), commands)
    for entry in top.options:
        if entry.choices:
            expect("bash", f"values of {entry.names[-1]}",
                   bash_complete(script, [sd, entry.names[-1], ""]), entry.choices)
    for cmd, h in helps.items():
        expect("bash", f"{cmd}'s options", bash_complete(script, [sd, cmd, "-"]),
               sorted(h.option_names()))
        for entry in h.options:
            if entry.choices:
                expect("bash", f"{cmd} {entry.names[-1]} values",
                       bash_complete(script, [sd, cmd, entry.names[-1], ""]), entry.choices)
                expect("bash", f"{cmd} {entry.names[-1]}= values",
                       bash_complete(script, [sd, cmd, entry.names[-1], "=", ""]), entry.choices)
        for entry in h.positionals:
            if entry.choices:
                expect("bash", f"{cmd}'s {entry.names[0]}", bash_complete(script, [sd, cmd, ""]),
                       entry.choices)
    topics = clihelp.footer_section(helps["explain"].text, "Topics:") if "explain" in helps else []
    if topics:
        expect("bash", "explain topics", bash_complete(script, [sd, "explain", ""]), topics)
    # The state list: every name offered is one the binary accepts, and commas continue a list.
    states = bash_complete(script, [sd, "ls", "--state", ""])
    fixture = os.path.join(ROOT, "tests", "fixtures", "netlink", "all_states.bin")
    for state in states:
        run = subprocess.run([sd, "--replay", fixture, "ls", "--no-owners", "--state", state],
                             capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            problems.append(f"bash: offers state {state!r}, ls --state rejects it: {run.stderr}")
    if "close-wait" not in states:
        problems.append(f"bash: ls --state offers {states}, not close-wait")
    expect("bash", "ls --state close-wait,fin",
           bash_complete(script, [sd, "ls", "--state", "close-wait,fin"]),
           ["close-wait,fin-wait-1", "close-wait,fin-wait-2"])


def zsh_run(script: str, sd: str, body: str) -> list[str]:
    prog = ('_arguments() { :; }; _describe() { :; }; words=(sockdoctor); '
            f'source "$1" 2>/dev/null; {body}')
    out = subprocess.run(["zsh", "-f", "-c", prog, "zsh", script, sd], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        problems.append(f"zsh: {body}: exit {out.returncode}: {out.stderr}")
    return [w for w in out.stdout.splitlines() if w]


def check_zsh(sd: str, script: str, top: clihelp.Help, helps: dict[str, clihelp.Help]) -> None:
    names = [c.split(":")[0]
             for c in zsh_run(script, sd, '_sockdoctor_commands "$2"; print -rl -- $reply')]
    expect("zsh", "commands", names, list(helps))
    for cmd, h in [("", top)] + list(helps.items()):
        specs = zsh_run(script, sd, f'_sockdoctor_specs "$2" "{cmd}"; print -rl -- $reply')
        offered = {s.lstrip("*").split("[")[0] for s in specs if s.lstrip("*").startswith("-")}
        expect("zsh", f"{cmd or 'global'} options", sorted(offered), sorted(h.option_names()))
        for entry in h.options:
            for choice_spec in [s for s in specs if s.lstrip("*").startswith(entry.names[-1] + "[")]:
                if entry.choices and f"({' '.join(entry.choices)})" not in choice_spec:
                    problems.append(f"zsh: {cmd} {entry.names[-1]}: {choice_spec!r} lacks "
                                    f"the choices {entry.choices}")
        for i, entry in enumerate(h.positionals, start=1):
            spec = next((s for s in specs if s.startswith(f"{i}:")), "")
            want = entry.choices or (clihelp.footer_section(h.text, "Topics:")
                                     if cmd == "explain" else [])
            if want and f"({' '.join(want)})" not in spec:
                problems.append(f"zsh: {cmd}'s {entry.names[0]}: spec {spec!r}, want {want}")


# Types `sockdoctor WORDS` TAB TAB in an interactive zsh on a pseudo-terminal and reads until
# every wanted string has been listed ($1 completion dir, $2 binary dir, $3 words, $4... wanted).
ZPTY_DRIVER = r"""
zmodload zsh/zpty
dir=$1 bin=$2 typed=$3; shift 3
zpty z "TERM=dumb PATH=$bin:\$PATH LISTMAX=10000 zsh -f -i"
zpty -w z "fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D; PS1='%% '; print RE''ADY"
zpty -r -m z out '*READY*' || exit 3
zpty -w -n z "sockdoctor $typed"$'\t\t'
buf=
for want in "$@"; do
  while [[ $buf != *$want* ]]; do zpty -r z chunk || exit 4; buf+=$chunk; done
done
zpty -d z
"""


def check_zsh_interactive(sd: str, script: str, top: clihelp.Help,
                          helps: dict[str, clihelp.Help]) -> None:
    cases = [("", list(helps)), ("--source ", next((e.choices for e in top.options
                                                    if e.names[-1] == "--source"), []))]
    for cmd, h in helps.items():
        cases.append((f"{cmd} --", sorted(n for n in h.option_names() if n.startswith("--"))))
        for entry in h.positionals:
            want = entry.choices or (clihelp.footer_section(h.text, "Topics:")
                                     if cmd == "explain" else [])
            if want:
                cases.append((f"{cmd} ", want))
    with tempfile.NamedTemporaryFile("w", suffix=".zsh") as driver:
        driver.write(ZPTY_DRIVER)
        driver.flush()
        failures = 0
        for typed, want in cases:
            if failures == 2:  # each failure waits out its timeout; two say enough
                problems.append("zsh (interactive): further cases not tried")
                break
            argv = ["zsh", "-f", driver.name, os.path.dirname(script), os.path.dirname(sd), typed]
            try:
                run = subprocess.run(argv + want, capture_output=True, text=True, timeout=20)
                error = "" if run.returncode == 0 else f"exit {run.returncode} {run.stderr}"
            except subprocess.TimeoutExpired:
                error = "not all listed within 20 s"
            if error:
                failures += 1
                problems.append(f"zsh (interactive): `sockdoctor {typed}<TAB>` should list "
                                f"{want}: {error.strip()}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sockdoctor", required=True)
    p.add_argument("--bash-completion", default=os.path.join(ROOT, "deploy", "completion",
                                                                "sockdoctor.bash"))
    p.add_argument("--zsh-completion", default=os.path.join(ROOT, "deploy", "completion",
                                                               "_sockdoctor"))
    a = p.parse_args()
    sd = os.path.abspath(a.sockdoctor)
    if not shutil.which("bash"):
        print("SKIP: no bash")
        return 77
    top = clihelp.read(sd)
    helps = {c.names[0]: clihelp.read(sd, c.names[0]) for c in top.commands}
    if not helps:
        problems.append("sockdoctor --help lists no commands (has its layout changed?)")
    check_bash(sd, a.bash_completion, top, helps)
    if shutil.which("zsh"):
        check_zsh(sd, a.zsh_completion, top, helps)
        check_zsh_interactive(sd, a.zsh_completion, top, helps)
    else:
        print("note: zsh is not installed, its completion is not checked (scripts/setup.sh has it)")
    for line in problems:
        print(f"FAIL: {line}")
    if not problems:
        print(f"ok: bash{' and zsh' if shutil.which('zsh') else ''} complete {len(helps)} "
              "commands and all their options")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
