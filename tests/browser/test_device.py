"""The generated integration in real Chromium (Debian's), every third-party host routed:
queue parity with the CPython rules, stub buffering, Tapstream, a blocked library, a
second snippet, hostile input, CSP nonces, and a page that adds nothing it should not."""

import json

import pytest

from kmgen import config
from kmgen.rules import map_call
from kmgen.parity import ORIGIN, RUN_CALLS, api_calls, html, run_in_page
from tests.browser.conftest import ALLOWED_GLOBALS, SNAPSHOT, snippet
from tests.conftest import API_KEY, CALL_CASES
from tests.parity import compare_ops

def expected_ops(messages, settings):
    ops = []
    for message in messages:
        ops.extend(map_call(message, settings))
    return ops


def open_site(server, page, site, body='', km='blocked', name='index.html', headers=None):
    server.km_library = km
    page.goto(server.page(name, html(snippet(site), body), headers))
    return page


def test_every_vector_through_the_public_api_matches_the_python_rules(server, watched, sites):
    open_site(server, watched, sites['plain'])
    calls = api_calls([c['call'] for _, c in CALL_CASES if not c.get('settings')])
    result = run_in_page(watched, RUN_CALLS, 'analytics', calls)
    settings = config.rule_settings(config.validate({'api_key': API_KEY, 'initial_page': False}))
    assert len(result['messages']) >= len(calls) - 10   # calls the API drops (no event name, ...) are few
    compare_ops(result['messages'], result['kmq'], settings)
    assert watched.kmgen_errors == []


def test_each_call_type_reaches_the_queue_with_its_data(server, watched, sites):
    open_site(server, watched, sites['plain'])
    calls = [['identify', ['u-1', {'name': 'Ada', 'n': {'a': 1, 'b': [1, {'x': 2}]}}]],
             ['track', ['Order Completed', {'revenue': '$1,000.50', 'products': [{'sku': 'A'}, {'sku': 'B'}]}]],
             ['page', ['Docs', {'url': 'https://kmgen.test/docs'}]],
             ['page', ['Help', 'FAQ', {}]],
             ['screen', ['Settings', {'tab': 'privacy'}]],
             ['group', ['g-1', {'name': 'Acme'}]],
             ['alias', ['new-id', 'old-id']]]
    result = run_in_page(watched, RUN_CALLS, 'analytics', calls)
    kinds = [[m['type'], m.get('userId'), m.get('event'), m.get('name'), m.get('category')] for m in result['messages']]
    assert kinds == [['identify', 'u-1', None, None, None], ['track', 'u-1', 'Order Completed', None, None],
                     ['page', 'u-1', None, 'Docs', None], ['page', 'u-1', None, 'FAQ', 'Help'],
                     ['screen', 'u-1', None, 'Settings', None], ['group', 'u-1', None, None, None],
                     ['alias', 'new-id', None, None, None]]
    page_props = result['messages'][2]['properties']
    assert page_props['url'] == 'https://kmgen.test/docs' and page_props['path'] == '/index.html'
    settings = config.rule_settings(config.validate({'api_key': API_KEY}))
    assert result['kmq'] == expected_ops(result['messages'], settings)
    ops = result['kmq']
    assert ops[0] == ['identify', 'u-1']
    assert ops[2][2]['Billing Amount'] == 1000.5 and ops[3][1]['_t'] + 1 == ops[4][1]['_t']
    assert ['alias', 'new-id', 'old-id'] == ops[-1]


def test_custom_settings_and_api_name(server, watched, sites):
    open_site(server, watched, sites['custom'])
    result = run_in_page(watched, RUN_CALLS, 'km', [['track', ['Signed Up', {'plan': 'pro'}]], ['group', ['g', {}]]])
    assert result['kmq'] == [['record', 'Signed Up', {'plan': 'pro'}], ['set', {'Team - id': 'g'}]]
    assert watched.evaluate('typeof window.analytics') == 'undefined'


