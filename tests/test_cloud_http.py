"""The HTTP/1.1 client and the sender, against the fake server: framing, pipelining, faults."""

import collections
import shutil
import ssl
import subprocess
import time

import pytest

from kmgen.cloud.http1 import UNTIL_CLOSE, ProtocolError, parse_response
from kmgen.cloud.requests import Request
from kmgen.cloud.sender import Options, backoff_delay, deliver
from tests.fake_km import FakeKM, always, chain, every, first_attempts, matching

FAST = dict(retries=3, timeout=2.0, backoff=0.01, backoff_max=0.05)


# -- framing -------------------------------------------------------------------------------

@pytest.mark.parametrize('data, expected', [
    (b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nGIF', (200, False, 41, None)),
    (b'HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\nGIFnext', (200, False, 40, None)),
    (b'HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', (503, True, 59, None)),
    (b'HTTP/1.1 429 Slow\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n', (429, False, 56, 7.0)),
    (b'HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: 0\r\n\r\n',
     (503, False, 84, 0.0)),
    (b'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', (200, True, 38, None)),
    (b'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n', (200, False, 62, None)),
    (b'HTTP/1.1 204 No Content\r\n\r\n', (204, False, 27, None)),
    (b'HTTP/1.1 100 Continue\r\n\r\n', (100, False, 25, None)),
    (b'HTTP/1.1 200 OK\r\n\r\nbody until close', (200, True, UNTIL_CLOSE, None)),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\n\r\n', (200, False, 64, None)),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nT: 1\r\n\r\n', (200, False, 65, None)),
])
def test_parse_response_frames_one_response(data, expected):
    assert parse_response(bytearray(data), 0) == expected


@pytest.mark.parametrize('data', [
    b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nGI',
    b'HTTP/1.1 200 OK\r\nContent-Le',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r',
])
def test_parse_response_waits_for_the_rest(data):
    assert parse_response(bytearray(data), 0) is None


@pytest.mark.parametrize('data', [
    b'SSH-2.0-OpenSSH\r\n\r\n',
    b'HTTP/1.1 2x0 OK\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc',
])
def test_parse_response_rejects_what_is_not_http(data):
    with pytest.raises(ProtocolError):
        parse_response(bytearray(data), 0)


def test_pipelined_responses_frame_one_after_another():
    data = bytearray(b'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA' * 3)
    ends = []
    pos = 0
    while (framed := parse_response(data, pos)) is not None:
        ends.append(framed[2])
        pos = framed[2]
    assert ends == [39, 78, 117]


def test_backoff_doubles_with_jitter_and_a_cap():
    assert [backoff_delay(n, 0.5, 30, lambda: 1.0) for n in (1, 2, 3, 8)] == [0.5, 1.0, 2.0, 30]
    assert [backoff_delay(n, 0.5, 30, lambda: 0.0) for n in (1, 2)] == [0.25, 0.5]


# -- delivery against the fake server ---------------------------------------------------------

def requests_for(server, n, method='GET'):
    out = []
    for i in range(n):
        query = '_k=k&_p=u%d&_n=E&i=%d' % (i, i)
        out.append(Request('GET', '%s/e?%s' % (server.url, query)) if method == 'GET'
                   else Request('POST', server.url + '/e', query))
    return out


def key(request, server):
    target = request.url[len(server.url):]
    return (request.method, target, request.body or '')


def check_exactly_once(server, requests, jobs):
    """Every request delivered is acknowledged exactly once; none is received after its
    acknowledgement; the undelivered ones are never acknowledged."""
    acked = collections.Counter(server.keys())
    assert all(count == 1 for count in acked.values()), [k for k, c in acked.items() if c > 1]
    delivered = {key(j.request, server) for j in jobs if j.tag is True}
    failed = {key(j.request, server) for j in jobs if j.tag is not True}
    assert set(acked) == delivered and not delivered & failed
    assert delivered | failed == {key(r, server) for r in requests}
    ack_seq = dict((k, seq) for seq, k in server.acked)
    assert not [r for r in server.received if r.key in ack_seq and r.seq > ack_seq[r.key]]
    return delivered, failed


