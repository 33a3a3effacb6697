"""A fake Kissmetrics HTTP API on 127.0.0.1: real HTTP/1.1, records requests, injects faults.

Used by the cloud tests (in a thread of the test process) and by ``bench/cloud.py`` (in its
own process, recording only counts so that it is not the bottleneck). It answers pipelined
requests in order, as a real HTTP/1.1 server must.

A ``policy(seq, request)`` decides the answer to each request; it returns:

- ``None`` or ``'ok'``: 200 with a 1x1 GIF (what trk.kissmetrics.io answers);
- an int status, e.g. ``500`` or ``404``, or ``(status, {header: value})`` to add headers
  (``(429, {'Retry-After': '1'})``);
- a float: answer 200 after that many seconds (later requests on the connection wait);
- ``'drop'``: write half of a response, then close the connection (dropped mid-response);
- ``'reset'``: close the connection without answering;
- ``'hang'``: never answer (the client must time out).

``refuse()`` closes the listening socket (connections are refused) until ``accept()``.
A request counts as *acknowledged* once its complete 2xx response has been written.
"""

import asyncio
import collections
import multiprocessing
import socket
import threading
import time
import zlib
from typing import NamedTuple

GIF = (b'GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,'
       b'\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;')
REASONS = {200: 'OK', 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 429: 'Too Many Requests',
           500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable'}


class Received(NamedTuple):
    seq: int
    method: str
    target: str
    body: str
    conn: int
    action: object
    at: float = 0.0     # time.monotonic() of its arrival

    @property
    def key(self):
        """What identifies the request: method, target and body."""
        return (self.method, self.target, self.body)


def response(status, style='length', headers=None):
    """The bytes of a response with ``status``, framed by Content-Length, chunks, or close."""
    body = GIF if status == 200 else (b'error %d' % status)
    head = 'HTTP/1.1 %d %s\r\nContent-Type: %s\r\n' % (
        status, REASONS.get(status, 'Status'), 'image/gif' if status == 200 else 'text/plain')
    head += ''.join('%s: %s\r\n' % item for item in (headers or {}).items())
    if style == 'chunked':
        half = len(body) // 2
        return (head + 'Transfer-Encoding: chunked\r\n\r\n').encode() + b'%x;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n' % (
            half, body[:half], len(body) - half, body[half:])
    if style == 'close':
        return (head + 'Connection: close\r\n\r\n').encode() + body
    if style == 'http10':
        return ('HTTP/1.0 %d %s\r\nContent-Length: %d\r\n\r\n' % (status, REASONS.get(status, 'Status'), len(body))).encode() + body
    if style == 'continue':
        return b'HTTP/1.1 100 Continue\r\n\r\n' + (head + 'Content-Length: %d\r\n\r\n' % len(body)).encode() + body
    return (head + 'Content-Length: %d\r\n\r\n' % len(body)).encode() + body


OK = response(200)


class _Conn(asyncio.Protocol):
    def __init__(self, server):
        self.server = server
        self.buf = bytearray()
        self.out = collections.deque()   # (due, seq, status|action, bytes) answered in order
        self.timer = None
        self.dead = False
        self.hung = False
        self.reset = False
        self.transport = None
        self.id = next(server._conn_ids)

    def connection_made(self, transport):
        self.transport = transport
        self.server._conns.add(self)

    def connection_lost(self, exc):
        self.dead = True
        self.server._conns.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data):
        if self.dead or self.hung:
            return
        server = self.server
        buf = self.buf
        buf += data
        pos = 0
        fast = server.fast
        replies = []
        while True:
            end = buf.find(b'\r\n\r\n', pos)
            if end < 0:
                break
            start = end + 4
            if buf.startswith(b'GET ', pos):
                stop = start
                body = b''
            else:
                head = bytes(buf[pos:end + 2]).lower()
                i = head.find(b'\r\ncontent-length:')
                size = int(head[i + 17:head.find(b'\r\n', i + 2)]) if i >= 0 else 0
                stop = start + size
                if len(buf) < stop:
                    break
                body = bytes(buf[start:stop])
            if fast:
                server.count += 1
                replies.append(OK)
            else:
                line = bytes(buf[pos:buf.find(b'\r\n', pos)]).decode('latin-1').split(' ')
                self.handle(line[0], line[1], body.decode('latin-1'))
            pos = stop
        if pos:
            del buf[:pos]
        if replies:
            self.transport.write(b''.join(replies))
        elif not fast:
            self.flush()

    def handle(self, method, target, body):
        server = self.server
        seq = server._seq
        server._seq += 1
        action = server.policy(seq, (method, target, body)) if server.policy else None
        server.received.append(Received(seq, method, target, body, self.id, action, time.monotonic()))
        delay = server.delay
        if isinstance(action, float):
            delay += action
            action = None
        status = 200 if action in (None, 'ok') else action
        if isinstance(status, tuple):
            status, headers = status
            self.server.headers[seq] = headers
        self.out.append((time.monotonic() + delay if delay else 0, seq, status, (method, target, body)))

    def flush(self):
        self.timer = None
        out = self.out
        chunks = []
        acked = []
        server = self.server
        while out and not self.dead:
            due, seq, status, key = out[0]
            if due:
                wait = due - time.monotonic()
                if wait > 0:
                    self.timer = asyncio.get_running_loop().call_later(wait, self.flush)
                    break
            out.popleft()
            if isinstance(status, int):
                chunks.append(response(status, server.style, server.headers.pop(seq, None)))
                if status < 300:
                    acked.append((seq, key))
                if server.style == 'close':
                    self.dead = True
                continue
            out.clear()
            if status == 'hang':
                self.hung = True
                break
            self.dead = True
            if status == 'drop':
                chunks.append(response(200, server.style)[:40])
            else:
                self.reset = True
        if acked and not self.transport.is_closing():
            server.acked.extend(acked)     # before the write: a client can never be ahead of it
        if chunks:
            self.transport.write(b''.join(chunks))
        if self.reset:
            self.transport.abort()
        elif self.dead:
            self.transport.close()