def test_calls_before_the_integration_loads_are_buffered_in_order(server, watched, sites):
    site = sites['src']
    server.file('https://cdn.kmgen.test/kmgen.min.js', site / 'kmgen.min.js')
    early = ('<script>analytics.identify("u-9", {"plan": "pro"}); analytics.track("First");'
             'analytics.ready(function () { window.readyRan = KM.i(); });'
             'window.stubWasQueue = !analytics._kmgen.ready;</script>')
    open_site(server, watched, site, early, km='double')
    watched.wait_for_function('window.analytics._kmgen.ready === true')
    watched.evaluate('analytics.track("Second")')
    log = watched.evaluate('KM.log.filter(e => e[0] !== "beacon" && e[0] !== "rvs")')   # rvs: the library's Visited Site
    assert watched.evaluate('window.stubWasQueue') is True
    assert [entry[:2] for entry in log] == [['identify', 'u-9'], ['set', {'id': 'u-9', 'plan': 'pro'}],
                                            ['record', 'First'], ['record', 'Second']]
    assert watched.evaluate('window.readyRan') == 'u-9'
    script = next(url for url in server.log if url.startswith('https://cdn.kmgen.test/'))
    assert script == 'https://cdn.kmgen.test/kmgen.min.js'
    assert watched.kmgen_errors == []


def test_sri_mismatch_blocks_a_tampered_integration(server, watched, sites):
    site = sites['src']
    server.file('https://cdn.kmgen.test/kmgen.min.js', (site / 'kmgen.min.js').read_text() + '//tampered')
    open_site(server, watched, site, '<script>analytics.track("x")</script>')
    watched.wait_for_timeout(300)
    assert watched.evaluate('window.analytics._kmgen.ready') is None
    assert watched.evaluate('window._kmq.length') == 0


def test_tapstream_gets_the_kissmetrics_identity(server, watched, sites):
    server.km_library = 'double'
    watched.add_init_script('window.__kmDoubleIdentity = "km-visitor-42";')
    open_site(server, watched, sites['tapstream'], km='double')
    watched.wait_for_function('window.__tapstreamDouble !== undefined')
    assert watched.evaluate('window._tsq') == [['setAccountName', 'shop</script>&co'],
                                              ['addCustomParameter', 'km_identity', 'km-visitor-42'],
                                              ['fireHit', 'javascript_tracker', []]]
    assert watched.evaluate('window.__tapstreamDouble.loadedAfterWindowLoad') is True
    assert watched.evaluate('window.KM_COOKIE_DOMAIN') == '.kmgen.test'
    assert any(u.startswith('http://cdn.tapstream.com/static/js/tapstream.js') for u in server.log)
    assert watched.kmgen_errors == []


def test_the_library_urls_and_options(server, watched, sites):
    open_site(server, watched, sites['plain'], km='double')
    watched.wait_for_function('window.KM !== undefined')
    assert 'http://scripts.kissmetrics.io/%s.2.js' % API_KEY in server.log
    assert 'http://i.kissmetrics.io/i.js' in server.log
    assert watched.evaluate('[window._kmk, window.KM_SKIP_PAGE_VIEW]') == [API_KEY, 1]


def test_a_blocked_library_keeps_the_queue_and_throws_nothing(server, watched, sites):
    open_site(server, watched, sites['plain'], '<script>analytics.identify("u"); analytics.track("T", {"a": 1})</script>')
    watched.wait_for_timeout(200)
    assert watched.evaluate('window._kmq') == [['identify', 'u'], ['set', {'id': 'u'}], ['record', 'T', {'T - a': 1}]]
    assert watched.kmgen_errors == []


def test_a_second_snippet_neither_double_sends_nor_wipes_the_queue(server, watched, sites):
    site = sites['plain']
    server.km_library = 'blocked'
    watched.goto(server.page('twice.html', html(snippet(site), '<script>analytics.track("A")</script>',
                                                snippet(site), '<script>analytics.track("B")</script>')))
    assert watched.evaluate('window._kmq') == [['record', 'A', {}], ['record', 'B', {}]]
    assert any('included twice' in w for w in watched.kmgen_warnings)
    assert watched.kmgen_errors == []


def test_a_second_stub_snippet_is_ignored_too(server, watched, sites):
    site = sites['src']
    server.file('https://cdn.kmgen.test/kmgen.min.js', site / 'kmgen.min.js')
    server.km_library = 'blocked'
    watched.goto(server.page('twice-src.html', html(snippet(site), '<script>analytics.track("A")</script>',
                                                    snippet(site), '<script>analytics.track("B")</script>')))
    watched.wait_for_function('window.analytics._kmgen.ready === true')
    assert watched.evaluate('window._kmq') == [['record', 'A', {}], ['record', 'B', {}]]
    assert sum(1 for u in server.log if u.startswith('https://cdn.kmgen.test/')) == 1


