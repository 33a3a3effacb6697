"""kmgen's errors: one base class, caught by the CLI and printed as one line."""


class KmgenError(Exception):
    """Base class of every error kmgen reports to a user as ``Error: <message>``."""


class ConfigError(KmgenError):
    """A setting or config file is wrong."""


class MessageError(KmgenError):
    """An input message is not a valid Segment or RudderStack call."""


class BuildError(KmgenError):
    """Transpiling, bundling or rendering failed."""


class DeliveryError(KmgenError):
    """Sending to the Kissmetrics HTTP API failed."""
