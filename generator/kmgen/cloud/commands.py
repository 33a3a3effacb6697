"""Cloud-mode subcommands of the kmgen CLI (send, explain, tapstream-alias)."""

import argparse
import os
import sys

from .. import config, message, ruleset
from ..errors import DeliveryError, KmgenError, MessageError
from ..rules import map_call
from ..rules.portable import json_compact
from .requests import Builder, identity

DEFAULT_DEAD_LETTER = 'kmgen-dead-letter.jsonl'
NAME_LIMIT = 255


def _whole(minimum, words):
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError('%r is not a whole number' % text) from None
        if value < minimum:
            raise argparse.ArgumentTypeError('%r %s' % (text, words))
        return value
    return parse


_positive_int = _whole(1, 'must be at least 1')
_count = _whole(0, 'must not be negative')


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a number of seconds' % text) from None
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError('%r must be a positive number of seconds' % text)
    return value


def sender_args(parser):
    parser.add_argument('--retries', type=_count, default=5,
                        help='retries per request after network errors, timeouts and 5xx (default 5)')
    parser.add_argument('--timeout', type=_seconds, default=10.0,
                        help='seconds without an answer before a request counts as failed (default 10)')
    parser.add_argument('--backoff', type=_seconds, default=0.5,
                        help='first retry delay in seconds, doubled per attempt, with jitter (default 0.5)')


# -- send ----------------------------------------------------------------------------------

def cmd_send(args):
    from .pipeline import Run, SendOptions
    from .report import summary
    if args.replay and args.files:
        raise KmgenError('Pass input files or --replay DEAD_LETTER, not both.')
    paths = [args.replay] if args.replay else args.files
    if not paths:
        raise KmgenError('No input: pass FILE... (JSONL, gzip or batch files; - for stdin) '
                         'or --replay %s.' % DEFAULT_DEAD_LETTER)
    if args.spark:
        from .. import spark
        from .sender import Options
        return spark.cmd_send(args, Options(connections=args.connections, pipeline=args.pipeline,
                                            retries=args.retries, timeout=args.timeout, backoff=args.backoff,
                                            grace=args.grace, give_up=args.give_up))
    settings = config.load(args.config, args.settings, args.api_key)
    ruleset.load(settings)   # rules outside the subset are refused before any worker starts
    options = SendOptions(workers=args.workers, connections=args.connections, pipeline=args.pipeline,
                          retries=args.retries, timeout=args.timeout, backoff=args.backoff, grace=args.grace,
                          give_up=args.give_up)
    first = paths[0]
    rejects = args.rejects or ('kmgen-rejects.jsonl' if first == '-' else first + '.rejects.jsonl')
    dead_letter = args.dead_letter or args.replay or DEFAULT_DEAD_LETTER
    if not args.replay and any(_same(path, dead_letter) for path in paths):
        raise KmgenError('The dead-letter file %s is also an input: to resend it use '
                         '`kmgen send --replay %s`.' % (dead_letter, dead_letter))
    progress = args.progress
    if progress is None:
        progress = not args.dry_run and sys.stderr.isatty()
    journal = None if args.no_journal or args.dry_run else dead_letter + '.journal'
    run = Run(paths, settings, options, dead_letter, rejects, replay=bool(args.replay),
              progress=sys.stderr if progress else None, journal=journal)
    if args.dry_run:
        run.dry_run(sys.stdout)
    else:
        run.prepare()
        run.send()
    sys.stderr.write(summary(run, dry_run=args.dry_run) + '\n')
    return run.exit_code()


