"""Import and export: DeepLabCut projects, SLEAP files, Lightning Pose configs, movement, NWB.

Pure functions (no Qt): each reads another tool's files with that tool's own conventions and
writes ours, or the reverse. ``cli.interop`` puts them on the command line.
"""
