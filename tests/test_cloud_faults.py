"""`kmgen send` under what an operator meets: real signals to real process groups, real full
and read-only disks (small tmpfs mounts, as root), servers that refuse, never answer, rate
limit or close every connection. Each scenario counts, against the fake server, the events
delivered once, repeated with the same ``_t`` (absorbed by Kissmetrics' de-duplication),
repeated with another ``_t`` (a duplicate) and lost; every scenario must lose nothing.

With ``KMGEN_SCENARIOS=path`` each scenario appends its figures to that JSONL file (the
table in the README is made from it)."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import API_KEY, ROOT
from tests.fake_km import FakeKM, always, first_attempts, matching
from tests.test_cloud_send import ledger, messages, record, write_jsonl

QUICK = ['--retries', '3', '--backoff', '0.01', '--timeout', '2', '--no-progress']


def inputs(tmp_path, n):
    """``n`` messages, the input file holding them, and where the dead letter goes."""
    items = messages(n)
    return items, write_jsonl(tmp_path / 'in.jsonl', items), str(tmp_path / 'dead.jsonl')


def toml_for(tmp_path, url, name='kmgen.toml'):
    path = tmp_path / name
    path.write_text('api_key = "%s"\ntracking_host = "%s"\n' % (API_KEY, url))
    return str(path)


def command(toml, inputs, dead, *options):
    return [sys.executable, '-m', 'kmgen', 'send'] + list(inputs) + [
        '--config', toml, '--dead-letter', dead, '--no-progress'] + list(options)


def start(args):
    """A process group of its own, as a shell gives a command (Ctrl-C reaches all of it)."""
    return subprocess.Popen(args, cwd=str(ROOT), stderr=subprocess.PIPE, text=True, start_new_session=True)


def run(args, timeout=120):
    started = time.monotonic()
    done = subprocess.run(args, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stderr, time.monotonic() - started


def wait_for(condition, limit=30):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, 'timed out waiting'
        time.sleep(0.01)


def finish(proc, timeout=60):
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err


def workers_of(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as handle:
            children = [int(p) for p in handle.read().split()]
    except OSError:
        return []
    out = []
    for child in children:
        try:
            with open('/proc/%d/cmdline' % child, 'rb') as handle:
                if b'spawn_main' in handle.read():
                    out.append(child)
        except OSError:
            pass
    return out


def no_loss(book):
    assert (book['lost'], book['repeated_other_t'], book['unexpected']) == (0, 0, 0), book


# -- kills and signals -------------------------------------------------------------------------

@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGHUP, signal.SIGTERM], ids=['SIGKILL', 'SIGHUP', 'SIGTERM'])
def test_a_process_group_stopped_mid_run_resumes_and_loses_nothing(tmp_path, sig):
    """kill -9 of the whole group (or a closed terminal: SIGHUP), then the same command again:
    everything arrives; only what was in flight arrives twice, with the same _t."""
    items, path, dead = inputs(tmp_path, 3000)
    with FakeKM(delay=0.05) as server:
        args = command(toml_for(tmp_path, server.url), [path], dead, '--workers', '2', '--connections', '2',
                       '--pipeline', '4', *QUICK[:-1])
        started = time.monotonic()
        proc = start(args)
        wait_for(lambda: len(server.acked) >= 400)
        os.killpg(proc.pid, sig)
        stopped_at = time.monotonic()
        code, err = finish(proc)
        stop_seconds = time.monotonic() - stopped_at
        first_ack = len(server.acked)
        assert first_ack < ledger(server, items)['requests'] // 2
        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL
        else:
            assert code == 1 and stop_seconds < 10, err
            assert 'kmgen send: stopped: interrupted by %s' % sig.name in err, err
            assert 'Run the same command to send the rest' in err
        assert not os.path.exists(dead), 'stopping writes no unsent event into the dead letter'
        server.delay = 0
        code, err, _ = run(args)
        book = ledger(server, items, dead)
        record('%s of the process group mid-run, then the same command' % sig.name, book, code,
               time.monotonic() - started)
    assert code == 0, err
    no_loss(book)
    assert book['repeated_same_t'] < 300, book
    assert 'kmgen send: skipped ' in err


def test_ctrl_c_while_the_workers_start_stops_quickly_and_loses_nothing(tmp_path):
    """SIGINT to the whole group the moment the first worker exists: no worker dies of it
    (multiprocessing's resource tracker unblocks signals while workers start)."""
    items, path, dead = inputs(tmp_path, 2000)
    with FakeKM(delay=0.05) as server:
        args = command(toml_for(tmp_path, server.url), [path], dead, '--workers', '2', '--pipeline', '4', *QUICK[:-1])
        started = time.monotonic()
        proc = start(args)
        wait_for(lambda: len(workers_of(proc.pid)) >= 1, limit=60)
        os.killpg(proc.pid, signal.SIGINT)
        code, err = finish(proc)
        assert code in (1, 130) and time.monotonic() - started < 30, err
        assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err
        assert 'worker process ended' not in err, err
        assert not os.path.exists(dead)
        code, err, _ = run(args)
        book = ledger(server, items, dead)
        record('Ctrl-C (SIGINT to the group) while workers start, then the same command', book, code,
               time.monotonic() - started)
    assert code == 0, err
    no_loss(book)


def test_a_worker_killed_mid_run_stops_the_run_and_the_rerun_loses_nothing(tmp_path):
    items, path, dead = inputs(tmp_path, 2000)
    with FakeKM(delay=0.05) as server:
        args = command(toml_for(tmp_path, server.url), [path], dead, '--workers', '2', '--pipeline', '4', *QUICK[:-1])
        started = time.monotonic()
        proc = start(args)
        wait_for(lambda: len(server.acked) >= 200 and len(workers_of(proc.pid)) == 2)
        os.kill(workers_of(proc.pid)[0], signal.SIGKILL)
        code, err = finish(proc)
        assert code == 1 and 'kmgen send: stopped: a worker process ended unexpectedly (exit code -9)' in err, err
        server.delay = 0
        code, err, _ = run(args)
        book = ledger(server, items, dead)
        record('one worker process killed mid-run, then the same command', book, code, time.monotonic() - started)
    assert code == 0, err
    no_loss(book)


def test_ctrl_c_does_not_rewrite_the_unread_input(tmp_path):
    items, path, dead = inputs(tmp_path, 20000)
    with FakeKM(delay=0.05) as server:
        args = command(toml_for(tmp_path, server.url), [path], dead, '--workers', '1', '--grace', '1', *QUICK[:-1])
        proc = start(args)
        wait_for(lambda: len(server.acked) >= 200)
        stopped = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        code, err = finish(proc)
        assert code == 1 and time.monotonic() - stopped < 5, err
        assert not os.path.exists(dead) and len(server.acked) < 10000
        assert err.startswith('Interrupted: stopping; requests in flight get 1s to be answered; the rest is sent '
                              'when you run the same command again.\n')


# -- outputs that cannot be written ------------------------------------------------------------

@contextlib.contextmanager
def tmpfs(path, options):
    os.makedirs(path, exist_ok=True)
    try:
        subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip('needs root to mount a tmpfs (%s)' % err)
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', str(path)], capture_output=True)


def fill(folder):
    fd = os.open(os.path.join(folder, 'filler'), os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b'x' * 512):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_dead_letter_in_a_missing_folder_is_found_before_sending(tmp_path):
    items = messages(50)
    dead = str(tmp_path / 'missing' / 'dead.jsonl')
    with FakeKM() as server:
        code, err, _ = run(command(toml_for(tmp_path, server.url), [write_jsonl(tmp_path / 'in.jsonl', items)], dead))
        assert server.received == []
    assert (code, err) == (2, 'Error: Cannot write %s: No such file or directory (the dead-letter file). Nothing '
                              'was sent: pass --dead-letter PATH in a folder you can write to.\n' % dead)


@pytest.mark.parametrize('kind', ['read-only folder', 'full disk'])
def test_an_unwritable_dead_letter_is_found_before_sending(tmp_path, kind):
    items = messages(50)
    folder = tmp_path / 'out'
    with tmpfs(folder, 'size=64k,ro' if kind == 'read-only folder' else 'size=64k'):
        if kind == 'full disk':
            fill(folder)
        dead = str(folder / 'dead.jsonl')
        with FakeKM() as server:
            code, err, seconds = run(command(toml_for(tmp_path, server.url),
                                             [write_jsonl(tmp_path / 'in.jsonl', items)], dead))
            assert server.received == []
        record('dead letter on a %s' % kind, {'requests': 0, 'once': 0, 'repeated_same_t': 0, 'repeated_other_t': 0,
                                              'dead': 0, 'lost': 0}, code, seconds)
    why = 'Read-only file system' if kind == 'read-only folder' else 'No space left on device'
    assert (code, err) == (2, 'Error: Cannot write %s: %s (the dead-letter file). Nothing was sent: pass '
                              '--dead-letter PATH in a folder you can write to.\n' % (dead, why))


def test_rejects_next_to_a_read_only_input_are_found_before_sending(tmp_path):
    items = messages(20)
    folder = tmp_path / 'in'
    with tmpfs(folder, 'size=1m'):
        path = write_jsonl(folder / 'in.jsonl', items)
        subprocess.run(['mount', '-o', 'remount,ro', str(folder)], check=True)
        with FakeKM() as server:
            code, err, _ = run(command(toml_for(tmp_path, server.url), [path], str(tmp_path / 'dead.jsonl')))
            assert server.received == []
    assert (code, err) == (2, 'Error: Cannot write %s.rejects.jsonl: Read-only file system (the rejects file). '
                              'Nothing was sent: pass --rejects PATH in a folder you can write to.\n' % path)


def test_a_disk_that_fills_up_during_the_run_stops_it_and_the_rerun_loses_nothing(tmp_path):
    items = messages(1500)
    folder = tmp_path / 'out'
    with tmpfs(folder, 'size=64k'):
        dead = str(folder / 'dead.jsonl')
        path = write_jsonl(tmp_path / 'in.jsonl', items)
        with FakeKM(policy=matching('&_p=u', 400)) as server:     # every userId event fails for good
            args = command(toml_for(tmp_path, server.url), [path], dead, '--workers', '2', *QUICK[:-1])
            started = time.monotonic()
            code, err, _ = run(args)
            assert code == 1, err
            assert ('kmgen send: Error: Cannot write %s: No space left on device. Stopped. Nothing is lost: what the '
                    'journal %s.journal does not hold as done is sent again, with the same _t, when you run the same '
                    'command once it can be written.' % (dead, dead)) in err.splitlines() or \
                ('kmgen send: Error: Cannot write the journal %s.journal: No space left on device. Stopped. Nothing '
                 'is lost: what the journal %s.journal does not hold as done is sent again, with the same _t, when '
                 'you run the same command once it can be written.' % (dead, dead)) in err.splitlines(), err
            subprocess.run(['mount', '-o', 'remount,size=8m', str(folder)], check=True)
            code, err, _ = run(args)
            book = ledger(server, items, dead)
            record('the dead-letter disk fills up mid-run, then the same command', book, code,
                   time.monotonic() - started)
    assert code == 1 and book['dead'] > 1000, err      # the 400s are dead letters, as they should be
    no_loss(book)


# -- servers --------------------------------------------------------------------------------------

def test_429_with_retry_after_is_retried_when_asked(tmp_path):
    items = messages(300)
    with FakeKM(policy=first_attempts(1, (429, {'Retry-After': '1'}), share=4)) as server:
        code, err, seconds = run(command(toml_for(tmp_path, server.url), [write_jsonl(tmp_path / 'in.jsonl', items)],
                                         str(tmp_path / 'dead.jsonl'), *QUICK))
        book = ledger(server, items)
        waits = {}
        for r in server.received:
            waits.setdefault(r.key, []).append(r.at)
        gaps = [t[1] - t[0] for t in waits.values() if len(t) > 1]
    record('429 with Retry-After: 1 on a quarter of the requests', book, code, seconds)
    assert code == 0, err
    no_loss(book)
    assert book['once'] == book['requests'] and gaps and min(gaps) > 0.95


def test_a_server_that_says_connection_close_is_not_pipelined_to(tmp_path):
    items = messages(300)
    with FakeKM(style='close') as server:
        code, err, seconds = run(command(toml_for(tmp_path, server.url), [write_jsonl(tmp_path / 'in.jsonl', items)],
                                         str(tmp_path / 'dead.jsonl'), '--workers', '2', *QUICK))
        book = ledger(server, items)
        wire = len(server.received)
    record('Connection: close on every answer (%d requests on the wire)' % wire, book, code, seconds)
    assert code == 0, err
    no_loss(book)
    assert book['once'] == book['requests'] and wire <= book['requests'] + 2 * 8 * 16


@pytest.mark.parametrize('fault', ['never answers', 'refuses'])
def test_a_dead_server_trips_the_breaker_and_the_rerun_sends_everything(tmp_path, fault):
    items, path, dead = inputs(tmp_path, 2000)
    with FakeKM(policy=always('hang')) as server:
        url = server.url if fault == 'never answers' else 'http://127.0.0.1:9'
        options = ['--timeout', '0.5', '--give-up', '2', '--retries', '100', '--backoff', '0.01', '--no-progress']
        started = time.monotonic()
        code, err, seconds = run(command(toml_for(tmp_path, url), [path], dead, *options))
        assert code == 1 and seconds < 20, err
        reason = 'no response within 0.5s (timeout)' if fault == 'never answers' else \
            'cannot connect to 127.0.0.1:9: connection refused'
        assert 'kmgen send: stopped: gave up: %s (nothing succeeded; is %s up?)' % (reason, url) in err, err
        assert not os.path.exists(dead)
        server.policy = None
        code, err, _ = run(command(toml_for(tmp_path, server.url), [path], dead, *QUICK))
        book = ledger(server, items, dead)
        record('a server that %s: breaker, then the same command' % fault, book, code, time.monotonic() - started)
    assert code == 0, err
    no_loss(book)


def test_replay_after_a_config_fix_sends_to_the_fixed_host_with_the_first_t(tmp_path):
    items, path, dead = inputs(tmp_path, 200)
    with FakeKM(policy=always(404)) as wrong, FakeKM() as right:
        started = time.monotonic()
        code, err, _ = run(command(toml_for(tmp_path, wrong.url), [path], dead, *QUICK))
        assert code == 1 and 'failures: 200 x HTTP 404' in err, err
        first_t = {}
        for r in wrong.received:
            from tests.test_cloud_send import split_time
            base, t = split_time(r.method, r.target, r.body)
            first_t.setdefault(base, t)
        code, err, _ = run([sys.executable, '-m', 'kmgen', 'send', '--replay', dead, '--config',
                            toml_for(tmp_path, right.url, 'fixed.toml')] + QUICK)
        book = ledger(right, items)
        record('replay after fixing tracking_host', book, code, time.monotonic() - started)
        from tests.test_cloud_send import acked
        got = acked(right)
    assert code == 0, err
    no_loss(book)
    assert book['once'] == book['requests'] and {k: v[0] for k, v in got.items()} == first_t
    assert open(dead).read() == '' and 'resend them' not in err
