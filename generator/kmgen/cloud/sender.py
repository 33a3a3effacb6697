"""Delivery: requests -> the Kissmetrics HTTP API, with retries, timeouts and a dead letter.

A thin layer over ``requests.Request``: it does not know what a request means. Per origin a
``Pool`` keeps up to ``connections`` keep-alive connections with up to ``pipeline`` requests
in flight on each (``http1.Connection``). Outcomes:

- 2xx: delivered;
- 5xx, 408, 429, network errors (refused, reset, dropped mid-response) and timeouts: retried
  after an exponential backoff with jitter (or the server's ``Retry-After``, up to
  ``backoff_max``), up to ``retries`` times, then dead;
- any other status (4xx): dead at once, with its status; never retried;
- the circuit breaker: when nothing has succeeded for ``give_up`` seconds while requests fail
  on the network, or a request used up its retries on the network and nothing else succeeded
  since it was first tried, the server is taken to be down: the sender stops, and every job
  not yet done ends *unfinished* (``job.final`` False, ``broken`` holds the reason), so that
  the caller keeps it for a later run instead of calling it dead.

A server that answers ``Connection: close`` gets no more pipelined requests on that origin:
each would be discarded by the server and sent again.

When a connection dies with several requests in flight, only the oldest unanswered one is
charged an attempt: the ones behind it were only waiting their turn (and when the server
said ``Connection: close`` none is charged); when nothing came back for ``timeout`` seconds,
all of them are. A request is final once ``on_done`` is called for it: it is never sent again.
"""

import asyncio
import random
import ssl as ssl_module
from collections import deque

from .. import __version__
from .http1 import Connection

USER_AGENT = 'kmgen/' + __version__
INTERRUPTED = 'interrupted before it was sent'
RETRIED_STATUSES = (408, 429)


class Job:
    """A request on its way: its bytes, its attempts, and whatever the caller attached."""

    __slots__ = ('request', 'data', 'attempts', 'error', 'status', 'tag', 'sent', 'handle', 'final', 'first_at')

    def __init__(self, request, tag=None):
        self.request = request
        self.data = None
        self.attempts = 0
        self.error = None
        self.status = None
        self.tag = tag
        self.sent = False
        self.handle = None
        self.final = True       # False: it ended without an outcome (stopped), so it may be sent again
        self.first_at = None


class Options:
    """Sender settings (the ``kmgen send`` options of the same names)."""

    def __init__(self, connections=8, pipeline=16, retries=5, timeout=10.0, backoff=0.5,
                 backoff_max=30.0, grace=5.0, ssl_context=None, give_up=60.0):
        self.connections = connections
        self.pipeline = pipeline
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.grace = grace
        self.ssl_context = ssl_context
        self.give_up = give_up


def backoff_delay(attempt, base, cap, rand=random.random):
    """Exponential backoff with jitter: between half and all of ``min(cap, base * 2**(attempt-1))``."""
    delay = min(cap, base * (2 ** (attempt - 1)))
    return delay * (0.5 + 0.5 * rand())


