"""Training: fit loop, protocol (CV -> median epoch -> final fit), metrics, checkpoints."""
