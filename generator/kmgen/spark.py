"""Backfills beyond one machine: ``kmgen send`` inside Apache Spark (PySpark 4.x, Java 17).

Each partition is mapped and delivered by the delivery core of ``kmgen send``
(``cloud.core.deliver``), with its own connections. A task that Spark runs again sends each
event again with the same ``_t``/``_d``, so Kissmetrics' person+event+time de-duplication
absorbs the repeat: a message without a timestamp gets a ``_t`` derived from where it is
(``cloud.core.from_input``: its file and line, or its partition and row), never from the
clock of the task. For rows of files (``spark.read.text``) the base is the file's
modification time minus a day, so a whole rerun gives the same ``_t`` too; for other rows it
is ``untimed_base`` (default: the driver's clock when ``send`` starts, printed in the summary).

Each partition writes its rejects and dead letters to ``out_dir/part-NNNNN.rejects.jsonl`` and
``part-NNNNN.dead.jsonl`` (written whole at the end of the task, then renamed, so a retried
task replaces the files of its failed attempt); ``kmgen send --replay`` accepts each dead-letter
file. On a cluster ``out_dir`` must be a folder every executor can write (a shared mount).
"""

import hashlib
import os
import time
from urllib.parse import unquote, urlsplit

from . import config
from .cloud.core import Tally, deliver, from_input
from .cloud.journal import Journal
from .cloud.mapper import Event, events
from .cloud.readers import json_line
from .cloud.report import outcome, would_send
from .cloud.requests import Builder
from .cloud.sender import Options
from .errors import KmgenError

DAY = 86400
STDIN = '<stdin>'
SHOW_REJECTS = 10


class SparkSummary:
    """What ``send`` did: ``tally`` (counts by outcome and the failure reasons), the files
    written (``dead_files``, ``reject_files``), ``broken`` (why partitions gave up, if any),
    ``untimed_base``, ``partitions``, ``elapsed`` seconds, ``skipped`` (lines an earlier run
    did, by the journal in ``journal``) and ``dry_run``."""

    def __init__(self, tally, dead_files, reject_files, broken, untimed_base, partitions, elapsed, first_rejects,
                 skipped=0, journal=None, dry_run=False):
        self.tally = tally
        self.dead_files = dead_files
        self.reject_files = reject_files
        self.broken = broken
        self.untimed_base = untimed_base
        self.partitions = partitions
        self.elapsed = elapsed
        self.first_rejects = first_rejects
        self.skipped = skipped
        self.journal = journal
        self.dry_run = dry_run

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
    """An RDD of ``(text, source name or None, block start, modification time, line or None)``
    from a DataFrame, an RDD of strings or an RDD of ``(line, text)`` read from stdin."""
    if hasattr(source, 'rdd') and hasattr(source, 'columns'):
        if 'value' not in source.columns:
            raise KmgenError('The DataFrame has no column "value" (it has %s): pass one JSON message per row in '
                             '"value", as spark.read.text(paths) gives.' % ', '.join(source.columns))
        try:
            rows = source.select('value', '_metadata.file_path', '_metadata.file_block_start',
                                 '_metadata.file_modification_time')
            return rows.rdd.map(lambda r: (r[0], r[1], r[2], r[3], None))
        except Exception:   # not a file scan: rows are known by partition and position
            return source.select('value').rdd.map(lambda r: (r[0], None, None, None, None))
    if getattr(source, 'kmgen_stdin', False):
        return source.map(lambda pair: (pair[1], STDIN, None, None, pair[0]))
    return source.map(lambda text: (text, None, None, None, None))


def local_path(uri):
    """The local path of a ``file:`` URI (what Spark names a file by), else None."""
    parts = urlsplit(uri)
    if parts.scheme in ('', 'file'):
        return unquote(parts.path)
    return None