class Sender:
    """Sends jobs; reports each exactly once to ``on_done(job, delivered)``.

    A job that ends undelivered has ``job.error`` (and ``job.status`` for an HTTP status);
    ``job.sent`` tells whether it may have reached the server without an answer (it was
    written and then the run was interrupted).

    Args:
        options: ``Options``.
        on_done: called once per job with (job, delivered).
        on_retry: called each time a job is scheduled for another attempt.
    """

    def __init__(self, options, on_done, on_retry=None, on_broken=None):
        self.options = options
        self.on_done = on_done
        self.on_retry = on_retry or (lambda job: None)
        self.on_broken = on_broken or (lambda reason: None)
        self.broken = None          # why the circuit breaker stopped the sender
        self.loop = asyncio.get_running_loop()
        self.pools = {}
        self._last = ('\0', None)   # ('scheme://host:port/', its Pool) of the last request
        self.waiting = set()        # jobs sleeping before a retry
        self.active = 0             # jobs submitted and not yet done
        self.stopping = False
        self._idle = None
        self._ticker = self.loop.call_later(self._tick_every(), self._tick)
        self._ssl = None
        self._abort_later = None
        self.last_success = self.loop.time()

    def _tick_every(self):
        return max(0.05, min(1.0, self.options.timeout / 4))

    def submit(self, job):
        """Queue a job (a ``Request`` in ``job.request``) for delivery."""
        if self.active == 0:
            self.last_success = self.loop.time()    # idle time is not time without success
        self.active += 1
        if self.stopping:
            self._finish(job, False, INTERRUPTED, final=False)
            return
        if job.first_at is None:
            job.first_at = self.loop.time()
        url = job.request.url
        prefix, pool = self._last
        if url.startswith(prefix):      # the origin of the last request (it usually is)
            target = url[len(prefix) - 1:]
        else:
            cut = url.find('/', url.find('://') + 3)
            base = url if cut < 0 else url[:cut]
            target = '/' if cut < 0 else url[cut:]
            pool = self.pools.get(base)
            if pool is None:
                pool = self.pools[base] = Pool(self, base)
            self._last = base + '/', pool
        if job.data is None:
            try:
                job.data = pool.encode(job.request, target)
            except UnicodeEncodeError:
                self._finish(job, False, 'the URL is not ASCII (not percent-encoded)')
                return
        pool.queue(job)

    async def idle(self):
        """Wait until every submitted job is done."""
        if self.active == 0:
            return
        self._idle = self.loop.create_future()
        await self._idle

    def stop(self):
        """Stop sending: queued and waiting jobs end now as not sent; jobs in flight get
        ``options.grace`` seconds to be answered, then are abandoned (``job.sent``)."""
        if self.stopping:
            return
        self.stopping = True
        for job in list(self.waiting):
            job.handle.cancel()
            self.waiting.discard(job)
            self._finish(job, False, 'interrupted while waiting to retry (last error: %s)' % job.error, final=False)
        for pool in self.pools.values():
            pool.stop()
        self._abort_later = self.loop.call_later(self.options.grace, self.abort)

    def abort(self):
        """Abandon everything in flight now."""
        self.stopping = True
        for pool in list(self.pools.values()):
            pool.abort()

    def close(self):
        self._ticker.cancel()
        if self._abort_later is not None:
            self._abort_later.cancel()
        for pool in self.pools.values():
            pool.abort()

    def _tick(self):
        now = self.loop.time()
        for pool in self.pools.values():
            pool.check_timeouts(now)
        self._ticker = self.loop.call_later(self._tick_every(), self._tick)

    # -- outcomes -------------------------------------------------------------------------

    def answered(self, pool, job, status, retry_after=None):
        if 200 <= status < 300:
            self.last_success = self.loop.time()
            self._finish(job, True, None)
        elif status >= 500 or status in RETRIED_STATUSES:
            self.failed(pool, job, 'HTTP %d' % status, status, retry_after)
        else:
            job.status = status
            job.attempts += 1
            self._finish(job, False, 'HTTP %d' % status)

    def failed(self, pool, job, error, status=None, retry_after=None):
        """One attempt of ``job`` failed with a retryable error (``status`` None: on the network)."""
        job.attempts += 1
        job.status = status
        job.error = error
        options = self.options
        if self.stopping:
            self._finish(job, False, error, final=False)
        elif status is None and (self.loop.time() - self.last_success > options.give_up or (
                job.attempts > options.retries and self.last_success < job.first_at)):
            self.trip(error)
            self._finish(job, False, error, final=False)
        elif job.attempts > options.retries:
            self._finish(job, False, '%s (after %d attempts)' % (error, job.attempts))
        else:
            if retry_after is not None:
                delay = min(retry_after, options.backoff_max)
            else:
                delay = backoff_delay(job.attempts, options.backoff, options.backoff_max)
            self.waiting.add(job)
            job.handle = self.loop.call_later(delay, self._retry, pool, job)
            self.on_retry(job)

    def _retry(self, pool, job):
        self.waiting.discard(job)
        job.handle = None
        pool.queue(job)

    def trip(self, reason):
        """The circuit breaker: stop sending now; what is not done ends unfinished."""
        if self.broken is not None:
            return
        self.broken = reason
        self.stop()
        self.abort()
        self.on_broken(reason)

    def _finish(self, job, delivered, error, final=True):
        if not delivered:
            job.error = error
            job.final = final
        self.active -= 1
        self.on_done(job, delivered)
        if self.active == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)


