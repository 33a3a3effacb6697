"""Deliver over worker processes: the last step of ``kmgen send`` (source -> map -> journal -> deliver).

Each worker process maps and delivers the batches it is given with its own ``core.Core``
(event loop, connections) and reports what is done. In the main process, ``Workers`` starts
them (with the stop signals blocked: only the main process decides how to stop), deals them
the batches of the ``Source`` and hands their reports to the ``Ledger`` from a collector
thread. Flow control is by credit: a worker takes a batch only while it has fewer than
``core.ACTIVE_LIMIT`` requests in hand, so memory stays flat however long the input is.
"""

import gc
import multiprocessing
import multiprocessing.connection
import multiprocessing.resource_tracker
import queue
import signal
import threading

from .core import ACTIVE_LIMIT, Core

CREDITS = 2
REPORT_EVERY = 0.1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def worker_main(conn, settings, options, replay):
    """Entry point of a worker process: serve batches from ``conn`` until told to end. It
    started with the stop signals blocked (pending ones are dropped here): only the main
    process decides how to stop."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))
    # What a worker allocates per event is freed by reference counting as soon as the event is
    # delivered; the cyclic collector only has to catch rare cycles. Left at its defaults it
    # ran about 750 times per 50,000 events and took about a tenth of the worker's CPU, most of
    # it walking the modules' objects, which freeze() moves out of its sight.
    gc.freeze()
    gc.set_threshold(100000, 50, 100)
    import asyncio
    asyncio.run(_Worker(conn, settings, options, replay).run())


class _Worker:
    def __init__(self, conn, settings, options, replay):
        self.conn = conn
        self.settings = settings
        self.options = options
        self.replay = replay
        self.owed = 0
        self.ended = False
        self.orphaned = False
        self.report_soon = None

    async def run(self):
        import asyncio
        self.loop = asyncio.get_running_loop()
        self.core = Core(self.settings, self.options, self.replay, self.changed, self.broken)
        self.finished = self.loop.create_future()
        self.loop.add_reader(self.conn.fileno(), self.on_readable)
        await self.finished
        self.loop.remove_reader(self.conn.fileno())
        self.core.sender.close()
        self.report()
        self.tell(('bye',))

    def tell(self, message):
        """Send to the main process; if it is gone, there is nobody left to work for."""
        if self.orphaned:
            return
        try:
            self.conn.send(message)
        except OSError:
            self.orphaned = True
            self.core.sender.trip('the main process is gone')
            if not self.finished.done():
                self.finished.set_result(None)

    def on_readable(self):
        try:
            while self.conn.poll():
                message = self.conn.recv()
                kind = message[0]
                if kind == 'batch':
                    _, source, t, units = message
                    self.core.take(source, units, t)
                    if self.core.active < ACTIVE_LIMIT:
                        self.tell(('taken',))
                    else:
                        self.owed += 1
                elif kind == 'stop':
                    self.core.stop()
                elif kind == 'end':
                    self.ended = True
                    self.changed()
        except (EOFError, OSError):
            self.orphaned = True    # the main process is gone: nobody to report to
            self.core.sender.trip('the main process is gone')
            if not self.finished.done():
                self.finished.set_result(None)

    def broken(self, reason):
        self.tell(('broken', reason))

    def changed(self):
        core = self.core
        if self.owed and core.active < ACTIVE_LIMIT // 2:
            for _ in range(self.owed):
                self.tell(('taken',))
            self.owed = 0
        if self.ended and core.open_units == 0 and core.active == 0 and not self.finished.done():
            self.finished.set_result(None)
        elif len(core.dead) >= 1000:
            self.report()
        elif self.report_soon is None:
            self.report_soon = self.loop.call_later(REPORT_EVERY, self.report)

    def report(self):
        if self.report_soon is not None:
            self.report_soon.cancel()
            self.report_soon = None
        self.tell(('report',) + self.core.drain())


class Workers:
    """The worker processes of one run, seen from the main process.

    Args:
        run: the ``pipeline.Run`` (its settings, options, ``stop`` and ``stopping``).
        ledger: where the reports go.
        display: a ``report.Progress``, or None.
    """

    def __init__(self, run, ledger, display):
        self.run = run
        self.ledger = ledger
        self.display = display
        self.stop_sent = False
        self.handles = self._start()
        self.free = queue.Queue()
        for _ in range(CREDITS):
            for index in range(len(self.handles)):
                self.free.put(index)
        self.collector = threading.Thread(target=self.collect, daemon=True)
        self.collector.start()

    def _start(self):
        run = self.run
        ctx = multiprocessing.get_context('spawn')
        # multiprocessing's resource tracker, started on the first spawn, unblocks these
        # signals when it has started: start it first, so that every worker starts with them
        # blocked (a Ctrl-C on a terminal reaches the whole process group).
        multiprocessing.resource_tracker.ensure_running()
        handles = []
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
        try:
            for _ in range(run.options.workers):
                parent, child = ctx.Pipe()
                process = ctx.Process(target=worker_main, args=(child, run.settings, run.options, run.replay),
                                      daemon=True)
                process.start()
                child.close()
                handles.append(_Handle(parent, process))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return handles

    def feed(self, source):
        """Hand the batches of ``source`` to the workers; stop reading once stopping."""
        for name, t, units in source.batches():
            while True:
                index = self.next_worker()
                if index is None:
                    self.stop()
                    if source.stop_at is None:
                        source.stop_at = (name, units[0][1])
                    return
                handle = self.handles[index]
                try:
                    handle.conn.send(('batch', name, t, units))
                    break
                except OSError:     # that worker is gone (the collector reports it)
                    handle.alive = False

    def next_worker(self):
        """The index of a worker with credit, or None once stopping (or no worker is left)."""
        while True:
            if self.run.stopping:
                return None
            try:
                index = self.free.get(timeout=0.1)
            except queue.Empty:
                if not any(handle.alive for handle in self.handles):
                    self.run.stop('every worker process ended')
                continue
            if self.handles[index].alive:
                return index

    def stop(self):
        self.run.stopping = self.stop_sent = True
        for handle in self.handles:
            handle.tell(('stop',))

    def end(self):
        """Wait for the workers to finish what they hold (a signal now still stops them)."""
        for handle in self.handles:
            handle.tell(('end',))
        while self.collector.is_alive():
            self.collector.join(0.1)
            if self.run.stopping and not self.stop_sent:
                self.stop()
        for handle in self.handles:
            handle.process.join(5)
            if handle.process.is_alive():
                handle.process.kill()

    def collect(self):
        """Collector thread: reports -> the ledger; credits -> ``free``."""
        run, ledger = self.run, self.ledger
        live = {handle.conn: handle for handle in self.handles}
        while live:
            ready = multiprocessing.connection.wait(list(live), timeout=0.2)
            for conn in ready:
                handle = live[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    del live[conn]
                    if not handle.said_bye:
                        handle.alive = False
                        handle.process.join(1)
                        run.stop('a worker process ended unexpectedly (exit code %s)' % handle.process.exitcode)
                    continue
                kind = message[0]
                if kind == 'taken':
                    self.free.put(self.handles.index(handle))
                elif kind == 'report':
                    ledger.commit(*message[1:])
                elif kind == 'broken':
                    run.stop('gave up: %s (nothing succeeded; is %s up?)' % (
                        message[1], run.settings['tracking_host']))
                elif kind == 'bye':
                    handle.said_bye = True
                    handle.alive = False
                    del live[conn]
            ledger.tick()
            if self.display:
                self.display.show(run)


class _Handle:
    def __init__(self, conn, process):
        self.conn = conn
        self.process = process
        self.alive = True
        self.said_bye = False

    def tell(self, message):
        try:
            self.conn.send(message)
        except OSError:
            pass
