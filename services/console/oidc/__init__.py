"""OpenID Connect sign-in: `claims` (PURE: what the provider says about a person → whom the console
signs in, with which role, or why not) and `provider` (discovery, the authorization request with
PKCE, the code exchange and the ID token's verification against the provider's keys)."""
