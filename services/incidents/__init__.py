"""Incidents: turns alert events into incidents with a lifecycle and a timeline, publishes every
lifecycle change on vigil.incidents.v1 through an outbox, and is the HTTP API for incident tools."""
