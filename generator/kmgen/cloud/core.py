"""Deliver: the one delivery core, shared by ``kmgen send`` and the Spark backfill.

The last step (source -> map -> journal -> **deliver**). A ``Core`` lives in one process
with its own event loop and connections (``sender.Sender``); it is given units (lines) of one
source at a time, maps them (``mapper``) and delivers their requests. Each unit ends in one of
two ways:

- *done*: every event of it delivered, rejected or dead-lettered (a request that failed for
  good: 4xx, or 5xx/network errors after every retry); its ordinal is reported in ``done`` so
  that the caller can journal it once the rejects and dead letters are written;
- *unfinished*: the core was stopped (Ctrl-C, the circuit breaker) before some request of it
  had an answer; nothing of it is reported, so a later run sends the whole unit again, with the
  same ``_t``.

``kmgen send`` runs one core per worker process (``pipeline``); ``deliver`` runs one in the
calling process over an iterator of ``(source, line, message)``, which is what a Spark
partition does.
"""

import asyncio
import collections
import json
import re
import time
import zlib

from .mapper import Event, dead_record, events
from .requests import Builder
from .sender import Job, Options, Sender

ACTIVE_LIMIT = 4096     # requests in hand before the core asks for no more
COUNTS = ('delivered', 'empty', 'failed', 'rejected', 'unfinished', 'requests', 'requests_failed', 'retried',
          'maybe_delivered')
_AFTER = re.compile(r' \(after \d+ attempts\)$')


class Tally:
    """Counts of events by outcome, and the reasons of the failures."""

    def __init__(self):
        self.counts = dict.fromkeys(COUNTS, 0)
        self.reasons = collections.Counter()

    def add(self, other):
        for key, value in other.counts.items():
            self.counts[key] += value
        self.reasons.update(other.reasons)

    def __getitem__(self, key):
        return self.counts[key]


class _Unit:
    __slots__ = ('ordinal', 'pending', 'dead', 'unfinished', 'failed')

    def __init__(self, ordinal):
        self.ordinal = ordinal
        self.pending = 0
        self.dead = []
        self.unfinished = False
        self.failed = 0


class _Track:
    __slots__ = ('unit', 'event', 'source', 'pending', 'job', 'unfinished')

    def __init__(self, unit, event, source):
        self.unit = unit
        self.event = event
        self.source = source
        self.pending = len(event.requests)
        self.job = None             # the first request that failed for good
        self.unfinished = False


class Core:
    """Maps and delivers units; collects outcomes until ``drain``.

    Args:
        settings: complete settings (``config.validate``).
        options: ``sender.Options``.
        replay: the units are dead-letter records.
        on_change: called (no arguments) when something finished; the owner decides when to drain.
        on_broken: called with the reason when the circuit breaker stops the core.
    """

    def __init__(self, settings, options, replay=False, on_change=None, on_broken=None):
        self.builder = Builder(settings)
        self.replay = replay
        self.on_change = on_change or (lambda: None)
        self.sender = Sender(options, self._done, self._retry, on_broken)
        self._reset()
        self.open_units = 0

    def _reset(self):
        self.tally = Tally()
        self.done = collections.defaultdict(list)   # source -> ordinals done
        self.dead = []
        self.rejects = []

    @property
    def active(self):
        return self.sender.active

    def take(self, source, units, t):
        """Map and send ``units`` of ``source``: ``(ordinal, line, raw, item)``; messages without
        a timestamp get ``t`` (a unix time, or a function of (source, line) giving one)."""
        counts = self.tally.counts
        submit = self.sender.submit
        done = self.done[source]
        builder, replay, timing = self.builder, self.replay, t if callable(t) else None
        for ordinal, line, raw, item in units:
            unit = _Unit(ordinal)
            when = t if timing is None else timing(source, line)
            for event in events(source, line, raw, item, builder, when, replay):
                if event.__class__ is not Event:
                    counts['rejected'] += 1
                    self.rejects.append(event)
                elif not event.requests:
                    counts['empty'] += 1
                else:
                    unit.pending += 1
                    track = _Track(unit, event, source)
                    for request in event.requests:
                        submit(Job(request, track))
            if unit.pending == 0:
                done.append(ordinal)
            else:
                self.open_units += 1
        self.on_change()

    def stop(self):
        """Stop sending (Ctrl-C): what has no answer yet ends unfinished, after the grace."""
        self.sender.stop()

    def drain(self):
        """The outcomes since the last drain: ``(tally, done, dead, rejects)``."""
        out = (self.tally, dict(self.done), self.dead, self.rejects)
        self._reset()
        return out

    def _retry(self, job):
        self.tally.counts['retried'] += 1

    def _done(self, job, delivered):
        track = job.tag
        counts = self.tally.counts
        if delivered:
            counts['requests'] += 1
        elif job.final:
            counts['requests_failed'] += 1
            if track.job is None:
                track.job = job
        else:
            track.unfinished = True
            if job.sent:
                counts['maybe_delivered'] += 1
        track.pending -= 1
        if track.pending:
            return
        unit = track.unit
        if track.unfinished:
            unit.unfinished = True
        elif track.job is not None:
            failed = track.job
            unit.dead.append(dead_record(track.source, track.event, failed.error, failed.status, failed.attempts))
        else:
            counts['delivered'] += 1
        if track.unfinished or track.job is not None:
            unit.failed += 1
        unit.pending -= 1
        if unit.pending:
            return
        self.open_units -= 1
        if unit.unfinished:
            counts['unfinished'] += unit.failed
        else:
            counts['failed'] += len(unit.dead)
            for record in unit.dead:
                self.tally.reasons[_AFTER.sub('', record['error'])] += 1
            self.dead.extend(unit.dead)
            self.done[track.source].append(unit.ordinal)
        self.on_change()


