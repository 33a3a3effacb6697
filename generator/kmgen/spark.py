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

import os
import time

from . import config
from .cloud.core import Tally, deliver, from_input
from .cloud.readers import json_line
from .cloud.sender import Options
from .errors import KmgenError

DAY = 86400


class SparkSummary:
    """What ``send`` did: ``tally`` (counts by outcome and the failure reasons), the files
    written (``dead_files``, ``reject_files``), ``broken`` (why partitions gave up, if any),
    ``untimed_base``, ``partitions`` and ``elapsed`` seconds."""

    def __init__(self, tally, dead_files, reject_files, broken, untimed_base, partitions, elapsed, first_rejects):
        self.tally = tally
        self.dead_files = dead_files
        self.reject_files = reject_files
        self.broken = broken
        self.untimed_base = untimed_base
        self.partitions = partitions
        self.elapsed = elapsed
        self.first_rejects = first_rejects

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


def _records(index, rows, untimed):
    """``(source, line, message)`` for the core, and the ``_t`` function of untimed messages."""
    bases = {}
    times = {}
    counters = {}

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
            yield source, line, value if value is not None else ''

    return records(), lambda source, line: times[source](source, line)


def _write(path, records):
    """Write ``records`` as JSONL to ``path`` whole (a temporary file, then a rename)."""
    if not records:
        if os.path.exists(path):
            os.unlink(path)     # a failed attempt left it: this attempt has none
        return None
    temp = '%s.%d.tmp' % (path, os.getpid())
    with open(temp, 'w', encoding='utf-8') as handle:
        handle.write(''.join(json_line(r) for r in records))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    return path


def _partition(settings, options, out_dir, untimed):
    def run(index, rows):
        records, when = _records(index, rows, untimed)
        result = deliver(records, settings, options, untimed=when)
        name = os.path.join(out_dir, 'part-%05d' % index)
        dead = _write(name + '.dead.jsonl', result.dead)
        rejects = _write(name + '.rejects.jsonl', result.rejects)
        yield (result.tally.counts, dict(result.tally.reasons), dead, rejects, result.broken,
               [r['error'] for r in result.rejects[:10]])
    return run


def send(source, config_path, out_dir='kmgen-spark', options=None, untimed_base=None, settings=None):
    """Map and deliver every message of ``source`` from the Spark executors.

    Args:
        source: a DataFrame with one JSON message per row in ``value`` (``spark.read.text``),
            or an RDD of message strings.
        config_path: a kmgen.toml (ignored when ``settings`` is given).
        out_dir: the folder of the rejects and dead-letter files (created).
        options: ``cloud.sender.Options`` for each partition (its own connections).
        untimed_base: the base of ``_t`` for untimed rows that are not from a file.
        settings: complete settings instead of ``config_path``.

    Returns:
        A ``SparkSummary``.
    """
    started = time.monotonic()
    settings = settings or config.load(config_path)
    options = options or Options()
    base = int(time.time()) if untimed_base is None else int(untimed_base)
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = os.path.join(out_dir, '.kmgen-probe')
        open(probe, 'w').close()
        os.unlink(probe)
    except OSError as err:
        raise KmgenError('Cannot write to %s: %s. Nothing was sent: pass a folder you can write to.'
                         % (out_dir, err.strerror or err)) from None
    out_dir = os.path.abspath(out_dir)
    rows = _rows(source)
    results = rows.mapPartitionsWithIndex(_partition(settings, options, out_dir, base)).collect()
    tally = Tally()
    dead, rejects, broken, first = [], [], [], []
    for counts, reasons, dead_file, reject_file, why, errors in results:
        part = Tally()
        part.counts.update(counts)
        part.reasons.update(reasons)
        tally.add(part)
        dead += [dead_file] if dead_file else []
        rejects += [reject_file] if reject_file else []
        broken += [why] if why else []
        first += errors[:10 - len(first)]
    return SparkSummary(tally, dead, rejects, broken, base, len(results), time.monotonic() - started, first)


def summary_text(result):
    """The closing lines of ``kmgen send --spark`` (the words of ``kmgen send``)."""
    c = result.tally
    n = lambda x: format(x, ',')  # noqa: E731
    lines = ['kmgen send: rejected %s' % error for error in result.first_rejects]
    rate = ''
    if c['delivered'] and result.elapsed > 0:
        rate = ' (%s events/s)' % n(int(c['delivered'] / result.elapsed))
    head = ('kmgen send: delivered %s events (%s requests) in %.2fs%s over %d partitions; failed %s, not attempted %s, '
            'rejected %s' % (n(c['delivered']), n(c['requests']), result.elapsed, rate, result.partitions,
                             n(c['failed']), n(c['unfinished']), n(c['rejected'])))
    if c['retried']:
        head += '; %s retries' % n(c['retried'])
    lines.append(head)
    if c.reasons:
        top = c.reasons.most_common(3)
        lines.append('kmgen send: failures: ' + '; '.join('%s x %s' % (n(k), r) for r, k in top)
                     + ('; ...' if len(c.reasons) > 3 else ''))
    if result.dead_files:
        lines.append('kmgen send: %s failed events written to %d dead-letter files (%s ...); once the cause is '
                     'fixed, resend each with `kmgen send --replay FILE --config ...`'
                     % (n(c['failed']), len(result.dead_files), result.dead_files[0]))
    if result.reject_files:
        lines.append('kmgen send: %s rejected lines written to %d rejects files (%s ...)'
                     % (n(c['rejected']), len(result.reject_files), result.reject_files[0]))
    for why in sorted(set(result.broken)):
        lines.append('kmgen send: stopped: gave up: %s; run the same command again: what is sent again carries '
                     'the same _t' % why)
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


def cmd_send(args, options):
    """``kmgen send --spark MASTER FILES...``."""
    if args.replay or not args.files:
        raise KmgenError('--spark needs input FILES (JSONL, optionally gzipped; one message per line), '
                         'not --replay or stdin.')
    import sys
    for path in args.files:
        if not os.path.isfile(path):
            raise KmgenError('Cannot read %s: no such file.' % path)
    settings = config.load(args.config, args.settings, args.api_key)
    from_before = _active()
    spark = from_before or session(args.spark)
    try:
        result = send(spark.read.text(list(args.files)), None, args.dead_letter or 'kmgen-spark', options,
                      settings=settings)
    finally:
        if from_before is None:
            spark.stop()
    sys.stderr.write(summary_text(result) + '\n')
    return result.exit_code()
