"""``kmgen send``: input -> worker processes (parse, map, build, deliver) -> summary.

The main process only splits the input into batches of lines and writes the dead-letter and
rejects files; ``workers`` processes (one per core by default) each parse, map and deliver
with their own event loop and connections (``sender.Sender``). Flow control is by credit:
a worker takes a batch only while it has fewer than ``ACTIVE_LIMIT`` requests in hand, so
memory stays flat however long the input is.

Nothing is lost: a batch handed to a worker is the worker's to account for (delivered,
dead-lettered or rejected, event by event); on SIGINT/SIGTERM the workers stop sending
(requests in flight get ``grace`` seconds to be answered) and the main process writes every
event it has not handed over, unsent, to the dead-letter file. A request confirmed by a 2xx
is never sent again.
"""

import itertools
import json
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import sys
import threading
import time

from ..errors import KmgenError, MessageError
from . import readers
from .requests import Builder
from .sender import INTERRUPTED, Job, Options, Sender

BATCH = 256
CREDITS = 2
ACTIVE_LIMIT = 4096
REPORT_EVERY = 0.1
SHOW_REJECTS = 10
COUNTS = ('events', 'events_failed', 'empty', 'requests', 'requests_failed', 'retried', 'rejected',
          'maybe_delivered')


class SendOptions(Options):
    """What ``kmgen send`` was asked to do (see its ``--help``): the sender's options plus
    how many worker processes and how many messages per batch."""

    def __init__(self, workers=None, batch=BATCH, **sender):
        super().__init__(**sender)
        self.workers = workers or os.cpu_count() or 1
        self.batch = batch

    def sender_options(self):
        return self


def dead_record(request, error, source, line, item, status=None, attempts=0, maybe_delivered=False, extra=None):
    """A dead-letter record: the request itself (replayable as is) and why it is there."""
    record = {'method': request.method, 'url': request.url, 'body': request.body, 'error': error,
              'status': status, 'attempts': attempts}
    if maybe_delivered:
        record['maybe_delivered'] = True
    if extra:
        for key in ('source', 'line', 'item'):
            if key in extra:
                record[key] = extra[key]
    else:
        record['source'] = source
        record['line'] = line
        if item is not None:
            record['item'] = item
    return record


def events_in(source, units, builder, replay):
    """Parse and map a group of units: yields ``(line, item, requests, extra)`` per event and
    ``(line, item, None, reject_record)`` per reject."""
    for line, raw, item in units:
        if replay:
            try:
                record, request = readers.parse_dead_letter(source, line, raw)
            except MessageError as err:
                yield line, item, None, readers.reject(source, line, item, err, raw)
                continue
            yield line, item, [request], record
            continue
        messages, rejects = readers.parse(source, line, raw, item)
        for record in rejects:
            yield line, record.get('item'), None, record
        for label, index, message in messages:
            try:
                requests = builder.build(message, label)
            except MessageError as err:
                error = err
            except Exception as err:  # a bug must cost one message, never the run
                error = 'kmgen could not map %s (internal error %s: %s); please report it.' % (
                    label, type(err).__name__, err)
            else:
                yield line, index, requests, None
                continue
            yield line, index, None, readers.reject(source, line, index, error, raw if index is None
                                                    else json.dumps(message, ensure_ascii=False))


# -- the worker process ------------------------------------------------------------------

