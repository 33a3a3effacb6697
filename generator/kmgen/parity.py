"""Cross-mode parity: the generated browser integration, in real Chromium, against the CPython
rules (queue level) and the cloud request builder (wire level). Used by the test suite and by
`kmgen parity`, so a site can gate its deploys on its own config.

Every request of the test page is answered by routing (``Router``): the page and the built
files from memory, Kissmetrics' library and Tapstream by test doubles (tests/doubles/),
beacons to trk.kissmetrics.io are recorded, anything else is aborted.
"""

import json
import os
import random
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .errors import KmgenError
from .paths import data_dir
from .rules import map_call, portable

CHROMIUM = os.environ.get('KMGEN_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run']
ORIGIN = 'http://127.0.0.1:9'   # nothing listens there: routing answers first
CALL_TYPES = ('identify', 'track', 'page', 'screen', 'group', 'alias')

# Through the public API: each call type with its analytics.js arguments.
API_ARGS = {
    'identify': lambda c: [c.get('userId'), c.get('traits')],
    'track': lambda c: [c.get('event'), c.get('properties')],
    'page': lambda c: [c.get('category'), c.get('name'), c.get('properties')],
    'screen': lambda c: [c.get('name'), c.get('properties')],
    'group': lambda c: [c.get('groupId'), c.get('traits')],
    'alias': lambda c: [c.get('userId'), c.get('previousId')],
}
# Arguments and results cross as JSON text: Playwright's own serialisation would turn an
# own "__proto__" key into a prototype on the way in.
RUN_CALLS = '''([name, json]) => {
  const calls = JSON.parse(json), api = window[name];
  api._kmgen.debug = true;
  api._kmgen.messages.length = 0;
  const start = window._kmq.length;
  for (const [method, args] of calls) api[method].apply(api, args);
  return JSON.stringify({messages: api._kmgen.messages, kmq: window._kmq.slice(start)});
}'''
SEND_MESSAGES = '''([name, json]) => {
  const messages = JSON.parse(json), api = window[name];
  api._kmgen.debug = true;
  api._kmgen.messages.length = 0;
  const queue = Array.isArray(window._kmq), start = queue ? window._kmq.length : 0;
  for (const message of messages) api._kmgen.send(message);
  // Once the library has loaded, _kmq is its own object and the ops are gone (see KM.log).
  return JSON.stringify({messages: api._kmgen.messages, kmq: queue ? window._kmq.slice(start) : null});
}'''


def run_in_page(page, script, api_name, payload):
    """Run RUN_CALLS or SEND_MESSAGES in ``page``; returns {"messages": [...], "kmq": [...]}."""
    return json.loads(page.evaluate(script, [api_name, json.dumps(payload)]))


def doubles_dir():
    return data_dir('tests/doubles')


class Router:
    """What a test page's requests get: URL -> (status, headers, body); all requests logged,
    beacons to trk.kissmetrics.io parsed into ``beacons`` as (path, params)."""

    def __init__(self):
        self.files = {}
        self.log = []
        self.beacons = []
        self.km_library = 'double'  # or 'blocked'
        doubles = doubles_dir()
        self.km_double = (doubles / 'km_library_double.js').read_text(encoding='utf-8')
        self.tapstream_double = (doubles / 'tapstream_double.js').read_text(encoding='utf-8')

    def page(self, name, html, headers=None):
        url = '%s/%s' % (ORIGIN, name)
        self.files[url] = (200, {'content-type': 'text/html; charset=utf-8', **(headers or {})}, html.encode())
        return url

    def file(self, url, path_or_text, content_type='application/javascript'):
        body = path_or_text.read_bytes() if isinstance(path_or_text, Path) else path_or_text.encode()
        self.files[url] = (200, {'content-type': content_type, 'access-control-allow-origin': '*'}, body)

    def handle(self, route):
        url = route.request.url
        self.log.append(url)
        bare = url.split('?')[0]
        if bare in self.files:
            status, headers, body = self.files[bare]
            return route.fulfill(status=status, headers=headers, body=body)
        host = urlsplit(bare).hostname
        if host == 'scripts.kissmetrics.io' and self.km_library == 'double':
            return route.fulfill(status=200, content_type='application/javascript', body=self.km_double)
        if host == 'i.kissmetrics.io':
            return route.fulfill(status=200, content_type='application/javascript', body='/* i.js */')
        if host == 'cdn.tapstream.com':
            return route.fulfill(status=200, content_type='application/javascript', body=self.tapstream_double)
        if host == 'trk.kissmetrics.io':
            parts = urlsplit(url)
            self.beacons.append((parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))))
            return route.fulfill(status=200, content_type='image/gif', body=b'GIF89a')
        return route.abort()


