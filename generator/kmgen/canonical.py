"""Canonical JSON for reading and comparing ops: keys sorted by UTF-16 code units, numbers
written as JavaScript writes them. The rules themselves never sort (key order is
JavaScript's own-property order in both runtimes); only printed output and tests do."""

from .rules.portable import _json


def _sorted(obj):
    return sorted(obj, key=lambda text: text.encode('utf-16-be', 'surrogatepass'))


def canonical(x):
    """``x`` as compact JSON with every object's keys sorted (``kmgen ops`` output)."""
    return _json(x, _sorted)
