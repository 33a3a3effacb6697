"""``kmgen send``: source -> map -> journal -> deliver, over one worker process per core.

``Run`` puts the steps together in the main process: the ``source.Source`` reads the units
the journal does not hold as done, ``workers.Workers`` deals them to the worker processes,
which map (``mapper``) and deliver (``core``) them, and the ``journal.Ledger`` writes what
they report (rejects and dead letters, synced, then the units to the journal).

Stopping (SIGINT, SIGTERM, SIGHUP; the circuit breaker; an output that cannot be written):
no more input is read, requests in flight get ``grace`` seconds to be answered, and what is
not done stays out of the journal: the same command run again sends exactly that (and nothing
is rewritten into the dead-letter file). A SIGKILL at any instant leaves the same state, minus
the last fraction of a second of confirmations, which are sent again with the same ``_t``.
"""

import os
import signal
import sys
import time

from .journal import JsonlOut, Ledger, OutputError
from .mapper import dry_run_events, events
from .report import Progress
from .requests import Builder
from .sender import Options
from .source import Source, name
from .workers import STOP_SIGNALS, Workers

BATCH = 256


class SendOptions(Options):
    """What ``kmgen send`` was asked to do (see its ``--help``): the sender's options plus
    how many worker processes and how many messages per batch."""

    def __init__(self, workers=None, batch=BATCH, **sender):
        super().__init__(**sender)
        self.workers = workers or os.cpu_count() or 1
        self.batch = batch


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
        self.replace_dead = replay and _same_file(paths[0], dead_letter)
        dead = JsonlOut(dead_letter + '.next' if self.replace_dead else dead_letter, 'a')
        self.ledger = Ledger(dead, JsonlOut(rejects, 'w'), journal,
                             lambda: self.stop('an output could not be written'))
        self.source = Source(paths, options.batch, None, self.ledger.states, lambda: self.stopping)
        self.progress = progress
        self.stopped = None         # why the run stopped early
        self.stopping = False
        self.signals = 0
        self.started = time.monotonic()
        self.elapsed = 0.0

    # What the summary and the progress line read (``report``).
    tally = property(lambda self: self.ledger.tally)
    dead = property(lambda self: self.ledger.dead)
    rejects = property(lambda self: self.ledger.rejects)
    journal = property(lambda self: self.ledger.journal)
    journal_path = property(lambda self: self.ledger.journal_path)
    write_error = property(lambda self: self.ledger.write_error)
    first_rejects = property(lambda self: self.ledger.first_rejects)
    units_done = property(lambda self: self.ledger.units_done)
    skipped = property(lambda self: self.source.skipped)
    read_errors = property(lambda self: self.source.read_errors)
    stop_at = property(lambda self: self.source.stop_at)

    def prepare(self):
        """Check the inputs and every output before anything is sent (``KmgenError``: exit 2)."""
        self.source.check()
        self.ledger.prepare(self.paths, name)
        self.source.journal = self.ledger.journal

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
            display = Progress(self.progress, self.source.count_units()) if self.progress else None
            workers = Workers(self, self.ledger, display)
            try:
                workers.feed(self.source)
            except OutputError as err:      # the journal could not record a new _t
                self.ledger.write_error = err
                self.stop('an output could not be written')
            finally:
                workers.end()
                if display:
                    display.show(self, final=True)
                self.finish()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.tally

    def finish(self):
        """Close the files; a replayed dead-letter file is replaced by what still fails, once
        every record of it is done."""
        self.elapsed = time.monotonic() - self.started
        self.ledger.close()
        dead = self.ledger.dead
        if self.replace_dead and self.complete():
            if dead.count or os.path.exists(dead.path):
                os.replace(dead.path, self.dead_path)
            else:
                open(self.dead_path, 'w').close()
            dead.path = self.dead_path

    def complete(self):
        return (self.stopped is None and not self.read_errors and self.write_error is None
                and not self.tally['unfinished'])

    def dry_run(self, out):
        """Print the requests instead of sending them; write no file (rejects go to stderr)."""
        self.source.check()
        builder = Builder(self.settings)
        counts = self.tally.counts
        for source, units in self.source.all_units():
            lines = []
            for line, raw, item in units:
                dry_run_events(events(source, line, raw, item, builder, None, self.replay), counts,
                               self.first_rejects, lines)
            if lines:
                out.write('\n'.join(lines) + '\n')
        self.elapsed = time.monotonic() - self.started
        return self.tally

    def exit_code(self):
        c = self.tally
        return 1 if (self.dead.count or c['rejected'] or c['failed'] or self.stopped or self.read_errors
                     or self.write_error or c['unfinished']) else 0


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _say(stream, text):
    """Write to stderr (or ``stream``); a closed terminal (SIGHUP) must not stop the run."""
    try:
        (stream or sys.stderr).write(text)
        (stream or sys.stderr).flush()
    except (OSError, ValueError):
        pass