def test_a_foreign_analytics_object_is_left_alone(server, watched, sites):
    server.km_library = 'blocked'
    watched.goto(server.page('foreign.html', html('<script>window.analytics = {mine: true};</script>', snippet(sites['plain']))))
    assert watched.evaluate('window.analytics') == {'mine': True}
    assert any('belongs to another library' in w for w in watched.kmgen_warnings)
    assert watched.kmgen_errors == []


HOSTILE = '''() => {
  const a = window.analytics, out = [];
  const circular = {name: 'loop'}; circular.self = circular; circular.list = [circular, 1];
  const getter = {ok: 1}; Object.defineProperty(getter, 'bad', {enumerable: true, get() { throw new Error('no'); }});
  const huge = {blob: 'x'.repeat(1 << 20), many: Array.from({length: 5000}, (_, i) => i)};
  const proto = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": "c", "prototype": 2, "hasOwnProperty": 3}');
  a.track('Circular', circular); a.track('Getter', getter); a.track('Huge', huge); a.track('Proto', proto);
  a.identify(proto); a.track(); a.track(null, 5); a.track({}); a.track('Sym', {s: Symbol('x'), b: 10n, f() {}});
  a.page(undefined, undefined, undefined); a.group(); a.alias(); a.screen(42); a.identify(NaN, 'x');
  a.track('Dates', {d: new Date(0), bad: new Date('nope')}); a.ready('not a function');
  a.track('Deep', JSON.parse('{"a":'.repeat(200) + '1' + '}'.repeat(200)));
  return {polluted: ({}).polluted === undefined, length: window._kmq.length,
          last: window._kmq[window._kmq.length - 2], proto: window._kmq.find(op => op[1] === 'Proto')};
}'''


def test_hostile_input_never_reaches_the_host_page(server, watched, sites):
    open_site(server, watched, sites['plain'])
    before = watched.evaluate(SNAPSHOT)
    result = watched.evaluate(HOSTILE)
    after = watched.evaluate(SNAPSHOT)
    assert watched.kmgen_errors == []
    assert result['polluted'] is True
    assert result['proto'] == ['record', 'Proto', {'Proto - __proto__.polluted': 1, 'Proto - constructor': 'c',
                                                   'Proto - prototype': 2, 'Proto - hasOwnProperty': 3}]
    assert result['last'] == ['record', 'Dates', {'Dates - d': 0}]
    assert before == after
    assert any('circular reference' in w for w in watched.kmgen_warnings)
    assert any('track() needs an event name' in w for w in watched.kmgen_warnings)


def test_the_snippet_adds_only_its_globals_and_patches_no_prototype(server, watched, sites):
    server.km_library = 'blocked'
    watched.goto(server.page('blank.html', html('')))
    before = watched.evaluate(SNAPSHOT)
    watched.goto(server.page('with.html', html(snippet(sites['tapstream']), '<script>analytics.track("x")</script>')))
    watched.wait_for_load_state('load')
    after = watched.evaluate(SNAPSHOT)
    added = set(after['globals']) - set(before['globals']) - {'__tapstreamDouble'}  # the test double's own
    assert added <= ALLOWED_GLOBALS | {'analytics'}
    assert {'_kmq', '_kmk', '_tsq', 'analytics'} <= added
    for name in ('Object', 'Array', 'String', 'Function', 'Number'):
        assert after[name] == before[name], name


@pytest.mark.parametrize('site_name', ['src', 'plain'])
def test_csp_nonce_is_honoured(server, watched, sites, site_name):
    site = sites[site_name]
    server.file('https://cdn.kmgen.test/kmgen.min.js', site / 'kmgen.min.js')
    tag = snippet(site).replace('<script>', '<script nonce="n0nce">')
    headers = {'content-security-policy': "script-src 'nonce-n0nce'"}
    server.km_library = 'double'
    watched.goto(server.page('csp.html', html(tag, '<script nonce="n0nce">analytics.track("Under CSP")</script>'),
                             headers))
    watched.wait_for_function('window.KM !== undefined && window.analytics._kmgen.ready === true')
    assert ['record', 'Under CSP', {}] in [e[:3] for e in watched.evaluate('KM.log')]
    assert watched.kmgen_errors == []


def test_csp_hash_from_the_manifest_allows_the_inline_snippet(server, watched, sites):
    site = sites['plain']
    csp = json.loads((site / 'manifest.json').read_text())['csp']['snippet_script']
    headers = {'content-security-policy': "script-src %s 'nonce-t'" % csp}
    server.km_library = 'blocked'
    watched.goto(server.page('hash.html', html(snippet(site), '<script nonce="t">analytics.track("H")</script>'), headers))
    assert watched.evaluate('window._kmq') == [['record', 'H', {}]]


