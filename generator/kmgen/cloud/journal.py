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
"""

import bisect
import hashlib
import json
import os
import threading

from ..errors import KmgenError

HEAD_BYTES = 65536
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