class Pool:
    """Keep-alive connections to one origin (``scheme://host[:port]``)."""

    def __init__(self, sender, base):
        self.sender = sender
        self.options = sender.options
        self.loop = sender.loop
        scheme, _, hostport = base.partition('://')
        host, _, port = hostport.rpartition(':') if hostport.rfind(':') > hostport.rfind(']') else (hostport, '', '')
        self.tls = scheme.lower() == 'https'
        self.host = host.strip('[]')
        self.port = int(port) if port else (443 if self.tls else 80)
        self.head_tail = (' HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n' % (hostport, USER_AGENT))
        self.get_tail = (self.head_tail + '\r\n').encode('ascii')
        self.pending = deque()
        self.depth = self.options.pipeline
        self.conns = []
        self.connecting = 0
        self._pump_soon = False

    def encode(self, request, target):
        """The bytes of ``request`` (its target is the URL's path and query)."""
        if request.body is None:
            return b'GET ' + target.encode('ascii') + self.get_tail
        body = request.body.encode('ascii')
        return ('%s %s%sContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n'
                % (request.method, target, self.head_tail, len(body))).encode('ascii') + body

    def queue(self, job, front=False):
        if front:
            self.pending.appendleft(job)
        else:
            self.pending.append(job)
        if not self._pump_soon:
            self._pump_soon = True
            self.loop.call_soon(self.pump)

    def pump(self):
        """Hand queued jobs to connections with room, opening connections as needed. Runs once
        per loop iteration, so the jobs queued meanwhile go out in one write per connection."""
        self._pump_soon = False
        pending = self.pending
        if self.sender.stopping:
            self.stop()
            return
        depth = self.depth
        for conn in self.conns:
            if not pending:
                return
            room = depth - len(conn.inflight) - len(conn.unsent)
            if room > 0 and not conn.closing:
                conn.send([pending.popleft() for _ in range(min(room, len(pending)))])
        while pending and len(self.conns) < self.options.connections:
            conn = Connection(self, self.loop)
            self.conns.append(conn)
            conn.send([pending.popleft() for _ in range(min(depth, len(pending)))])
            self.loop.create_task(self._connect(conn))

    async def _connect(self, conn):
        if self.tls and self.sender._ssl is None:
            self.sender._ssl = self.options.ssl_context or ssl_module.create_default_context()
        try:
            await asyncio.wait_for(self.loop.create_connection(
                lambda: conn, self.host, self.port, ssl=self.sender._ssl if self.tls else None,
                server_hostname=self.host if self.tls else None), self.options.timeout)
        except (OSError, asyncio.TimeoutError, ssl_module.SSLError) as err:
            if conn.transport is None:
                conn.error = _describe(err, 'cannot connect to %s:%d' % (self.host, self.port))
                self.lost(conn, None)
            return
        if conn not in self.conns:
            conn.closing = True
            conn.transport.close()

    def answered(self, conn, job, status, retry_after=None):
        if conn.server_closes:
            self.depth = 1      # it closes after each answer: pipelined requests would be discarded
        self.sender.answered(self, job, status, retry_after)
        if self.sender.stopping and not conn.inflight and not conn.closing:
            conn.closing = True
            conn.transport.close()
        elif self.pending and not self._pump_soon:
            self._pump_soon = True
            self.loop.call_soon(self.pump)

    def lost(self, conn, exc):
        """A connection ended: charge its oldest unanswered job, requeue the rest first in line."""
        if conn not in self.conns:
            return
        self.conns.remove(conn)
        unanswered = list(conn.inflight) + conn.unsent
        conn.inflight.clear()
        conn.unsent = []
        if not unanswered:
            if self.pending and not self.sender.stopping:
                self.pump()
            return
        error = _describe(conn.error or exc, 'connection closed before the response was complete')
        sender = self.sender
        if conn.transport is None:
            # Never connected: nothing was sent; each job lost one attempt.
            for job in unanswered:
                sender.failed(self, job, error)
        elif sender.stopping:
            for job in unanswered:
                job.sent = True
                sender._finish(job, False, 'interrupted: sent, but no answer before the connection '
                                           'was closed (it may have been delivered)', final=False)
        elif conn.timed_out:
            # Nothing came back for ``timeout`` seconds: every request in flight waited that long.
            for job in unanswered:
                sender.failed(self, job, error)
        else:
            rest = unanswered
            if not conn.server_closes:
                sender.failed(self, unanswered[0], error)
                rest = unanswered[1:]
            for job in reversed(rest):
                self.pending.appendleft(job)
        if self.pending and not self._pump_soon:
            self._pump_soon = True
            self.loop.call_soon(self.pump)

    def check_timeouts(self, now):
        limit = self.options.timeout
        for conn in list(self.conns):
            if conn.transport is not None and conn.inflight and now - conn.last > limit:
                conn.timed_out = True
                conn.abort('no response within %gs (timeout)' % limit)

    def stop(self):
        while self.pending:
            self.sender._finish(self.pending.popleft(), False, INTERRUPTED, final=False)
        for conn in list(self.conns):
            if conn.transport is None:
                self.conns.remove(conn)
                jobs, conn.unsent = conn.unsent, []
                for job in jobs:
                    self.sender._finish(job, False, INTERRUPTED, final=False)
            elif not conn.inflight:
                conn.closing = True
                conn.transport.close()

    def abort(self):
        self.stop()
        for conn in list(self.conns):
            conn.abort('interrupted')


def _describe(err, fallback):
    if err is None:
        return fallback
    if isinstance(err, str):
        return err
    if isinstance(err, asyncio.TimeoutError):
        return fallback + ': timed out'
    if isinstance(err, ConnectionRefusedError):
        return fallback + ': connection refused'
    text = getattr(err, 'strerror', None) or str(err) or type(err).__name__
    return '%s: %s' % (fallback, text)



def deliver(requests, options=None):
    """Send ``requests`` from this process and wait: returns the finished jobs, in order,
    each with ``job.tag`` True when delivered (for a few requests: ``tapstream-alias --send``)."""

    async def main():
        def done(job, delivered):
            job.tag = delivered

        sender = Sender(options or Options(), done)
        jobs = [Job(request) for request in requests]
        for job in jobs:
            sender.submit(job)
        try:
            await sender.idle()
        finally:
            sender.close()
        for job in jobs:
            if not job.final and sender.broken:
                job.error = sender.broken
        return jobs

    return asyncio.run(main())
