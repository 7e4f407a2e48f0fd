"""PagerDuty Events API v2 in: `POST /v2/enqueue` and the integration keys it needs (issue 20)."""
