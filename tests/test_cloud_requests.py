"""Cloud requests from ops: exact wire, hand-written (docs/ops.md, issue 5).

Every expected URL below is written out by hand, not computed by the code under test."""

import pytest

from kmgen import config
from kmgen.cloud.requests import MAX_URL_BYTES, Request, build, identity, tapstream_alias
from kmgen.errors import MessageError
from tests.conftest import API_KEY

SETTINGS = config.validate({'api_key': API_KEY})
K = 'https://trk.kissmetrics.io'
KEY = '_k=' + API_KEY
TS = '2024-05-01T12:00:00Z'     # 1714564800


def urls(message, settings=SETTINGS):
    return [r.line() for r in build(message, settings)]


CASES = [
    ('track records the event with _n, time and prefixed props',
     {'type': 'track', 'event': 'Signed Up', 'userId': 'u1', 'timestamp': TS, 'properties': {'plan': 'pro'}},
     ['GET %s/e?%s&_p=u1&_n=Signed%%20Up&_t=1714564800&_d=1&Signed%%20Up%%20-%%20plan=pro' % (K, KEY)]),
    ('track without a timestamp has no _t and no _d',
     {'type': 'track', 'event': 'E', 'anonymousId': 'a1', 'properties': {'x': 1}},
     ['GET %s/e?%s&_p=a1&_n=E&E%%20-%%20x=1' % (K, KEY)]),
    ("RudderStack's originalTimestamp is the time when timestamp is absent",
     {'type': 'track', 'event': 'E', 'userId': 'u1', 'originalTimestamp': '2024-05-01T14:00:00+02:00'},
     ['GET %s/e?%s&_p=u1&_n=E&_t=1714564800&_d=1' % (K, KEY)]),
    ('identify with userId and a different anonymousId aliases them (/a), then sets the traits',
     {'type': 'identify', 'userId': 'u1', 'anonymousId': 'anon-9', 'timestamp': TS, 'traits': {'name': 'Ada'}},
     ['GET %s/a?%s&_p=anon-9&_n=u1&_t=1714564800&_d=1' % (K, KEY),
      'GET %s/s?%s&_p=u1&_t=1714564800&_d=1&name=Ada&id=u1' % (K, KEY)]),
    ('identify with the same userId and anonymousId sends no alias',
     {'type': 'identify', 'userId': 'u1', 'anonymousId': 'u1', 'traits': {'name': 'Ada'}},
     ['GET %s/s?%s&_p=u1&name=Ada&id=u1' % (K, KEY)]),
    ('identify with only an anonymousId sets on it, without alias',
     {'type': 'identify', 'userId': '', 'anonymousId': 'anon-7', 'context': {'traits': {'email': 'r@x.io'}}},
     ['GET %s/s?%s&_p=anon-7&email=r%%40x.io' % (K, KEY)]),
    ('identify with nothing to set sends only the alias',
     {'type': 'identify', 'userId': 42, 'anonymousId': 'anon-1'},
     ['GET %s/a?%s&_p=anon-1&_n=42' % (K, KEY),
      'GET %s/s?%s&_p=42&id=42' % (K, KEY)]),
    ('alias sends /a with _p = previousId and _n = userId',
     {'type': 'alias', 'userId': 'new-id', 'previousId': 'old id', 'timestamp': TS},
     ['GET %s/a?%s&_p=old%%20id&_n=new-id&_t=1714564800&_d=1' % (K, KEY)]),
    ('alias without previousId uses the anonymousId',
     {'type': 'alias', 'userId': 'new-id', 'anonymousId': 'anon-3'},
     ['GET %s/a?%s&_p=anon-3&_n=new-id' % (K, KEY)]),
    ('group sets prefixed traits on the user',
     {'type': 'group', 'userId': 'u1', 'groupId': 'g 1', 'traits': {'employees': 250}},
     ['GET %s/s?%s&_p=u1&Group%%20-%%20employees=250&Group%%20-%%20id=g%%201' % (K, KEY)]),
    ('page records Page View, then the named page',
     {'type': 'page', 'anonymousId': 'a1', 'name': 'Docs', 'properties': {'url': 'https://x.io/a?b=c&d'}},
     ['GET %s/e?%s&_p=a1&_n=Page%%20View&Viewed%%20URL=https%%3A%%2F%%2Fx.io%%2Fa%%3Fb%%3Dc%%26d&Referrer=Direct'
      % (K, KEY),
      'GET %s/e?%s&_p=a1&_n=Viewed%%20Docs%%20Page&Page%%20-%%20url=https%%3A%%2F%%2Fx.io%%2Fa%%3Fb%%3Dc%%26d'
      '&Page%%20-%%20name=Docs' % (K, KEY)]),
    ('product lines carry their own _t (ts + index) and _d, in the transport slots',
     {'type': 'track', 'event': 'Order Completed', 'userId': 'u1', 'timestamp': '2024-05-01T12:00:00.900Z',
      'properties': {'total': 5, 'products': [{'sku': 'A'}, {'sku': 'B'}]}},
     ['GET %s/e?%s&_p=u1&_n=Order%%20Completed&_t=1714564800&_d=1&Order%%20Completed%%20-%%20total=5'
      '&Billing%%20Amount=5' % (K, KEY),
      'GET %s/s?%s&_p=u1&_t=1714564800&_d=1&Order%%20Completed%%20-%%20sku=A' % (K, KEY),
      'GET %s/s?%s&_p=u1&_t=1714564801&_d=1&Order%%20Completed%%20-%%20sku=B' % (K, KEY)]),
    ('traits named _t, _d, _k, _p or _n are dropped: they neither move the time nor re-file the call',
     {'type': 'identify', 'anonymousId': 'a1', 'timestamp': TS,
      'traits': {'_t': 5, '_d': 0, '_p': 'x', '_k': 'y', '_n': 'z', 'plan': 'pro'}},
     ['GET %s/s?%s&_p=a1&_t=1714564800&_d=1&plan=pro' % (K, KEY)]),
    ('traits that are all reserved names leave nothing to set',
     {'type': 'identify', 'anonymousId': 'a1', 'traits': {'_t': 5, '_p': 'x'}},
     []),
    ('unicode, emoji and &=+ are UTF-8 percent-encoded; nothing but A-Za-z0-9_.~- is kept',
     {'type': 'track', 'event': 'Café ☕', 'userId': 'ü@x', 'properties': {'q': 'a&b=c+d', 'emoji': '😀 ~ok_.-!*\'()'}},
     ['GET %s/e?%s&_p=%%C3%%BC%%40x&_n=Caf%%C3%%A9%%20%%E2%%98%%95'
      '&Caf%%C3%%A9%%20%%E2%%98%%95%%20-%%20q=a%%26b%%3Dc%%2Bd'
      '&Caf%%C3%%A9%%20%%E2%%98%%95%%20-%%20emoji=%%F0%%9F%%98%%80%%20~ok_.-%%21%%2A%%27%%28%%29' % (K, KEY)]),
    ("numbers and booleans are written as JavaScript's String() writes them",
     {'type': 'identify', 'anonymousId': 'a1', 'traits': {
         'a': 1.0, 'b': 1e21, 'c': 0.1, 'd': 1e-7, 'e': 2 ** 60, 'f': True, 'g': False, 'h': '', 'i': -0.0,
         'j': 123456789012345680000.0, 'k': 1.5e300}},
     ['GET %s/s?%s&_p=a1&a=1&b=1e%%2B21&c=0.1&d=1e-7&e=1152921504606847000&f=true&g=false&h=&i=0'
      '&j=123456789012345680000&k=1.5e%%2B300' % (K, KEY)]),
    ("props follow the transport fields in key order (JavaScript's: integer-like keys first, then insertion)",
     {'type': 'identify', 'anonymousId': 'a1', 'traits': {'b': 1, 'B': 2, '_a': 3, '10': 7, 'a': 4, '\U0001F600': 5,
                                                         '\uff5e': 6, '2': 8}},
     ['GET %s/s?%s&_p=a1&2=8&10=7&b=1&B=2&_a=3&a=4&%%F0%%9F%%98%%80=5&%%EF%%BD%%9E=6' % (K, KEY)]),
    ('a lone surrogate is written as U+FFFD',
     {'type': 'track', 'event': 'E', 'userId': 'u1', 'properties': {'s': 'x\ud800y'}},
     ['GET %s/e?%s&_p=u1&_n=E&E%%20-%%20s=x%%EF%%BF%%BDy' % (K, KEY)]),
]


