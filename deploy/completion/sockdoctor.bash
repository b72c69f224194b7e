# bash completion for sockdoctor(8).
# Commands and options are read from `sockdoctor [COMMAND] --help` of the binary being completed
# (as bash-completion's _parse_help does), so a new command or option completes without an edit
# here; only the values of a few options are listed below. tests/packaging/completion_test.py
# checks the result for every command the binary has.

# CLI11's help, one line per entry: kind<TAB>names<TAB>takes-value<TAB>choices<TAB>description,
# kind = opt | sub | pos; choices "-" for none (read would merge an empty field with the next).
# An entry starts with two spaces; a longer indent continues it.
_sockdoctor_parse_help() {
  awk '
    /^[A-Z][A-Za-z ]*:$/ { flush(); sec = $0; next }
    /^$/ { flush(); sec = ""; next }
    sec != "Options:" && sec != "Subcommands:" && sec != "Positionals:" { next }
    /^   / { sub(/^ +/, ""); desc = desc (desc == "" ? "" : " ") $0; next }
    /^  [^ ]/ {
      flush(); line = $0; sub(/^ +/, "", line); desc = ""
      if (match(line, /  +/)) {
        desc = substr(line, RSTART + RLENGTH); line = substr(line, 1, RSTART - 1)
      }
      n = split(line, f, " "); names = f[1]; type = (n >= 2 && f[2] != "...") ? f[2] : ""
      choices = ""
      if (match(type, /\{[^}]*\}/)) choices = substr(type, RSTART + 1, RLENGTH - 2)
      kind = sec == "Options:" ? "opt" : sec == "Subcommands:" ? "sub" : "pos"
      have = 1
    }
    function flush() {
      if (have) printf "%s\t%s\t%s\t%s\t%s\n", kind, names, (type == "" ? 0 : 1),
                       (choices == "" ? "-" : choices), desc
      have = 0
    }
    END { flush() }'
}

# The parsed help of PROG [CMD], cached for the shell session.
declare -gA _sockdoctor_help_cache
_sockdoctor_help() {
  local key="$1|$2"
  if [[ -z ${_sockdoctor_help_cache[$key]+set} ]]; then
    _sockdoctor_help_cache[$key]=$("$1" ${2:+"$2"} --help 2>/dev/null | _sockdoctor_parse_help)
  fi
  printf '%s\n' "${_sockdoctor_help_cache[$key]}"
}

# Values the help does not list as choices.
_sockdoctor_states="estab syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait close-wait last-ack
  listen closing all connected synchronized bucket big"

# Completes the value of option $1 (the word before the cursor) from the parsed entry $2.
_sockdoctor_value() {
  local opt=$1 choices=$2 cur=$3
  case $opt in
    -s | --state)
      # A comma list: complete the last element, keep what precedes it.
      local head="" last=$cur
      [[ $cur == *,* ]] && head=${cur%,*}, last=${cur##*,}
      COMPREPLY=($(compgen -P "$head" -W "$_sockdoctor_states" -- "$last"))
      compopt -o nospace 2>/dev/null
      return ;;
    --replay | --record | --audit-file | --db | --svg | --web.config.file)
      compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --proc-root | --sys-root | --pods-log-root | --pin-root | --register)
      compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --netns)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "${cur:-/run/netns/}")); return ;;
    -c | --comm)
      COMPREPLY=($(compgen -W "$(cat /proc/[0-9]*/comm 2>/dev/null | sort -u)" -- "$cur")); return ;;
    -p | --pid) COMPREPLY=($(compgen -W "$(cd /proc && printf '%s ' [0-9]*)" -- "$cur")); return ;;
  esac
  [[ $choices != - ]] && COMPREPLY=($(compgen -W "${choices//,/ }" -- "$cur"))
}

_sockdoctor() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  # bash splits --opt=value at '=' (COMP_WORDBREAKS): complete the value of --opt.
  if [[ $cur == = ]]; then
    prev=${COMP_WORDS[COMP_CWORD - 1]} cur=""
  elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi
  local prog=${COMP_WORDS[0]/#\~/$HOME}
  type -P -- "$prog" >/dev/null || prog=sockdoctor
  COMPREPLY=()

  local top cmd="" i word words kind names takes choices desc
  top=$(_sockdoctor_help "$prog" "")
  # The command is the first word that names one and is not a global option's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if grep -q "^sub	$word	" <<<"$top"; then cmd=$word; break; fi
    if [[ $word == -* ]] && grep -qE "^opt	([^	]*,)?$word(,[^	]*)?	1	" <<<"$top"; then ((i++)); fi
  done
  local help=$top
  [[ -n $cmd ]] && help=$(_sockdoctor_help "$prog" "$cmd")

  # The value of an option (of the command, or a global one before the command).
  if [[ $prev == -* && $prev != *=* ]]; then
    while IFS=$'\t' read -r kind names takes choices desc; do
      [[ $kind == opt && $takes == 1 && ",$names," == *",$prev,"* ]] || continue
      _sockdoctor_value "$prev" "$choices" "$cur"
      return
    done <<<"$help"
  fi

  if [[ $cur == -* ]]; then
    words=$(awk -F'\t' '$1 == "opt" { gsub(",", " ", $2); print $2 }' <<<"$help")
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  elif [[ -z $cmd ]]; then
    words=$(awk -F'\t' '$1 == "sub" { print $2 }' <<<"$top")
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  elif [[ $cmd == explain ]]; then
    # The topics are the first words of the "Topics:" section of `explain --help`.
    words=$("$prog" explain --help 2>/dev/null | awk '/^Topics:$/ { t = 1; next }
      t && /^$/ { exit } t { print $1 }')
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  else
    words=$(awk -F'\t' '$1 == "pos" && $4 != "-" { gsub(",", " ", $4); print $4 }' <<<"$help")
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}

complete -F _sockdoctor sockdoctor
