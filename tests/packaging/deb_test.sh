#!/usr/bin/env bash
# The Debian package end to end, as root: build it with cpack -G DEB from a configured preset,
# dpkg -i it, check every file is where README "Install" says and works (the binary, man -w, the
# bash and zsh completion as their loaders find them, systemd-analyze verify on the installed
# unit, the unit not enabled), then dpkg -r and dpkg -P leave nothing behind, including an
# administrator's enable and the state directory. It refuses to run (exit 77) when sockdoctor
# or any file of the package is already on the machine, so it can leave the machine as it
# found it. Usage: deb_test.sh [--preset release|dev] (CI: dev, which it has built already).
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=release
if [[ ${1:-} == --preset ]]; then preset=${2:?--preset needs a name}; fi

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
skip() { echo "SKIP: $*"; exit 77; }

[[ $(id -u) == 0 ]] || skip "dpkg -i needs root"
status=$(dpkg-query -W -f='${db:Status-Status}' sockdoctor 2>/dev/null || true)
[[ -z $status || $status == not-installed ]] ||
  skip "the sockdoctor package is $status here; remove it (dpkg -P sockdoctor) to run this test"

# dpkg takes its lock without waiting; other jobs on this machine may hold it for a while.
dpkg_wait() {
  local out i
  for ((i = 0; i < 60; i++)); do
    if out=$(dpkg "$@" 2>&1); then return 0; fi
    grep -q 'lock' <<<"$out" || { echo "$out" >&2; return 1; }
    sleep 5
  done
  echo "$out" >&2
  return 1
}