@pytest.fixture
def server():
    with FakeKM() as fake:
        yield fake


@pytest.mark.parametrize('style', ['length', 'chunked', 'close', 'http10', 'continue'])
def test_every_framing_delivers_exactly_once(server, style):
    server.style = style
    requests = requests_for(server, 60)
    jobs = deliver(requests, Options(connections=2, pipeline=8, **FAST))
    delivered, failed = check_exactly_once(server, requests, jobs)
    assert len(delivered) == 60 and not failed
    assert all(j.attempts == 0 for j in jobs), 'a close after a response charges nobody'


def test_posts_carry_the_form_body(server):
    requests = requests_for(server, 5, 'POST')
    jobs = deliver(requests, Options(**FAST))
    assert all(j.tag is True for j in jobs)
    assert sorted(r.body for r in server.received) == sorted(r.body for r in requests)
    assert {r.method for r in server.received} == {'POST'}


FAULTS = [
    ('500 on every 3rd request', every(3, 500)),
    ('503 twice for every request', first_attempts(2, 503)),
    ('dropped mid-response, twice for 1 in 3 requests', first_attempts(2, 'drop', share=3)),
    ('connection reset for 1 in 4 requests', first_attempts(1, 'reset', share=4)),
    ('slow answers every 7th', every(7, 0.05)),
    ('no answer (timeout) for the first try of 1 in 10', first_attempts(1, 'hang', share=10)),
]
MIX = chain(first_attempts(1, 'drop', share=11), every(7, 500), first_attempts(3, 'reset', share=13),
            every(17, 0.03), first_attempts(1, 'hang', share=19))
OPTIONS = dict(connections=3, pipeline=8, retries=4, timeout=0.15, backoff=0.01, backoff_max=0.05)


