"""Canonical JSON for reading and comparing ops: keys sorted by UTF-16 code units, numbers
written as JavaScript writes them. The rules themselves never sort (key order is
JavaScript's own-property order in both runtimes); only printed output and tests do."""

from .rules.portable import _js_number, _json_string, is_missing, is_number


def _utf16(text):
    return text.encode('utf-16-be', 'surrogatepass')


def canonical(x):
    """``x`` as compact JSON with every object's keys sorted (``kmgen ops`` output)."""
    if isinstance(x, str):
        return _json_string(x)
    if isinstance(x, bool):
        return 'true' if x else 'false'
    if is_missing(x):
        return 'null'
    if is_number(x):
        return _js_number(x)
    if isinstance(x, dict):
        return '{' + ','.join(_json_string(k) + ':' + canonical(x[k]) for k in sorted(x, key=_utf16)) + '}'
    if isinstance(x, (list, tuple)):
        return '[' + ','.join(canonical(v) for v in x) + ']'
    raise TypeError('cannot encode %r as JSON' % (x,))
