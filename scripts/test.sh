#!/usr/bin/env bash
# The whole test suite, as the README says and .ci/run does: a virtual environment in .venv with the pinned,
# known-good versions of constraints.txt, then lint, types and pytest. Needs scripts/test-deps.sh first.
# Arguments go to pytest (lint and types then run only when there are none). Exits non-zero when a test fails
# or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${CALLBACK_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# PIP_CONSTRAINT also pins what pip puts in the isolated build environment (setuptools).
export PIP_CONSTRAINT="$PWD/constraints.txt"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'

if [ $# -eq 0 ]; then
  "$venv/bin/ruff" check ari_app tests bench
  "$venv/bin/mypy" ari_app
fi

set +e
"$venv/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "no tests were collected: failing" >&2
  exit 1
fi
exit "$rc"