class _Journals:
    """The journals of one partition: one per input split (file and block start), in
    ``folder``, so that no two tasks write one file. None: keep none."""

    def __init__(self, folder):
        self.folder = folder
        self.open = {}      # source -> (Journal, FileState) or None

    def get(self, source, path):
        if source not in self.open:
            local = local_path(path) if self.folder and path != STDIN else None
            if local is None:
                self.open[source] = None
            else:
                name = '%s-%s.journal' % (os.path.basename(local)[:60],
                                          hashlib.sha1(source.encode('utf-8', 'replace')).hexdigest()[:12])
                journal = Journal(os.path.join(self.folder, name))
                self.open[source] = (journal, journal.state(local))
        return self.open[source]

    def done(self, done):
        for source, ordinals in done.items():
            entry = self.open.get(source)
            if entry is not None:
                entry[0].done(entry[1], ordinals)

    def close(self):
        for entry in self.open.values():
            if entry is not None:
                entry[0].sync()
                entry[0].close()


def _records(index, rows, untimed, journals, skipped):
    """``(source, line, message)`` for the core (less what a journal holds as done, counted in
    ``skipped[0]``), and the ``_t`` function of untimed messages."""
    bases = {}
    times = {}
    counters = {}

    def records():
        done, source, at = [], None, 0
        for value, path, block, modified, line in rows:
            if path is None:
                name = 'partition %d' % index
                base = untimed
            elif path == STDIN:
                name, base = STDIN, untimed
            else:
                name = path if not block else '%s@%d' % (path, block)
                base = bases.get(name)
                if base is None:
                    base = bases[name] = int(modified.timestamp()) - DAY
            if name not in times:
                times[name] = from_input(base)
            if line is None:
                line = counters[name] = counters.get(name, 0) + 1
            if name != source:
                source, at = name, 0
                entry = journals.get(name, path) if path is not None else None
                done = entry[1].done if entry is not None else []
            while at < len(done) and done[at][1] <= line - 1:
                at += 1
            if at < len(done) and done[at][0] <= line - 1:
                skipped[0] += 1
                continue
            yield name, line, value if value is not None else ''

    return records(), lambda source, line: times[source](source, line)


def _append(path, records):
    """Append ``records`` as JSONL to ``path``, on disk before it returns."""
    with open(path, 'a', encoding='utf-8') as handle:
        handle.write(''.join(json_line(r) for r in records))
        handle.flush()
        os.fsync(handle.fileno())


def _write(path, records):
    """Write ``records`` as JSONL to ``path`` whole (a temporary file, then a rename)."""
    if not records:
        if os.path.exists(path):
            os.unlink(path)     # a failed attempt left it: this attempt has none
        return
    temp = '%s.%d.tmp' % (path, os.getpid())
    _append(temp, records)
    os.replace(temp, path)


def _partition(settings, options, out_dir, rejects_dir, untimed, journal_dir):
    def run(index, rows):
        journals = _Journals(journal_dir)
        skipped = [0]
        records, when = _records(index, rows, untimed, journals, skipped)
        dead_path = os.path.join(out_dir, 'part-%05d.dead.jsonl' % index)
        rejects_path = os.path.join(rejects_dir, 'part-%05d.rejects.jsonl' % index)
        dead, rejects, first = [], [], []

        def commit(done, more_dead, more_rejects):
            first.extend(r['error'] for r in more_rejects[:SHOW_REJECTS - len(first)])
            if not journals.folder:
                dead.extend(more_dead)      # written whole at the end: a retried task replaces them
                rejects.extend(more_rejects)
                return
            # As kmgen send: the rejects and dead letters on disk, then the units in the journal.
            if more_dead:
                _append(dead_path, more_dead)
            if more_rejects:
                _append(rejects_path, more_rejects)
            journals.done(done)

        try:
            result = deliver(records, settings, options, untimed=when, commit=commit)
        finally:
            journals.close()
        if not journals.folder:
            _write(dead_path, dead)
            _write(rejects_path, rejects)
        yield (result.tally.counts, dict(result.tally.reasons),
               dead_path if os.path.exists(dead_path) else None,
               rejects_path if os.path.exists(rejects_path) else None, result.broken, first, skipped[0])
    return run