def test_the_committed_shop_snippet_records_the_initial_page_view(server, watched, sites):
    open_site(server, watched, sites['shop'])
    kmq = watched.evaluate('window._kmq')
    assert kmq == [['record', 'Page View', {'Viewed URL': ORIGIN + '/index.html', 'Referrer': 'Direct'}]]


def test_mobile_browsers_set_mobile_session_once(server, browser, sites):
    context = browser.new_context(user_agent='Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148')
    context.route('**/*', server.handle)
    page = context.new_page()
    server.km_library = 'blocked'
    page.goto(server.page('m.html', html(snippet(sites['plain']), '<script>analytics.identify("u"); analytics.identify("u")</script>')))
    assert page.evaluate('window._kmq') == [['identify', 'u'], ['set', {'id': 'u'}], ['set', {'Mobile Session': 'Yes'}],
                                            ['identify', 'u'], ['set', {'id': 'u'}]]
    context.close()


def test_alias_without_previous_id_uses_the_kissmetrics_identity(server, watched, sites):
    watched.add_init_script('window.__kmDoubleIdentity = "km-anon-7";')
    open_site(server, watched, sites['plain'], '<script>analytics.alias("user-1")</script>', km='double')
    watched.wait_for_function('window.KM !== undefined')
    watched.evaluate('analytics.alias("user-2")')
    aliases = [e for e in watched.evaluate('KM.log') if e[0] == 'alias']
    assert aliases == [['alias', 'user-1', 'km-anon-7'], ['alias', 'user-2', 'km-anon-7']]


# -- issue 11: never hangs, never throws, every form, script_src failure, CSP -------------------

from bench.device import BOMBS  # noqa: E402  (the bench times these same inputs)

BOMB_CALL = '''([source]) => {
  const value = (0, eval)(source), start = window._kmq.length;
  const returned = window.analytics.track('Bomb', value) === window.analytics;
  const ops = window._kmq.slice(start);
  const props = ops.length === 1 ? ops[0][2] : null, names = props ? Object.keys(props) : [];
  return {returned, count: ops.length, name: ops[0] && ops[0][1], names: names.length, first: names[0] || null,
          value: names.length ? String(props[names[0]]).slice(0, 40) : null,
          length: names.length ? String(props[names[0]]).length : 0};
}'''
# What each bomb leaves on _kmq (one record), and its one warning.
BOMB_RESULTS = {
    '1e8-character string': (1, 'Bomb - s', 'x' * 40, 8192, 'cut: a string over 8192 code units'),
    '1e6-key object': (1000, 'Bomb - k0', '0', 1, 'cut: over 1000 properties'),
    '30-level DAG of shared objects': (1000, 'Bomb - ' + 'a.' * 30 + 'leaf', '1', 1,
                                       'cut: more than kmgen maps in one call'),
    'sparse array of length 2**32-1': (1, 'Bomb - list', ',' * 40, 8192, 'cut: an array over 8193 items'),
    '10,000-deep nesting': (0, None, None, 0, 'dropped: nested deeper than 32 levels'),
    'Proxy whose every trap throws': (0, None, None, 0, 'dropped: a value whose trap or toJSON threw (trap)'),
}


@pytest.mark.parametrize('bomb', sorted(BOMBS))
def test_a_bomb_returns_with_one_warning_and_what_the_limits_keep(server, watched, sites, bomb):
    open_site(server, watched, sites['plain'])
    result = watched.evaluate(BOMB_CALL, [BOMBS[bomb]])
    names, first, value, length, warning = BOMB_RESULTS[bomb]
    assert result == {'returned': True, 'count': 1, 'name': 'Bomb', 'names': names, 'first': first,
                      'value': value, 'length': length}
    assert watched.kmgen_warnings == ['[kmgen] track("Bomb"): %s.' % warning]
    assert watched.kmgen_errors == []


