"""Losses: supervised heatmap loss now; temporal and PCA losses plug in the same way."""