class FakeKM:
    """The fake server. ``start()`` runs it in a daemon thread; use as a context manager.

    Args:
        policy: ``policy(seq, (method, target, body))`` -> an action (see the module docstring).
        delay: seconds before every answer (answers stay in order).
        style: response framing: ``length``, ``chunked``, ``close``, ``http10`` or ``continue``.
        fast: record only ``count`` and answer 200 (for benchmarks).
        port: 0 for any free port.
    """

    def __init__(self, policy=None, delay=0.0, style='length', fast=False, port=0, ssl_context=None):
        self.policy = policy
        self.delay = delay
        self.style = style
        self.fast = fast
        self.port = port
        self.ssl_context = ssl_context
        self.received = []
        self.acked = []
        self.headers = {}
        self.count = 0
        self._seq = 0
        self._conn_ids = iter(range(1, 1 << 62))
        self._conns = set()
        self._server = None
        self.loop = None
        self._thread = None

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % ('https' if self.ssl_context else 'http', self.port)

    async def listen(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Conn(self), sock=sock, backlog=1024, ssl=self.ssl_context)

    def start(self):
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(self.listen())
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self._thread = threading.Thread(target=run, name='fake-km', daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def _call(self, fn):
        done = threading.Event()
        result = []

        async def job():
            try:
                result.append(await fn())
            finally:
                done.set()

        asyncio.run_coroutine_threadsafe(job(), self.loop)
        done.wait(10)
        return result[0] if result else None

    def refuse(self):
        """Close the listening socket and every open connection: new connections are refused."""
        async def close():
            self._server.close()
            for conn in list(self._conns):
                conn.transport.abort()
            await self._server.wait_closed()
        self._call(close)

    def accept(self):
        """Listen again, on the same port."""
        self._call(self.listen)

    def stop(self):
        if self.loop is None:
            return
        async def close():
            self._server.close()
            for conn in list(self._conns):
                conn.transport.abort()
        self._call(close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def keys(self, acked_only=True):
        """The (method, target, body) of every acknowledged (or received) request, in order."""
        if acked_only:
            return [key for _, key in self.acked]
        return [r.key for r in self.received]


# -- policies ------------------------------------------------------------------------------

def every(n, action, offset=0):
    """``action`` for every n-th request (by arrival)."""
    return lambda seq, request: action if (seq + offset) % n == 0 else None


def first_attempts(k, action, share=1):
    """``action`` for the first ``k`` arrivals of each distinct request (of one in ``share`` of
    them, chosen by a hash of the request), then ok."""
    seen = collections.Counter()

    def policy(seq, request):
        if share > 1 and zlib.crc32(repr(request).encode()) % share:
            return None
        seen[request] += 1
        return action if seen[request] <= k else None
    return policy


def in_turn(actions, share=1):
    """For one in ``share`` distinct requests, ``actions[k]`` for its k-th arrival (from 0), then ok."""
    seen = collections.Counter()

    def policy(seq, request):
        if share > 1 and zlib.crc32(repr(request).encode()) % share:
            return None
        seen[request] += 1
        return actions[seen[request] - 1] if seen[request] <= len(actions) else None
    return policy


def always(action):
    return lambda seq, request: action


def matching(text, action):
    """``action`` for every request whose target or body contains ``text``."""
    return lambda seq, request: action if text in request[1] or text in request[2] else None


def chain(*policies):
    """The first non-None action of several policies."""
    def policy(seq, request):
        for p in policies:
            action = p(seq, request)
            if action is not None:
                return action
        return None
    return policy


# -- its own process (benchmarks) ----------------------------------------------------------

def _serve(pipe, kwargs):
    async def main():
        server = FakeKM(**kwargs)
        await server.listen()
        pipe.send(server.port)
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_reader(pipe.fileno(), lambda: stop.done() or stop.set_result(pipe.recv()))
        while True:
            command = await stop
            stop = loop.create_future()
            if command == 'count':
                pipe.send(server.count)
            elif command == 'reset':
                server.count = 0
                pipe.send(0)
            else:
                pipe.send(server.count)
                return
    asyncio.run(main())


class ServerProcess:
    """A fast FakeKM in a process of its own: ``url``, ``count()``, ``reset()``, ``stop()``."""

    def __init__(self, **kwargs):
        kwargs.setdefault('fast', True)
        ctx = multiprocessing.get_context('spawn')
        self._pipe, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, kwargs), daemon=True)
        self.process.start()
        self.port = self._pipe.recv()
        self.url = 'http://127.0.0.1:%d' % self.port

    def _ask(self, command):
        self._pipe.send(command)
        return self._pipe.recv()

    def count(self):
        return self._ask('count')

    def reset(self):
        return self._ask('reset')

    def stop(self):
        count = self._ask('stop')
        self.process.join(10)
        return count
