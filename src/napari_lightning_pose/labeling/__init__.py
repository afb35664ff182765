"""Labeling, pure (no Qt): project folders, frame selection, labeling state and the three-way
merge of labels."""
