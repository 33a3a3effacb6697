"""plugin.js registered with the real @segment/analytics-next (from npm, bundled by the
pinned esbuild): each call's context event reaches _kmq as the Python rules map it, and the
three device forms (inline snippet, script_src stub + kmgen.min.js, plugin.js) give the
Kissmetrics library the same commands for the same calls, made before or after loading."""

import json

import pytest

from kmgen import config
from kmgen.parity import ORIGIN, PLUGIN_ENTRY, PLUGIN_RUN, SEGMENT_ARGS, TAKEN_OVER, html, plugin_harness
from tests.browser.conftest import snippet
from tests.conftest import API_KEY, CALL_CASES
from tests.parity import compare_ops

EARLY = PLUGIN_ENTRY + '''
window.kmgenEarly = function (calls) {
  const analytics = AnalyticsBrowser.load(
    {writeKey: 'kmgen-early', cdnSettings: {integrations: {}}, plugins: [plugin]},
    {integrations: {'Segment.io': false}, disableClientPersistence: true});
  for (const [method, args] of calls) analytics[method](...args);
};
'''


@pytest.fixture(scope='module')
def harness(tmp_path_factory, sites):
    return plugin_harness(sites['plain'] / 'plugin.js', tmp_path_factory.mktemp('analytics-next'), EARLY)


def open_harness(server, page, harness, km='blocked', body=''):
    server.km_library = km
    server.file(ORIGIN + '/harness.js', harness)
    page.goto(server.page('segment.html', html('<script src="/harness.js"></script>', body)))


def run(page, calls):
    return json.loads(page.evaluate(PLUGIN_RUN, json.dumps(calls)))


def test_analytics_next_calls_reach_the_queue_as_the_rules_map_them(server, watched, harness):
    open_harness(server, watched, harness)
    calls = [[c['call']['type'], SEGMENT_ARGS[c['call']['type']](c['call'])] for _, c in CALL_CASES
             if c['call'].get('type') in SEGMENT_ARGS and not c.get('settings')
             and (c['call']['type'] != 'track' or isinstance(c['call'].get('event'), str) and c['call']['event'])
             and (c['call']['type'] != 'alias' or c['call'].get('userId') and c['call'].get('previousId'))]
    result = run(watched, calls)
    settings = config.rule_settings(config.validate({'api_key': API_KEY}))
    assert len(result['messages']) == len(calls)
    compare_ops(result['messages'], result['kmq'], settings)
    assert watched.kmgen_errors == []


def test_analytics_next_event_fields_arrive_in_the_message(server, watched, harness):
    open_harness(server, watched, harness)
    result = run(watched, [['alias', ['u-1', 'anon-1']], ['identify', ['u-1', {'plan': 'pro'}]],
                           ['track', ['Order Completed', {'total': 20, 'products': [{'sku': 'A'}]}]],
                           ['page', ['Help', 'FAQ', {}]], ['group', ['g-1', {'name': 'Acme'}]]])
    alias, identify, track, page, group = result['messages']
    assert identify['userId'] == 'u-1' and identify['traits'] == {'plan': 'pro'} and identify['anonymousId']
    assert track['event'] == 'Order Completed' and track['timestamp'].endswith('Z')
    assert page['name'] == 'FAQ' and page['category'] == 'Help' and page['properties']['url'] == ORIGIN + '/segment.html'
    assert group['groupId'] == 'g-1' and alias['previousId'] == 'anon-1'
    kmq = result['kmq']
    assert kmq[0] == ['alias', 'u-1', 'anon-1'] and kmq[1] == ['identify', 'u-1']
    assert kmq[3][:2] == ['record', 'Order Completed']
    assert kmq[4][1]['Order Completed - sku'] == 'A' and kmq[4][1]['_d'] == 1
    assert kmq[-1] == ['set', {'Group - id': 'g-1', 'Group - name': 'Acme'}]


def test_alias_after_identify_keeps_its_target(server, watched, harness):
    """analytics-next stamps the alias event with the current user ('cust-42'); the plugin
    passes the alias() call's own target on, never a self-alias."""
    open_harness(server, watched, harness)
    result = run(watched, [['identify', ['cust-42', {}]], ['alias', ['ada@example.test', 'cust-42']],
                           ['alias', ['bob@example.test', 'anon-3']]])
    assert [op for op in result['kmq'] if op[0] == 'alias'] == [['alias', 'ada@example.test', 'cust-42'],
                                                                ['alias', 'bob@example.test', 'anon-3']]
    assert watched.kmgen_warnings == []