# Thrown values a catch block must describe without throwing again, and the places a page
# can make them fly from; every pair is tried.
THROWN = {
    'Symbol': "Symbol('s')",
    'prototype-less object': 'Object.create(null)',
    'throwing toString': "({toString() { throw new Error('t'); }})",
    'throwing message getter': "({get message() { throw Symbol('m'); }})",
    'Proxy': "new Proxy({}, {get() { throw Symbol('p'); }, has() { throw Symbol('h'); }})",
    'Error': "new Error('plain')",
}
PLACES = {
    'a getter in properties': "a.track('G', {ok: 1, get bad() { throw THROWN; }})",
    'a toJSON getter': "a.track('J', {ok: 1, d: {get toJSON() { throw THROWN; }}})",
    'an array length getter': "a.track('L', {list: new Proxy([1, 2], {get(t, k) { if (k === 'length') throw THROWN; return t[k]; }})})",
    'a Proxy as properties': "a.identify('u', new Proxy({}, {ownKeys() { throw THROWN; }}))",
    'a getter in page() properties': "a.page('P', {get url() { throw THROWN; }})",
    'a track() callback': "a.track('C', {}, {}, function () { throw THROWN; })",
    'a ready() callback': "a.ready(function () { throw THROWN; })",
    'a throwing console.warn': "(() => { const w = console.warn; console.warn = () => { throw THROWN; }; a.track(); console.warn = w; })()",
}
NEVER_THROWS = '''([places, thrown]) => {
  const a = window.analytics, escaped = [];
  for (const place of places) for (const value of thrown) {
    try { (0, eval)('(a) => { const THROWN = ' + value + '; return ' + place + '; }')(a); }
    catch (e) { escaped.push(place); }
  }
  return escaped;
}'''


def test_nothing_thrown_by_the_page_escapes_any_api_method_or_queued_function(server, watched, sites):
    open_site(server, watched, sites['plain'], km='double')
    watched.wait_for_function('window.KM !== undefined')
    before = watched.evaluate(SNAPSHOT)
    escaped = watched.evaluate(NEVER_THROWS, [list(PLACES.values()), list(THROWN.values())])
    watched.wait_for_timeout(100)   # callbacks run from setTimeout, ready() from the library's queue
    assert escaped == []
    assert watched.kmgen_errors == []
    assert watched.evaluate(SNAPSHOT) == before
    log = watched.evaluate('KM.log.filter(e => e[0] === "record").map(e => [e[1], e[2]])')
    assert log.count(['G', {'G - ok': 1}]) == len(THROWN) and log.count(['J', {'J - ok': 1}]) == len(THROWN)
    pages = [props for name, props in log if name == 'Viewed P Page']
    assert len(pages) == len(THROWN) and all(p['Page - url'] == ORIGIN + '/index.html' and p['Page - name'] == 'P' for p in pages)
    assert '[kmgen] a track("C") callback threw: plain' in watched.kmgen_warnings
    assert '[kmgen] track("G"): dropped: "bad", its getter threw (a value that cannot be printed).' in watched.kmgen_warnings


def test_warnings_name_the_call_by_its_event_or_page_name_cut_at_50_units(server, watched, sites):
    open_site(server, watched, sites['plain'])
    watched.evaluate("""() => {
      const bad = () => ({ok: 1, get bad() { throw new Error('no'); }});
      analytics.track('Order Completed', bad());
      analytics.page('Docs', 'Install', bad());
      analytics.identify('u1', bad());
      analytics.track('e'.repeat(80), bad());
      analytics._kmgen.send({type: {toString: null}, properties: bad()});
    }""")
    dropped = ': dropped: "bad", its getter threw (no).'
    assert watched.kmgen_warnings == [
        '[kmgen] track("Order Completed")' + dropped, '[kmgen] page("Install")' + dropped,
        '[kmgen] identify()' + dropped, '[kmgen] track("%s")%s' % ('e' * 50, dropped), '[kmgen] send()' + dropped]
    assert watched.kmgen_errors == []


GLOBALS_PAGE = '<script>analytics.track("x"); analytics.identify("u")</script>'


@pytest.mark.parametrize('form', ['inline', 'script_src stub'])
def test_every_form_adds_only_its_globals_and_patches_no_prototype(server, watched, sites, form):
    site = sites['plain' if form == 'inline' else 'src']
    server.file('https://cdn.kmgen.test/kmgen.min.js', site / 'kmgen.min.js')
    server.km_library = 'double'
    watched.goto(server.page('blank.html', html('')))
    before = watched.evaluate(SNAPSHOT)
    watched.goto(server.page('with.html', html(snippet(site), GLOBALS_PAGE)))
    watched.wait_for_function('window.analytics._kmgen.ready === true && window.KM !== undefined')
    after = watched.evaluate(SNAPSHOT)
    added = set(after['globals']) - set(before['globals']) - {'KM'}   # the library double's own
    assert added == {'_kmq', '_kmk', 'KM_SKIP_PAGE_VIEW', 'analytics'}
    for name in ('Object', 'Array', 'String', 'Function', 'Number'):
        assert after[name] == before[name], name


