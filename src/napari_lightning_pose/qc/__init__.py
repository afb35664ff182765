"""Close the loop (pure, no Qt): outlier scores, refine with pre-filled labels, frame
suggestions, corrections fed back to EKS, and labeled-video export."""