def html(*parts, head=''):
    return ('<!doctype html><html><head><meta charset="utf-8"><title>kmgen parity</title>%s</head>'
            '<body>%s</body></html>' % (head, ''.join(parts)))


def first_difference(messages, device_ops, settings, mapper=map_call):
    """None when the device's ops equal the rules' for every message, in order; else a
    readable report of the first call that differs (call, device ops, cloud ops)."""
    position = 0
    for index, message in enumerate(messages):
        expected = mapper(message, settings)
        got = device_ops[position:position + len(expected)]
        if portable.json_compact(got) != portable.json_compact(expected):
            return 'call #%d differs\n  call:   %s\n  device: %s\n  cloud:  %s' % (
                index, portable.json_compact(message), portable.json_compact(got), portable.json_compact(expected))
        position += len(expected)
    if position != len(device_ops):
        return 'the device pushed %d ops more than the rules: %s' % (
            len(device_ops) - position, portable.json_compact(device_ops[position:]))
    return None


def api_calls(cases):
    """(method, args) for the cases the public API can express (an alias without a
    previousId waits for KM.i() and is checked on the wire instead)."""
    calls = []
    for call in cases:
        kind = call.get('type')
        if kind in API_ARGS and not (kind == 'alias' and not call.get('previousId')):
            calls.append([kind, API_ARGS[kind](call)])
    return calls


# Deterministic generated messages for `kmgen parity` (the test suite uses Hypothesis).
_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', '', 'a.b', 'a', 'revenue', 'total',
         'name', 'category', 'url', 'id', '1', 'ключ', '😀', 'a,b:c', 'Plan', 'x' * 300]
_STRINGS = ['', 'pro', '2024-01-01', '2024-02-29T23:59:59.999+01:00', '2023-02-29', '$9.99', '-$1,000.50',
            'Order Completed', 'ünïcödé', '😀', '1e3', ' 12 ', 'null', 'true']
_NUMBERS = [0, -0.0, 1.0, 1.5, -7, 1e21, 1e-7, 2 ** 53 + 1, 123456789.123, -1e-300]
_EVENTS = ['Signed Up', 'Order Completed', 'completed_order', 'Experiment Viewed', 'Viewed 😀', 'x' * 300]


