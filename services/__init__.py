"""Vigil's services. Each one is a package with the same small set of modules (see docs/architecture.md)."""
