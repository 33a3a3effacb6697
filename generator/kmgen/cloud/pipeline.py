"""``kmgen send``: source -> map -> journal -> deliver, over one worker process per core.

The main process reads the inputs (``readers``), skips the units the journal holds as done,
gives each batch the ``_t`` for its untimed messages (``journal.time_for``), and deals the
batches to ``workers`` processes. Each worker maps and delivers them with its own
``core.Core`` (event loop, connections) and reports what is done; the main process writes the
rejects and dead letters, syncs them, and only then journals those units as done. Flow control
is by credit: a worker takes a batch only while it has fewer than ``core.ACTIVE_LIMIT``
requests in hand, so memory stays flat however long the input is.

Stopping (SIGINT, SIGTERM, SIGHUP; the circuit breaker; an output that cannot be written):
no more input is read, requests in flight get ``grace`` seconds to be answered, and what is
not done stays out of the journal: the same command run again sends exactly that (and nothing
is rewritten into the dead-letter file). A SIGKILL at any instant leaves the same state, minus
the last fraction of a second of confirmations, which are sent again with the same ``_t``.
"""

import contextlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.resource_tracker
import os
import queue
import signal
import threading
import time

from . import readers
from .core import ACTIVE_LIMIT, Core, Tally
from .journal import Journal, OutputError, describe
from .mapper import Event, events
from .report import Progress
from .requests import Builder
from .sender import Options

BATCH = 256
CREDITS = 2
REPORT_EVERY = 0.1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SendOptions(Options):
    """What ``kmgen send`` was asked to do (see its ``--help``): the sender's options plus
    how many worker processes and how many messages per batch."""

    def __init__(self, workers=None, batch=BATCH, **sender):
        super().__init__(**sender)
        self.workers = workers or os.cpu_count() or 1
        self.batch = batch


# -- the worker process ------------------------------------------------------------------

