"""A small HTTP/1.1 client connection for asyncio: keep-alive and pipelining, nothing else.

Why not aiohttp or httpx: the Kissmetrics API is one tiny GET per event, so the cost per
request is all Python bookkeeping. kmgen measured httpx at ~300 requests/s; on the same
10,000 GETs from one process (``bench/cloud.py``) aiohttp does ~8,000/s, this connection
~35,000/s without pipelining and ~180,000/s with 16 requests pipelined per connection: many
requests go out in one ``write()`` and the tiny responses are framed with ``bytes.find``.
What is needed is small: responses framed by Content-Length, chunked or connection close;
``Connection: close``; ``Retry-After``; 1xx skipped. TLS comes from asyncio (``ssl=``). Retries, timeouts and
pooling live in ``sender.py``.
"""

import asyncio
import email.utils
import time
from collections import deque

MAX_HEAD = 65536
UNTIL_CLOSE = -1
_CHUNKED = -2
_HEADS = {}     # response head -> its framing: a server sends the same few heads again and again
_LAST = [b'', None]     # the last whole response framed by Content-Length (head and body), its framing


class ProtocolError(Exception):
    """The server sent something that is not an HTTP/1.x response."""


def _header(head, name):
    """The value of header ``name`` (lower-case, with the colon) in a lower-cased head, or None."""
    i = head.find(b'\r\n' + name)
    if i < 0:
        return None
    j = head.find(b'\r\n', i + 2)
    return head[i + 2 + len(name):j].strip()


def parse_response(buf, pos):
    """Frame one response in ``buf`` starting at ``pos``.

    Returns:
        None while the response is incomplete, else ``(status, close, end, retry_after)``:
        ``close`` when the server will close the connection after it, ``end`` the offset after
        its body, or ``UNTIL_CLOSE`` when the body runs to the end of the connection, and
        ``retry_after`` the seconds of a ``Retry-After`` header (None without one).

    Raises:
        ProtocolError: not an HTTP/1.x response.
    """
    last, framing = _LAST
    if last and buf.startswith(last, pos):
        # The same bytes as the last response (a tracking pixel, again): the same framing.
        status, close, _, wait = framing
        return status, close, pos + len(last), wait
    end = buf.find(b'\r\n\r\n', pos)
    if end < 0:
        if len(buf) - pos > MAX_HEAD:
            raise ProtocolError('response head longer than %d bytes' % MAX_HEAD)
        return None
    raw = bytes(buf[pos:end + 2])
    framing = _HEADS.get(raw)
    if framing is None:
        framing = _framing(raw.lower())
        if len(_HEADS) >= 256:
            _HEADS.clear()
        _HEADS[raw] = framing
    status, close, size, wait = framing
    start = end + 4
    if size >= 0:
        if len(buf) < start + size:
            return None
        _LAST[:] = bytes(buf[pos:start + size]), framing
        return status, close, start + size, wait
    if size == _CHUNKED:
        framed = _chunked(buf, start, status, close)
        return None if framed is None else framed + (wait,)
    return status, True, UNTIL_CLOSE, wait


def retry_after(value):
    """The seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date), or None."""
    text = value.decode('latin-1').strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _framing(head):
    """(status, close, body size, retry after) of a lower-cased head; the size is ``_CHUNKED``
    or ``UNTIL_CLOSE`` when the body is not framed by Content-Length."""
    if not head.startswith(b'http/1.') or len(head) < 14 or head[8:9] != b' ' or head[12:13] not in b' \r':
        raise ProtocolError('not an HTTP/1.x response: %r' % head[:40])
    try:
        status = int(head[9:12])
    except ValueError:
        raise ProtocolError('bad status line: %r' % head[:40]) from None
    connection = _header(head, b'connection:')
    if head[7:8] == b'0':
        close = connection is None or b'keep-alive' not in connection
    else:
        close = connection is not None and b'close' in connection
    wait = _header(head, b'retry-after:')
    wait = None if wait is None else retry_after(wait)
    if status < 200 or status == 204 or status == 304:
        return status, close, 0, wait
    encoding = _header(head, b'transfer-encoding:')
    if encoding is not None and b'chunked' in encoding:
        return status, close, _CHUNKED, wait
    length = _header(head, b'content-length:')
    if length is None:
        return status, True, UNTIL_CLOSE, wait
    try:
        size = int(length)
    except ValueError:
        raise ProtocolError('bad Content-Length: %r' % length) from None
    if size < 0:
        raise ProtocolError('bad Content-Length: %r' % length)
    return status, close, size, wait