@pytest.mark.parametrize('message, expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_requests(message, expected):
    assert urls(message) == expected


def test_a_page_with_nothing_to_record_sends_nothing():
    settings = config.validate({'api_key': API_KEY, 'record_page_view': False})
    assert urls({'type': 'page', 'userId': 'u1'}, settings) == []


def test_tracking_host_is_configurable():
    settings = config.validate({'api_key': API_KEY, 'tracking_host': 'http://127.0.0.1:8080'})
    assert urls({'type': 'track', 'event': 'E', 'userId': 'u'}, settings) == [
        'GET http://127.0.0.1:8080/e?%s&_p=u&_n=E' % KEY]


def _padded(length):
    """A track whose GET URL is exactly ``length`` bytes: the prefix below is 93 bytes."""
    prefix = '%s/e?%s&_p=u&_n=E&E%%20-%%20p=' % (K, KEY)
    assert len(prefix) == 93
    return {'type': 'track', 'event': 'E', 'userId': 'u', 'properties': {'p': 'x' * (length - 93)}}, prefix


def test_a_url_of_exactly_2048_bytes_is_a_get():
    message, prefix = _padded(2048)
    [request] = build(message, SETTINGS)
    assert request == Request('GET', prefix + 'x' * 1955, None) and len(request.url) == MAX_URL_BYTES


def test_one_byte_more_is_a_post_of_the_same_pairs_to_the_bare_path():
    message, prefix = _padded(2049)
    [request] = build(message, SETTINGS)
    assert request == Request('POST', K + '/e', '%s&_p=u&_n=E&E%%20-%%20p=%s' % (KEY, 'x' * 1956))
    assert request.line() == 'POST %s/e %s&_p=u&_n=E&E%%20-%%20p=%s' % (K, KEY, 'x' * 1956)


def test_the_limit_counts_encoded_bytes():
    # An emoji is 12 bytes encoded: 1955 bytes of padding = 162 emoji + 11 x.
    message = {'type': 'track', 'event': 'E', 'userId': 'u', 'properties': {'p': '😀' * 162 + 'x' * 11}}
    assert build(message, SETTINGS)[0].method == 'GET'
    message['properties']['p'] += 'x'
    assert build(message, SETTINGS)[0].method == 'POST'


def test_a_message_without_identity_cannot_be_sent():
    with pytest.raises(MessageError) as err:
        build({'type': 'track', 'event': 'E', 'userId': '', 'anonymousId': ''}, SETTINGS, 'in.jsonl:3')
    assert str(err.value) == ('in.jsonl:3 has neither "userId" nor "anonymousId": the Kissmetrics API needs an '
                              'identity (_p), so add one of them.')


def test_identity_is_the_text_of_user_id_else_anonymous_id():
    assert identity({'userId': 7, 'anonymousId': 'a'}) == '7'
    assert identity({'userId': '', 'anonymousId': 'a'}) == 'a'
    assert identity({'anonymousId': 1.5}) == '1.5'
    assert identity({}) == ''


def test_tapstream_alias():
    assert tapstream_alias('km id/1', 'user@x.io', SETTINGS) == Request(
        'GET', '%s/a?%s&_p=km%%20id%%2F1&_n=user%%40x.io' % (K, KEY), None)
