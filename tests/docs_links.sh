#!/usr/bin/env bash
# Checks the guides' links into the source, `[file.c:N](../src/dir/file.c#LN)`,
# so that docs/dataflow.md's step-by-step walk cannot drift from the code:
#  - the file exists and has line N, and the link's text names the same line;
#  - the function the sentence names (the last `mu_...` or `snake_case` in
#    backticks before the link, on the same line) is defined on line N.
# A link with no backticked name before it is checked for the first two only.
#
#   bash tests/docs_links.sh <source dir> [<build dir>]      check
#   bash tests/docs_links.sh <source dir> --fix              move each link to
#       the line its function is defined on now (run it after editing src/)
#
# Only grep, sed and awk: a fresh Debian machine has no other scripting tool.
set -euo pipefail

src=$(cd "${1:?usage: docs_links.sh <source dir> [<build dir>|--fix]}" && pwd)
fix=0
[[ ${2:-} == --fix ]] && fix=1
failures=0

# def_line FILE NAME: the line where NAME's definition starts: a line that
# begins a declaration with "NAME(" on it, whose parameter list (which may run
# over several lines) is followed by '{' rather than ';'. Nothing if none.
def_line() {
  awk -v name="$2" '
    start == 0 && index($0, name "(") && $0 ~ /^[A-Za-z_]/ {
      pos = index($0, name "(")
      if (pos > 1 && substr($0, pos - 1, 1) ~ /[A-Za-z0-9_]/) next
      start = NR; depth = 0; text = substr($0, pos)
    }
    start {
      if (NR > start) text = $0
      for (i = 1; i <= length(text); ++i) {
        c = substr(text, i, 1)
        if (c == "(") ++depth
        else if (c == ")") --depth
        else if (depth == 0 && c == "{") { print start; exit }
        else if (depth == 0 && c == ";") { start = 0; break }
      }
    }' "$1"
}

# check_link DOC DOCLINE TEXT_BEFORE LINK: prints "ok", "fix NEW_LINK" or
# "fail MESSAGE" (it runs in a subshell, so it reports rather than counts).
check_link() {
  local doc=$1 docline=$2 before=$3 link=$4
  local text path line file name want
  text=$(sed -E 's/^\[([^]]*)\].*/\1/' <<<"$link")
  path=$(sed -E 's/^\[[^]]*\]\(([^)#]*)#L([0-9]+)\)$/\1/' <<<"$link")
  line=$(sed -E 's/^\[[^]]*\]\(([^)#]*)#L([0-9]+)\)$/\2/' <<<"$link")
  file=$(cd "$(dirname "$doc")" && realpath -m "$path")
  if [[ ! -f $file ]]; then
    echo "fail $doc:$docline: $link: no such file"
    return
  fi
  if ((line > $(wc -l <"$file"))); then
    echo "fail $doc:$docline: $link: $(basename "$file") has no line $line"
    return
  fi
  if [[ $text != "$(basename "$file"):$line" ]]; then
    echo "fail $doc:$docline: $link: the text does not name the line it links to"
    return
  fi
  # shellcheck disable=SC2016 # backticks are literal here
  name=$(grep -oE '`[A-Za-z_][A-Za-z0-9_]*`' <<<"$before" | tail -n 1 | tr -d '`' || true)
  [[ -n $name ]] || { echo ok; return; }
  want=$(def_line "$file" "$name")
  if [[ -z $want ]]; then
    echo "fail $doc:$docline: $link: \`$name\` is not defined in $(basename "$file")"
  elif [[ $want == "$line" ]]; then
    echo ok
  elif ((fix)); then
    echo "fix [$(basename "$file"):$want]($path#L$want)"
  else
    echo "fail $doc:$docline: $link: \`$name\` is defined on line $want (bash tests/docs_links.sh . --fix)"
  fi
}

# One link at a time, with the text of its line before it.
check_doc() {
  local doc=$1 n=0 rest before link verdict out
  local -a lines=()
  mapfile -t lines <"$doc"
  for i in "${!lines[@]}"; do
    n=$((i + 1))
    rest=${lines[$i]}
    out=
    while [[ $rest =~ \[[A-Za-z0-9_.]+:[0-9]+\]\([^\)#]*#L[0-9]+\) ]]; do
      link=${BASH_REMATCH[0]}
      before=${rest%%"$link"*}
      verdict=$(check_link "$doc" "$n" "$out$before" "$link")
      case $verdict in
        fix\ *) out+="$before${verdict#fix }" ;;
        fail\ *) echo "${verdict#fail }" >&2; failures=$((failures + 1)); out+="$before$link" ;;
        *) out+="$before$link" ;;
      esac
      rest=${rest#*"$link"}
    done
    lines[i]="$out$rest"
  done
  if ((fix)); then printf '%s\n' "${lines[@]}" >"$doc"; fi
}

count=0
for doc in "$src"/docs/*.md "$src"/README.md; do
  [[ -f $doc ]] || continue
  if grep -qE '\]\([^)#]*#L[0-9]+\)' "$doc"; then
    check_doc "$doc"
    count=$((count + $(grep -oE '\]\([^)#]*#L[0-9]+\)' "$doc" | wc -l)))
  fi
done
if ((count == 0)); then
  echo "docs_links: no source links found: the pattern is wrong" >&2
  exit 1
fi
if ((failures)); then
  echo "docs_links: $failures of $count links are wrong" >&2
  exit 1
fi
echo "docs_links: $count links checked$( ((fix)) && echo ', fixed where moved')"
