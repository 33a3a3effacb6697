"""Cross-mode parity: the generated browser integration, in real Chromium, against the CPython
rules (queue level) and the cloud request builder (wire level). Used by the test suite and by
`kmgen parity`, so a site can gate its deploys on its own config.

Every request of the test page is answered by routing (``Router``): the page and the built
files from memory (kmgen.min.js at the site's ``script_src``), Kissmetrics' library (at the
site's ``library_host``) and Tapstream by test doubles (tests/doubles/), beacons to
trk.kissmetrics.com (the library's host) and trk.kissmetrics.io (the HTTP API's) are
recorded, anything else is aborted.
"""

import json
import os
import random
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

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
  return JSON.stringify({messages: api._kmgen.messages, kmq: window._kmq.slice(start), all: window._kmq.slice()});
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


TRACKING_HOSTS = ('trk.kissmetrics.com', 'trk.kissmetrics.io')   # the library's, and the HTTP API's


class Router:
    """What a test page's requests get: URL -> (status, headers, body); all requests logged,
    beacons to the Kissmetrics tracking hosts parsed into ``beacons`` as (path, params).

    The Kissmetrics library double answers ``<host>/<key>.2.js`` for every host in
    ``library_hosts`` (add a site's ``library_host``); ``km_library = 'blocked'`` aborts it.
    """

    def __init__(self):
        self.files = {}
        self.log = []
        self.beacons = []
        self.km_library = 'double'  # or 'blocked'
        self.library_hosts = {'scripts.kissmetrics.io'}
        doubles = doubles_dir()
        self.km_double = (doubles / 'km_library_double.js').read_text(encoding='utf-8')
        self.tapstream_double = (doubles / 'tapstream_double.js').read_text(encoding='utf-8')

    def page(self, name, html, headers=None):
        url = '%s/%s' % (ORIGIN, name)
        self.files[url] = (200, {'content-type': 'text/html; charset=utf-8', **(headers or {})}, html.encode())
        return url

    def file(self, url, path_or_text, content_type='application/javascript'):
        body = path_or_text if isinstance(path_or_text, bytes) else (
            path_or_text.read_bytes() if isinstance(path_or_text, Path) else path_or_text.encode())
        self.files[url] = (200, {'content-type': content_type, 'access-control-allow-origin': '*'}, body)

    def site(self, settings, min_js):
        """Serve a build's kmgen.min.js where its snippet loads it (``script_src``: absolute,
        protocol-relative or root-relative, resolved against the test pages' origin) and the
        library double at its ``library_host``. Returns the kmgen.min.js URL, or None."""
        self.library_hosts.add(settings['library_host'].split(':')[0])
        if settings.get('script_src') is None:
            return None
        url = script_url(settings['script_src'])
        self.file(url, min_js)
        return url

    def handle(self, route):
        url = route.request.url
        self.log.append(url)
        bare = url.split('?')[0]
        if bare in self.files:
            status, headers, body = self.files[bare]
            return route.fulfill(status=status, headers=headers, body=body)
        host = urlsplit(bare).hostname
        if host in self.library_hosts and bare.endswith('.2.js') and self.km_library == 'double':
            return route.fulfill(status=200, content_type='application/javascript', body=self.km_double)
        if host == 'i.kissmetrics.io':
            return route.fulfill(status=200, content_type='application/javascript', body='/* i.js */')
        if host == 'cdn.tapstream.com':
            return route.fulfill(status=200, content_type='application/javascript', body=self.tapstream_double)
        if host in TRACKING_HOSTS:
            parts = urlsplit(url)
            self.beacons.append((parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))))
            return route.fulfill(status=200, content_type='image/gif', body=b'GIF89a')
        return route.abort()


def script_url(script_src):
    """Where a test page (served from ORIGIN) fetches ``script_src``."""
    return urljoin(ORIGIN + '/', script_src)


def routed_page(browser, km_library='blocked'):
    """A fresh context whose every request ``Router`` answers, and a page in it:
    (context, page, router); the caller adds files to the router and opens a page."""
    context = browser.new_context()
    router = Router()
    router.km_library = km_library
    context.route('**/*', router.handle)
    return context, context.new_page(), router


