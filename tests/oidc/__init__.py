"""A real OpenID Connect provider for tests (the npm package oidc-provider, run by node)."""
