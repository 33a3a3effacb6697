"""Readers: JSONL (gzip or not), batch documents, line numbers, and what a reject record holds."""

import gzip
import json

from kmgen.cloud.readers import batches, parse, units

TRACK = {'type': 'track', 'event': 'E', 'userId': 'u'}


def read(tmp_path, data, name='in.jsonl'):
    path = tmp_path / name
    path.write_bytes(data)
    return list(units(str(path)))


def test_jsonl_lines_keep_their_numbers_and_blank_lines_are_skipped(tmp_path):
    data = b'\xef\xbb\xbf{"a":1}\r\n\n   \n{"b":2}\n{"c":3}'
    assert read(tmp_path, data) == [(1, b'{"a":1}\r\n', None), (4, b'{"b":2}\n', None), (5, b'{"c":3}', None)]


def test_gzip_is_recognised_by_its_bytes_not_its_name(tmp_path):
    assert read(tmp_path, gzip.compress(b'{"a":1}\n{"b":2}\n'), 'events.log') == [
        (1, b'{"a":1}\n', None), (2, b'{"b":2}\n', None)]


def test_a_pretty_batch_document_yields_its_messages_with_the_shared_context(tmp_path):
    doc = {'batch': [TRACK, dict(TRACK, context={'own': 1})], 'context': {'library': 'x'}}
    out = read(tmp_path, json.dumps(doc, indent=2).encode(), 'batch.json')
    assert [(line, json.loads(raw), item) for line, raw, item in out] == [
        (1, dict(TRACK, context={'library': 'x'}), 0), (1, dict(TRACK, context={'own': 1}), 1)]


def test_a_pretty_array_document_yields_its_items(tmp_path):
    out = read(tmp_path, b'[\n' + json.dumps(TRACK).encode() + b',\n 5\n]\n')
    assert [(line, raw, item) for line, raw, item in out] == [
        (1, json.dumps(TRACK, separators=(',', ':')).encode(), 0), (1, b'5', 1)]


def test_a_broken_first_line_that_is_no_document_is_read_as_jsonl(tmp_path):
    assert read(tmp_path, b'{"type":\n{"b":2}\n') == [(1, b'{"type":\n', None), (2, b'{"b":2}\n', None)]


def test_batches_group_units_per_file(tmp_path):
    (tmp_path / 'a').write_text('1\n2\n3\n')
    (tmp_path / 'b').write_text('4\n')
    groups = [(source[-1], [u[0] for u in group]) for source, group in
              batches([str(tmp_path / 'a'), str(tmp_path / 'b')], 2)]
    assert groups == [('a', [1, 2]), ('a', [3]), ('b', [1])]


def test_parse_a_line_holding_a_batch_or_an_array():
    line = json.dumps({'batch': [TRACK, {'type': 'xyz'}]}).encode()
    messages, rejects = parse('f', 7, line, None)
    assert messages == [('f:7 item 0', 0, TRACK)]
    assert rejects == [{'source': 'f', 'line': 7, 'item': 1, 'raw': '{"type": "xyz"}',
                        'error': "Unknown message type \"xyz\" in f:7 item 1. Use one of identify, track, page, "
                                 "screen, group, alias."}]
    assert parse('f', 8, b'[]', None) == ([], [])
    assert parse('f', 9, b'{"batch": 3}', None)[1][0]['error'] == '"batch" in f:9 must be an array of messages.'


def test_parse_rejects_nan_and_keeps_the_raw_line():
    assert parse('f', 2, b'{"type":"track","event":"E","n":NaN}\n', None) == ([], [
        {'source': 'f', 'line': 2, 'error': 'Invalid JSON in f:2: NaN is not valid JSON.',
         'raw': '{"type":"track","event":"E","n":NaN}'}])
