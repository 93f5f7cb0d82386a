#!/usr/bin/env bash
# Policy as code: runs the CloudFormation Guard rules (policy/guard/*.guard) on template.yaml,
# which must pass, and on every template in tests/guard/broken/, each of which must fail exactly
# the rule its first line names (`# expect: <rule>`), so each rule is shown to bite.
# Installs cfn-guard (pinned) into .clawless/cargo first if it is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

guard="$(scripts/ensure-cfn-guard.sh)"
rules=policy/guard
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# cfn-guard exits 0 when nothing failed (rules pass or do not apply), 19 when a rule failed, and
# anything else when it could not run (a rule or template it cannot parse).
validate() {
  local rc=0
  "$guard" validate --rules "$rules" --data "$1" --show-summary fail --output-format single-line-summary >"$out" 2>&1 || rc=$?
  return "$rc"
}

failed=0
rc=0
validate template.yaml || rc=$?
if [ "$rc" != 0 ]; then
  cat "$out" >&2
  echo "guard: template.yaml breaks the rules above (exit $rc)" >&2
  failed=1
else
  echo "guard: template.yaml passes $(ls "$rules"/*.guard | wc -l) rule files"
fi

for broken in tests/guard/broken/*.yaml; do
  expect="$(sed -n '1s/^# expect: *//p' "$broken")"
  if [ -z "$expect" ]; then
    echo "guard: $broken has no '# expect: <rule>' first line" >&2
    failed=1
    continue
  fi
  rc=0
  validate "$broken" || rc=$?
  # The rules that failed, one per line, as "<file>.guard/<rule>".
  got="$(awk '$NF == "FAIL" && $1 ~ /\.guard\// { sub(/^.*\//, "", $1); print $1 }' "$out" | sort -u | paste -sd ' ' -)"
  if [ "$rc" = 19 ] && [ "$got" = "$expect" ]; then
    echo "guard: $broken fails $expect, as it must"
  else
    cat "$out" >&2
    echo "guard: $broken must fail exactly $expect; exit $rc, failed: ${got:-nothing}" >&2
    failed=1
  fi
done
exit "$failed"
