"""Backfills beyond one machine: ``kmgen send`` inside Apache Spark (PySpark 4.x, Java 17).

Each partition is mapped and delivered by the delivery core of ``kmgen send``
(``cloud.core.deliver``), with its own connections. A task that Spark runs again sends each
event again with the same ``_t``/``_d``, so Kissmetrics' person+event+time de-duplication
absorbs the repeat: a message without a timestamp gets a ``_t`` derived from where it is
(``cloud.core.from_input``: its file and line, or its partition and row), never from the
clock of the task. For rows of files (``spark.read.text``) the base is the file's
modification time minus a day, so a whole rerun gives the same ``_t`` too; for other rows it
is ``untimed_base`` (default: the driver's clock when ``send`` starts, printed in the summary).

**Journal.** For rows of files, each task attempt records the lines it has finished
(delivered, rejected or dead-lettered) in ``out_dir/journal/`` (one file per input block and
attempt, synced every half second, always after the dead letters and rejects of those lines),
and every attempt, in this run or a later one, skips the lines some attempt recorded. So the
same ``send`` run again after a kill, a failed job or a tripped circuit breaker sends only what
was not finished, and what was in flight goes again with the same ``_t``. Rerun with the same
files and Spark settings: a block is known by its file and start.

Each attempt writes its rejects and dead letters to ``out_dir/part-NNNNN-<attempt>.rejects.jsonl``
and ``...dead.jsonl`` as it goes (a file only when it has a line); ``kmgen send --replay``
accepts each dead-letter file. On a cluster ``out_dir`` must be a folder every executor can
write (a shared mount).
"""

import collections
import hashlib
import os
import sys
import time
import uuid

from . import config
from .cloud import report
from .cloud.core import Tally, deliver, from_input
from .cloud.mapper import dry_run_events, events
from .cloud.readers import json_line
from .cloud.requests import Builder
from .cloud.sender import Options
from .errors import KmgenError

DAY = 86400
JOURNAL = 'journal'
SYNC_EVERY = 0.5     # seconds between syncs of an attempt's files
SHOW_REJECTS = 10


class SparkSummary:
    """What ``send`` did: ``tally`` (counts by outcome and the failure reasons), the files
    written (``dead_files``, ``reject_files``), ``broken`` (why partitions gave up, if any),
    ``untimed_base``, ``partitions``, ``elapsed`` seconds, ``skipped`` (lines an earlier attempt
    or run had finished) and ``journal`` (its folder)."""

    def __init__(self, tally, dead_files, reject_files, broken, untimed_base, partitions, elapsed, first_rejects,
                 skipped=0, journal=None):
        self.skipped = skipped
        self.journal = journal
        self.tally = tally
        self.dead_files = dead_files
        self.reject_files = reject_files
        self.broken = broken
        self.untimed_base = untimed_base
        self.partitions = partitions
        self.elapsed = elapsed
        self.first_rejects = first_rejects
        self.untimed_used = True

    @property
    def delivered(self):
        return self.tally['delivered']

    @property
    def failed(self):
        return self.tally['failed']

    @property
    def rejected(self):
        return self.tally['rejected']

    def exit_code(self):
        """As ``kmgen send``: 0 all delivered, 1 something failed, was rejected or is left."""
        c = self.tally
        return 1 if (c['failed'] or c['rejected'] or c['unfinished'] or self.broken) else 0


def _rows(source):
    """An RDD of ``(text, file or None, block start, modification time)`` from a DataFrame or an RDD."""
    if hasattr(source, 'rdd') and hasattr(source, 'columns'):
        if 'value' not in source.columns:
            raise KmgenError('The DataFrame has no column "value" (it has %s): pass one JSON message per row in '
                             '"value", as spark.read.text(paths) gives.' % ', '.join(source.columns))
        try:
            rows = source.select('value', '_metadata.file_path', '_metadata.file_block_start',
                                 '_metadata.file_modification_time')
            return rows.rdd.map(lambda r: (r[0], r[1], r[2], r[3]))
        except Exception:   # not a file scan: rows are known by partition and position
            return source.select('value').rdd.map(lambda r: (r[0], None, None, None))
    return source.map(lambda text: (text, None, None, None))


def _journal_name(source):
    return hashlib.sha1(source.encode('utf-8', 'surrogatepass')).hexdigest()[:24]


