"""Backbones, heatmap head, spatial soft-argmax and the pose model."""