STUB_CALLS = ('<script>analytics.track("A", {}, {}, function () { window.trackDone = 1; });'
              'analytics.ready(function () { window.readyDone = 1; });</script>')
STUB_WARNING = ('[kmgen] https://cdn.kmgen.test/kmgen.min.js did not load: blocked (an ad blocker or a '
                'Content-Security-Policy without its host), an SRI mismatch (serve the kmgen.min.js built with this '
                'snippet), or a cross-origin host that does not send Access-Control-Allow-Origin. Calls stay queued; '
                'their callbacks ran.')


def test_a_script_src_that_fails_runs_the_buffered_callbacks_and_warns_once(server, watched, sites):
    open_site(server, watched, sites['src'], STUB_CALLS)   # the router aborts the unknown URL
    watched.wait_for_function('window.trackDone === 1 && window.readyDone === 1')
    watched.evaluate('analytics.track("B", {}, function () { window.lateDone = 1; })')
    assert watched.evaluate('window.lateDone') == 1
    assert [w for w in watched.kmgen_warnings if 'did not load' in w] == [STUB_WARNING]
    assert watched.evaluate('analytics._kmgen.queue.map(e => e[0])') == ['track', 'ready', 'track']
    assert watched.kmgen_errors == []


def test_a_script_src_that_never_answers_gives_up_after_the_wait(server, watched, sites, context):
    held = []
    context.route('https://cdn.kmgen.test/kmgen.min.js', lambda route: held.append(route))   # never answered
    watched.clock.install()
    server.km_library = 'blocked'
    watched.goto(server.page('held.html', html(snippet(sites['src']), STUB_CALLS)), wait_until='domcontentloaded')
    watched.clock.run_for(9000)
    assert watched.evaluate('window.trackDone') is None
    watched.clock.run_for(1500)
    watched.wait_for_function('window.trackDone === 1 && window.readyDone === 1')
    assert held and [w for w in watched.kmgen_warnings if 'did not load' in w] == [STUB_WARNING]


def test_a_root_relative_script_src_is_loaded_from_the_site(server, watched, sites):
    site = sites['root_src']
    server.file(ORIGIN + '/static/kmgen.min.js', site / 'kmgen.min.js')
    open_site(server, watched, site, '<script>analytics.track("Root")</script>')
    watched.wait_for_function('window.analytics._kmgen.ready === true')
    assert watched.evaluate('window._kmq') == [['record', 'Root', {}]]
    manifest = json.loads((site / 'manifest.json').read_text())
    assert manifest['csp']['sources']['script-src'][1] == "'self'"


def test_the_library_never_records_its_own_page_view_even_with_record_page_view_false(server, watched, sites):
    open_site(server, watched, sites['no_page_view'], km='double')
    watched.wait_for_function('window.KM !== undefined')
    assert watched.evaluate('window.KM_SKIP_PAGE_VIEW') == 1
    assert 'KM_SKIP_PAGE_VIEW=1' in (sites['no_page_view'] / 'snippet.html').read_text().replace('"', '').replace(' ', '')


@pytest.mark.parametrize('site_name', ['plain', 'src', 'tapstream'])
def test_the_manifest_policy_line_lets_the_snippet_load_everything_it_needs(server, watched, sites, site_name):
    site = sites[site_name]
    server.file('https://cdn.kmgen.test/kmgen.min.js', site / 'kmgen.min.js')
    manifest = json.loads((site / 'manifest.json').read_text())
    name, policy = manifest['csp']['policy'].split(': ', 1)
    assert name == 'Content-Security-Policy' and policy in snippet(site)
    policy = policy.replace('script-src ', "script-src 'nonce-t' ")   # for the test's own call below
    server.km_library = 'double'
    watched.goto(server.page('csp.html', html(snippet(site), '<script nonce="t">analytics.track("Under CSP")</script>'),
                             {'content-security-policy': policy}))
    watched.wait_for_function('window.KM !== undefined && window.analytics._kmgen.ready === true')
    watched.wait_for_function('KM.log.some(e => e[0] === "beacon")')
    watched.wait_for_timeout(100)
    assert any(path == '/e' and params.get('_n') == 'Under CSP' for path, params in server.beacons)
    if site_name == 'tapstream':
        watched.wait_for_function('window.__tapstreamDouble !== undefined')
    assert watched.kmgen_errors == []
