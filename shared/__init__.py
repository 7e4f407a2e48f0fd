"""Vigil's shared plumbing: the event contract, Kafka and Postgres helpers, settings, logging and tracing.

It stays narrow on purpose: no service logic lives here, and services never import each other.
"""
