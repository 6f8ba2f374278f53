#!/usr/bin/env bash
# A plain install serves: `pip install .` with NO extras into a throw-away venv, then with that
# venv's python (never the source tree): import every module of recsys, api and jobs, train a
# tiny shop through the installed `recsys` CLI (import-catalog, import-events, train: ALS and
# the packaged MiniLM text model), and start the API app factory on it (/healthz, /readyz, a
# user's and a session's recommendations). Catches a runtime import that only an extra (e.g.
# `test`) installs. Runs from any directory; exits non-zero with a message on any failure.
# About 3-4 minutes, mostly pip (see .ci/run).
set -euo pipefail

started=$(date +%s)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/recsys-plain-install.XXXXXX")"
step="setup"

finish() {
    local status=$?
    rm -rf "$work"
    local took=$(($(date +%s) - started))
    if [ "$status" -ne 0 ]; then
        echo "plain install: FAILED at step '$step' (exit $status) after ${took} s" >&2
    else
        echo "plain install: ok in ${took} s"
    fi
}
trap finish EXIT

# Build from a copy of the files pip would package, so the checkout gets no build/ or
# *.egg-info of its own and nothing can be imported from it by accident.
step="copy sources"
mkdir "$work/src"
(cd "$root" && cp -r pyproject.toml README.md recsys api jobs "$work/src/")
find "$work/src" -name __pycache__ -type d -prune -exec rm -rf {} +

step="create venv"
"$python" -m venv "$work/venv"
venv_python="$work/venv/bin/python"
"$venv_python" -m pip install -q --upgrade pip
step="pip install torch==2.13.0"
# torch first, pinned as in the Makefile: the CPU wheel (unpinned: a multi-GB CUDA build)
"$venv_python" -m pip install -q torch==2.13.0
step="pip install . (no extras)"
"$venv_python" -m pip install -q "$work/src"

# Everything below runs outside the checkout, with no PYTHONPATH, in isolated mode.
cd "$work"
unset PYTHONPATH
check=("$venv_python" -I "$root/.ci/plain_install_check.py")

step="import every module"
"${check[@]}" imports

step="train a tiny home"
home="$work/home"
"${check[@]}" write-shop "$work/shop"
recsys=("$work/venv/bin/recsys" --home "$home" --no-progress)
"${recsys[@]}" import-catalog "$work/shop/catalog.csv"
"${recsys[@]}" import-events "$work/shop/events.csv"
"${recsys[@]}" train

step="serve with the app factory"
"${check[@]}" serve "$home" run1
