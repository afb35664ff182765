"""Inference: batched video prediction, partial results, video metrics, held-out evaluation,
and the docks' long jobs (train an ensemble; predict and smooth) as plain generators."""
