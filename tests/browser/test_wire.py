"""Wire-level parity: the Kissmetrics-library double (tests/doubles/km_library_double.js, written
from the library's own source and docs) drains _kmq as the library does and fires image GETs to
trk.kissmetrics.com, which routing intercepts; they must equal the cloud sender's requests for
the same messages, by the rule that kmgen.parity.wire_difference documents (identity and time)."""

import json

from kmgen import config
from kmgen.parity import (SEND_MESSAGES, TAKEN_OVER, cloud_wire, device_wire, generated_messages, html,
                          run_in_page, wire_difference)
from tests.browser.conftest import snippet
from tests.conftest import API_KEY, CALL_CASES

SETTINGS = config.validate({'api_key': API_KEY, 'initial_page': False})


def with_identity(messages):
    """The cloud API needs an identity per request; give messages without one an anonymousId."""
    out = []
    for i, message in enumerate(messages):
        message = dict(message)
        if not message.get('userId') and not message.get('anonymousId'):
            message['anonymousId'] = 'anon-%d' % i
        out.append(message)
    return out


def run_wire(server, page, site, messages, body=''):
    server.km_library = 'double'
    page.goto(server.page('wire.html', html(snippet(site), body)))
    page.wait_for_function(TAKEN_OVER)
    run_in_page(page, SEND_MESSAGES, 'analytics', messages)
    log = json.loads(page.evaluate('JSON.stringify(KM.log)'))
    device = device_wire(log)
    # Every distinct beacon must reach the wire (Chromium serves a repeated image URL from its
    # memory cache, so identical beacons are counted once).
    wanted = {(path, tuple(sorted(params.items()))) for _, path, params, _ in device}
    for _ in range(200):
        seen = {(path, tuple(sorted(params.items()))) for path, params in server.beacons}
        if wanted <= seen:
            break
        page.wait_for_timeout(50)
    assert wanted <= seen, 'beacons never reached the wire: %s' % sorted(wanted - seen)[:3]
    assert {url.split('/')[2] for url in server.log if '/e?' in url or '/s?' in url} == {'trk.kissmetrics.com'}
    return device


def test_vectors_on_the_wire(server, watched, sites):
    messages = with_identity([c['call'] for _, c in CALL_CASES if not c.get('settings')])
    device = run_wire(server, watched, sites['plain'], messages)
    problem = wire_difference(cloud_wire(messages, SETTINGS), device)
    assert problem is None, problem
    assert len(device) > 150


def test_generated_messages_on_the_wire(server, watched, sites):
    messages = with_identity(generated_messages(300, seed=7))
    device = run_wire(server, watched, sites['plain'], messages)
    problem = wire_difference(cloud_wire(messages, SETTINGS), device)
    assert problem is None, problem


def test_a_changed_byte_on_the_wire_is_reported(server, watched, sites):
    messages = [{'type': 'track', 'event': 'Paid', 'anonymousId': 'a', 'properties': {'amount': 1.5}}]
    device = run_wire(server, watched, sites['plain'], messages)
    cloud = cloud_wire(messages, SETTINGS)
    assert wire_difference(cloud, device) is None
    cloud[0][2]['Paid - amount'] = '1.50'
    assert wire_difference(cloud, device) == (
        'request #0 differs\n  device: /e {"Paid - amount": "1.5", "_k": "%s", "_n": "Paid"}\n'
        '  cloud:  /e {"Paid - amount": "1.50", "_k": "%s", "_n": "Paid"}' % (API_KEY, API_KEY))


def test_product_lines_reach_the_wire_with_the_librarys_own_time(server, watched, sites):
    """The library stamps every request with KM.ts() (its source: b._t = KM.ts()), so in the
    browser a product line's own _t is replaced; its _d=1 goes as an ordinary property."""
    messages = [{'type': 'track', 'event': 'Order Completed', 'userId': 'u', 'timestamp': '2024-05-01T00:00:00Z',
                 'properties': {'total': 5, 'products': [{'sku': 'a'}, {'sku': 'b'}]}}]
    watched.clock.set_fixed_time('2026-01-02T03:04:05Z')
    device = run_wire(server, watched, sites['plain'], messages)
    assert [(p['_t'], p['_d']) for kind, path, p, _ in device if path == '/s'] == [('1767323045', '1')] * 2
    cloud = cloud_wire(messages, SETTINGS)
    assert [(p['_t'], p['_d']) for kind, path, p, _ in cloud if kind == 'product'] == [('1714521600', '1'),
                                                                                       ('1714521601', '1')]
    assert wire_difference(cloud, device) is None


def test_a_page_view_the_library_records_by_itself_is_reported(server, watched, sites):
    """With KM_SKIP_PAGE_VIEW unset the library records its own Page View at load: one
    request the cloud never sends."""
    device = run_wire(server, watched, sites['plain'], [], body='<script>window.KM_SKIP_PAGE_VIEW = 0;</script>')
    assert wire_difference([], device) == (
        'the device fired 1 requests, the cloud 0; the first extra (device): /e '
        '{"Referrer": "Direct", "Viewed URL": "http://127.0.0.1:9/wire.html", "_k": "%s", "_n": "Page View", '
        '"_p": "km-double-anon-1", "_t": "%s"}' % (API_KEY, device[-1][2]['_t']))


def test_a_request_filed_under_a_property_p_is_reported():
    cloud = [('set', '/s', {'_k': 'k', '_p': 'u-1', 'plan': 'pro', '_t': '1', '_d': '1'}, 'u-1')]
    device = [('set', '/s', {'plan': 'pro', '_k': 'k', '_p': 'victim', '_t': '2'}, 'u-1')]
    assert wire_difference(cloud, device) == (
        'request #0 is filed under another person\n  device: /s {"_k": "k", "_p": "victim", "_t": "2", "plan": "pro"}'
        ' has _p="victim", not its identity "u-1"')
    device[0][2]['_p'] = 'u-1'
    assert wire_difference(cloud, device) is None