def _chunked(buf, pos, status, close):
    while True:
        line_end = buf.find(b'\r\n', pos)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buf[pos:line_end]).split(b';')[0].strip(), 16)
        except ValueError:
            raise ProtocolError('bad chunk size: %r' % bytes(buf[pos:line_end])) from None
        pos = line_end + 2
        if size == 0:
            if buf[pos:pos + 2] == b'\r\n':
                return status, close, pos + 2
            trailers = buf.find(b'\r\n\r\n', pos)
            return None if trailers < 0 else (status, close, trailers + 4)
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size:pos + size + 2] != b'\r\n':
            raise ProtocolError('chunk not followed by CRLF')
        pos += size + 2


class Connection(asyncio.Protocol):
    """One keep-alive connection with requests pipelined on it, answered in order.

    The owner (``sender.Pool``) gives it jobs with ``send``; it calls back
    ``owner.answered(self, job, status, retry_after)`` per response, and ``owner.lost(self, exc)``
    once when the connection ends, with the unanswered jobs still in ``inflight``.
    """

    def __init__(self, owner, loop):
        self.owner = owner
        self.loop = loop
        self.transport = None
        self.inflight = deque()
        self.unsent = []          # jobs given before the connection was made
        self.buf = bytearray()
        self.closing = False      # takes no more requests
        self.server_closes = False  # the server said it closes after a response
        self.until_close = None   # status of a response whose body ends with the connection
        self.last = loop.time()
        self.error = None
        self.timed_out = False

    def connection_made(self, transport):
        self.transport = transport
        self.last = self.loop.time()
        if self.unsent:
            jobs, self.unsent = self.unsent, []
            self.send(jobs)

    def send(self, jobs):
        """Write ``jobs``' requests in one go (pipelined behind those in flight)."""
        if not self.inflight:
            self.last = self.loop.time()
        if self.transport is None:
            self.unsent.extend(jobs)
            return
        self.inflight.extend(jobs)
        if len(jobs) == 1:
            self.transport.write(jobs[0].data)
        else:
            self.transport.write(b''.join([job.data for job in jobs]))

    def data_received(self, data):
        self.last = self.loop.time()
        if self.until_close is not None or self.closing and not self.inflight:
            return
        buf = self.buf
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                framed = parse_response(buf, pos)
                if framed is None:
                    break
                status, close, end, wait = framed
                if status < 200:
                    pos = end
                    continue
                if not self.inflight:
                    raise ProtocolError('a response arrived for no request')
                if end == UNTIL_CLOSE:
                    self.until_close = (status, wait)
                    self.closing = True
                    pos = len(buf)
                    break
                pos = end
                job = self.inflight.popleft()
                if close:
                    # The server closes after this response (and must not process what
                    # follows); any later answer it still sends is read, then we close.
                    self.closing = self.server_closes = True
                self.owner.answered(self, job, status, wait)
            if self.closing and not self.inflight and self.until_close is None:
                self.transport.close()
        except ProtocolError as err:
            self.error = err
            self.closing = True
            self.transport.abort()
            pos = len(buf)
        if pos:
            del buf[:pos]

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.closing = True
        if self.until_close is not None and self.inflight:
            self.server_closes = True
            self.owner.answered(self, self.inflight.popleft(), *self.until_close)
        if self.error is None:
            self.error = exc
        self.owner.lost(self, self.error)

    def abort(self, error):
        """Close now; ``lost`` follows with ``error``."""
        self.closing = True
        if self.error is None:
            self.error = error
        if self.transport is not None:
            self.transport.abort()