def html(*parts, head='', title='kmgen parity'):
    return ('<!doctype html><html><head><meta charset="utf-8"><title>%s</title>%s</head>'
            '<body>%s</body></html>' % (title, head, ''.join(parts)))


SHOWN = 300   # characters of one value in a report; the rest is counted, not printed


def shown(value):
    """``value`` as compact JSON for a report, each long string cut to SHOWN characters."""
    def cut(v):
        if isinstance(v, str) and len(v) > SHOWN:
            return v[:SHOWN] + '...(%d characters)' % len(v)
        if isinstance(v, list):
            return [cut(x) for x in v]
        if isinstance(v, dict):
            return {cut(k): cut(x) for k, x in v.items()}
        return v
    return portable.json_compact(cut(value))


def first_difference(messages, device_ops, settings, mapper=map_call):
    """None when the device's ops equal the rules' for every message, in order; else a
    readable report of the first call that differs (call, device ops, cloud ops)."""
    position = 0
    for index, message in enumerate(messages):
        expected = mapper(message, settings)
        got = device_ops[position:position + len(expected)]
        if portable.json_compact(got) != portable.json_compact(expected):
            return 'call #%d differs\n  call:   %s\n  device: %s\n  cloud:  %s' % (
                index, shown(message), shown(got), shown(expected))
        position += len(expected)
    if position != len(device_ops):
        return 'the device pushed %d ops more than the rules: %s' % (
            len(device_ops) - position, shown(device_ops[position:]))
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
    """The cloud sender's requests for ``messages``: (op kind, path, params, person) each; the
    kind is 'product' for an order's product lines, ``person`` the message's identity."""
    from .cloud.requests import Builder, identity
    from .rules.mapping import timestamp
    from .rules.values import text
    builder = Builder(settings)
    rules = builder.rules
    out = []
    for message in messages:
        person, anonymous, seconds = identity(message), text(message.get('anonymousId')), timestamp(message)
        for op in builder.ruleset.map(message, rules, _quiet):   # the config's rules, site rules too
            tag = 'product' if op[0] == 'set' and '_t' in op[1] else op[0]
            for request in builder.ops_requests([op], person, anonymous, seconds):
                parts = urlsplit(request.url)
                out.append((tag, parts.path, _params(request.body if request.body is not None else parts.query), person))
    return out


def device_wire(km_log):
    """The beacons the Kissmetrics-library double fired: (command, path, params, identity)
    each, ``identity`` being the library's own at that moment (KM.i())."""
    out = []
    for entry in km_log:
        if entry[0] == 'beacon':
            parts = urlsplit(entry[2])
            out.append((entry[1], parts.path, _params(parts.query), entry[3] if len(entry) > 3 else None))
    return out


# The library's own automatic tracking a site keeps unless km_skip turns it off (Visited Site):
# not kmgen's, so not compared. The library's own Page View is compared: it must not be there.
LIBRARY_OWN = ('rvs',)