def _value(rng, depth):
    pick = rng.random()
    if depth < 3 and pick < 0.15:
        return {rng.choice(_KEYS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and pick < 0.25:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice([None, True, False, rng.choice(_NUMBERS), rng.choice(_STRINGS), rng.randint(-10 ** 6, 10 ** 6)])


def generated_messages(count, seed=0):
    """``count`` varied messages of every call type, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = CALL_TYPES[i % len(CALL_TYPES)]
        props = {rng.choice(_KEYS): _value(rng, 0) for _ in range(rng.randint(0, 5))}
        message = {'type': kind, 'timestamp': '2024-05-01T12:00:%02d.%03dZ' % (i % 60, i % 1000)}
        if kind == 'track':
            message['event'] = rng.choice(_EVENTS)
            if message['event'] in ('Order Completed', 'completed_order'):
                props['products'] = [{'sku': 's%d' % j, 'price': rng.choice(_NUMBERS)} for j in range(rng.randint(0, 3))]
            message['properties'] = props
        elif kind in ('page', 'screen'):
            message.update(name=rng.choice(['Docs', '', None, 'Ünï']), category=rng.choice(['Help', None]),
                           properties=props)
        elif kind == 'group':
            message.update(groupId=rng.choice(['g-1', 7, '']), traits=props)
        elif kind == 'identify':
            message.update(userId=rng.choice(['u-1', '', None, 42]), traits=props)
        else:
            message.update(userId='u-%d' % i, previousId=rng.choice(['anon-%d' % i, '']),
                           anonymousId='a-%d' % i)
        out.append(message)
    return out


def vectors():
    """The shared vectors (tests/vectors) as (file, case) pairs."""
    pairs = []
    for path in sorted(data_dir('tests/vectors').glob('*.json')):
        if path.name != 'helpers.json':
            pairs.extend((path.stem, case) for case in json.loads(path.read_text(encoding='utf-8')))
    return pairs


def _params(text):
    return dict(parse_qsl(text, keep_blank_values=True))


def cloud_wire(messages, settings):
    """The cloud sender's requests for ``messages`` (the config's rules, site rules included):
    (op kind, path, params) each; the kind is 'product' for an order's product lines (they
    carry their own ``_t``/``_d``)."""
    from .cloud.requests import Builder, identity
    from .rules.mapping import timestamp
    from .rules.values import text
    builder = Builder(settings)
    rules = builder.rules
    out = []
    for message in messages:
        person, anonymous, seconds = identity(message), text(message.get('anonymousId')), timestamp(message)
        for op in builder.ruleset.map(message, rules, _quiet):
            tag = 'product' if op[0] == 'set' and '_t' in op[1] else op[0]
            for request in builder.ops_requests([op], person, anonymous, seconds):
                parts = urlsplit(request.url)
                out.append((tag, parts.path, _params(request.body if request.body is not None else parts.query)))
    return out


def device_wire(km_log):
    """The beacons the Kissmetrics-library double fired: (command, path, params) each."""
    out = []
    for entry in km_log:
        if entry[0] == 'beacon':
            parts = urlsplit(entry[2])
            out.append((entry[1], parts.path, _params(parts.query)))
    return out


def wire_difference(cloud, device):
    """None when the device's beacons equal the cloud's requests, else the first difference.

    Compared by rule, because identity and time are resolved differently by design
    (docs/mapping.md, "How the two modes stay one"): the requests an identify op causes (the browser library aliases its
    anonymous identity by itself, the cloud aliases the message's anonymousId) are identity
    bookkeeping and left out on both sides; ``_p`` is compared only for alias requests, where
    it is data (the previous identity); ``_t``/``_d`` only for product lines, which carry their
    own; everything else (path, ``_k``, ``_n``, every property and its bytes) must be equal.
    """
    cloud = [c for c in cloud if c[0] != 'identify']
    device = [d for d in device if d[0] != 'identify']
    for index, (want, got) in enumerate(zip(cloud, device)):
        ignore = (set() if want[0] == 'alias' else {'_p'}) | (set() if want[0] == 'product' else {'_t', '_d'})
        a = {k: v for k, v in want[2].items() if k not in ignore}
        b = {k: v for k, v in got[2].items() if k not in ignore}
        if want[1] != got[1] or a != b:
            return 'request #%d differs\n  device: %s %s\n  cloud:  %s %s' % (
                index, got[1], json.dumps(b, sort_keys=True, ensure_ascii=False),
                want[1], json.dumps(a, sort_keys=True, ensure_ascii=False))
    if len(cloud) != len(device):
        return 'the device fired %d requests, the cloud %d' % (len(device), len(cloud))
    return None


class ParityError(KmgenError):
    """The browser could not be started or driven."""


def _quiet(text):
    """Site-rule warnings during parity: the page drops the same calls (with console.warn)."""


def _with_identity(messages):
    out = []
    for i, message in enumerate(messages):
        if not message.get('userId') and not message.get('anonymousId'):
            message = dict(message, anonymousId='anon-%d' % i)
        out.append(message)
    return out


def run(config_path, generated=600, seed=0):
    """Build ``config_path`` into a scratch directory and check every call type at three
    levels in Chromium: the public API's queue, whole messages' queue, and the wire.

    Returns:
        (rows, problems): rows are (call type, {level: (passed, cases)}); problems are the
        readable first differences, empty when everything matched.
    """
    import tempfile

    from . import config as config_module
    from .device.build import build
    try:
        from playwright.sync_api import Error as PlaywrightError, sync_playwright
    except ImportError:
        raise ParityError("kmgen parity needs Playwright: pip install 'kmgen[parity]' (no browser "
                          "download: it drives Debian's Chromium at %s)." % CHROMIUM) from None
    from .ruleset import load as load_rules
    settings = config_module.load(config=config_path)
    rules = config_module.rule_settings(settings)
    ruleset = load_rules(settings)   # refuses rules outside the subset before Chromium starts

    def mapper(message, rule_settings):
        return ruleset.map(message, rule_settings, _quiet)
    cases = [case['call'] for _, case in vectors() if not case.get('settings')] + generated_messages(generated, seed)
    rows, problems = [], []
    with tempfile.TemporaryDirectory(prefix='kmgen-parity-') as tmp:
        site = build(config_path, Path(tmp) / 'site')[0]
        script = (site / 'snippet.html').read_text(encoding='utf-8')
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for kind in CALL_TYPES:
                    messages = [m for m in cases if m.get('type') == kind]
                    results = {}
                    for level in ('api', 'message', 'wire'):
                        context = browser.new_context()
                        router = Router()
                        router.km_library = 'double' if level == 'wire' else 'blocked'
                        context.route('**/*', router.handle)
                        page = context.new_page()
                        page.goto(router.page('parity.html', html(script)))
                        if level == 'api':
                            calls = api_calls(messages)
                            result = run_in_page(page, RUN_CALLS, settings['api_name'], calls)
                            problem = first_difference(result['messages'], result['kmq'], rules, mapper)
                            count = len(calls)
                        elif level == 'message':
                            result = run_in_page(page, SEND_MESSAGES, settings['api_name'], messages)
                            problem = first_difference(messages, result['kmq'], rules, mapper)
                            count = len(messages)
                        else:
                            page.wait_for_function('window.KM !== undefined')
                            start = page.evaluate('KM.log.length')   # after the snippet's own page()
                            sendable = _with_identity(messages)
                            run_in_page(page, SEND_MESSAGES, settings['api_name'], sendable)
                            log = json.loads(page.evaluate('JSON.stringify(KM.log.slice(%d))' % start))
                            problem = wire_difference(cloud_wire(sendable, settings), device_wire(log))
                            count = len(sendable)
                        context.close()
                        results[level] = (problem is None, count)
                        if problem is not None:
                            problems.append('%s, %s level: %s' % (kind, level, problem))
                    rows.append((kind, results))
                browser.close()
        except PlaywrightError as err:
            raise ParityError('Chromium could not be driven: %s' % str(err).splitlines()[0]) from None
    return rows, problems


LEVELS = (('api', 'public API -> _kmq'), ('message', 'message -> _kmq'), ('wire', 'wire (beacons)'))


def table(rows):
    """The parity table: call type x level, each cell 'pass (N)' or 'FAIL (N)'."""
    header = ['call'] + [label for _, label in LEVELS]
    lines = [header]
    for kind, results in rows:
        lines.append([kind] + ['%s (%d)' % ('pass' if results[level][0] else 'FAIL', results[level][1])
                               for level, _ in LEVELS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)