def _finished(journal_dir, names, source):
    """The ``(first, last)`` line ranges of ``source`` that some attempt journaled, merged and
    sorted; a torn last row (a power loss mid-write) is not trusted."""
    prefix = _journal_name(source) + '.'
    ranges = []
    for name in names:
        if name.startswith(prefix):
            with open(os.path.join(journal_dir, name), encoding='ascii') as handle:
                for row in handle:
                    parts = row.split()
                    if row.endswith('\n') and len(parts) == 2:
                        ranges.append((int(parts[0]), int(parts[1])))
    merged = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged


def _records(index, rows, untimed, journal_dir=None, skipped=None):
    """``(source, line, message)`` for the core, and the ``_t`` function of untimed messages.
    With ``journal_dir``, lines of files that an attempt journaled are left out (and counted
    in ``skipped[0]``)."""
    bases = {}
    times = {}
    counters = {}
    done = {}      # source -> [ranges, position]
    names = sorted(os.listdir(journal_dir)) if journal_dir else []

    def records():
        for value, path, block, modified in rows:
            if path is None:
                source = 'partition %d' % index
                base = untimed
            else:
                source = path if not block else '%s@%d' % (path, block)
                base = bases.get(source)
                if base is None:
                    base = bases[source] = int(modified.timestamp()) - DAY
            if source not in times:
                times[source] = from_input(base)
            line = counters[source] = counters.get(source, 0) + 1
            if journal_dir and path is not None:
                state = done.get(source)
                if state is None:
                    state = done[source] = [_finished(journal_dir, names, source), 0]
                ranges = state[0]
                while state[1] < len(ranges) and ranges[state[1]][1] < line:
                    state[1] += 1
                if state[1] < len(ranges) and ranges[state[1]][0] <= line:
                    skipped[0] += 1
                    continue
            yield source, line, value if value is not None else ''

    return records(), lambda source, line: times[source](source, line)


def _ranges(lines):
    """Sorted line numbers as ``first last`` rows of runs."""
    rows, lines = [], sorted(lines)
    first = last = lines[0]
    for line in lines[1:]:
        if line != last + 1:
            rows.append('%d %d\n' % (first, last))
            first = line
        last = line
    rows.append('%d %d\n' % (first, last))
    return ''.join(rows)


class _Attempt:
    """One task attempt's files: dead letters and rejects appended as outcomes arrive, the
    journal of finished lines written after them, everything synced every SYNC_EVERY s."""

    def __init__(self, out_dir, index, journal_dir):
        tag = '%05d-%s' % (index, uuid.uuid4().hex[:10])
        self.tag = tag
        self.paths = {kind: os.path.join(out_dir, 'part-%s.%s.jsonl' % (tag, kind)) for kind in ('dead', 'rejects')}
        self.journal_dir = journal_dir
        self.handles = {}
        self.journals = {}
        self.pending = collections.defaultdict(list)
        self.synced = time.monotonic()
        self.first_rejects = []

    def _append(self, kind, records):
        if not records:
            return
        handle = self.handles.get(kind)
        if handle is None:
            handle = self.handles[kind] = open(self.paths[kind], 'a', encoding='utf-8')
        handle.write(''.join(json_line(r) for r in records))

    def outcomes(self, done, dead, rejects):
        self._append('dead', dead)
        self._append('rejects', rejects)
        self.first_rejects += [r['error'] for r in rejects[:SHOW_REJECTS - len(self.first_rejects)]]
        if self.journal_dir:
            for source, lines in done.items():
                if not source.startswith('partition '):
                    self.pending[source].extend(lines)
        if time.monotonic() - self.synced >= SYNC_EVERY:
            self.sync()

    def sync(self):
        for handle in self.handles.values():
            handle.flush()
            os.fsync(handle.fileno())
        for source, lines in self.pending.items():
            if not lines:
                continue
            handle = self.journals.get(source)
            if handle is None:
                name = '%s.%s.done' % (_journal_name(source), self.tag)
                handle = self.journals[source] = open(os.path.join(self.journal_dir, name), 'a', encoding='ascii')
            handle.write(_ranges(lines))
            handle.flush()
            os.fsync(handle.fileno())
        self.pending.clear()
        self.synced = time.monotonic()

    def close(self):
        self.sync()
        for handle in list(self.handles.values()) + list(self.journals.values()):
            handle.close()
        return tuple(self.paths[kind] if kind in self.handles else None for kind in ('dead', 'rejects'))


def _partition(settings, options, out_dir, untimed, journal_dir):
    def run(index, rows):
        skipped = [0]
        records, when = _records(index, rows, untimed, journal_dir, skipped)
        attempt = _Attempt(out_dir, index, journal_dir)
        result = deliver(records, settings, options, untimed=when, on_outcomes=attempt.outcomes)
        dead, rejects = attempt.close()
        yield (result.tally.counts, dict(result.tally.reasons), dead, rejects, result.broken,
               attempt.first_rejects, skipped[0])
    return run


