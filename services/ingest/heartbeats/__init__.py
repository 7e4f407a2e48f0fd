"""Heartbeat monitors (dead-man's switches): docs/heartbeats.md."""
