"""napari widgets (Qt): thin layers over the core."""
