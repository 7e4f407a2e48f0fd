"""The operations wing of the incident service: postmortems and action items, noise marks, the
stored reports (daily check, weekly and monthly reviews, the incident report), on-call handoffs and
the simple records (runbooks, toil, reliability gaps, deployments, maintenance windows).

It reads the core's incident rows and timeline (one deployable, one schema); the core never imports
it: `app.py` includes its routers and passes `service.open_for_resolved` into the core's resolve
path, so a postmortem opens in the resolve's transaction."""
