"""Map: the units of an input -> events, each with the requests that deliver it (or a reject).

The second step of ``kmgen send`` (source -> **map** -> journal -> deliver). A unit is one
line of an input (or one item of a whole-file batch document); it holds one message, or
several when the line is a batch. An event is one message and its requests. A message without
a timestamp is sent with the ``_t`` its unit was given when it was first read (kept in the
journal, so a resend carries the same time and Kissmetrics' de-duplication absorbs it).

Dead-letter records hold the message and why it failed, never the URL: a replay maps the
message again with the settings of that run (a fixed ``tracking_host`` or ``api_key``
applies). Records written by kmgen before 0.2 (``method``, ``url``, ``body``) are still
replayed as they are.
"""

import json

from ..errors import MessageError
from ..message import check
from . import readers
from .requests import Request


class Event:
    """One message on its way: where it came from, its requests, and the ``_t`` it got when
    it has no timestamp of its own (``untimed``, else None)."""

    __slots__ = ('line', 'item', 'message', 'requests', 'untimed', 'origin', 'legacy')

    def __init__(self, line, item, message, requests, untimed=None, origin=None, legacy=None):
        self.line = line
        self.item = item
        self.message = message
        self.requests = requests
        self.untimed = untimed
        self.origin = origin        # a replayed record's own source, line and item
        self.legacy = legacy        # a replayed record of the old format (a request, not a message)


def dead_record(source, event, error, status, attempts):
    """The dead-letter record of an event none of whose failures can be retried any more."""
    if event.legacy is not None:
        record = dict(event.legacy)
        record.update(error=error, status=status, attempts=attempts)
        return record
    record = dict(event.origin) if event.origin else {'source': source, 'line': event.line}
    if not event.origin and event.item is not None:
        record['item'] = event.item
    record['message'] = event.message
    if event.untimed is not None:
        record['t'] = event.untimed
    record.update(error=error, status=status, attempts=attempts)
    return record


def _internal(label, err):
    return 'kmgen could not map %s (internal error %s: %s); please report it.' % (label, type(err).__name__, err)


def events(source, line, raw, item, builder, t, replay=False):
    """The events (and rejects) of one unit: yields ``Event`` or a reject record (a dict).

    Args:
        source, line, raw, item: the unit (see ``readers.units``).
        builder: ``requests.Builder`` of this run's settings.
        t: the unix time for messages without a timestamp.
        replay: the unit is a dead-letter record, not a message.
    """
    if replay:
        yield _replayed(source, line, raw, builder)
        return
    messages, rejects = readers.parse(source, line, raw, item)
    yield from rejects
    for label, index, message in messages:
        yield _event(source, line, index, message, label, builder, t, raw, None)


def dry_run_events(found, counts, rejects, lines):
    """What a dry run tallies of ``found`` (from ``events``): events that would be sent and
    their requests, empty ones and rejects into ``counts``, the rejects' errors appended to
    ``rejects`` and the request lines (METHOD URL [body]) to ``lines``."""
    for event in found:
        if event.__class__ is not Event:
            counts['rejected'] += 1
            rejects.append(event['error'])
        elif not event.requests:
            counts['empty'] += 1
        else:
            counts['delivered'] += 1
            counts['requests'] += len(event.requests)
            lines.extend(request.line() for request in event.requests)


def _event(source, line, index, message, label, builder, t, raw, origin):
    # check() let through only timestamps that parse, so a present one is a usable time
    untimed = t if message.get('timestamp') is None and message.get('originalTimestamp') is None else None
    try:
        requests = builder.build(message, label, untimed)
    except MessageError as err:
        error = err
    except Exception as err:  # a bug must cost one message, never the run
        error = _internal(label, err)
    else:
        return Event(line, index, message, requests, untimed, origin)
    return readers.reject(source, line, index, error, raw if index is None
                          else json.dumps(message, ensure_ascii=False))


def _replayed(source, line, raw, builder):
    label = '%s:%d' % (source, line)
    try:
        record = readers.DECODER.decode(raw.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as err:
        return readers.reject(source, line, None, 'Invalid JSON in %s: %s.' % (label, err), raw)
    if isinstance(record, dict) and 'message' in record:
        origin = {key: record[key] for key in ('source', 'line', 'item') if key in record}
        t = record.get('t')
        try:
            if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool)):
                raise MessageError('"t" in %s must be a unix time in seconds, got %s.' % (label, json.dumps(t)))
            message = check(record['message'], label + ' "message"')
        except MessageError as err:
            return readers.reject(source, line, None, err, raw)
        return _event(source, line, None, message, label, builder, t, raw, origin)
    if (isinstance(record, dict) and record.get('method') in ('GET', 'POST') and isinstance(record.get('url'), str)
            and record['url'].startswith(('http://', 'https://'))
            and isinstance(record.get('body'), (str, type(None)))):
        legacy = {key: record[key] for key in ('method', 'url', 'body', 'source', 'line', 'item') if key in record}
        return Event(line, None, None, [Request(record['method'], record['url'], record.get('body'))], legacy=legacy)
    return readers.reject(source, line, None, MessageError(
        '%s is not a dead-letter record: it needs "message" (and "t" for a message without a timestamp), as '
        'kmgen send writes them.' % label), raw)
