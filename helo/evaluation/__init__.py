"""Folds, standardisation, the six metrics and the per-fold runner."""
