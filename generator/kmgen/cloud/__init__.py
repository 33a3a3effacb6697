"""Cloud mode: ops -> Kissmetrics HTTP API requests, readers and the sender."""
