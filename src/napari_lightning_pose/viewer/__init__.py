"""The napari side: readers, writer and sample data (pure layer data, handed to napari by the
npe2 entry points in ``contributions``), the converters from our files to layer data, layer
styles, the labeled-video export, and the Qt widgets under ``widgets/``.

Importing this package imports neither napari nor Qt: the converters, styles, readers and
writer are plain Python; only ``widgets/``, ``contributions`` (when called) and ``demo_qc``
need a GUI."""
