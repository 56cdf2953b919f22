#!/usr/bin/env bash
# The project's one entry point. On a fresh machine with Python >= 3.11 it creates
# .venv, installs the project with its test extras (once; again only when
# pyproject.toml changes), then runs what was asked:
#   ./dev.sh demo [args]    the flash-sale rehearsal on the full local stack (the main job)
#   ./dev.sh test [args]    the whole test suite (pytest args pass through)
#   ./dev.sh setup          only create/refresh the environment
#   ./dev.sh allocator ...  any allocator subcommand, e.g. ./dev.sh allocator bench core --json
set -euo pipefail
cd "$(dirname "$0")"

VENV="${ALLOCATOR_VENV:-.venv}"

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "dev.sh: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "dev.sh: creating $VENV" >&2
    "$(find_python)" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "dev.sh: installing dependencies into $VENV (first run takes a few minutes)" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[test]" --config-settings editable_mode=compat
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

cmd="${1:-demo}"
[ $# -gt 0 ] && shift
setup
case "$cmd" in
  setup) ;;
  demo) exec "$VENV/bin/allocator" rehearse "$@" ;;
  test)
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then echo "dev.sh: no tests were collected: failing" >&2; exit 1; fi
    exit "$rc" ;;
  allocator) exec "$VENV/bin/allocator" "$@" ;;
  *) echo "usage: ./dev.sh {demo|test|setup|allocator ...} [args]" >&2; exit 2 ;;
esac