def _writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, '.kmgen-probe')
        open(probe, 'w').close()
        os.unlink(probe)
    except OSError as err:
        raise KmgenError('Cannot write to %s: %s. Nothing was sent: pass a folder you can write to.'
                         % (folder, err.strerror or err)) from None
    return os.path.abspath(folder)


def send(source, config_path, out_dir='kmgen-spark', options=None, untimed_base=None, settings=None,
         journal=True, rejects_dir=None):
    """Map and deliver every message of ``source`` from the Spark executors.

    Args:
        source: a DataFrame with one JSON message per row in ``value`` (``spark.read.text``),
            or an RDD of message strings.
        config_path: a kmgen.toml (ignored when ``settings`` is given).
        out_dir: the folder of the dead-letter files and the journals (created).
        options: ``cloud.sender.Options`` for each partition (its own connections).
        untimed_base: the base of ``_t`` for untimed rows that are not from a file.
        settings: complete settings instead of ``config_path``.
        journal: keep a journal of what is done per input split of a local (or shared-mount)
            file in ``out_dir/journal``, so that the same call again sends only the rest.
        rejects_dir: the folder of the rejects files (default ``out_dir``).

    Returns:
        A ``SparkSummary``.
    """
    started = time.monotonic()
    settings = settings or config.load(config_path)
    options = options or Options()
    base = int(time.time()) if untimed_base is None else int(untimed_base)
    out_dir = _writable(out_dir)
    rejects_dir = _writable(rejects_dir) if rejects_dir else out_dir
    journal_dir = _writable(os.path.join(out_dir, 'journal')) if journal else None
    rows = _rows(source)
    results = rows.mapPartitionsWithIndex(_partition(settings, options, out_dir, rejects_dir, base,
                                                     journal_dir)).collect()
    tally = Tally()
    dead, rejects, broken, first, skipped = [], [], [], [], 0
    for counts, reasons, dead_file, reject_file, why, errors, skip in results:
        part = Tally()
        part.counts.update(counts)
        part.reasons.update(reasons)
        tally.add(part)
        dead += [dead_file] if dead_file else []
        rejects += [reject_file] if reject_file else []
        broken += [why] if why else []
        first += errors[:SHOW_REJECTS - len(first)]
        skipped += skip
    return SparkSummary(tally, dead, rejects, broken, base, len(results), time.monotonic() - started, first,
                        skipped, journal_dir)


def _dry_partition(settings, untimed):
    def run(index, rows):
        builder = Builder(settings)
        records, when = _records(index, rows, untimed, _Journals(None), [0])
        counts, first = Tally(), []
        for source, line, text in records:
            raw = text.encode('utf-8', 'surrogatepass')
            for event in events(source, line, raw, None, builder, when(source, line)):
                if event.__class__ is not Event:
                    counts.counts['rejected'] += 1
                    if len(first) < SHOW_REJECTS:
                        first.append(event['error'])
                elif event.requests:
                    counts.counts['delivered'] += 1
                    counts.counts['requests'] += len(event.requests)
                    for request in event.requests:
                        yield request.line()
        yield (counts.counts, first)
    return run


def dry_run(source, config_path, out, untimed_base=None, settings=None):
    """Map ``source`` in the executors and write the requests it would send to ``out`` (a text
    stream), in order; send nothing and write no file. Returns a ``SparkSummary``."""
    started = time.monotonic()
    settings = settings or config.load(config_path)
    base = int(time.time()) if untimed_base is None else int(untimed_base)
    tally, first, partitions = Tally(), [], 0
    for item in _rows(source).mapPartitionsWithIndex(_dry_partition(settings, base)).toLocalIterator():
        if isinstance(item, str):
            out.write(item + '\n')
            continue
        counts, errors = item
        partitions += 1
        for key, value in counts.items():
            tally.counts[key] += value
        first += errors[:SHOW_REJECTS - len(first)]
    return SparkSummary(tally, [], [], [], base, partitions, time.monotonic() - started, first, dry_run=True)


