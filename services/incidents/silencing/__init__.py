"""Silences, and the scope of maintenance windows, as they act on alerts (issue 20): the API, the
SQL, and the check that hands alerts back to the normal path when their silence ends. The matching
itself is the pure `services.incidents.silences`."""
