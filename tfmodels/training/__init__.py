"""Training: Keras plumbing that knows no task, model or run folder — the fit seam (`loop.py`), callbacks,
crash-safe checkpoints and resuming, optimizers and schedules, the distillation loss."""
