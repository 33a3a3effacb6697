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