@pytest.mark.parametrize('policy', [f[1] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_retryable_faults_end_delivered_exactly_once(server, policy):
    server.policy = policy
    requests = requests_for(server, 120)
    jobs = deliver(requests, Options(**OPTIONS))
    delivered, failed = check_exactly_once(server, requests, jobs)
    assert len(delivered) == 120 and not failed


def test_a_mix_of_faults_ends_delivered_once_or_dead_after_every_attempt(server):
    """Or unfinished: the last request left, failing on the network with nothing else
    succeeding since its first try, trips the breaker (it is kept for a later run, not lost)."""
    server.policy = MIX
    requests = requests_for(server, 200)
    jobs = deliver(requests, Options(**OPTIONS))
    delivered, failed = check_exactly_once(server, requests, jobs)
    assert len(delivered) > 150
    assert all(j.attempts == 5 and j.error.endswith('(after 5 attempts)') for j in jobs if j.tag is not True and j.final)


def test_4xx_is_dead_at_once_with_its_status_and_never_retried(server):
    server.policy = matching('_p=u3&', 404)
    requests = requests_for(server, 10)
    jobs = deliver(requests, Options(**FAST))
    delivered, failed = check_exactly_once(server, requests, jobs)
    [dead] = [j for j in jobs if j.tag is not True]
    assert (dead.status, dead.error, dead.attempts) == (404, 'HTTP 404', 1)
    assert [r.target for r in server.received].count(dead.request.url[len(server.url):]) == 1


def test_persistent_5xx_is_dead_after_the_retries(server):
    server.policy = matching('_p=u3&', 500)
    requests = requests_for(server, 10)
    jobs = deliver(requests, Options(**FAST))
    check_exactly_once(server, requests, jobs)
    [dead] = [j for j in jobs if j.tag is not True]
    assert (dead.status, dead.error, dead.attempts) == (500, 'HTTP 500 (after 4 attempts)', 4)


def test_a_request_that_always_drops_the_connection_does_not_sink_its_neighbours(server):
    server.policy = matching('_p=u5&', 'drop')
    requests = requests_for(server, 40)
    jobs = deliver(requests, Options(connections=1, pipeline=16, **FAST))
    delivered, failed = check_exactly_once(server, requests, jobs)
    assert len(failed) == 1 and len(delivered) == 39
    assert [j.error for j in jobs if j.tag is not True] == [
        'connection closed before the response was complete (after 4 attempts)']


def test_refused_connections_trip_the_breaker_and_leave_every_request_unfinished(server):
    server.refuse()
    requests = requests_for(server, 5)
    jobs = deliver(requests, Options(**FAST))
    assert [(j.tag, j.final) for j in jobs] == [(False, False)] * 5
    assert {j.error for j in jobs} == {'cannot connect to 127.0.0.1:%d: connection refused' % server.port}
    server.accept()
    again = deliver(requests, Options(**FAST))
    assert [j.tag for j in again] == [True] * 5 and len(server.acked) == 5


def test_a_server_that_never_answers_trips_the_breaker_after_give_up_seconds(server):
    server.policy = always('hang')
    started = time.monotonic()
    jobs = deliver(requests_for(server, 3), Options(retries=100, timeout=0.2, backoff=0.01, give_up=1.0))
    assert {(j.final, j.error) for j in jobs} == {(False, 'no response within 0.2s (timeout)')}
    assert 1.0 < time.monotonic() - started < 5


def test_a_request_that_keeps_failing_while_others_succeed_is_dead_not_a_breaker(server):
    server.policy = matching('_p=u2&', 'reset')
    jobs = deliver(requests_for(server, 20), Options(connections=1, pipeline=1, **FAST))
    [dead] = [j for j in jobs if j.tag is not True]
    assert dead.final and dead.error == 'connection closed before the response was complete (after 4 attempts)'


def test_429_with_retry_after_waits_as_asked(server):
    server.policy = first_attempts(1, (429, {'Retry-After': '1'}))
    requests = requests_for(server, 3)
    jobs = deliver(requests, Options(retries=3, timeout=5, backoff=0.01, backoff_max=30))
    assert [j.tag for j in jobs] == [True] * 3 and [j.attempts for j in jobs] == [1] * 3
    for request in requests:
        times = [r.at for r in server.received if r.key == key(request, server)]
        assert len(times) == 2 and 0.95 < times[1] - times[0] < 3


def test_retry_after_is_bounded_by_backoff_max(server):
    server.policy = first_attempts(1, (503, {'Retry-After': '3600'}))
    started = time.monotonic()
    jobs = deliver(requests_for(server, 2), Options(retries=3, timeout=5, backoff=0.01, backoff_max=0.5))
    assert [j.tag for j in jobs] == [True] * 2 and time.monotonic() - started < 3


def test_a_server_that_says_connection_close_stops_being_pipelined(server):
    server.style = 'close'
    requests = requests_for(server, 200)
    jobs = deliver(requests, Options(connections=2, pipeline=16, **FAST))
    check_exactly_once(server, requests, jobs)
    assert len(server.received) <= 200 + 2 * 16, 'only the first pipelined writes are wasted'


def test_a_url_that_is_not_ascii_is_dead_without_sending(server):
    [job] = deliver([Request('GET', server.url + '/e?_p=é')], Options(**FAST))
    assert job.tag is False and job.error == 'the URL is not ASCII (not percent-encoded)'
    assert server.received == []


@pytest.mark.skipif(shutil.which('openssl') is None, reason='needs the openssl command')
def test_https_with_certificate_verification(tmp_path):
    cert, key_file = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', str(key_file), '-out', str(cert)],
                   check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key_file)
    with FakeKM(ssl_context=server_ctx) as tls:
        assert tls.url.startswith('https://')
        client_ctx = ssl.create_default_context(cafile=str(cert))
        jobs = deliver(requests_for(tls, 20), Options(ssl_context=client_ctx, **FAST))
        assert all(j.tag is True for j in jobs) and len(tls.acked) == 20
        untrusted = deliver(requests_for(tls, 1), Options(retries=0, timeout=2.0))
        assert untrusted[0].tag is False and 'CERTIFICATE_VERIFY_FAILED' in untrusted[0].error
