#!/usr/bin/env bash
# Create or reuse the virtual environment in .venv/ and install the plugin with its test tools.
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
# Usage: scripts/setup.sh [--system]   (--system also installs Xvfb + OpenGL/Qt libraries via apt)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--system" ]]; then
    scripts/install_system_deps.sh
fi

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi

stamp=.venv/.nlp-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] || ! .venv/bin/python -c "import napari_lightning_pose" 2>/dev/null; then
    echo "==> installing napari-lightning-pose and its dependencies into .venv (first time: a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip wheel 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -m pip install -q -e ".[all,interop,testing,bench]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import napari_lightning_pose, torch, napari" # fail loudly if the install failed
    echo "$want" > "$stamp"
fi
