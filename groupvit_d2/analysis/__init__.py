"""Offline analysis of finished runs, for the scripts in tools/: per-class IoU differences between
two evaluations, and the reference scores a trained model must beat. Nothing here runs during
training or `--eval-only` (that is groupvit_d2.evaluation)."""
