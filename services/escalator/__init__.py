"""Escalator: who is on call (rotations, overrides, backup) and, next, paging them by policy."""
