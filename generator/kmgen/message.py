"""The input boundary: one Segment or RudderStack message, parsed and type-checked.

The rules tolerate anything (the browser must never throw); here, on the command line
and in cloud mode, a wrong message is reported with what is wrong and how to fix it.
"""

import difflib
import json
import math
import sys

from .errors import MessageError
from .rules import RULES
from .rules.portable import date_value

CALL_TYPES = tuple(RULES)
ID_FIELDS = ('userId', 'anonymousId', 'previousId', 'groupId')
OBJECT_FIELDS = ('properties', 'traits', 'context')
TEXT_FIELDS = ('event', 'name', 'category')
TIME_FIELDS = ('timestamp', 'originalTimestamp')



def as_json(value, limit=80):
    """A value as it stands in the message (JSON: ``true``, ``"x"``), cut for an error line."""
    text = json.dumps(value, ensure_ascii=False, separators=(',', ':'), default=str)
    return text if len(text) <= limit else text[:limit] + '...'

def _kind(value):
    return {dict: 'an object', list: 'an array', str: 'a string', bool: 'a boolean', int: 'a number',
            float: 'a number', type(None): 'null'}.get(type(value), type(value).__name__)


def _finite_number(value):
    """Ids may be numbers (written as JavaScript's String() writes them), never booleans."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _reject_constant(name):
    raise ValueError('%s is not valid JSON' % name)


def parse(text, source='<stdin>'):
    """Parse one JSON message and check it (see ``check``).

    Raises:
        MessageError: invalid JSON or an invalid message.
    """
    try:
        message = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as err:
        raise MessageError('Invalid JSON in %s: %s.' % (source, err)) from None
    return check(message, source)


# What each checked field must hold: its kind, and the class that fits it at first sight.
OBJECT, ID, TEXT, TIME = 'object', 'id', 'text', 'time'
_KIND = dict([(name, OBJECT) for name in OBJECT_FIELDS] + [(name, ID) for name in ID_FIELDS]
             + [(name, TEXT) for name in TEXT_FIELDS] + [(name, TIME) for name in TIME_FIELDS])
_KIND_TYPE = {OBJECT: dict, ID: str, TEXT: str, TIME: str}


def _field_error(message, source):
    """Raise the error of the first field (in the fixed order below) whose value is wrong."""
    for name in OBJECT_FIELDS:
        value = message.get(name)
        if value is not None and not isinstance(value, dict):
            raise MessageError('"%s" in %s must be an object, got %s (%s).' % (name, source, _kind(value), as_json(value)))
    for name in ID_FIELDS + TEXT_FIELDS:
        value = message.get(name)
        if value is not None and not isinstance(value, str) and not (name in ID_FIELDS and _finite_number(value)):
            raise MessageError('"%s" in %s must be a string, got %s (%s).' % (name, source, _kind(value), as_json(value)))
    for name in TIME_FIELDS:
        value = message.get(name)
        if value is not None and date_value(value) is None:
            raise MessageError('"%s" in %s must be an ISO-8601 date such as "2024-05-01T12:00:00Z", got %s.'
                               % (name, source, as_json(value)))


def check(message, source='message'):
    """Return ``message`` if it is a Segment- or RudderStack-shaped call, else raise
    MessageError naming the field, the offending value and the fix."""
    if not isinstance(message, dict):
        raise MessageError('%s must be a JSON object (one message), got %s.' % (source, _kind(message)))
    call_type = message.get('type')
    if call_type is None:
        raise MessageError('%s has no "type": add "type": "track" (or %s).'
                           % (source, ', '.join(t for t in CALL_TYPES if t != 'track')))
    if call_type not in CALL_TYPES:
        close = difflib.get_close_matches(str(call_type).lower(), CALL_TYPES, n=1, cutoff=0.5)
        raise MessageError('Unknown message type %s in %s.%s Use one of %s.' % (
            as_json(call_type), source, ' Did you mean %s?' % as_json(close[0]) if close else '', ', '.join(CALL_TYPES)))
    for name in message:
        kind = _KIND.get(name)
        if kind is None:
            continue
        value = message[name]
        if value is None or value.__class__ is _KIND_TYPE[kind]:
            if kind != TIME or value is None or date_value(value) is not None:
                continue
        elif kind == ID and _finite_number(value):
            continue
        _field_error(message, source)
    if call_type == 'track' and not message.get('event'):
        raise MessageError('track message in %s has no "event": add "event": "<what happened>".' % source)
    if call_type == 'alias':
        if message.get('userId') in (None, ''):
            raise MessageError('alias message in %s has no "userId": add the new identity as "userId".' % source)
        if message.get('previousId') in (None, '') and message.get('anonymousId') in (None, ''):
            raise MessageError('alias message in %s has no "previousId" (nor "anonymousId"): '
                               'add the old identity as "previousId".' % source)
    return message


def read(path=None):
    """Read and check one message from ``path``, or from stdin when ``path`` is None or '-'."""
    if path is None or path == '-':
        if sys.stdin is None or sys.stdin.isatty():
            raise MessageError('No message: pipe one JSON message on stdin or pass --message FILE.')
        return parse(sys.stdin.read(), '<stdin>')
    try:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
    except OSError as err:
        raise MessageError('Cannot read %s: %s.' % (path, err.strerror or err)) from None
    return parse(text, path)
