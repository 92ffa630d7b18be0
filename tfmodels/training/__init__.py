"""Training: strategy, optimizer and schedule, callbacks, run folders, and the fit driver."""
