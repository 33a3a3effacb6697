"""Source: the units of the inputs still to send, in batches (source -> map -> journal -> deliver).

The first step of ``kmgen send``. The main process only splits lines (``readers.units``); it
skips the units the journal holds as done and gives each batch the ``_t`` of its untimed
messages (kept in the journal, so that a unit sent again carries the same time). Parsing and
mapping happen in the worker processes.
"""

import os
import time

from . import readers


class Source:
    """The inputs of one run.

    Args:
        paths: input files ('-' for stdin).
        batch: units per batch.
        journal: the run's ``Journal``, or None.
        states: source -> the journal's ``FileState`` of that input (none for stdin).
        stopping: a function that tells whether the run is stopping (no more is read).
    """

    def __init__(self, paths, batch, journal, states, stopping):
        self.paths = paths
        self.batch = batch
        self.journal = journal
        self.states = states
        self.stopping = stopping
        self.skipped = 0            # units done in an earlier run
        self.read_errors = []       # the first unreadable line of each input that has one
        self.stop_at = None         # (source, line) of the first unit not read

    def check(self):
        """Raise ``InputError`` for an input that is missing or unreadable."""
        for path in self.paths:
            if path != '-' and not os.path.isfile(path):
                raise readers.InputError('Cannot read %s: %s.' % (
                    path, 'no such file' if not os.path.exists(path) else 'not a file'))
            if path != '-' and not os.access(path, os.R_OK):
                raise readers.InputError('Cannot read %s: permission denied.' % path)

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
            state = self.states.get(name(path))
            if state is not None:
                total -= state.done_units()
        return max(total, 0)

    def batches(self):
        """``(source, t, units)`` to send: the units the journal does not hold as done, in
        batches that share one ``_t`` for untimed messages."""
        size = self.batch
        for path in self.paths:
            source = name(path)
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
                    if self.stopping():
                        self.stop_at = (source, line)
                        break
                    when = state.time_of(ordinal) if state is not None and state.known else None
                    if group and (len(group) >= size or (when is not None and when != t)):
                        yield source, t, group
                        group = []
                    if not group:
                        t = when if when is not None else self.time_for(state, ordinal)
                    group.append((ordinal, line, raw, item))
            except readers.InputError as err:
                self.read_errors.append(str(err))
            if group:
                yield source, t, group
            if self.stopping():
                return

    def time_for(self, state, ordinal):
        now = int(time.time())
        return self.journal.time_for(state, ordinal, now) if self.journal else now

    def all_units(self):
        """``(source, [(line, raw, item), ...])`` of every input, journal or not (``--dry-run``);
        the unreadable rest of a file is noted in ``read_errors``."""
        for path in self.paths:
            try:
                yield from readers.batches([path], self.batch)
            except readers.InputError as err:
                self.read_errors.append(str(err))


def name(path):
    """How an input is named in records and messages."""
    return '<stdin>' if path == '-' else path