def worker_main(conn, settings, options, replay):
    """Entry point of a worker process: serve batches from ``conn`` until told to end. It
    started with the stop signals blocked (pending ones are dropped here): only the main
    process decides how to stop."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))
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


# -- the main process --------------------------------------------------------------------

class JsonlOut:
    """A JSONL output file, created on its first record (``mode`` 'a' appends, 'w' truncates).
    A write is whole or not at all: one that fails half-way (a full disk) is cut off again."""

    def __init__(self, path, mode):
        self.path = path
        self.mode = mode
        self.fd = None
        self.count = 0
        self.dirty = False

    def probe(self):
        """Fail now, before anything is sent, if the file cannot be created or grown (a missing
        or read-only folder, a full disk)."""
        existed = os.path.exists(self.path)
        try:
            with open(self.path, 'ab') as handle:
                if os.path.isfile(self.path):
                    size = handle.tell()
                    try:
                        os.posix_fallocate(handle.fileno(), size, 4096)
                    finally:
                        os.ftruncate(handle.fileno(), size)
        except OSError as err:
            if not existed and os.path.isfile(self.path):
                os.unlink(self.path)
            raise OutputError('Cannot write %s.' % describe(self.path, err)) from None
        if not existed:
            os.unlink(self.path)

    def _open(self):
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if self.mode == 'w' else 0)
        self.fd = os.open(self.path, flags, 0o666)
        size = os.lseek(self.fd, 0, os.SEEK_END)
        if size and os.path.isfile(self.path):
            # A last line torn by a kill was never confirmed in the journal: cut it off.
            with open(self.path, 'rb') as reader:
                reader.seek(max(0, size - 65536))
                tail = reader.read()
            if not tail.endswith(b'\n') and b'\n' in tail:
                os.ftruncate(self.fd, size - len(tail) + tail.rfind(b'\n') + 1)

    def write(self, records):
        if not records:
            return
        start = None
        try:
            if self.fd is None:
                self._open()
            start = os.lseek(self.fd, 0, os.SEEK_END)
            view = memoryview(''.join(readers.json_line(r) for r in records).encode('utf-8'))
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as err:
            if start is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, start)
            raise OutputError('Cannot write %s.' % describe(self.path, err)) from None
        self.count += len(records)
        self.dirty = True

    def sync(self):
        if self.dirty:
            try:
                os.fsync(self.fd)
            except OSError as err:
                raise OutputError('Cannot write %s.' % describe(self.path, err)) from None
            self.dirty = False

    def close(self):
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


class Run:
    """One ``kmgen send`` (or ``--replay``) run in the main process.

    Args:
        paths: input files ('-' for stdin); with ``replay``, the one dead-letter file.
        settings: complete settings.
        options: ``SendOptions``.
        dead_letter, rejects: output paths.
        journal: the journal's path, or None for none.
        progress: a stream to draw progress on, or None.
    """

    def __init__(self, paths, settings, options, dead_letter, rejects, replay=False, progress=None,
                 journal=None):
        self.paths = paths
        self.settings = settings
        self.options = options
        self.replay = replay
        self.dead_path = dead_letter
        self.journal_path = journal
        self.journal = None
        self.replace_dead = replay and _same_file(paths[0], dead_letter)
        self.dead = JsonlOut(dead_letter + '.next' if self.replace_dead else dead_letter, 'a')
        self.rejects = JsonlOut(rejects, 'w')
        self.progress = progress
        self.tally = Tally()
        self.states = {}            # source -> journal FileState
        self.skipped = 0            # units done in an earlier run
        self.read_errors = []
        self.stopped = None         # why the run stopped early
        self.stop_at = None         # (source, line) of the first unit not read
        self.write_error = None
        self.stopping = False
        self.stop_sent = False
        self.signals = 0
        self.units_done = 0
        self.first_rejects = []
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.elapsed = 0.0

    # -- before the first request -------------------------------------------------------

    def check_inputs(self):
        for path in self.paths:
            if path != '-' and not os.path.isfile(path):
                raise readers.InputError('Cannot read %s: %s.' % (
                    path, 'no such file' if not os.path.exists(path) else 'not a file'))
            if path != '-' and not os.access(path, os.R_OK):
                raise readers.InputError('Cannot read %s: permission denied.' % path)

    def prepare(self):
        """Check the inputs and every output before anything is sent (``KmgenError``: exit 2)."""
        self.check_inputs()
        for out, what in ((self.dead, 'dead-letter file'), (self.rejects, 'rejects file')):
            try:
                out.probe()
            except OutputError as err:
                option = '--dead-letter' if out is self.dead else '--rejects'
                raise OutputError('%s (the %s). Nothing was sent: pass %s PATH in a folder you can write to.' % (
                    str(err).rstrip('.'), what, option)) from None
        if self.journal_path:
            try:
                self.journal = Journal(self.journal_path)
            except OutputError as err:
                raise OutputError('%s Nothing was sent.' % err) from None
            for path in self.paths:
                state = self.journal.state(path)
                if state is not None:
                    self.states[_source(path)] = state
                    if state.done:
                        self.rejects.mode = 'a'     # an earlier run wrote the rejects of what it did

    # -- the run ------------------------------------------------------------------------

    def on_signal(self, signum, frame):
        self.signals += 1
        if self.signals == 1:
            self.stop('interrupted by %s' % signal.Signals(signum).name)
            _say(self.progress, '\r\x1b[K' if self.progress else '')
            _say(None, 'Interrupted: stopping; requests in flight get %gs to be answered; the rest is sent '
                       'when you run the same command again.\n' % self.options.grace)

    def stop(self, why):
        if self.stopped is None:
            self.stopped = why
        self.stopping = True

    def send(self):
        """Send everything; returns the tally."""
        previous = {sig: signal.signal(sig, self.on_signal) for sig in STOP_SIGNALS}
        try:
            self._send()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.tally

    def _start_workers(self):
        ctx = multiprocessing.get_context('spawn')
        # multiprocessing's resource tracker, started on the first spawn, unblocks these
        # signals when it has started: start it first, so that every worker starts with them
        # blocked (a Ctrl-C on a terminal reaches the whole process group).
        multiprocessing.resource_tracker.ensure_running()
        workers = []
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
        try:
            for _ in range(self.options.workers):
                parent, child = ctx.Pipe()
                process = ctx.Process(target=worker_main, args=(child, self.settings, self.options, self.replay),
                                      daemon=True)
                process.start()
                child.close()
                workers.append(_Handle(parent, process))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return workers

    def _send(self):
        display = Progress(self.progress, self.count_units()) if self.progress else None
        workers = self._start_workers()
        free = queue.Queue()
        for _ in range(CREDITS):
            for index in range(len(workers)):
                free.put(index)
        collector = threading.Thread(target=self.collect, args=(workers, free, display), daemon=True)
        collector.start()
        try:
            self.feed(workers, free)
        except OutputError as err:
            self.write_error = err
            self.stop('an output could not be written')
        finally:
            for handle in workers:
                handle.tell(('end',))
            while collector.is_alive():
                collector.join(0.1)     # workers finish what they hold; a signal now still stops them
                if self.stopping and not self.stop_sent:
                    self.stop_workers(workers)
            for handle in workers:
                handle.process.join(5)
                if handle.process.is_alive():
                    handle.process.kill()
            if display:
                display.show(self, final=True)
            self.finish()

    def count_units(self):
        """Lines to send, for the progress bar (plain files only; 0 when unknown)."""
        total = 0
        for path in self.paths:
            if path == '-':
                return 0
            with open(path, 'rb') as handle:
                if handle.read(2) == b'\x1f\x8b':
                    return 0
                handle.seek(0)
                last = b'\n'
                for block in iter(lambda: handle.read(1 << 20), b''):
                    total += block.count(b'\n')
                    last = block[-1:]
                total += last != b'\n'
            state = self.states.get(_source(path))
            if state is not None:
                total -= state.done_units()
        return max(total, 0)

    def batches(self):
        """``(source, t, units)`` to send: the units the journal does not hold as done, in
        batches that share one ``_t`` for untimed messages."""
        size = self.options.batch
        for path in self.paths:
            source = _source(path)
            state = self.states.get(source)
            done = state.done if state else []
            index = 0
            group, t = [], None
            try:
                for ordinal, (line, raw, item) in enumerate(readers.units(path)):
                    while index < len(done) and done[index][1] <= ordinal:
                        index += 1
                    if index < len(done) and done[index][0] <= ordinal:
                        self.skipped += 1
                        continue
                    if self.stopping:
                        self.stop_at = (source, line)
                        break
                    when = state.time_of(ordinal) if state is not None and state.known else None
                    if group and (len(group) >= size or (when is not None and when != t)):
                        yield source, t, group
                        group = []
                    if not group:
                        t = when if when is not None else self.journal_time(state, ordinal)
                    group.append((ordinal, line, raw, item))
            except readers.InputError as err:
                self.read_errors.append(str(err))
            if group:
                yield source, t, group
            if self.stopping:
                return

    def journal_time(self, state, ordinal):
        now = int(time.time())
        return self.journal.time_for(state, ordinal, now) if self.journal else now

    def feed(self, workers, free):
        """Hand the batches to the workers; stop reading once stopping."""
        for source, t, units in self.batches():
            while True:
                index = self.next_worker(free, workers)
                if index is None:
                    self.stop_workers(workers)
                    if self.stop_at is None:
                        self.stop_at = (source, units[0][1])
                    return
                handle = workers[index]
                try:
                    handle.conn.send(('batch', source, t, units))
                    break
                except OSError:     # that worker is gone (the collector reports it)
                    handle.alive = False

    def next_worker(self, free, workers):
        """The index of a worker with credit, or None once stopping (or no worker is left)."""
        while True:
            if self.stopping:
                return None
            try:
                index = free.get(timeout=0.1)
            except queue.Empty:
                if not any(handle.alive for handle in workers):
                    self.stop('every worker process ended')
                continue
            if workers[index].alive:
                return index

    def stop_workers(self, workers):
        self.stopping = self.stop_sent = True
        for handle in workers:
            handle.tell(('stop',))

    def collect(self, workers, free, display):
        """Collector thread: reports -> files, then the journal; credits -> ``free``."""
        live = {handle.conn: handle for handle in workers}
        last_sync = 0.0
        while live:
            ready = multiprocessing.connection.wait(list(live), timeout=0.2)
            for conn in ready:
                handle = live[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    del live[conn]
                    if not handle.said_bye:
                        self.worker_died(handle)
                    continue
                kind = message[0]
                if kind == 'taken':
                    free.put(workers.index(handle))
                elif kind == 'report':
                    self.commit(*message[1:])
                elif kind == 'broken':
                    self.stop('gave up: %s (nothing succeeded; is %s up?)' % (
                        message[1], self.settings['tracking_host']))
                elif kind == 'bye':
                    handle.said_bye = True
                    handle.alive = False
                    del live[conn]
            if self.journal and self.write_error is None and time.monotonic() - last_sync > 0.5:
                last_sync = time.monotonic()
                self.guard(self.journal.sync)
            if display:
                display.show(self)

    def guard(self, action, *args):
        try:
            action(*args)
        except OutputError as err:
            self.write_error = err
            self.stop('an output could not be written')
            return False
        return True

    def commit(self, tally, done, dead, rejects):
        """One report: rejects and dead letters to disk (synced), then the units to the journal."""
        with self.lock:
            self.tally.add(tally)
            if len(self.first_rejects) < SHOW_REJECTS:
                self.first_rejects.extend(r['error'] for r in rejects[:SHOW_REJECTS - len(self.first_rejects)])
        if self.write_error is not None:
            return      # nothing more is journaled: the rerun sends it again
        if not self.guard(self._commit, done, dead, rejects):
            return
        self.units_done += sum(len(ordinals) for ordinals in done.values())

    def _commit(self, done, dead, rejects):
        self.dead.write(dead)
        self.rejects.write(rejects)
        if self.journal:
            self.dead.sync()
            self.rejects.sync()
            for source, ordinals in done.items():
                self.journal.done(self.states.get(source), ordinals)

    def worker_died(self, handle):
        handle.alive = False
        handle.process.join(1)
        self.stop('a worker process ended unexpectedly (exit code %s)' % handle.process.exitcode)

    def finish(self):
        """Close the files; a replayed dead-letter file is replaced by what still fails, once
        every record of it is done."""
        self.elapsed = time.monotonic() - self.started
        if self.journal and self.write_error is None:
            self.guard(self.journal.sync)
        self.dead.close()
        self.rejects.close()
        if self.journal:
            self.journal.close()
        if self.replace_dead and self.complete():
            if self.dead.count or os.path.exists(self.dead.path):
                os.replace(self.dead.path, self.dead_path)
            else:
                open(self.dead_path, 'w').close()
            self.dead.path = self.dead_path

    def complete(self):
        return (self.stopped is None and not self.read_errors and self.write_error is None
                and not self.tally['unfinished'])

    # -- dry run --------------------------------------------------------------------------

    def dry_run(self, out):
        """Print the requests instead of sending them; write no file (rejects go to stderr)."""
        self.check_inputs()
        builder = Builder(self.settings)
        counts = self.tally.counts
        for source, units in _all_units(self):
            lines = []
            for line, raw, item in units:
                for event in events(source, line, raw, item, builder, None, self.replay):
                    if event.__class__ is not Event:
                        counts['rejected'] += 1
                        self.first_rejects.append(event['error'])
                    elif not event.requests:
                        counts['empty'] += 1
                    else:
                        counts['delivered'] += 1
                        counts['requests'] += len(event.requests)
                        lines.extend(request.line() for request in event.requests)
            if lines:
                out.write('\n'.join(lines) + '\n')
        self.elapsed = time.monotonic() - self.started
        return self.tally

    def exit_code(self):
        c = self.tally
        return 1 if (self.dead.count or c['rejected'] or c['failed'] or self.stopped or self.read_errors
                     or self.write_error or c['unfinished']) else 0


SHOW_REJECTS = 10


def _all_units(run):
    """``(source, [(line, raw, item), ...])`` of every input, the unreadable rest of a file
    noted in ``run.read_errors``."""
    for path in run.paths:
        try:
            yield from readers.batches([path], run.options.batch)
        except readers.InputError as err:
            run.read_errors.append(str(err))


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


def _source(path):
    return '<stdin>' if path == '-' else path


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _say(stream, text):
    """Write to stderr (or ``stream``); a closed terminal (SIGHUP) must not stop the run."""
    import sys
    try:
        (stream or sys.stderr).write(text)
        (stream or sys.stderr).flush()
    except (OSError, ValueError):
        pass

