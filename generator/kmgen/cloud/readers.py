"""Readers for Segment and RudderStack messages: JSONL (optionally gzipped) and batch files.

An input file is either
- JSONL: one JSON value per line, read as a stream (constant memory); a line may hold one
  message, a batch object ``{"batch": [...]}`` or an array of messages; or
- one JSON document (a batch object or an array), possibly spread over many lines.

Gzip is recognised by its magic bytes, whatever the file is called. The reading process only
splits lines (``units``); parsing and checking happen where the messages are mapped
(``parse``), so that it spreads over the worker processes. A line that is not UTF-8, not
JSON, or not a valid message becomes a reject record
``{"source", "line", ["item",] "error", "raw"}``; the rest go on.
"""

import codecs
import gzip
import io
import itertools
import json
import sys
import zlib

from ..errors import KmgenError, MessageError
from ..message import check

DOCUMENT_LIMIT = 64 * 1024 * 1024   # a whole-file JSON document is read up to this size
MESSAGE_LIMIT = 1024 * 1024         # one message's JSON, in bytes (Segment's own limit is 32 KB)


def _reject_constant(name):
    raise ValueError('%s is not valid JSON' % name)


DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_SCAN = DECODER.scan_once


def decode(text):
    """``DECODER.decode(text)``, through its C scanner alone when ``text`` is one value with
    nothing around it (a JSONL line): ``decode`` itself runs two whitespace regexes per call.
    Anything else goes the whole way, which raises the usual error."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        return DECODER.decode(text)
    return value


class InputError(KmgenError):
    """An input file cannot be opened or read."""


def open_input(path):
    """A binary file object for ``path`` ('-' is stdin), gunzipped when it is gzip."""
    if path == '-':
        raw = sys.stdin.buffer
    else:
        try:
            raw = open(path, 'rb')
        except OSError as err:
            raise InputError('Cannot read %s: %s.' % (path, err.strerror or err)) from None
    stream = raw if hasattr(raw, 'peek') else io.BufferedReader(raw)
    if stream.peek(2)[:2] == b'\x1f\x8b':
        return gzip.GzipFile(fileobj=stream, mode='rb')
    return stream


def units(path):
    """The units of one input: ``(line, raw, item)`` with ``raw`` the bytes of one line (its
    number counted from 1, blank lines skipped) or, for a whole-file document, the JSON of
    item number ``item`` (from 0) of its batch.

    Raises:
        InputError: the file cannot be opened, or cannot be read (truncated or corrupt gzip, an
            I/O error) from the line named in the message (``err.line``) on.
    """
    line = 0
    try:
        with open_input(path) as stream:
            for unit in _units(stream):
                line = unit[0]
                yield unit
    except (OSError, EOFError, zlib.error) as err:
        why = getattr(err, 'strerror', None) or err
        error = InputError('Cannot read %s from line %d on: %s.' % (path, line + 1, str(why).rstrip('.')))
        error.line = line + 1
        raise error from None


def _units(stream):
    lines = iter(stream)
    number = 0
    for raw in lines:
        number += 1
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        if raw.isspace() or not raw:
            continue
        if raw.lstrip()[:1] in (b'{', b'[') and not _is_json(raw):
            # Not a JSON line: perhaps one document spread over lines (a batch file).
            head = raw + stream.read(DOCUMENT_LIMIT)
            if len(head) <= DOCUMENT_LIMIT and _is_json(head):
                for index, item in enumerate(_document_items(DECODER.decode(head.decode('utf-8')))):
                    yield number, json.dumps(item, ensure_ascii=False, separators=(',', ':')).encode(), index
                return
            lines = itertools.chain(io.BytesIO(head + stream.readline()), stream)
            number -= 1
        else:
            yield number, raw, None
        break
    for raw in lines:
        number += 1
        if not raw.isspace():
            yield number, raw, None


def _is_json(raw):
    try:
        DECODER.decode(raw.decode('utf-8'))
        return True
    except (ValueError, UnicodeDecodeError):
        return False


def _document_items(value):
    if isinstance(value, dict) and isinstance(value.get('batch'), list) and 'type' not in value:
        return _batch_items(value)
    if isinstance(value, list):
        return value
    return [value]


def _batch_items(batch):
    """Segment's batch: top-level ``context`` and ``integrations`` apply to every message."""
    shared = {k: batch[k] for k in ('context', 'integrations') if k in batch}
    items = batch['batch']
    if shared:
        items = [dict(shared, **item) if isinstance(item, dict) else item for item in items]
    return items


def batches(paths, size):
    """``(source, [(line, raw, item), ...])`` in groups of at most ``size`` units, per file."""
    for path in paths:
        source = '<stdin>' if path == '-' else path
        group = []
        for unit in units(path):
            group.append(unit)
            if len(group) >= size:
                yield source, group
                group = []
        if group:
            yield source, group


def json_line(record):
    """One JSONL line of an output file (ASCII: a lone surrogate in a message stays readable)."""
    return json.dumps(record) + '\n'


def reject(source, line, item, error, raw):
    """A rejects-file record."""
    record = {'source': source, 'line': line}
    if item is not None:
        record['item'] = item
    record['error'] = str(error)
    record['raw'] = (raw if isinstance(raw, str) else raw.decode('utf-8', 'replace')).rstrip('\r\n')
    return record


def parse(source, line, raw, item):
    """The messages in one unit, checked: ``(messages, rejects)`` where ``messages`` is a list of
    ``(label, item, message)`` (``label`` such as ``events.jsonl:12`` names it in errors)."""
    label = '%s:%d' % (source, line)
    try:
        text = raw.decode('utf-8').rstrip('\r\n')
    except UnicodeDecodeError as err:
        return [], [reject(source, line, item, 'Invalid UTF-8 in %s: %s.' % (label, err), raw)]
    try:
        value = decode(text)
    except ValueError as err:
        return [], [reject(source, line, item, 'Invalid JSON in %s: %s.' % (label, err), text)]
    if item is None and (isinstance(value, list) or isinstance(value, dict) and 'batch' in value
                         and 'type' not in value):
        if isinstance(value, dict) and not isinstance(value['batch'], list):
            return [], [reject(source, line, item, '"batch" in %s must be an array of messages.' % label, text)]
        values = _document_items(value)
        messages, rejects = [], []
        for index, one in enumerate(values):
            one_label = '%s item %d' % (label, index)
            try:
                if len(raw) > MESSAGE_LIMIT:
                    _check_size(len(json.dumps(one, ensure_ascii=False).encode()), one_label)
                messages.append((one_label, index, check(one, one_label)))
            except MessageError as err:
                rejects.append(reject(source, line, index, err, json.dumps(one, ensure_ascii=False)[:1000]))
        return messages, rejects
    if item is not None:
        label = '%s item %d' % (label, item)
    try:
        if len(raw) > MESSAGE_LIMIT:
            _check_size(len(raw.rstrip(b'\r\n')), label)
        return [(label, item, check(value, label))], []
    except MessageError as err:
        return [], [reject(source, line, item, err, text if len(text) <= MESSAGE_LIMIT else text[:1000])]


def _check_size(size, label):
    if size > MESSAGE_LIMIT:
        raise MessageError('%s is %s bytes, over the limit of %s bytes for one message: split it or drop '
                           'what it does not need.' % (label, format(size, ','), format(MESSAGE_LIMIT, ',')))
