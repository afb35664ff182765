"""Labeled-frame datasets, augmentation and unlabeled video clips for training."""