def _same(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# -- explain -------------------------------------------------------------------------------

def explain(call, settings):
    """The three views of one message: (ops, ``_kmq`` pushes, request lines, warnings);
    with site rules the ops are the site's result (``explain_site`` has both)."""
    return explain_site(call, settings)[1:]


def explain_site(call, settings):
    """(the built-in rules' ops, or None without site rules) + what ``explain`` returns."""
    builder = Builder(settings)
    notes = []
    warnings = []
    if builder.ruleset.site is None:
        builtin = None
        ops = map_call(call, dict(builder.rules, notes=notes))
    else:
        builtin = map_call(call, builder.rules)
        ops = builder.ruleset.map(call, dict(builder.rules, notes=notes),
                                  lambda text: warnings.append('Warning: ' + text))
    pushes = ['_kmq.push(%s);' % json_compact(op) for op in ops]
    try:
        requests = [request.line() for request in builder.build(call)]
    except MessageError as err:
        requests = None
        if not warnings:
            warnings.append('Warning: %s No cloud requests.' % err)
    warnings += ['Warning: %s.' % note for note in notes]
    for op in ops:
        names = []
        if op[0] == 'record':
            if len(op[1]) > NAME_LIMIT:
                warnings.append(_long('event name', op[1]))
            names = op[2]
        elif op[0] == 'set':
            names = op[1]
        for name in names:
            if len(name) > NAME_LIMIT:
                warnings.append(_long('property name', name))
    return builtin, ops, pushes, requests, warnings


def _long(what, name):
    return ('Warning: %s %r is %d characters long; Kissmetrics may cut names longer than %d.'
            % (what, name[:40] + '...', len(name), NAME_LIMIT))


def cmd_explain(args):
    settings = config.load(args.config, args.settings, args.api_key)
    if args.json is not None and args.message is not None:
        raise KmgenError("Pass the message as an argument or with --message FILE, not both.")
    call = message.parse(args.json, '<argument>') if args.json is not None else message.read(args.message)
    builtin, ops, pushes, requests, warnings = explain_site(call, settings)
    out = []
    if builtin is not None:
        out += ["ops (kmgen's built-in rules):"]
        out += ['  ' + json_compact(op) for op in builtin] or ['  (none)']
        out += ['', 'ops (with the site rules of %s, shared by both modes):' % settings['rules']]
    else:
        out += ['ops (the rules, shared by both modes):']
    out += ['  ' + json_compact(op) for op in ops] or ['  (none)']
    out += ['', 'device (pushed onto _kmq in the browser; the Kissmetrics library adds the identity):']
    out += ['  ' + push for push in pushes] or ['  (nothing)']
    person = identity(call)
    out += ['', 'cloud (HTTP requests, _p = %s):' % (repr(person) if person else 'none')]
    if requests is None:
        out += ['  (none: the message has neither userId nor anonymousId)']
    else:
        out += ['  ' + line for line in requests] or ['  (nothing to send)']
    sys.stdout.write('\n'.join(out) + '\n')
    for warning in warnings:
        sys.stderr.write(warning + '\n')
    return 0


# -- tapstream-alias -----------------------------------------------------------------------

def cmd_tapstream_alias(args):
    settings = config.load(args.config, args.settings, args.api_key)
    for flag, value in (('--km-identity', args.km_identity), ('--identity', args.identity)):
        if value.strip() == '':
            raise KmgenError('%s must not be empty: pass the identity to alias.' % flag)
    request = Builder(settings).tapstream_alias(args.km_identity, args.identity)
    sys.stdout.write((request.url if request.method == 'GET' else request.line()) + '\n')
    if not args.send:
        return 0
    from .sender import Options, deliver
    job = deliver([request], Options(connections=1, pipeline=1, retries=args.retries, timeout=args.timeout,
                                     backoff=args.backoff))[0]
    if job.tag is not True:
        sys.stderr.write('Error: %s\n' % DeliveryError('The alias was not delivered: %s.' % job.error))
        return 1
    sys.stderr.write('Delivered.\n')
    return 0


def register(commands, settings_args):
    """Add the cloud subcommands to the ``kmgen`` argument parser.

    Args:
        commands: the argparse subparsers object of ``kmgen``.
        settings_args: adds --config/--settings/--api-key to a subparser.
    """
    send = commands.add_parser(
        'send', help='deliver Segment/RudderStack messages to the Kissmetrics HTTP API',
        description='Map Segment or RudderStack messages (JSONL, gzip or batch files) and deliver them to '
                    'the Kissmetrics HTTP API. A journal next to the dead-letter file records what is done: '
                    'run the same command again after any stop to send the rest. Messages that failed go to '
                    'the dead-letter file (resend them with --replay); invalid lines go to a rejects file. '
                    'Exit status: 0 all delivered, 1 something failed, was rejected or is left to send, '
                    '2 usage error or an output that cannot be written (nothing sent).')
    send.add_argument('files', nargs='*', metavar='FILE', help='input files (- for stdin)')
    send.add_argument('--replay', metavar='DEAD_LETTER',
                      help='map and resend the messages of a dead-letter file with the current settings; '
                           'afterwards it holds what still failed')
    send.add_argument('--dead-letter', metavar='PATH',
                      help='where failed messages go, appended (default %s; with --replay, the replayed '
                           'file, rewritten)' % DEFAULT_DEAD_LETTER)
    send.add_argument('--rejects', metavar='PATH',
                      help='where invalid lines go (default <first input>.rejects.jsonl)')
    send.add_argument('--spark', metavar='MASTER',
                      help='send from Apache Spark (local[2], a cluster URL): each partition mapped and delivered '
                           'with its own connections; --dead-letter names the folder of the per-partition '
                           "dead-letter and rejects files (default kmgen-spark); needs pip install 'kmgen[spark]'")
    send.add_argument('--dry-run', action='store_true', help='print the requests (METHOD URL [body]) instead')
    sender_args(send)
    send.add_argument('--workers', type=_positive_int, default=None,
                      help='worker processes (default: one per core)')
    send.add_argument('--connections', type=_positive_int, default=8,
                      help='keep-alive connections per worker (default 8)')
    send.add_argument('--pipeline', type=_positive_int, default=16,
                      help='requests in flight per connection, HTTP/1.1 pipelining; 1 turns it off (default 16)')
    send.add_argument('--grace', type=_seconds, default=5.0,
                      help='on Ctrl-C, seconds to wait for answers to requests in flight (default 5)')
    send.add_argument('--give-up', type=_seconds, default=60.0, metavar='SECONDS',
                      help='stop sending when nothing has succeeded for this long while requests fail on the '
                           'network (refused, reset, timed out); the rest is sent by the next run (default 60)')
    send.add_argument('--no-journal', action='store_true',
                      help='keep no journal (<dead letter>.journal) of what is done: a rerun then sends everything '
                           'again')
    send.add_argument('--progress', action='store_true', default=None,
                      help='show a progress line (default: when stderr is a terminal)')
    send.add_argument('--no-progress', dest='progress', action='store_false')
    settings_args(send)
    send.set_defaults(func=cmd_send)

    explain_parser = commands.add_parser(
        'explain', help='show the ops, the _kmq pushes and the HTTP requests for one message',
        description='For one message: its ops, the _kmq pushes (device mode) and the HTTP requests '
                    '(cloud mode).')
    explain_parser.add_argument('json', nargs='?', metavar='MESSAGE_JSON', help='the message as JSON')
    explain_parser.add_argument('--message', metavar='FILE', help='read the message from FILE (default: stdin)')
    settings_args(explain_parser)
    explain_parser.set_defaults(func=cmd_explain)

    tapstream = commands.add_parser(
        'tapstream-alias', help="print (and --send) the alias tying Tapstream's km_identity to an identity",
        description='Print /a?_k=KEY&_p=<km_identity>&_n=<identity> on the tracking host; --send also sends it.')
    tapstream.add_argument('--km-identity', required=True, help="the km_identity Tapstream reported")
    tapstream.add_argument('--identity', required=True, help='the named identity (e.g. your user id)')
    tapstream.add_argument('--send', action='store_true', help='also send it')
    sender_args(tapstream)
    settings_args(tapstream)
    tapstream.set_defaults(func=cmd_tapstream_alias)