# The same calls in every form; alias without a previous id takes the library's KM.i().
CALLS = [['identify', ['cust-42', {'plan': 'pro'}]], ['track', ['Signed Up', {'seats': 3}]],
         ['alias', ['ada@example.test', 'cust-42']], ['alias', ['bob@example.test']],
         ['group', ['g-1', {'name': 'Acme'}]], ['track', ['Done']]]
KMGEN_COMMANDS = '''() => JSON.stringify(KM.log.filter(e => e[0] !== 'beacon' && e[0] !== 'rvs'))'''
DONE = '''() => window.KM && KM.log.some(e => e[0] === 'record' && e[1] === 'Done')
                      && KM.log.some(e => e[0] === 'alias' && e[1] === 'bob@example.test')'''


def calls_script(api, calls):
    return '<script>%s</script>' % ''.join('%s.%s(%s);' % (api, method, ', '.join(json.dumps(a) for a in args))
                                            for method, args in calls)


def library_commands(page):
    page.wait_for_function(DONE)
    page.wait_for_function(TAKEN_OVER)
    return json.loads(page.evaluate(KMGEN_COMMANDS))


def inline_form(server, page, sites, early):
    server.km_library = 'double'
    page.goto(server.page('form.html', html(snippet(sites['plain']), calls_script('analytics', CALLS) if early else '')))
    if not early:
        page.wait_for_function(TAKEN_OVER)
        page.evaluate(calls_script('analytics', CALLS)[8:-9])
    return library_commands(page)


def stub_form(server, page, sites, early):
    site = sites['src']
    server.file('https://cdn.kmgen.test/kmgen.min.js', site / 'kmgen.min.js')
    server.km_library = 'double'
    page.goto(server.page('form.html', html(snippet(site), calls_script('analytics', CALLS) if early else '')))
    if not early:
        page.wait_for_function('() => window.analytics._kmgen.ready === true')
        page.wait_for_function(TAKEN_OVER)
        page.evaluate(calls_script('analytics', CALLS)[8:-9])
    return library_commands(page)


def plugin_form(server, page, harness, early):
    open_harness(server, page, harness, km='double')
    if early:
        page.evaluate('(json) => window.kmgenEarly(JSON.parse(json))', json.dumps(CALLS))
    else:
        page.evaluate('window.kmgenStart()')
        page.wait_for_function(TAKEN_OVER)
        page.evaluate('async (json) => { for (const [m, a] of JSON.parse(json)) await window.segment[m](...a); }',
                      json.dumps(CALLS))
    return library_commands(page)


@pytest.mark.parametrize('early', [True, False], ids=['before-load', 'after-load'])
def test_every_form_gives_the_library_the_same_commands(server, browser, sites, harness, early):
    commands = {}
    for form in ('inline', 'stub', 'plugin'):
        context = browser.new_context()
        server.beacons.clear()
        context.route('**/*', server.handle)
        page = context.new_page()
        page.kmgen_warnings = []
        page.on('console', lambda msg: page.kmgen_warnings.append(msg.text) if msg.type == 'warning' else None)
        if form == 'inline':
            commands[form] = inline_form(server, page, sites, early)
        elif form == 'stub':
            commands[form] = stub_form(server, page, sites, early)
        else:
            commands[form] = plugin_form(server, page, harness, early)
        assert page.kmgen_warnings == [], (form, page.kmgen_warnings)
        context.close()
    if early:
        # alias() without a previous id waits for KM.i(): a function on _kmq. The library runs the
        # queue it finds in order, and what such a function pushes while it does goes to the end
        # of that queue, so that alias lands wherever the library's load falls in each form.
        later = ['alias', 'bob@example.test', 'cust-42']
        for form in commands:
            assert commands[form].count(later) == 1, (form, commands[form])
            commands[form].remove(later)
            commands[form].insert(4, later)
    assert commands['inline'] == [
        ['identify', 'cust-42'], ['set', {'id': 'cust-42', 'plan': 'pro'}], ['record', 'Signed Up', {'Signed Up - seats': 3}],
        ['alias', 'ada@example.test', 'cust-42'], ['alias', 'bob@example.test', 'cust-42'],
        ['set', {'Group - id': 'g-1', 'Group - name': 'Acme'}], ['record', 'Done', {}]]
    assert commands['stub'] == commands['inline']
    if early:
        # analytics-next replays the calls it buffered before loading without waiting for each
        # (its methods take different numbers of async steps), so their order is its own.
        key = json.dumps
        assert sorted(commands['plugin'], key=key) == sorted(commands['inline'], key=key)
    else:
        assert commands['plugin'] == commands['inline']