def _dry(settings, untimed):
    """A partition mapped, not sent: its counts, first rejects and the request lines."""
    def run(index, rows):
        records, when = _records(index, rows, untimed)
        builder = Builder(settings)
        tally = Tally()
        counts, first, lines = tally.counts, [], []
        for source, line, value in records:
            raw = value.encode('utf-8', 'surrogatepass')
            dry_run_events(events(source, line, raw, None, builder, when(source, line), False), counts, first, lines)
            del first[SHOW_REJECTS:]
        yield counts, first, lines
    return run


def send(source, config_path, out_dir='kmgen-spark', options=None, untimed_base=None, settings=None,
         journal=True):
    """Map and deliver every message of ``source`` from the Spark executors.

    Args:
        source: a DataFrame with one JSON message per row in ``value`` (``spark.read.text``),
            or an RDD of message strings.
        config_path: a kmgen.toml (ignored when ``settings`` is given).
        out_dir: the folder of the rejects and dead-letter files (created).
        options: ``cloud.sender.Options`` for each partition (its own connections).
        untimed_base: the base of ``_t`` for untimed rows that are not from a file.
        settings: complete settings instead of ``config_path``.
        journal: skip what an earlier attempt or run journaled as finished, and journal this
            run's (rows of files only).

    Returns:
        A ``SparkSummary``.

    Raises:
        KmgenError: ``out_dir`` cannot be written (nothing was sent), or the Spark job
            failed (what the journal holds is not sent again by a rerun).
    """
    started = time.monotonic()
    settings = settings or config.load(config_path)
    options = options or Options()
    base = int(time.time()) if untimed_base is None else int(untimed_base)
    journal_dir = os.path.join(os.path.abspath(out_dir), JOURNAL) if journal else None
    try:
        os.makedirs(journal_dir or out_dir, exist_ok=True)
        probe = os.path.join(journal_dir or out_dir, '.kmgen-probe')
        open(probe, 'w').close()
        os.unlink(probe)
    except OSError as err:
        raise KmgenError('Cannot write to %s: %s. Nothing was sent: pass a folder you can write to.'
                         % (out_dir, err.strerror or err)) from None
    out_dir = os.path.abspath(out_dir)
    rows = _rows(source)
    try:
        results = rows.mapPartitionsWithIndex(_partition(settings, options, out_dir, base, journal_dir)).collect()
    except Exception as err:
        reason = str(err).strip().splitlines()
        raise KmgenError('The Spark job failed: %s. Nothing is lost: run the same command again; what the journal '
                         '%s holds as finished is not sent again, and what was in flight goes with the same _t.'
                         % (_cause(reason), journal_dir)) from None
    tally = Tally()
    dead, rejects, broken, first, skipped = [], [], [], [], 0
    for counts, reasons, dead_file, reject_file, why, errors, skip in results:
        skipped += skip
        part = Tally()
        part.counts.update(counts)
        part.reasons.update(reasons)
        tally.add(part)
        dead += [dead_file] if dead_file else []
        rejects += [reject_file] if reject_file else []
        broken += [why] if why else []
        first += errors[:10 - len(first)]
    return SparkSummary(tally, dead, rejects, broken, base, len(results), time.monotonic() - started, first,
                        skipped, journal_dir)


def _cause(lines):
    """The line of a Spark failure that says why (the Python exception a task raised)."""
    for line in reversed(lines):
        if line.startswith(('OSError', 'PermissionError', 'KmgenError', 'RuntimeError', 'ValueError')) or \
                'Error: ' in line and not line.startswith(('\tat ', 'py4j', 'org.apache')):
            return line.strip()
    return lines[0] if lines else 'no reason given'


def dry_run(source, settings, untimed_base=None, out=None):
    """Map ``source`` without sending or writing anything: print the requests (METHOD URL
    [body]) to ``out`` and return the counts (a ``Tally``) and the first rejects."""
    base = int(time.time()) if untimed_base is None else int(untimed_base)
    out = out or sys.stdout
    tally, first = Tally(), []
    for counts, errors, lines in _rows(source).mapPartitionsWithIndex(_dry(settings, base)).toLocalIterator():
        part = Tally()
        part.counts.update(counts)
        tally.add(part)
        first += errors[:SHOW_REJECTS - len(first)]
        if lines:
            out.write('\n'.join(lines) + '\n')
    return tally, first


