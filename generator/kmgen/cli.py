"""The ``kmgen`` command line: parses arguments, prints results and errors, picks exit codes.

No mapping logic lives here. Every ``KmgenError`` becomes one line ``Error: <message>``
and exit status 2; ``--debug`` shows the traceback instead.
"""

import argparse
import json
import sys
import traceback

from . import __version__, config, message, ruleset
from .errors import KmgenError

EXIT_ERROR = 2


def cmd_ops(args):
    settings = config.load(args.config, args.settings, args.api_key)
    site = ruleset.load(settings)
    call = message.read(args.message)
    rules = config.rule_settings(settings)
    from .canonical import canonical
    if args.engine == 'js':
        from .device.engine import map_call_js
        ops = json.loads(map_call_js(call, rules, site))
    else:
        ops = site.map(call, rules)
    text = canonical(ops)
    sys.stdout.write(text + '\n')
    return 0


def cmd_build(args):
    from .device.build import build
    out_dir, files, seconds = build(args.config, args.out)
    facts = json.loads(files['manifest.json'])['files']
    for name, body in files.items():
        gzipped = ', %s gzipped' % format(facts[name]['gzip_bytes'], ',') if name in facts else ''
        print('%-14s %7s bytes%s' % (name, format(len(body), ','), gzipped))
    print('Built %s in %.2f s.' % (out_dir, seconds))
    return 0


def cmd_init(args):
    from .init import init
    for path in init(args.dir, args.force):
        print('Wrote %s' % path)
    where = '' if args.dir in (None, '.') else 'cd %s && ' % args.dir
    print('Next: set api_key in %s, then run `%skmgen build`.' % (config.DEFAULT_CONFIG, where))
    return 0


def cmd_parity(args):
    from . import parity
    rows, problems, facts = parity.run(args.config, args.generated, args.seed, args.messages)
    print(parity.table(rows, facts))
    for problem in problems:
        print('\n' + problem)
    cases = sum(count for _, results in rows for passed, count in results.values() if passed is not None)
    print('\n%s: %d cases, %d mismatch%s.' % ('FAIL' if problems else 'OK', cases, len(problems),
                                              '' if len(problems) == 1 else 'es'))
    return 1 if problems else 0


def settings_args(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--config', metavar='KMGEN_TOML', help='settings from a kmgen.toml (default: ./kmgen.toml)')
    group.add_argument('--settings', metavar='FILE_JSON', help='settings from a JSON file')
    parser.add_argument('--api-key', help='Kissmetrics API key (overrides the file)')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='kmgen', description='Kissmetrics mapping rules, once, for the browser and the server.')
    parser.add_argument('--version', action='version', version='kmgen ' + __version__)
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)

    ops = commands.add_parser('ops', help='print the Kissmetrics ops for one message',
                              description='Map one Segment or RudderStack message (JSON) to ops.')
    ops.add_argument('--message', metavar='FILE', help='the message (default: stdin)')
    ops.add_argument('--engine', choices=('python', 'js'), default='python',
                     help='CPython (default) or the transpiled rules in Node')
    settings_args(ops)
    ops.set_defaults(func=cmd_ops)

    build = commands.add_parser('build', help='generate the browser integration into dist/<site>',
                                description='Build kmgen.js, kmgen.min.js, snippet.html, plugin.js and manifest.json.')
    build.add_argument('--config', default=config.DEFAULT_CONFIG, metavar='KMGEN_TOML',
                       help='the site config (default: ./kmgen.toml)')
    build.add_argument('--out', metavar='DIR', help='output directory (default: dist/<site>)')
    build.set_defaults(func=cmd_build)

    parity = commands.add_parser('parity', help='check device and cloud agree for your config',
                                 description='Run the cross-mode parity suite in Chromium for a site config: the public API, '
                                             'the stub form, plugin.js in analytics-next, whole messages and the wire.')
    parity.add_argument('--config', default=config.DEFAULT_CONFIG, metavar='KMGEN_TOML',
                        help='the site config (default: ./kmgen.toml)')
    parity.add_argument('--generated', type=int, default=600, metavar='N', help='generated messages (default 600)')
    parity.add_argument('--seed', type=int, default=0, help='seed of the generated messages')
    parity.add_argument('--messages', metavar='FILE_JSONL',
                        help="your site's recorded Segment/RudderStack messages, run through every level too")
    parity.set_defaults(func=cmd_parity)

    init = commands.add_parser('init', help='write a starter kmgen.toml and site_rules.py',
                               description='Write DIR/kmgen.toml (every setting, commented, with its default) '
                                           'and DIR/site_rules.py (a starting point for site rules).')
    init.add_argument('dir', nargs='?', default='.', metavar='DIR', help='where to write them (default: .)')
    init.add_argument('--force', action='store_true', help='overwrite files that exist')
    init.set_defaults(func=cmd_init)

    from .cloud.commands import register as register_cloud
    register_cloud(commands, settings_args)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KmgenError as err:
        if args.debug:
            traceback.print_exc()
        else:
            print('Error: %s' % err, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print('Interrupted.', file=sys.stderr)
        return 130
