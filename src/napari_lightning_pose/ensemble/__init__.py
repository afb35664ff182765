"""Ensemble statistics and the Ensemble Kalman Smoother (single- and multi-view)."""