def wire_difference(cloud, device):
    """None when the device's beacons equal the cloud's requests, else the first difference.

    Compared modulo identity and time, which the modes resolve differently by design
    (docs/mapping.md, "How the two modes stay one"): the
    requests an identify op causes (the browser library aliases its anonymous identity by
    itself, the cloud aliases the message's anonymousId) are identity bookkeeping and left out
    on both sides, as is the library's own Visited Site; ``_t`` is never compared (the library
    stamps every request with its own clock, KM.ts()); ``_d`` only on product lines (the rules
    put it there; the library adds none). ``_p`` is data on alias requests and compared there;
    on the others each side must file the request under its own identity (the device: the
    library's KM.i() at that moment, never a property's ``_p``; the cloud: the message's).
    Everything else (path, ``_k``, ``_n``, every property and its bytes) must be equal.
    """
    cloud = [c for c in cloud if c[0] != 'identify']
    device = [d for d in device if d[0] != 'identify' and d[0] not in LIBRARY_OWN]
    for index, (want, got) in enumerate(zip(cloud, device)):
        ignore = {'_t'} | (set() if want[0] == 'alias' else {'_p'}) | (set() if want[0] == 'product' else {'_d'})
        a = {k: v for k, v in want[2].items() if k not in ignore}
        b = {k: v for k, v in got[2].items() if k not in ignore}
        if want[1] != got[1] or a != b:
            return 'request #%d differs\n  device: %s %s\n  cloud:  %s %s' % (
                index, got[1], _sorted(b), want[1], _sorted(a))
        if want[0] != 'alias':
            for side, params, person in (('device', got[2], got[3]), ('cloud', want[2], want[3])):
                if person is not None and params.get('_p') != person:
                    return ('request #%d is filed under another person\n  %s: %s %s has _p=%s, not its identity %s'
                            % (index, side, (got if side == 'device' else want)[1], _sorted(params),
                               json.dumps(params.get('_p'), ensure_ascii=False), json.dumps(person, ensure_ascii=False)))
    if len(cloud) != len(device):
        longer, name = (device, 'device') if len(device) > len(cloud) else (cloud, 'cloud')
        extra = longer[min(len(cloud), len(device))]
        return 'the device fired %d requests, the cloud %d; the first extra (%s): %s %s' % (
            len(device), len(cloud), name, extra[1], _sorted(extra[2]))
    return None


def _sorted(params):
    text = json.dumps({k: params[k] for k in sorted(params)}, ensure_ascii=False)
    return text if len(text) <= 4 * SHOWN else json.dumps(
        {k[:SHOWN]: (v if len(v) <= SHOWN else v[:SHOWN] + '...(%d characters)' % len(v))
         for k, v in sorted(params.items())}, ensure_ascii=False)


class ParityError(KmgenError):
    """The parity harness itself failed (not a mismatch between the modes)."""


class HarnessFailure(Exception):
    """Raised inside the harness with the cause; run() turns it into a ParityError."""


def _quiet(text):
    """Site-rule warnings during parity: the page drops the same calls (with console.warn)."""


def _with_identity(messages):
    out = []
    for i, message in enumerate(messages):
        if not message.get('userId') and not message.get('anonymousId'):
            message = dict(message, anonymousId='anon-%d' % i)
        out.append(message)
    return out


FIXED_TIME = '2024-05-01T12:00:00Z'   # every level's page clock: the forms' ops are then comparable byte for byte
PAGE = 'parity.html'
PAGE_TITLE = 'kmgen parity'
STUB_SRC = 'https://kmgen-parity.test/kmgen.min.js'   # for the stub level of a config that inlines
LEVELS = (('api', 'public API'), ('stub', 'stub form'), ('plugin', 'plugin'), ('message', 'whole messages'),
          ('wire', 'wire'))
READY = "(name) => !!(window[name] && window[name]._kmgen && window[name]._kmgen.ready === true)"
TAKEN_OVER = '() => window.KM !== undefined && window._kmq !== undefined && !Array.isArray(window._kmq)'


def initial_page_message(origin=ORIGIN):
    """The message of the snippet's own first page() on a parity page (its defaults)."""
    url = '%s/%s' % (origin, PAGE)
    return {'type': 'page', 'anonymousId': 'anon-initial',
            'properties': {'path': '/' + PAGE, 'referrer': '', 'search': '', 'title': PAGE_TITLE, 'url': url}}


def _script_json(value):
    """``value`` as a JavaScript expression inside an inline <script>, key order kept."""
    literal = json.dumps(json.dumps(value))
    return 'JSON.parse(%s)' % literal.replace('<', '\\u003c').replace('\u2028', '\\u2028').replace('\u2029', '\\u2029')


def stub_calls_script(api_name, calls):
    """An inline script making ``calls`` on the stub, before kmgen.min.js has loaded."""
    return ('<script>(function () { var api = window[%s], calls = %s;'
            ' for (var i = 0; i < calls.length; i++) api[calls[i][0]].apply(api, calls[i][1]); })();</script>'
            % (json.dumps(api_name), _script_json(calls)))