def worker_main(conn, settings, options, replay):
    """Entry point of a worker process: serve batches from ``conn`` until told to end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    import asyncio
    asyncio.run(_Worker(conn, settings, options, replay).run())


class _Batch:
    __slots__ = ('bid', 'source', 'pending')

    def __init__(self, bid, source):
        self.bid = bid
        self.source = source
        self.pending = 0


class _Worker:
    def __init__(self, conn, settings, options, replay):
        self.conn = conn
        self.builder = None if replay else Builder(settings)
        self.options = options
        self.replay = replay
        self.counts = dict.fromkeys(COUNTS, 0)
        self.dead = []
        self.rejects = []
        self.done = []
        self.batches = 0
        self.owed = 0
        self.ended = False
        self.orphaned = False
        self.report_soon = None

    async def run(self):
        import asyncio
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.sender = Sender(self.options.sender_options(), self.on_done, self.on_retry)
        self.finished = loop.create_future()
        loop.add_reader(self.conn.fileno(), self.on_readable)
        await self.finished
        loop.remove_reader(self.conn.fileno())
        self.sender.close()
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
            self.leave()

    def leave(self):
        self.loop.remove_reader(self.conn.fileno())
        self.sender.stop()
        self.sender.abort()
        if not self.finished.done():
            self.finished.set_result(None)

    def on_readable(self):
        conn = self.conn
        try:
            while conn.poll():
                message = conn.recv()
                kind = message[0]
                if kind == 'batch':
                    self.take(*message[1:])
                elif kind == 'stop':
                    self.sender.stop()
                elif kind == 'end':
                    self.ended = True
                    self.check_end()
        except (EOFError, OSError):
            self.orphaned = True    # the main process is gone: nobody to report to
            self.leave()

    def take(self, bid, source, units):
        batch = _Batch(bid, source)
        jobs = []
        counts = self.counts
        for line, item, requests, extra in events_in(source, units, self.builder, self.replay):
            if requests is None:
                counts['rejected'] += 1
                self.rejects.append(extra)
                continue
            if not requests:
                counts['events'] += 1
                counts['empty'] += 1
                continue
            event = [len(requests), False]
            for request in requests:
                jobs.append(Job(request, (batch, event, line, item, extra)))
        batch.pending = len(jobs)
        self.batches += 1
        if not jobs:
            self.batch_done(batch)
        for job in jobs:
            self.sender.submit(job)     # may finish it at once (stopping): on_done counts it
        if self.sender.active < ACTIVE_LIMIT:
            self.tell(('taken',))
        else:
            self.owed += 1
        self.schedule_report()

    def on_retry(self, job):
        self.counts['retried'] += 1

    def on_done(self, job, delivered):
        batch, event, line, item, extra = job.tag
        counts = self.counts
        if delivered:
            counts['requests'] += 1
        else:
            counts['requests_failed'] += 1
            event[1] = True
            if job.sent:
                counts['maybe_delivered'] += 1
            self.dead.append(dead_record(job.request, job.error, batch.source, line, item, job.status,
                                         job.attempts, job.sent, extra))
        event[0] -= 1
        if event[0] == 0:
            counts['events_failed' if event[1] else 'events'] += 1
        batch.pending -= 1
        if batch.pending == 0:
            self.batch_done(batch)
        if self.owed and self.sender.active < ACTIVE_LIMIT // 2:
            for _ in range(self.owed):
                self.tell(('taken',))
            self.owed = 0
        if len(self.dead) >= 1000:
            self.report()
        else:
            self.schedule_report()

    def batch_done(self, batch):
        self.done.append(batch.bid)
        self.batches -= 1
        self.check_end()

    def check_end(self):
        if self.ended and self.batches == 0 and self.sender.active == 0 and not self.finished.done():
            self.finished.set_result(None)

    def schedule_report(self):
        if self.report_soon is None:
            self.report_soon = self.loop.call_later(REPORT_EVERY, self.report)

    def report(self):
        if self.report_soon is not None:
            self.report_soon.cancel()
            self.report_soon = None
        self.tell(('report', self.counts, self.done, self.dead, self.rejects))
        self.counts = dict.fromkeys(COUNTS, 0)
        self.done, self.dead, self.rejects = [], [], []


# -- the main process --------------------------------------------------------------------

class JsonlOut:
    """A JSONL output file, created on its first record (append or truncate)."""

    def __init__(self, path, mode):
        self.path = path
        self.mode = mode
        self.handle = None
        self.count = 0
        self.lock = threading.Lock()

    def write(self, records):
        if not records:
            return
        with self.lock:
            if self.handle is None:
                try:
                    self.handle = open(self.path, self.mode, encoding='utf-8')
                except OSError as err:
                    raise KmgenError('Cannot write %s: %s.' % (self.path, err.strerror or err)) from None
            self.handle.write(''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in records))
            self.handle.flush()
            self.count += len(records)

    def close(self):
        if self.handle is not None:
            self.handle.close()


class Progress:
    """A one-line progress display on a terminal (stderr), redrawn at most 5 times a second."""

    def __init__(self, stream, total_bytes):
        self.stream = stream
        self.total = total_bytes
        self.last = 0.0

    def show(self, counts, read_bytes, elapsed, final=False):
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        done = counts['events'] + counts['events_failed']
        rate = done / elapsed if elapsed > 0 else 0
        bar = ''
        if self.total:
            share = min(1.0, read_bytes / self.total)
            filled = int(share * 24)
            bar = '[%s%s] %3d%% ' % ('#' * filled, '.' * (24 - filled), share * 100)
        self.stream.write('\r%s%s events sent, %s failed, %s rejected, %s events/s\x1b[K' % (
            bar, format(counts['events'], ','), format(counts['events_failed'], ','),
            format(counts['rejected'], ','), format(int(rate), ',')))
        if final:
            self.stream.write('\r\x1b[K')
        self.stream.flush()


class Run:
    """One ``kmgen send`` (or ``--replay``) run in the main process."""

    def __init__(self, paths, settings, options, dead_letter, rejects, replay=False, progress=None):
        self.paths = paths
        self.settings = settings
        self.options = options
        self.replay = replay
        self.counts = dict.fromkeys(COUNTS, 0)
        self.dead_path = dead_letter
        self.replace_dead = replay and any(_same_file(p, dead_letter) for p in paths)
        dead_target = dead_letter + '.tmp-%d' % os.getpid() if self.replace_dead else dead_letter
        self.dead = JsonlOut(dead_target, 'w' if self.replace_dead else 'a')
        self.rejects = JsonlOut(rejects, 'w')
        self.progress = progress
        self.stopping = False
        self.stop_sent = False
        self.signals = 0
        self.lock = threading.Lock()
        self.lost_ranges = []
        self.first_rejects = []
        self.read_bytes = 0
        self.started = time.monotonic()
        self.elapsed = 0.0

    # counts from workers (collector thread) and from the main thread
    def add(self, counts, dead, rejects):
        self.dead.write(dead)
        self.rejects.write(rejects)
        with self.lock:
            if len(self.first_rejects) < SHOW_REJECTS:
                self.first_rejects.extend(r['error'] for r in rejects[:SHOW_REJECTS - len(self.first_rejects)])
            for key, value in counts.items():
                self.counts[key] += value

    def on_signal(self, signum, frame):
        self.signals += 1
        if self.signals == 1:
            self.stopping = True
            sys.stderr.write('\nInterrupted: stopping; requests in flight get %gs to be answered, everything '
                             'unsent goes to %s.\n' % (self.options.grace, self.dead_path))
        elif self.signals == 2:
            sys.stderr.write('Still writing unsent events to %s so that none is lost; please wait.\n'
                             % self.dead_path)

    def check_inputs(self):
        for path in self.paths:
            if path != '-' and not os.path.isfile(path):
                raise readers.InputError('Cannot read %s: %s.' % (
                    path, 'no such file' if not os.path.exists(path) else 'not a file'))

    def total_bytes(self):
        total = 0
        for path in self.paths:
            if path == '-':
                return 0
            with open(path, 'rb') as handle:
                if handle.read(2) == b'\x1f\x8b':
                    return 0
            total += os.path.getsize(path)
        return total

    def dry_run(self, out):
        """Print the requests instead of sending them."""
        self.check_inputs()
        self.replace_dead = False       # a dry run writes no dead letter and rewrites nothing
        builder = None if self.replay else Builder(self.settings)
        for source, units in readers.batches(self.paths, self.options.batch):
            lines = []
            rejects = []
            counts = dict.fromkeys(COUNTS, 0)
            for _, _, requests, extra in events_in(source, units, builder, self.replay):
                if requests is None:
                    rejects.append(extra)
                    counts['rejected'] += 1
                    continue
                counts['events'] += 1
                if not requests:
                    counts['empty'] += 1
                counts['requests'] += len(requests)
                lines.extend(request.line() for request in requests)
            if lines:
                out.write('\n'.join(lines) + '\n')
            self.add(counts, [], rejects)
        self.finish()
        return self.counts

    def send(self):
        """Send everything; returns the counts."""
        self.check_inputs()
        previous = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._send()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _send(self):
        total = self.total_bytes() if self.progress else 0
        display = Progress(self.progress, total) if self.progress else None
        ctx = multiprocessing.get_context('spawn')
        workers = []
        # Workers start with these signals blocked, then ignore them: a Ctrl-C on a terminal
        # reaches the whole process group, and only this process decides how to stop.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
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
        free = queue.Queue()
        for _ in range(CREDITS):
            for index in range(len(workers)):
                free.put(index)
        collector = threading.Thread(target=self.collect, args=(workers, free, display), daemon=True)
        collector.start()
        error = None
        try:
            self.feed(workers, free)
        except KmgenError as err:
            error = err       # e.g. an input that cannot be read: what was read is still delivered
        finally:
            for handle in workers:
                handle.tell(('end',))
            while collector.is_alive():
                # Workers finish what they hold; a signal now still stops them.
                collector.join(0.1)
                if self.stopping and not self.stop_sent:
                    self.stop_workers(workers)
            for handle in workers:
                handle.process.join(5)
                if handle.process.is_alive():
                    handle.process.kill()
            if display:
                display.show(self.counts, self.read_bytes, time.monotonic() - self.started, final=True)
            self.finish(complete=error is None)
        if error is not None:
            raise error
        return self.counts

    def feed(self, workers, free):
        """Hand the input to the workers batch by batch; once stopping, write the rest unsent."""
        stream = readers.batches(self.paths, self.options.batch)
        bid = 0
        for source, units in stream:
            self.read_bytes += sum(len(raw) for _, raw, _ in units)
            while True:
                index = self.next_worker(free, workers)
                if index is None:
                    self.stop_workers(workers)
                    self.write_unsent([(source, units)], stream)
                    return
                handle = workers[index]
                bid += 1
                handle.outstanding[bid] = (source, units[0][0], units[-1][0])
                try:
                    handle.conn.send(('batch', bid, source, units))
                    break
                except OSError:     # that worker is gone (the collector reports it)
                    handle.outstanding.pop(bid)
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
                    self.stopping = True
                continue
            if workers[index].alive:
                return index

    def stop_workers(self, workers):
        self.stopping = self.stop_sent = True
        for handle in workers:
            handle.tell(('stop',))

    def write_unsent(self, leftover, stream):
        """Map what was never handed to a worker and write it to the dead-letter file, unsent."""
        builder = None if self.replay else Builder(self.settings)
        for source, units in itertools.chain(leftover, stream):
            counts = dict.fromkeys(COUNTS, 0)
            dead, rejects = [], []
            for line, item, requests, extra in events_in(source, units, builder, self.replay):
                if requests is None:
                    counts['rejected'] += 1
                    rejects.append(extra)
                elif not requests:
                    counts['events'] += 1
                    counts['empty'] += 1
                else:
                    counts['events_failed'] += 1
                    counts['requests_failed'] += len(requests)
                    for request in requests:
                        dead.append(dead_record(request, INTERRUPTED, source, line, item, extra=extra))
            self.add(counts, dead, rejects)

    def collect(self, workers, free, display):
        """Collector thread: reports from workers -> files and counts; credits -> ``free``."""
        live = {handle.conn: handle for handle in workers}
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
                    _, counts, done, dead, rejects = message
                    self.add(counts, dead, rejects)
                    for bid in done:
                        handle.outstanding.pop(bid, None)
                elif kind == 'bye':
                    handle.said_bye = True
                    handle.alive = False
                    del live[conn]
            if display:
                display.show(self.counts, self.read_bytes, time.monotonic() - self.started)

    def worker_died(self, handle):
        handle.alive = False
        code = handle.process.exitcode
        handle.process.join(1)
        code = handle.process.exitcode if code is None else code
        for source, first, last in handle.outstanding.values():
            self.lost_ranges.append((source, first, last))
        handle.outstanding.clear()
        sys.stderr.write('kmgen send: a worker process ended unexpectedly (exit code %s).\n' % code)

    def finish(self, complete=True):
        """Close the files; a replayed dead-letter file is replaced by what still fails, but only
        when every record of it was accounted for."""
        self.elapsed = time.monotonic() - self.started
        self.dead.close()
        self.rejects.close()
        if not self.replace_dead:
            return
        if complete and not self.lost_ranges:
            if self.dead.count:
                os.replace(self.dead.path, self.dead_path)
            else:
                open(self.dead_path, 'w').close()
        else:
            self.replace_dead = False
            self.dead_path = self.dead.path

    def summary(self, dry_run=False):
        """The closing line(s) of a run."""
        c = self.counts
        done = c['events'] + c['events_failed']
        rate = done / self.elapsed if self.elapsed > 0 else 0.0
        noun = 'records' if self.replay else 'events'
        verb = 'would send' if dry_run else 'sent'
        lines = ['kmgen send: %s %s %s (%s requests), retried %s, failed %s, rejected %s in %.2fs (%s %s/s)' % (
            verb, format(c['events'], ','), noun, format(c['requests'], ','), format(c['retried'], ','),
            format(c['events_failed'], ','), format(c['rejected'], ','), self.elapsed, format(int(rate), ','), noun)]
        if self.dead.count or self.replace_dead:
            extra = ''
            if c['maybe_delivered']:
                extra = ' (%s of them may have been delivered: sent, but unanswered when interrupted)' % format(
                    c['maybe_delivered'], ',')
            lines.append('kmgen send: %s failed requests written to %s%s; resend them with '
                         '`kmgen send --replay %s`' % (format(self.dead.count, ','), self.dead_path, extra,
                                                       self.dead_path))
        if self.rejects.count:
            lines[:0] = ['kmgen send: rejected %s' % error for error in self.first_rejects]
            more = self.rejects.count - len(self.first_rejects)
            lines.append('kmgen send: %s rejected lines written to %s%s' % (
                format(self.rejects.count, ','), self.rejects.path,
                ' (%s not shown above)' % format(more, ',') if more else ''))
        for source, first, last in self.lost_ranges:
            lines.append('kmgen send: events on lines %d-%d of %s may not have been delivered; resend them'
                         % (first, last, source))
        return '\n'.join(lines)

    def exit_code(self):
        c = self.counts
        return 1 if (self.dead.count or c['rejected'] or self.lost_ranges or c['requests_failed']) else 0


class _Handle:
    def __init__(self, conn, process):
        self.conn = conn
        self.process = process
        self.outstanding = {}
        self.alive = True
        self.said_bye = False

    def tell(self, message):
        try:
            self.conn.send(message)
        except OSError:
            pass


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

