#!/usr/bin/env bash
# completion_test.sh MMIOTRACE BASH_COMPLETION [ZSH_COMPLETION]
# Checks the generated bash completion against the CLI's own --help: every
# subcommand, every option of each (nothing more: hidden options stay hidden),
# the choices of options and arguments with a fixed set, and that record's
# program gets a command line of its own. It runs the completion function in a
# bash without bash-completion, as bash would on TAB. The zsh script, if zsh
# is installed, must parse and name every option.
set -euo pipefail
exe=$1
script=$2
zsh_script=${3:-}
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# offered WORD...: what TAB offers for the last word, one per line, sorted.
offered() {
  bash --norc --noprofile -c '
    source "$1"
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    _mmiotrace
    ((${#COMPREPLY[@]} == 0)) || printf "%s\n" "${COMPREPLY[@]}"' _ "$script" "$@" | sort
}
expect() {  # WANT(newline-separated) WORD...
  local want=$1
  shift
  local got
  got=$(offered "$@")
  [[ "$got" == "$(sort <<< "$want")" ]] || fail "TAB after '$*' offers [$(echo $got)], want [$(echo $want)]"
}
section() {  # ARGS... SECTION: the lines of one section of `mmiotrace ARGS --help`
  local name=${*: -1}
  "$exe" "${@:1:$#-1}" --help | awk -v s="$name:" '$0 == s { on = 1; next } /^[^ ]/ { on = 0 } on && /^  [^ ]/'
}

subs=$(section Subcommands | awk '{print $1}')
[[ -n "$subs" ]] || { echo "FAIL: '$exe --help' lists no subcommands" >&2; exit 1; }
expect "$subs" mmiotrace ""
expect "$(section Options | awk '{print $1}' | tr ',' '\n' | grep '^-')" mmiotrace -

for s in $subs; do
  # Every option --help lists, and only those.
  opts=$(section "$s" Options | awk '{print $1}' | tr ',' '\n' | grep '^-')
  expect "$opts" mmiotrace "$s" -
  # Options with a set of values ("--format TEXT:{kernel,native}=kernel ..."):
  # after the option, and after `--option=`, exactly those values.
  while read -r names type _; do
    [[ "$type" =~ \{([^}]*)\} ]] || continue
    values=$(tr ',' '\n' <<< "${BASH_REMATCH[1]}")
    for n in ${names//,/ }; do
      expect "$values" mmiotrace "$s" "$n" ""
      [[ $n == --* ]] && expect "$values" mmiotrace "$s" "$n" "="
    done
  done < <(section "$s" Options)
  # The first positional argument's set of values, if it has one.
  first=$(section "$s" Positionals | head -1)
  if [[ "$first" =~ \{([^}]*)\} ]]; then
    expect "$(tr ',' '\n' <<< "${BASH_REMATCH[1]}")" mmiotrace "$s" ""
  fi
done

# record: after the program's name (or --) the words belong to the program.
# Without bash-completion, bash completes a command name there, then files.
expect "$(compgen -c -- mmiotrace_no_such_prefix)" mmiotrace record mmiotrace_no_such_prefix
grep -qx bash <<< "$(offered mmiotrace record -o t.mmio -- bas)" || fail "no command names after 'record -o t.mmio --'"
grep -qx bash <<< "$(offered mmiotrace record --mode step bas)" || fail "no command names after 'record --mode step'"
expect "" mmiotrace record ./driver --
expect "" mmiotrace record -- ./driver --
# A value option's value is not the program: --device's argument gets files.
expect "" mmiotrace record --device ""

if [[ -n "$zsh_script" ]]; then
  if command -v zsh > /dev/null; then
    zsh -n "$zsh_script" || fail "zsh cannot parse $zsh_script"
    # Each subcommand's case (the root's options come before the cases).
    for s in "" $subs; do
      if [[ -z $s ]]; then
        block=$(sed -n '1,/^  case \$state in/p' "$zsh_script")
      else
        block=$(sed -n "/^        $s)\$/,/;;\$/p" "$zsh_script")
        [[ -n "$block" ]] || fail "$zsh_script has no case for $s"
      fi
      for o in $(section $s Options | awk '{print $1}' | tr ',' '\n' | grep '^-'); do
        grep -qE -- "(^|[{,' ])$o([,}']|\[)" <<< "$block" || fail "$zsh_script does not complete ${s:-mmiotrace} $o"
      done
    done
  else
    echo "zsh is not installed: the zsh script is not checked (scripts/setup.sh installs zsh)"
  fi
fi

((failures == 0)) || exit 1
echo "PASS: bash completion of $(echo $subs) agrees with their --help"