def ops_difference(calls, messages, device, expected, settings, mapper=map_call):
    """None when ``device`` (the whole _kmq of one form) equals ``expected`` (another form's),
    else the first differing op and the call it belongs to."""
    if device == expected:
        return None
    boundaries, position = [], 0
    for message in messages:
        position += len(mapper(message, settings))
        boundaries.append(position)
    for index in range(max(len(device), len(expected))):
        a = device[index] if index < len(device) else None
        b = expected[index] if index < len(expected) else None
        if portable.json_compact(a) != portable.json_compact(b):
            lead = len(expected) - (boundaries[-1] if boundaries else 0)   # the snippet's own page()
            call = next((i for i, end in enumerate(boundaries) if index - lead < end), None)
            where = ('call #%d %s' % (call, shown(calls[call]))
                     if call is not None and index >= lead and call < len(calls) else 'the initial page()')
            return 'op #%d differs (%s)\n  stub form:  %s\n  public API: %s' % (index, where, shown(a), shown(b))
    return None


PLUGIN_ENTRY = '''import { AnalyticsBrowser } from '@segment/analytics-next';
import plugin from %s;
window.kmgenStart = async function () {
  const [analytics] = await AnalyticsBrowser.load(
    {writeKey: 'kmgen-parity', cdnSettings: {integrations: {}}, plugins: [plugin]},
    {integrations: {'Segment.io': false}, disableClientPersistence: true});
  plugin._kmgen.debug = true;
  window.segment = analytics;
  window.kmgenPlugin = plugin;
  return true;
};
'''
PLUGIN_RUN = '''async (json) => {
  const calls = JSON.parse(json);
  await window.kmgenStart();
  const start = window._kmq.length;
  for (const [method, args] of calls) await window.segment[method](...args);
  return JSON.stringify({messages: window.kmgenPlugin._kmgen.messages, kmq: window._kmq.slice(start)});
}'''
# analytics-next's own signatures (screen takes a category, as page does).
SEGMENT_ARGS = {
    'identify': lambda c: [c.get('userId'), c.get('traits') or {}],
    'track': lambda c: [c.get('event'), c.get('properties') or {}],
    'page': lambda c: [c.get('category'), c.get('name'), c.get('properties') or {}],
    'screen': lambda c: [c.get('category'), c.get('name'), c.get('properties') or {}],
    'group': lambda c: [c.get('groupId'), c.get('traits') or {}],
    'alias': lambda c: [c.get('userId'), c.get('previousId')],
}


def segment_calls(cases):
    """(method, args) for the analytics-next calls that express ``cases``: track needs a
    non-empty event name and alias both ids (alias without one is checked on the wire)."""
    calls = []
    for call in cases:
        kind = call.get('type')
        if kind not in SEGMENT_ARGS or not isinstance(call.get('userId', ''), (str, type(None))):
            continue
        if kind == 'track' and not (isinstance(call.get('event'), str) and call['event']):
            continue
        if kind == 'alias' and not (isinstance(call.get('userId'), str) and call['userId']
                                    and isinstance(call.get('previousId'), str) and call['previousId']):
            continue
        if kind == 'identify' and not (isinstance(call.get('userId'), str) and call['userId']):
            continue
        calls.append([kind, SEGMENT_ARGS[kind](call)])
    return calls


