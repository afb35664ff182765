#!/usr/bin/env bash
# Set up .venv and run the end-to-end demo on the bundled mirror-mouse sample (headless).
# Extra arguments go to `napari-lightning-pose demo` (see --help).
#
# The demo writes traces.png on any machine (Qt's offscreen platform). qc.png is a screenshot
# of the napari window, whose canvas needs OpenGL and an X display: without a display the demo
# starts a virtual X server (Xvfb), which is installed here like scripts/test.sh does (apt-get,
# as root or with sudo). Where that cannot be done, the demo still runs and says how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "$(uname -s)" == Linux && -z "${DISPLAY:-}" ]]; then
    if ! scripts/install_system_deps.sh; then
        cat >&2 <<'MSG'
==> could not install Xvfb and the OpenGL/Qt libraries (they need apt-get, and root or sudo):
    the demo writes traces.png but not qc.png. To get qc.png, install them once with
    `sudo scripts/install_system_deps.sh` (Debian/Ubuntu; elsewhere the package xvfb or
    xorg-server-xvfb and Mesa), or run the demo on a machine with a display.
MSG
    fi
fi
scripts/setup.sh
.venv/bin/napari-lightning-pose demo "$@"