work=$(mktemp -d /tmp/sockdoctor-deb.XXXXXX)
installed=0
enabled_by_us=0
cleanup() {
  # Whatever failed, leave neither the package nor what this test did as an administrator.
  if [[ $installed == 1 ]]; then dpkg_wait --purge sockdoctor >/dev/null || true; fi
  if [[ $enabled_by_us == 1 ]]; then
    rm -f /etc/systemd/system/multi-user.target.wants/sockdoctor.service \
      /var/lib/systemd/deb-systemd-helper-enabled/sockdoctor.service.dsh-also
    rm -rf /var/lib/sockdoctor
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build the package (preset $preset)"
start=$(date +%s)
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target sockdoctor sockdoctor_man >/dev/null
cpack -G DEB --config "build/$preset/CPackConfig.cmake" -B "$work" >"$work/cpack.log" ||
  { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/sockdoctor_*.deb)
echo "built $(basename "$deb") in $(($(date +%s) - start)) s"
dpkg-deb -f "$deb" Package Version Section Maintainer Depends

# Files the package would overwrite (a `cmake --install --prefix /usr`, say) and then remove.
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's#^\./#/#' | grep -v '/$' >"$work/files"
while read -r f; do
  [[ -e $f || -L $f ]] && skip "$f exists already; dpkg -r would remove it"
done <"$work/files"
[[ -e /var/lib/sockdoctor ]] && skip "/var/lib/sockdoctor exists already; dpkg -P would remove it"
wants=/etc/systemd/system/multi-user.target.wants/sockdoctor.service
# What the package and its scripts may touch outside its own files, to compare at the end.
snapshot() {
  { find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/sockdoctor \
      /var/lib/dpkg/info -name '*sockdoctor*' 2>/dev/null || true; } | sort
  { find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null || true; } |
    wc -l
}
snapshot >"$work/before"

echo "== dpkg -i"
dpkg_wait -i "$deb" || { fail "dpkg -i"; exit 1; }
installed=1
[[ $(dpkg-query -W -f='${db:Status-Status}' sockdoctor) == installed ]] || fail "not installed"

sd=/usr/bin/sockdoctor
# (Captured before parsing: a reader that stops early must not fail the writer under pipefail.)
help=$("$sd" --help)
commands=$(awk '/^Subcommands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' <<<"$help")
expect=("$sd" /usr/share/man/man8/sockdoctor.8.gz
  /usr/share/bash-completion/completions/sockdoctor /usr/share/zsh/vendor-completions/_sockdoctor
  /usr/lib/systemd/system/sockdoctor.service /usr/share/doc/sockdoctor/README.md)
for cmd in $commands; do expect+=("/usr/share/man/man8/sockdoctor-$cmd.8.gz"); done
for f in "${expect[@]}"; do [[ -f $f ]] || fail "$f is missing"; done
[[ -x $sd ]] && ok "${#expect[@]} files in place"

version=$(dpkg-deb -f "$deb" Version)
[[ $("$sd" --version) == "sockdoctor $version" ]] && ok "sockdoctor --version: $version" ||
  fail "sockdoctor --version says '$("$sd" --version)', the package is $version"
[[ $(man -w sockdoctor-ls) == /usr/share/man/man8/sockdoctor-ls.8.gz ]] &&
  ok "man -w sockdoctor-ls" || fail "man -w sockdoctor-ls: '$(man -w sockdoctor-ls 2>&1)'"
page=$(man sockdoctor 2>/dev/null || true)
grep -q 'EXIT STATUS' <<<"$page" || fail "man sockdoctor does not render"

# bash: what bash-completion's loader finds for the command, completing the first word.
got=$(bash --norc -c '
  source /usr/share/bash-completion/bash_completion
  __load_completion sockdoctor && complete -p sockdoctor >/dev/null || exit 9
  COMP_WORDS=(sockdoctor ""); COMP_CWORD=1; _sockdoctor; echo "${COMPREPLY[*]}"
  COMP_WORDS=(sockdoctor ls --st); COMP_CWORD=2; _sockdoctor; echo "${COMPREPLY[*]}"')
listed=${commands//$'\n'/ }
[[ $got == "$listed"$'\n'"--state" ]] && ok "bash completes: $listed" ||
  fail "bash completion gave '$got', expected '$listed' and --state"
# zsh: compinit finds _sockdoctor on Debian's default fpath.
got=$(zsh -f -c 'autoload -Uz compinit; compinit -u -D; print -r -- $_comps[sockdoctor]')
[[ $got == _sockdoctor ]] && ok "zsh's compinit finds _sockdoctor" ||
  fail "zsh: \$_comps[sockdoctor] is '$got'"

unit=/usr/lib/systemd/system/sockdoctor.service
if out=$(systemd-analyze verify "$unit" 2>&1) && [[ -z $out ]]; then
  ok "systemd-analyze verify $unit"
else
  fail "systemd-analyze verify: $out"
fi
systemd-analyze security --offline=true --no-pager "$unit" | tail -1
[[ $(systemctl is-enabled sockdoctor.service 2>&1) == disabled ]] && ok "unit disabled" ||
  fail "systemctl is-enabled: $(systemctl is-enabled sockdoctor.service 2>&1)"

echo "== dpkg -r, then dpkg -P after an administrator's enable and a state directory"
enabled_by_us=1
systemctl enable sockdoctor.service >/dev/null 2>&1 || fail "systemctl enable (offline)"
[[ -L $wants ]] || fail "systemctl enable made no $wants"
mkdir -p /var/lib/sockdoctor && touch /var/lib/sockdoctor/state
dpkg_wait -r sockdoctor || fail "dpkg -r"
while read -r f; do [[ -e $f ]] && fail "$f left after dpkg -r"; done <"$work/files"
dpkg_wait -P sockdoctor || fail "dpkg -P"
installed=0
status=$(dpkg-query -W -f='${db:Status-Status}' sockdoctor 2>/dev/null || true)
[[ -z $status || $status == not-installed ]] || fail "after dpkg -P the package is $status"
for f in /var/lib/sockdoctor "$wants" /var/lib/systemd/deb-systemd-helper-enabled/sockdoctor.service.dsh-also \
  /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/sockdoctor.service; do
  [[ -e $f || -L $f ]] && fail "$f left after dpkg -P"
done
snapshot >"$work/after"
diff -u "$work/before" "$work/after" || fail "the machine differs after dpkg -P (above)"
((fails == 0)) && ok "dpkg -r and dpkg -P removed everything"

echo "== deb test finished in $(($(date +%s) - start)) s: $fails failures"
((fails == 0))
