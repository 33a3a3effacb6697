"""The journal: what is confirmed done, per input file, durable across any kill.

The third step of ``kmgen send`` (source -> map -> **journal** -> deliver). As Fluent Bit's
tail input keeps offsets and a Kafka consumer commits them after processing, ``kmgen send``
appends to a journal (next to the dead-letter file) the units of each input that are *done*:
delivered, rejected into the rejects file or written to the dead-letter file, always after
those files are on disk. Run again after any kill (SIGKILL, a closed terminal, power loss), the
same command skips what is done and sends the rest: only what was in flight goes out again.

A unit is known by its file and its ordinal (0 for the first non-blank line). A file is known
by its real path, device and inode, and a hash of its first bytes: a file that grew (a log) is
the same file and its new lines are sent; a file replaced by another is new.

Messages without a timestamp get the ``_t`` of the second their unit was first read. The
journal keeps it as ``{"f": n, "from": ordinal, "t": seconds}`` (written, and synced, before
the first unit with that time is sent), so a unit sent again carries the same ``_t``. A file
the journal already knows keeps the times it has: nothing new is recorded for it, and units
past its last record take that record's time.

The file is JSONL: ``{"journal": 1}``, then ``{"file": n, "path", "dev", "ino", "head",
"head_bytes"}``, ``{"f": n, "from", "t"}`` and ``{"f": n, "done": [[first, end], ...]}`` (end
excluded). A line torn by a kill is ignored.

``Ledger`` is this step in a run: each report of a worker (what is done, the dead letters and
rejects) goes to the dead-letter and rejects files, which are synced, and only then to the
journal, which is synced at least every ``SYNC_EVERY`` seconds. A kill of the process loses
nothing written (the OS has it); a power loss may lose the last ``SYNC_EVERY`` seconds of
confirmations, whose units are then sent again with the same ``_t``.
"""

import bisect
import contextlib
import hashlib
import json
import os
import threading
import time

from ..errors import KmgenError
from . import readers
from .core import Tally

HEAD_BYTES = 65536
SYNC_EVERY = 0.5        # seconds between syncs of the journal during a run
SHOW_REJECTS = 10       # reject messages kept for the summary
COMPACT_AFTER = 2000    # records; beyond, the journal is rewritten in short form when opened


class OutputError(KmgenError):
    """An output file (dead letter, rejects, journal) cannot be written."""


def describe(path, err):
    return '%s: %s' % (path, getattr(err, 'strerror', None) or err)


def _head(path, size):
    with open(path, 'rb') as handle:
        data = handle.read(min(size, HEAD_BYTES))
    return hashlib.sha256(data).hexdigest(), len(data)


class FileState:
    """One input file in the journal: its done ranges and the times of its untimed units."""

    def __init__(self, fid, identity):
        self.id = fid
        self.identity = identity
        self.done = []          # [first, end) ranges, merged when loaded
        self.froms = []
        self.times = []
        self.known = False      # it had times before this run: record no new ones

    def merge(self):
        merged = []
        for first, end in sorted(self.done):
            if merged and first <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([first, end])
        self.done = merged

    def done_units(self):
        return sum(end - first for first, end in self.done)

    def time_of(self, ordinal):
        """The recorded ``_t`` for a unit, or None when none is recorded."""
        if not self.times:
            return None
        index = bisect.bisect_right(self.froms, ordinal) - 1
        return self.times[max(index, 0)]


