"""The napari side: readers, writer and sample data (npe2 contributions), the pure converters
from our files to layer data, layer styles, and the Qt widgets under ``widgets/``.

Importing this package imports neither napari nor Qt: the converters, styles, readers and
writer are plain Python; only ``widgets/`` and ``demo_qc`` need a GUI."""
