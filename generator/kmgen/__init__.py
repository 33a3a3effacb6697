"""kmgen: one set of Kissmetrics mapping rules, for the browser and for the server."""

__version__ = '0.1.0'
