#!/usr/bin/env bash
# Upgrade the pinned test and build versions on purpose: resolve the newest releases that pyproject.toml allows
# in a scratch virtual environment and write them to constraints.txt. Then run `bash scripts/test.sh` and commit
# constraints.txt only if the suite is green: an upstream release must never reach main without a commit of ours.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch"
"$scratch/bin/python" -m pip install -q --disable-pip-version-check -U pip setuptools
"$scratch/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
{
  echo "# Known-good versions for CI and the README's commands (pip install -c constraints.txt)."
  echo "# Made by scripts/refresh-constraints.sh on $(date -u +%F) with Python $("$scratch/bin/python" -c 'import platform; print(platform.python_version())')."
  echo "# pyproject.toml keeps the lower bounds for people installing the package."
  "$scratch/bin/python" -m pip freeze --all --exclude-editable | grep -v -E '^(pip|wheel)=='
} > constraints.txt
echo "constraints.txt refreshed; now run: bash scripts/test.sh" >&2
