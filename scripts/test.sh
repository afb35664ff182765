#!/usr/bin/env bash
# Set everything up (venv, Xvfb + GL libraries) and run lint plus the whole test suite, slow
# training tests included. Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --system

echo "==> ruff"
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts

# The suite trains small models (~0.14 GB per checkpoint); a passed test's folder is removed
# when it ends (pyproject's tmp_path_retention_policy), and the peak is ~1.6 GB.
tmp="${TMPDIR:-/tmp}"
free_gb=$(df -Pk "$tmp" | awk 'NR == 2 {printf "%d", $4 / 1048576}')
if [[ $free_gb -lt 3 ]]; then
    echo "Only ${free_gb} GB free in $tmp; the tests need about 3 GB there." >&2
    echo "Free some space, or point TMPDIR at a disk with room (TMPDIR=/path scripts/test.sh)." >&2
    exit 1
fi

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
