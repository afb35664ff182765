"""``python -m napari_lightning_pose.cli`` (and ``torchrun -m napari_lightning_pose.cli``)."""

import sys

from napari_lightning_pose.cli.main import main

sys.exit(main())
