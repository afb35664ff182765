#!/usr/bin/env bash
# Set up .venv and run the end-to-end demo on the bundled mirror-mouse sample (headless).
# Extra arguments go to `napari-lightning-pose demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/napari-lightning-pose demo "$@"