def summary_text(result):
    """The closing lines of ``kmgen send --spark``: those of ``kmgen send`` (``cloud.report``)
    and the per-partition files."""
    c = result.tally
    n = lambda x: format(x, ',')  # noqa: E731
    lines = ['kmgen send: rejected %s' % error for error in result.first_rejects]
    if result.dry_run:
        return '\n'.join(lines + [would_send(c)])
    lines += outcome(c, result.elapsed, skipped=result.skipped, journal_path=result.journal,
                     where=' over %d partitions' % result.partitions)
    if result.dead_files:
        lines.append('kmgen send: %s failed events written to %d dead-letter files (%s ...); once the cause is '
                     'fixed, resend each with `kmgen send --replay FILE --config ...`'
                     % (n(c['failed']), len(result.dead_files), result.dead_files[0]))
    if result.reject_files:
        lines.append('kmgen send: %s rejected lines written to %d rejects files (%s ...)'
                     % (n(c['rejected']), len(result.reject_files), result.reject_files[0]))
    for why in sorted(set(result.broken)):
        lines.append('kmgen send: stopped: gave up: %s; run the same command again: %s' % (
            why, 'what the journal %s holds as done is skipped, and what is sent again carries the same _t'
            % result.journal if result.journal else 'what is sent again carries the same _t'))
    lines.append('kmgen send: untimed rows not from files got _t from base %d (pass it again to repeat them '
                 'exactly)' % result.untimed_base)
    return '\n'.join(lines)


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


def _stdin_rdd(spark):
    """The lines of stdin (gzipped or not), read by the driver, as an RDD of ``(line, text)``
    in ``defaultParallelism`` partitions."""
    from .cloud.readers import open_input
    lines = []
    with open_input('-') as stream:
        for number, raw in enumerate(stream, 1):
            if raw.strip():
                lines.append((number, raw.decode('utf-8', 'surrogateescape').rstrip('\r\n')))
    rdd = spark.sparkContext.parallelize(lines, max(1, min(len(lines), spark.sparkContext.defaultParallelism)))
    rdd.kmgen_stdin = True
    return rdd


def cmd_send(args, options):
    """``kmgen send --spark MASTER FILES...`` (or ``-``: stdin, read by the driver)."""
    import sys
    if args.replay:
        raise KmgenError('--spark does not replay: resend a dead-letter file with `kmgen send --replay FILE '
                         '--config ...` (without --spark).')
    stdin = '-' in args.files
    if stdin and len(args.files) > 1:
        raise KmgenError('--spark reads either stdin (-) or FILES, not both: save stdin to a file and pass it '
                         'with the others.')
    for path in args.files:
        if path != '-' and not os.path.isfile(path):
            raise KmgenError('Cannot read %s: %s.' % (path, 'no such file' if not os.path.exists(path)
                                                      else 'not a file'))
    settings = config.load(args.config, args.settings, args.api_key)
    from .ruleset import load
    load(settings)   # rules outside the subset are refused before Spark starts
    from_before = _active()
    spark = from_before or session(args.spark)
    try:
        source = _stdin_rdd(spark) if stdin else spark.read.text(list(args.files))
        if args.dry_run:
            result = dry_run(source, None, sys.stdout, settings=settings)
        else:
            out_dir = args.dead_letter or 'kmgen-spark'
            try:
                result = send(source, None, out_dir, options, settings=settings, journal=not args.no_journal,
                              rejects_dir=args.rejects)
            except KmgenError:
                raise
            except Exception as err:    # the job failed (a task failed every attempt, an executor was lost)
                why = (str(err).strip().splitlines() or [type(err).__name__])[0][:500]
                sys.stderr.write('kmgen send: stopped: the Spark job failed: %s\nkmgen send: run the same command '
                                 'again: %s\n' % (why, 'what the journal %s holds as done is skipped, and what is '
                                                        'sent again carries the same _t'
                                                   % os.path.join(os.path.abspath(out_dir), 'journal')
                                                   if not args.no_journal else
                                                   'everything is sent again, with the same _t'))
                return 1
    finally:
        if from_before is None:
            spark.stop()
    sys.stdout.flush()
    sys.stderr.write(summary_text(result) + '\n')
    return result.exit_code()