def plugin_harness(plugin_path, out_dir, entry_source=PLUGIN_ENTRY):
    """Bundle ``plugin_path`` with the real @segment/analytics-next (esbuild) into a page
    script (``entry_source``, with ``%s`` for the plugin's import path); returns the bundle's
    path, or raises HarnessFailure saying what is missing."""
    import subprocess

    from .device.bundle import find_esbuild
    from .paths import project_root
    root = project_root()
    modules = root / 'node_modules' if root is not None else None
    if modules is None or not (modules / '@segment' / 'analytics-next').is_dir():
        raise HarnessFailure('@segment/analytics-next is not installed (run `npm ci` in the kmgen checkout)')
    entry = Path(out_dir) / 'plugin-entry.js'
    entry.write_text(entry_source % json.dumps(str(plugin_path)), encoding='utf-8')
    bundle_path = Path(out_dir) / 'plugin-harness.js'
    proc = subprocess.run([str(find_esbuild()), str(entry), '--bundle', '--format=iife', '--platform=browser',
                           '--target=es2018', '--log-level=error', '--define:process.env.NODE_ENV="production"',
                           '--outfile=' + str(bundle_path)],
                          capture_output=True, text=True, env={**os.environ, 'NODE_PATH': str(modules)})
    if proc.returncode != 0:
        raise HarnessFailure('esbuild could not bundle plugin.js with analytics-next: %s' % proc.stderr.strip()[:500])
    return bundle_path


def alias_target_problem(calls, messages):
    """The plugin must pass analytics.alias()'s own target on: None, or the first call whose
    message names another user (analytics-next stamps events with the current user)."""
    aliases = [args for method, args in calls if method == 'alias']
    sent = [m for m in messages if m.get('type') == 'alias']
    for args, message in zip(aliases, sent):
        if message.get('userId') != args[0]:
            return 'alias(%s) reached the rules as userId %s' % (
                ', '.join(json.dumps(a) for a in args), json.dumps(message.get('userId')))
    return None


def read_messages(path):
    """A site's recorded Segment/RudderStack messages (JSONL, gzip, or batch file), checked;
    any line that is not a valid message is an error naming it."""
    from .cloud.readers import parse, units
    from .errors import MessageError
    messages, rejects = [], []
    for line, raw, item in units(path):
        good, bad = parse(path, line, raw, item)
        messages.extend(message for _, _, message in good)
        rejects.extend(bad)
    if rejects:
        raise MessageError('%d message%s in %s cannot be used; fix or remove %s: %s' % (
            len(rejects), '' if len(rejects) == 1 else 's', path, 'it' if len(rejects) == 1 else 'them',
            '; '.join(r['error'] for r in rejects[:3])))
    if not messages:
        raise MessageError('%s holds no messages: give a JSONL file of Segment or RudderStack messages.' % path)
    return messages


