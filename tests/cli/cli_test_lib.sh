# Sourced by the CLI test scripts (test_cli.sh, test_launch.sh) with the nanochat binary as $1: a scratch
# base dir removed at exit, pass/fail counters and the `expect` check.
set -uo pipefail
BIN="$1"
SHARED="${NANOCHAT_SHARED:-${NANOCHAT_SOURCE_DIR:-.}/../shared}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export NANOCHAT_BASE_DIR="$WORK/base"
passed=0; failed=0

ok() { passed=$((passed + 1)); }
# bad <description> [output]: counts a failure, printing the description and the output's last lines.
bad() { failed=$((failed + 1)); echo "FAIL: $1"; [[ -n "${2:-}" ]] && echo "$2" | tail -20 | sed 's/^/    /'; }

# expect <name> <expected exit code> <regex the combined output must match> -- command...
expect() {
  local name="$1" code="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [[ $rc -eq $code ]] && grep -qE -- "$pattern" <<<"$out"; then ok; else bad "$name (exit $rc, wanted $code; pattern '$pattern')" "$out"; fi
}