class Journal:
    """Open (and create) the journal at ``path``.

    Raises:
        OutputError: it cannot be written (a missing or read-only folder, a full disk) or is
            damaged.
    """

    def __init__(self, path):
        self.path = path
        self.states = {}        # file id -> FileState
        self.by_path = {}       # real path -> [FileState]
        self.next_id = 0
        self.lock = threading.Lock()     # the feeder and the collector both write
        count = self._load()
        try:
            if count > COMPACT_AFTER:
                self._compact()
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            size = os.lseek(self.fd, 0, os.SEEK_END)
            if self.good < size:
                os.ftruncate(self.fd, self.good)    # a line torn by a kill
            if self.good == 0:
                self._append([{'journal': 1}])
            self.sync()
        except OSError as err:
            raise OutputError('Cannot write the journal %s.' % describe(path, err)) from None

    def _load(self):
        self.good = 0       # bytes of whole lines
        try:
            with open(self.path, 'rb') as handle:
                data = handle.read()
        except FileNotFoundError:
            return 0
        except OSError as err:
            raise OutputError('Cannot read the journal %s.' % describe(self.path, err)) from None
        lines = data.split(b'\n')
        self.good = data.rfind(b'\n') + 1
        count = 0
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                self._apply(record)
            except (ValueError, KeyError, TypeError):
                if number >= len(lines) - 1:
                    break       # the last line, torn by a kill: it was never confirmed
                raise OutputError('The journal %s is damaged at line %d: move it away to start over (every '
                                  'input is then sent again from its start).' % (self.path, number)) from None
            count += 1
        for state in self.states.values():
            state.merge()
            state.known = bool(state.times)
        return count

    def _apply(self, record):
        if 'file' in record:
            fid = record['file']
            state = FileState(fid, (record['path'], record['dev'], record['ino'], record['head'],
                                    record['head_bytes']))
            self.states[fid] = state
            self.by_path.setdefault(record['path'], []).append(state)
            self.next_id = max(self.next_id, fid + 1)
        elif 'done' in record:
            self.states[record['f']].done.extend([int(a), int(b)] for a, b in record['done'])
        elif 'from' in record:
            state = self.states[record['f']]
            state.froms.append(int(record['from']))
            state.times.append(record['t'])
        elif 'journal' not in record:
            raise KeyError('unknown record')

    def _state_records(self, state):
        path, dev, ino, head, head_bytes = state.identity
        out = [{'file': state.id, 'path': path, 'dev': dev, 'ino': ino, 'head': head, 'head_bytes': head_bytes}]
        out += [{'f': state.id, 'from': k, 't': t} for k, t in zip(state.froms, state.times)]
        if state.done:
            out.append({'f': state.id, 'done': state.done})
        return out

    def _compact(self):
        temporary = self.path + '.tmp'
        with open(temporary, 'w', encoding='utf-8') as handle:
            handle.write('{"journal":1}\n')
            for state in self.states.values():
                for record in self._state_records(state):
                    handle.write(json.dumps(record, separators=(',', ':')) + '\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def _append(self, records):
        with self.lock:
            self._write_locked(records)

    def _write_locked(self, records):
        start = os.lseek(self.fd, 0, os.SEEK_END)
        view = memoryview(b''.join(json.dumps(r, separators=(',', ':')).encode() + b'\n' for r in records))
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError:
            try:
                os.ftruncate(self.fd, start)    # no torn line left behind
            except OSError:
                pass
            raise

    def write(self, records):
        """Append records (flushed to the OS: they survive a kill of this process)."""
        try:
            self._append(records)
        except OSError as err:
            raise OutputError('Cannot write the journal %s.' % describe(self.path, err)) from None

    def sync(self):
        """Make what was written survive a power loss."""
        try:
            os.fsync(self.fd)
        except OSError as err:
            raise OutputError('Cannot write the journal %s.' % describe(self.path, err)) from None

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass

    def state(self, path):
        """The ``FileState`` of an input file (None for stdin, which cannot be resumed)."""
        if path == '-':
            return None
        real = os.path.realpath(path)
        info = os.stat(real)
        for state in self.by_path.get(real, []):
            _, dev, ino, head, head_bytes = state.identity
            if (dev, ino) == (info.st_dev, info.st_ino) and info.st_size >= head_bytes and \
                    _head(real, head_bytes)[0] == head:
                return state
        head, head_bytes = _head(real, info.st_size)
        state = FileState(self.next_id, (real, info.st_dev, info.st_ino, head, head_bytes))
        self.next_id += 1
        self.states[state.id] = state
        self.by_path.setdefault(real, []).append(state)
        self.write(self._state_records(state))
        return state

    def time_for(self, state, ordinal, now):
        """The ``_t`` for the untimed messages of a unit read now: the recorded one for a file
        the journal knew, else ``now`` (recorded and synced when it is new)."""
        if state is None:
            return now
        if state.known:
            return state.time_of(ordinal)
        if not state.times or state.times[-1] != now:
            state.froms.append(ordinal)
            state.times.append(now)
            self.write([{'f': state.id, 'from': ordinal, 't': now}])
            self.sync()
        return now

    def done(self, state, ordinals):
        """Record units as done (call after their rejects and dead letters are on disk)."""
        if state is None or not ordinals:
            return
        ordinals.sort()
        ranges = []
        for k in ordinals:
            if ranges and ranges[-1][1] == k:
                ranges[-1][1] = k + 1
            else:
                ranges.append([k, k + 1])
        self.write([{'f': state.id, 'done': ranges}])


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


class Ledger:
    """What a run has done: the tally, the dead-letter and rejects files, and the journal.

    Args:
        dead, rejects: ``JsonlOut`` of the dead-letter and rejects files.
        journal_path: the journal's path, or None for none.
        on_error: called with no argument when an output cannot be written (the run stops;
            nothing more is journaled, so the same command sends it again).
    """

    def __init__(self, dead, rejects, journal_path, on_error):
        self.dead = dead
        self.rejects = rejects
        self.journal_path = journal_path
        self.journal = None
        self.on_error = on_error
        self.states = {}            # source -> FileState
        self.tally = Tally()
        self.first_rejects = []
        self.units_done = 0
        self.write_error = None
        self.lock = threading.Lock()
        self.last_sync = 0.0

    def prepare(self, paths, source_name):
        """Probe the outputs and open the journal, before anything is sent (``OutputError``)."""
        for out, what in ((self.dead, 'dead-letter file'), (self.rejects, 'rejects file')):
            try:
                out.probe()
            except OutputError as err:
                option = '--dead-letter' if out is self.dead else '--rejects'
                raise OutputError('%s (the %s). Nothing was sent: pass %s PATH in a folder you can write to.' % (
                    str(err).rstrip('.'), what, option)) from None
        if not self.journal_path:
            return
        try:
            self.journal = Journal(self.journal_path)
        except OutputError as err:
            raise OutputError('%s Nothing was sent.' % err) from None
        for path in paths:
            state = self.journal.state(path)
            if state is not None:
                self.states[source_name(path)] = state
                if state.done:
                    self.rejects.mode = 'a'     # an earlier run wrote the rejects of what it did

    def guard(self, action, *args):
        """Run ``action``; an ``OutputError`` is kept in ``write_error`` and stops the run."""
        try:
            action(*args)
        except OutputError as err:
            self.write_error = err
            self.on_error()
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
        if self.guard(self._commit, done, dead, rejects):
            self.units_done += sum(len(ordinals) for ordinals in done.values())

    def _commit(self, done, dead, rejects):
        self.dead.write(dead)
        self.rejects.write(rejects)
        if self.journal:
            self.dead.sync()
            self.rejects.sync()
            for source, ordinals in done.items():
                self.journal.done(self.states.get(source), ordinals)

    def tick(self):
        """Sync the journal when ``SYNC_EVERY`` seconds have passed since the last sync."""
        if self.journal and self.write_error is None and time.monotonic() - self.last_sync > SYNC_EVERY:
            self.last_sync = time.monotonic()
            self.guard(self.journal.sync)

    def close(self):
        if self.journal and self.write_error is None:
            self.guard(self.journal.sync)
        self.dead.close()
        self.rejects.close()
        if self.journal:
            self.journal.close()