class Harness:
    """One Chromium and the pages of every level, for one built site."""

    def __init__(self, browser, settings, files, stub_files, plugin_bundle):
        self.browser, self.settings, self.files = browser, settings, files
        self.stub_files, self.plugin_bundle = stub_files, plugin_bundle
        self.rules = config_rule_settings(settings)
        self.api_name = settings['api_name']
        self.api_results = {}

    def open(self, body, files, km_library='blocked', settings=None, extra=None):
        """A fresh context and page: ``body`` at ORIGIN/parity.html, the build's files served."""
        settings = settings or self.settings
        context, page, router = routed_page(self.browser, km_library)
        script = router.site(settings, files['kmgen.min.js'])
        for url, body_file in (extra or {}).items():
            router.file(url, body_file)
        errors = []
        page.on('pageerror', lambda exc: errors.append(str(exc)))
        page.clock.set_fixed_time(FIXED_TIME)
        page.goto(router.page(PAGE, html(body, title=PAGE_TITLE)))
        page.kmgen_router, page.kmgen_script, page.kmgen_errors = router, script, errors
        return context, page

    def ready(self, page, name=None):
        name = name or self.api_name
        try:
            page.wait_for_function(READY, arg=name, timeout=15000)
        except Exception:
            seen = page.kmgen_script in page.kmgen_router.log if page.kmgen_script else None
            raise HarnessFailure(
                'the integration never started on the test page: window.%s._kmgen.ready stayed unset%s%s' % (
                    name, '' if page.kmgen_script is None else
                    '; kmgen.min.js at %s was %s' % (page.kmgen_script, 'requested' if seen else 'never requested'),
                    '; page errors: %s' % '; '.join(page.kmgen_errors[:3]) if page.kmgen_errors else '')) from None

    def api(self, calls):
        key = json.dumps(calls)
        if key in self.api_results:   # the stub level compares against the same calls' public API run
            return self.api_results[key]
        context, page = self.open(self.files['snippet.html'].decode(), self.files)
        try:
            self.ready(page)
            result = json.loads(page.evaluate(RUN_CALLS, [self.api_name, json.dumps(calls)]))
        finally:
            context.close()
        self.api_results = {key: result}
        return result

    def stub(self, calls):
        files = self.stub_files
        body = files['snippet.html'].decode() + stub_calls_script(self.api_name, calls)
        context, page = self.open(body, files, settings=dict(self.settings, script_src=self.stub_src))
        try:
            self.ready(page)
            return json.loads(page.evaluate('() => JSON.stringify(window._kmq)'))
        finally:
            context.close()

    def plugin(self, calls):
        context, page = self.open('<script src="/plugin-harness.js"></script>', self.files,
                                  extra={ORIGIN + '/plugin-harness.js': self.plugin_bundle})
        try:
            page.wait_for_function('() => typeof window.kmgenStart === "function"', timeout=15000)
            return json.loads(page.evaluate(PLUGIN_RUN, json.dumps(calls)))
        finally:
            context.close()

    def message(self, messages):
        context, page = self.open(self.files['snippet.html'].decode(), self.files)
        try:
            self.ready(page)
            return json.loads(page.evaluate(SEND_MESSAGES, [self.api_name, json.dumps(messages)]))
        finally:
            context.close()

    def wire(self, messages):
        context, page = self.open(self.files['snippet.html'].decode(), self.files, km_library='double')
        try:
            self.ready(page)
            try:
                page.wait_for_function(TAKEN_OVER, timeout=15000)
            except Exception:
                library = [u for u in page.kmgen_router.log if u.split('?')[0].endswith('.2.js')]
                raise HarnessFailure('the Kissmetrics library double never took over _kmq (library requests: %s%s)' % (
                    ', '.join(library) or 'none',
                    '; page errors: %s' % '; '.join(page.kmgen_errors[:3]) if page.kmgen_errors else '')) from None
            json.loads(page.evaluate(SEND_MESSAGES, [self.api_name, json.dumps(messages)]))
            return json.loads(page.evaluate('JSON.stringify(KM.log)'))
        finally:
            context.close()


def config_rule_settings(settings):
    from . import config as config_module
    return config_module.rule_settings(settings)


