"""The SLO service: error budgets from the metrics stream, burn-rate alerts, capacity forecasts."""