def summary_text(result, rejects_file=None):
    """The closing lines of ``kmgen send --spark``: ``kmgen send``'s own (``report.outcome``),
    then where the partitions' files are."""
    c = result.tally
    n = lambda x: format(x, ',')  # noqa: E731
    lines = ['kmgen send: rejected %s' % error for error in result.first_rejects]
    lines += report.outcome(c, result.elapsed, 'events', result.skipped, result.journal,
                            ' over %d partitions' % result.partitions)
    if result.dead_files:
        lines.append('kmgen send: %s failed events written to %d dead-letter files (%s ...); once the cause is '
                     'fixed, resend each with `kmgen send --replay FILE --config ...`'
                     % (n(c['failed']), len(result.dead_files), result.dead_files[0]))
    if result.reject_files:
        lines.append('kmgen send: %s rejected lines written to %s' % (
            n(c['rejected']), rejects_file or '%d rejects files (%s ...)' % (len(result.reject_files),
                                                                             result.reject_files[0])))
    for why in sorted(set(result.broken)):
        lines.append('kmgen send: stopped: gave up: %s; run the same command again: what the journal holds as '
                     'finished is not sent again, and what was in flight goes with the same _t' % why)
    if c['unfinished'] and not result.broken and result.journal:
        lines.append('kmgen send: run the same command again to send the %s events not attempted' % n(c['unfinished']))
    if result.untimed_used:
        lines.append('kmgen send: untimed rows not from files got _t from base %d (pass it again to repeat them '
                     'exactly)' % result.untimed_base)
    return '\n'.join(lines)


def _gather(paths, target):
    """The partitions' rejects files, concatenated into ``target`` (written whole)."""
    temp = '%s.%d.tmp' % (target, os.getpid())
    with open(temp, 'w', encoding='utf-8') as out:
        for path in paths:
            with open(path, encoding='utf-8') as handle:
                out.write(handle.read())
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, target)


def session(master, app='kmgen'):
    """A SparkSession on ``master`` whose Python workers run this interpreter."""
    import sys
    os.environ.setdefault('PYSPARK_PYTHON', sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise KmgenError("PySpark is not installed: pip install 'kmgen[spark]' (it needs Java 17).") from None
    return (SparkSession.builder.master(master).appName(app)
            .config('spark.ui.enabled', 'false').config('spark.ui.showConsoleProgress', 'false')
            .getOrCreate())


def _active():
    """The SparkSession already running in this process (a notebook's, a test's), or None."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def cmd_send(args, options):
    """``kmgen send --spark MASTER FILES...`` (``-`` or no FILE: stdin, read by the driver)."""
    if args.replay:
        raise KmgenError('--spark sends input files; replay a dead-letter file without --spark: '
                         '`kmgen send --replay FILE --config ...` (each partition wrote its own).')
    files = [path for path in args.files if path != '-']
    stdin = len(files) < len(args.files)
    if stdin and files:
        raise KmgenError('With --spark, pass input FILES or - for stdin, not both.')
    for path in files:
        if not os.path.isfile(path):
            raise KmgenError('Cannot read %s: no such file.' % path)
    settings = config.load(args.config, args.settings, args.api_key)
    out_dir = args.dead_letter or 'kmgen-spark'
    if args.rejects and not args.dry_run:
        try:
            open(args.rejects, 'a').close()
        except OSError as err:
            raise KmgenError('Cannot write the rejects file %s: %s. Nothing was sent: pass --rejects a path you '
                             'can write to.' % (args.rejects, err.strerror or err)) from None
    from_before = _active()
    spark = from_before or session(args.spark)
    try:
        if stdin:
            lines = sys.stdin.read().splitlines()
            source = spark.sparkContext.parallelize(lines, max(1, spark.sparkContext.defaultParallelism))
        else:
            source = spark.read.text(files)
        if args.dry_run:
            tally, first = dry_run(source, settings)
            sys.stderr.write('\n'.join(['kmgen send: rejected %s' % e for e in first]
                                        + [report.dry_run_line(tally)]) + '\n')
            return 1 if tally['rejected'] else 0
        result = send(source, None, out_dir, options, settings=settings, journal=not args.no_journal)
    finally:
        if from_before is None:
            spark.stop()
    result.untimed_used = stdin
    if args.rejects and result.reject_files:
        _gather(result.reject_files, args.rejects)
    text = summary_text(result, args.rejects if result.reject_files else None)
    if stdin:
        text += ('\nkmgen send: stdin is not journaled (its rows have no file to be known by): a rerun sends '
                 'everything again, timed events with the same _t')
    sys.stderr.write(text + '\n')
    return result.exit_code()
