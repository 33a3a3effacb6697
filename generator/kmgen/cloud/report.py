"""What ``kmgen send`` shows: a progress line on a terminal and the closing summary.

The progress line counts events (done units against the lines to send, when the inputs are
plain files), fits the terminal's width and is redrawn in place. The summary separates what
was delivered, what failed (with the top reasons), what was not attempted and what was
rejected, and says what to run next only when something is left to do.
"""

import shutil
import time

TOP_REASONS = 3


def _n(number):
    return format(number, ',')


class Progress:
    """A one-line progress display (stderr), redrawn at most 5 times a second."""

    def __init__(self, stream, total_units):
        self.stream = stream
        self.total = total_units
        self.last = 0.0

    def line(self, run, width):
        c = run.tally
        elapsed = time.monotonic() - run.started
        rate = c['delivered'] / elapsed if elapsed > 0 else 0
        head = ''
        if self.total:
            share = min(1.0, run.units_done / self.total)
            if share >= 1.0 and not run.complete():
                share = 0.99
            head = '[%s%s] %3d%% ' % ('#' * int(share * 20), '.' * (20 - int(share * 20)), share * 100)
        text = '%s%s delivered, %s failed, %s rejected, %s/s' % (
            head, _n(c['delivered']), _n(c['failed']), _n(c['rejected']), _n(int(rate)))
        return text[:width]

    def show(self, run, final=False):
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        try:
            self.stream.write('\r' + self.line(run, width) + '\x1b[K')
            if final:
                self.stream.write('\r\x1b[K')
            self.stream.flush()
        except (OSError, ValueError):
            pass    # the terminal is gone (SIGHUP): the run goes on


def outcome(c, elapsed, noun='events', skipped=0, journal_path=None, where=''):
    """The lines every run ends with (``kmgen send``, ``kmgen send --spark``): what was
    delivered, failed, not attempted and rejected (``c``, a ``core.Tally``), what an earlier
    run had done, and the top reasons of the failures."""
    rate = ''
    if c['delivered']:
        rate = ' (%s %s/s)' % (_n(int(c['delivered'] / elapsed)) if elapsed > 0 else '-', noun)
    head = 'kmgen send: delivered %s %s (%s requests) in %.2fs%s%s; failed %s, not attempted %s, rejected %s' % (
        _n(c['delivered']), noun, _n(c['requests']), elapsed, rate, where, _n(c['failed']), _n(c['unfinished']),
        _n(c['rejected']))
    if c['retried']:
        head += '; %s retries' % _n(c['retried'])
    lines = [head]
    if skipped:
        lines.append('kmgen send: skipped %s lines done by an earlier run (journal %s)' % (_n(skipped), journal_path))
    if c.reasons:
        top = c.reasons.most_common(TOP_REASONS)
        lines.append('kmgen send: failures: ' + '; '.join('%s x %s' % (_n(count), reason) for reason, count in top)
                     + ('; ...' if len(c.reasons) > TOP_REASONS else ''))
    return lines


def dry_run_line(c, noun='events'):
    return 'kmgen send: would send %s %s (%s requests), rejected %s' % (
        _n(c['delivered']), noun, _n(c['requests']), _n(c['rejected']))


def summary(run, dry_run=False, rerun='the same command'):
    """The closing lines of a run (``run`` is a ``pipeline.Run``)."""
    c = run.tally
    noun = 'records' if run.replay else 'events'
    lines = ['kmgen send: rejected %s' % error for error in run.first_rejects[:10]]
    if dry_run:
        lines.append(dry_run_line(c, noun))
        lines += ['kmgen send: %s' % error for error in run.read_errors]
        return '\n'.join(lines)
    lines += outcome(c, run.elapsed, noun, run.skipped, run.journal_path)
    if run.dead.count:
        lines.append('kmgen send: %s failed %s written to %s; once the cause is fixed, resend them with '
                     '`kmgen send --replay %s --config ...`' % (_n(run.dead.count), noun, run.dead.path,
                                                                run.dead_path))
    if run.rejects.count:
        more = run.rejects.count - min(len(run.first_rejects), 10)
        lines.append('kmgen send: %s rejected lines written to %s%s' % (
            _n(run.rejects.count), run.rejects.path, ' (%s not shown above)' % _n(more) if more else ''))
    for error in run.read_errors:
        lines.append('kmgen send: %s What was read before it was sent; the files after it too.' % error)
    if run.write_error is not None:
        lines.append('kmgen send: Error: %s Stopped. Nothing is lost: what the journal %s does not hold as done '
                     'is sent again, with the same _t, when you run %s once it can be written.'
                     % (run.write_error, run.journal_path, rerun) if run.journal else
                     'kmgen send: Error: %s Stopped; what was not confirmed may not have been delivered.'
                     % run.write_error)
    elif run.stopped:
        where = ''
        if run.stop_at:
            where = '; the input was read up to line %d of %s' % (run.stop_at[1] - 1, run.stop_at[0])
        if run.journal:
            lines.append('kmgen send: stopped: %s%s. Run %s to send the rest: what is done is in the journal '
                         '%s, and only what was in flight is sent again (with the same _t).'
                         % (run.stopped, where, rerun, run.journal_path))
        else:
            lines.append('kmgen send: stopped: %s%s. Without a journal, what was not delivered is not recorded.'
                         % (run.stopped, where))
    if c['maybe_delivered'] and run.journal:
        lines.append('kmgen send: %s requests were sent but unanswered when stopped; they are sent again with the '
                     'same _t, which Kissmetrics de-duplicates' % _n(c['maybe_delivered']))
    return '\n'.join(lines)
