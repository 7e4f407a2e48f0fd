"""The notifier: turns pages and tickets into messages to people (e-mail, webhooks, Slack, Apprise)
with a delivery row per message, retries, throttling that bundles, and signed acknowledge links."""
