"""Readers and writers: lazy video, label and prediction CSVs, project config."""
