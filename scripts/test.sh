#!/usr/bin/env bash
# Set everything up (venv, Xvfb + GL libraries) and run lint plus the whole test suite, slow
# training tests included. Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --system

echo "==> ruff"
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts

echo "==> pytest"
export PYTHONUNBUFFERED=1
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
    echo "pytest collected no tests: failing on purpose" >&2
    exit 1
fi
exit $rc