def run(config_path, generated=600, seed=0, messages_path=None, levels=None):
    """Build ``config_path`` into a scratch directory and check every call type, in Chromium,
    at every level: the public API's _kmq, the stub form's (calls made before kmgen.min.js
    loads, against the public API's), plugin.js inside the real analytics-next, whole
    messages' _kmq, and the wire (the library double's beacons against the cloud's requests).

    Returns:
        (rows, problems, facts): rows are (call type, {level: (passed, cases)}) with passed
        None for a level that could not run (its reason in facts['skipped']); problems are the
        readable first differences, empty when everything matched; facts name the config,
        seed, counts and elapsed seconds.
    Raises:
        ParityError: the harness itself failed (the cause is in the message).
    """
    import tempfile
    import time

    from . import config as config_module
    from .device.build import render, build
    started = time.perf_counter()
    try:
        from playwright.sync_api import Error as PlaywrightError, sync_playwright
    except ImportError:
        raise ParityError("kmgen parity needs Playwright: pip install 'kmgen[parity]' (no browser "
                          "download: it drives Debian's Chromium at %s)." % CHROMIUM) from None
    settings = config_module.load(config=config_path)
    from .ruleset import load as load_rules
    rules = config_module.rule_settings(settings)
    site_rules = load_rules(settings)   # refuses rules outside the subset before Chromium starts

    def mapper(message, rule_settings):
        return site_rules.map(message, rule_settings, _quiet)
    recorded = read_messages(messages_path) if messages_path is not None else []
    cases = ([case['call'] for _, case in vectors() if not case.get('settings')]
             + generated_messages(generated, seed) + recorded)
    levels = [name for name, _ in LEVELS if levels is None or name in levels]
    rows, problems, skipped = [], [], {}
    stage = 'building the site'
    with tempfile.TemporaryDirectory(prefix='kmgen-parity-') as tmp:
        try:
            site, files = build(config_path, Path(tmp) / 'site')[:2]
            stub_settings = settings if settings['script_src'] is not None else dict(settings, script_src=STUB_SRC)
            stub_files = files if settings['script_src'] is not None else render(config_path, stub_settings)
            plugin_bundle = None
            if 'plugin' in levels:
                stage = 'bundling plugin.js with analytics-next'
                try:
                    plugin_bundle = plugin_harness(site / 'plugin.js', tmp)
                except HarnessFailure as err:
                    skipped['plugin'] = str(err)
            stage = 'starting Chromium'
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                harness = Harness(browser, settings, files, stub_files, plugin_bundle)
                harness.stub_src = stub_settings['script_src']
                for kind in CALL_TYPES:
                    kind_cases = [m for m in cases if m.get('type') == kind]
                    results = {}
                    for level in levels:
                        stage = '%s level, %s calls' % (level, kind)
                        if level in skipped:
                            results[level] = (None, 0)
                            continue
                        problem, count = _level(harness, level, kind_cases, rules, settings, mapper)
                        results[level] = (problem is None, count)
                        if problem is not None:
                            problems.append('%s, %s level: %s' % (kind, level, problem))
                    rows.append((kind, results))
                browser.close()
        except HarnessFailure as err:
            raise ParityError('harness failure (not a parity mismatch) while %s: %s.' % (stage, err)) from None
        except PlaywrightError as err:
            raise ParityError('harness failure (not a parity mismatch) while %s: Playwright: %s' % (
                stage, str(err).strip().splitlines()[0])) from None
    facts = {'config': str(config_path), 'seed': seed, 'generated': generated, 'recorded': len(recorded),
             'vectors': len(cases) - generated - len(recorded), 'skipped': skipped,
             'seconds': time.perf_counter() - started}
    return rows, problems, facts


def _level(harness, level, messages, rules, settings, mapper=map_call):
    """(problem or None, cases) for one level and one call type's messages."""
    if level == 'api':
        calls = api_calls(messages)
        result = harness.api(calls)
        return first_difference(result['messages'], result['kmq'], rules, mapper), len(calls)
    if level == 'stub':
        calls = api_calls(messages)
        reference = harness.api(calls)
        device = harness.stub(calls)
        return ops_difference(calls, reference['messages'], device, reference['all'], rules, mapper), len(calls)
    if level == 'plugin':
        calls = segment_calls(messages)
        result = harness.plugin(calls)
        problem = alias_target_problem(calls, result['messages'])
        return problem or first_difference(result['messages'], result['kmq'], rules, mapper), len(calls)
    if level == 'message':
        result = harness.message(messages)
        return first_difference(messages, result['kmq'], rules, mapper), len(messages)
    sendable = _with_identity(messages)
    log = harness.wire(sendable)
    sent = ([initial_page_message()] if settings['initial_page'] else []) + sendable
    return wire_difference(cloud_wire(sent, settings), device_wire(log)), len(sendable)


def table(rows, facts=None):
    """The parity table: a heading naming the config, seed and time, then call type x level,
    each cell 'pass (N)', 'FAIL (N)' or 'skipped'."""
    names = [name for name, _ in LEVELS if any(name in r for _, r in rows)]
    header = ['call'] + [label for name, label in LEVELS if name in names]
    lines = [header]
    for kind, results in rows:
        lines.append([kind] + ['skipped' if results[level][0] is None else
                               '%s (%d)' % ('pass' if results[level][0] else 'FAIL', results[level][1])
                               for level in names])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    body = '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)
    if facts is None:
        return body
    head = 'config %s | seed %d | %d generated, %d recorded, %d vector messages | %.1f s' % (
        facts['config'], facts['seed'], facts['generated'], facts['recorded'], facts['vectors'], facts['seconds'])
    notes = ''.join('\n%s level skipped: %s' % (level, reason) for level, reason in sorted(facts['skipped'].items()))
    return head + '\n' + body + notes
