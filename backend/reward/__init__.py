"""Rewards that score steps: vote agreement, the process preference model (PPM)."""
