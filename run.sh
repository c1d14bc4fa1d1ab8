#!/usr/bin/env bash
# talkinglib's two entry points for a fresh clone (see README.md):
#   ./run.sh          set up .venv (when absent) and run the main job (talkinglib demo)
#   ./run.sh test     set up .venv (when absent) and run every test: unit tests, then nbval over notebooks/
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.talkinglib-installed" ] \
     || ! cmp -s constraints.txt "$VENV/.talkinglib-installed"; then
    echo "== setting up $VENV with $($PY --version) (pinned by constraints.txt; a few minutes the first time)"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[prepare,notebooks,dev]"
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    cp constraints.txt "$VENV/.talkinglib-installed"
  fi
}

setup
export MPLBACKEND=${MPLBACKEND:-Agg}
case "${1:-demo}" in
  demo)
    shift || true
    exec "$VENV/bin/talkinglib" demo "$@" ;;
  test)
    shift || true
    "$VENV/bin/python" -m pytest tests -q "$@"
    exec "$VENV/bin/python" -m pytest --nbval-lax --nbval-current-env notebooks -q -p no:cacheprovider ;;
  *)
    echo "usage: ./run.sh [demo|test]" >&2; exit 2 ;;
esac