def from_input(base):
    """A ``_t`` for untimed messages that depends only on where they are, never on the clock:
    ``base`` plus up to a day, by a hash of (source, line). A task that is run again (Spark
    retries it) sends each event with the same ``_t``, so Kissmetrics drops the repeat."""
    def when(source, line):
        return base + zlib.crc32(('%s:%d' % (source, line)).encode('utf-8', 'replace')) % 86400
    return when


class Summary:
    """What ``deliver`` did: ``tally`` (counts and reasons), the ``dead`` and ``rejects``
    records (as ``kmgen send`` writes them) and ``broken`` (why it gave up, or None)."""

    def __init__(self, tally, dead, rejects, broken):
        self.tally = tally
        self.dead = dead
        self.rejects = rejects
        self.broken = broken


def deliver(records, settings, options=None, untimed=None, batch=256, on_outcomes=None):
    """Map and deliver ``(source, line, message)`` records from this process; a Spark
    partition calls this with its rows.

    Args:
        records: an iterable of ``(source, line, message)``; ``message`` is JSON text (str or
            bytes) or an already parsed dict.
        settings: complete settings (``config.validate``).
        options: ``sender.Options`` (its connections are this caller's own).
        untimed: the ``_t`` of messages without a timestamp: a function of (source, line)
            (``from_input(base)`` for a deterministic one), or None for the time they are read.
        batch: records mapped at a time.
        on_outcomes: called with ``(done, dead, rejects)`` each time outcomes are collected
            (``done``: source -> the lines that are done; a caller journals them once it has
            kept their dead letters and rejects); the ``Summary`` then holds neither list.

    Returns:
        A ``Summary``; records left unsent (the circuit breaker tripped) are counted as
        ``unfinished`` and are neither dead nor rejected: deliver them again.
    """
    async def main():
        loop = asyncio.get_running_loop()
        wake = [None]

        def changed():
            if wake[0] is not None and not wake[0].done() and core.active < ACTIVE_LIMIT // 2:
                wake[0].set_result(None)

        broken = []
        core = Core(settings, options or Options(), on_change=changed, on_broken=broken.append)
        dead, rejects, tally = [], [], Tally()

        def collect():
            part, done, more_dead, more_rejects = core.drain()
            tally.add(part)
            if on_outcomes is not None:
                on_outcomes(done, more_dead, more_rejects)
                return
            dead.extend(more_dead)
            rejects.extend(more_rejects)

        group, source = [], None
        iterator = iter(records)
        while True:
            record = next(iterator, None)
            if record is not None:
                name, line, message = record
                raw = message if isinstance(message, bytes) else (
                    message.encode('utf-8', 'surrogatepass') if isinstance(message, str)
                    else json.dumps(message, ensure_ascii=False).encode('utf-8', 'surrogatepass'))
            if group and (record is None or name != source or len(group) >= batch):
                core.take(source, group, untimed or int(time.time()))
                group = []
                collect()
                while core.active >= ACTIVE_LIMIT and not broken:
                    wake[0] = loop.create_future()
                    await wake[0]
            if broken:
                tally.counts['unfinished'] += len(group) + sum(1 for _ in iterator) + (record is not None)
                break
            if record is None:
                break
            source = name
            group.append((line, line, raw, None))     # a unit is known by its line
        await core.sender.idle()
        core.sender.close()
        collect()
        return Summary(tally, dead, rejects, broken[0] if broken else None)

    return asyncio.run(main())
