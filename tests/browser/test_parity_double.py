"""The Kissmetrics library double (tests/doubles/km_library_double.js) reproduces the real
library's documented behaviour, one test per fact; the wire level of the parity suite means
only what these facts make it mean. Each page loads the double the way a site loads
<key>.2.js, with a queue built before it, and no kmgen code at all."""

import json

import pytest

from kmgen.parity import ORIGIN, TAKEN_OVER, html
from tests.conftest import API_KEY

LIBRARY = 'http://scripts.kissmetrics.io/%s.2.js' % API_KEY
NOW = 1767323045   # 2026-01-02T03:04:05Z


def open_library(server, page, before='', after='', seed=None):
    """A page that builds _kmq (``before``, JS statements), loads the library, then runs ``after``."""
    server.km_library = 'double'
    page.clock.set_fixed_time('2026-01-02T03:04:05Z')
    if seed:
        page.add_init_script('window.__kmDoubleIdentity = %s;' % json.dumps(seed))
    page.goto(server.page('lib.html', html(
        '<script>window._kmk = %s; window._kmq = []; %s</script>' % (json.dumps(API_KEY), before),
        '<script src="%s"></script>' % LIBRARY, '<script>%s</script>' % after)))
    return page


def beacons(page):
    return [entry[2] for entry in page.evaluate('KM.log') if entry[0] == 'beacon']


SKIP_AUTO = 'window.KM_SKIP_PAGE_VIEW = 1; window.KM_SKIP_VISITED_SITE = 1;'


def test_queued_commands_run_at_load_in_order_then_each_push_at_once(server, watched):
    open_library(server, watched, SKIP_AUTO + '_kmq.push(["record", "First"]);'
                 '_kmq.push(function () { window.order = [typeof KM.i, "fn"]; }); _kmq.push(["noSuchCommand", 1]);')
    watched.wait_for_function(TAKEN_OVER)
    assert watched.evaluate('window.order') == ['function', 'fn']
    watched.evaluate('_kmq.push(["record", "Second", {"a": 1}])')
    assert beacons(watched) == [
        'http://trk.kissmetrics.com/e?_n=First&_k=%s&_p=km-double-anon-1&_t=%d' % (API_KEY, NOW),
        'http://trk.kissmetrics.com/e?a=1&_n=Second&_k=%s&_p=km-double-anon-1&_t=%d' % (API_KEY, NOW)]
    # Nothing is caught: what a command or a function throws reaches whoever pushed it.
    assert watched.evaluate('() => { try { _kmq.push(function () { throw new Error("boom"); }); return "swallowed"; }'
                            ' catch (e) { return e.message; } }') == 'boom'
    assert any(url.startswith('http://trk.kissmetrics.com/e?') for url in server.log)


def test_request_fields_a_p_property_wins_and_t_is_the_librarys(server, watched):
    open_library(server, watched, SKIP_AUTO, seed='anon-7')
    watched.wait_for_function(TAKEN_OVER)
    watched.evaluate('''() => {
      _kmq.push(["record", "Signed Up", {"plan": "pro", "_t": 5, "_d": 1}]);
      _kmq.push(["set", {"_p": "victim", "a": "b"}]);
      _kmq.push(["set", {"_p": "", "c": 1}]);
      _kmq.push(["alias", "new-id", "old-id"]);
    }''')
    assert beacons(watched) == [
        'http://trk.kissmetrics.com/e?plan=pro&_t=%d&_d=1&_n=Signed%%20Up&_k=%s&_p=anon-7' % (NOW, API_KEY),
        'http://trk.kissmetrics.com/s?_p=victim&a=b&_k=%s&_t=%d' % (API_KEY, NOW),
        'http://trk.kissmetrics.com/s?_p=anon-7&c=1&_k=%s&_t=%d' % (API_KEY, NOW),
        'http://trk.kissmetrics.com/a?_n=new-id&_p=old-id&_k=%s&_t=%d' % (API_KEY, NOW)]


def test_values_null_empty_arrays_joined_objects_and_functions_skipped(server, watched):
    open_library(server, watched, SKIP_AUTO, seed='a')
    watched.wait_for_function(TAKEN_OVER)
    watched.evaluate('''() => _kmq.push(["set", {"n": null, "list": [1, "x,y", null, [2, 3]], "obj": {"x": 1},
                                                  "fn": function () {}, "u": undefined, "t": true, "num": 1.5,
                                                  "k y&": "a&b=ü", "2": "two"}])''')
    assert beacons(watched) == [
        'http://trk.kissmetrics.com/s?2=two&n=&list=1%%2Cx%%2Cy%%2C%%2C2%%2C3&u=undefined&t=true&num=1.5'
        '&k%%20y%%26=a%%26b%%3D%%C3%%BC&_k=%s&_p=a&_t=%d' % (API_KEY, NOW)]


def test_a_lone_surrogate_after_load_loses_that_call(server, watched):
    open_library(server, watched, SKIP_AUTO, seed='a')
    watched.wait_for_function(TAKEN_OVER)
    thrown = watched.evaluate('() => { try { _kmq.push(["record", "E", {"s": "ok \\ud800"}]); return null; }'
                              ' catch (e) { return e.name + ": " + e.message; } }')
    assert thrown == 'URIError: URI malformed'
    watched.evaluate('_kmq.push(["record", "Next"])')
    assert [url.split('?')[1].split('&')[0] for url in beacons(watched)] == ['_n=Next']


def test_a_lone_surrogate_queued_before_load_stops_the_library_taking_over(server, watched):
    open_library(server, watched, SKIP_AUTO + '_kmq.push(["record", "Before"]); _kmq.push(["set", {"\\udc00": 1}]);'
                 '_kmq.push(["record", "Lost"]);', seed='a')
    watched.wait_for_load_state('load')
    assert watched.kmgen_errors == ['URI malformed']
    assert watched.evaluate('Array.isArray(window._kmq) && window._kmq.length') == 3
    watched.evaluate('_kmq.push(["record", "Later"])')
    assert [url.split('?')[1].split('&')[0] for url in beacons(watched)] == ['_n=Before']


def test_identify_aliases_an_anonymous_visitor_only(server, watched):
    open_library(server, watched, SKIP_AUTO, seed='anon-7')
    watched.wait_for_function(TAKEN_OVER)
    watched.evaluate('_kmq.push(["identify", "u-1"]); _kmq.push(["identify", "u-2"]); _kmq.push(["alias", "u-2", "u-2"])')
    assert beacons(watched) == ['http://trk.kissmetrics.com/a?_n=u-1&_p=anon-7&_k=%s&_t=%d' % (API_KEY, NOW)]
    assert watched.evaluate('KM.i()') == 'u-2'


def test_identify_before_any_anonymous_id_aliases_nothing(server, watched):
    open_library(server, watched, SKIP_AUTO)
    watched.wait_for_function(TAKEN_OVER)
    watched.evaluate('_kmq.push(["identify", "u-1"]); _kmq.push(["record", "E"])')
    assert beacons(watched) == ['http://trk.kissmetrics.com/e?_n=E&_k=%s&_p=u-1&_t=%d' % (API_KEY, NOW)]


@pytest.mark.parametrize('skips, names', [
    ('', ['Queued', 'Page View', 'Visited Site']),
    ('window.KM_SKIP_PAGE_VIEW = 1;', ['Queued', 'Visited Site']),
    ('window.KM_SKIP_VISITED_SITE = 1;', ['Queued', 'Page View']),
    (SKIP_AUTO, ['Queued']),
])
def test_the_library_records_its_own_page_view_and_visited_site_at_load(server, watched, skips, names):
    open_library(server, watched, skips + '_kmq.push(["record", "Queued"]);', seed='a')
    watched.wait_for_function(TAKEN_OVER)
    watched.wait_for_load_state('load')
    urls = beacons(watched)
    assert [dict(p.split('=') for p in url.split('?')[1].split('&'))['_n'].replace('%20', ' ') for url in urls] == names
    url = '%2F%2F127.0.0.1%3A9%2Flib.html'
    if 'Page View' in names:
        assert 'Viewed%%20URL=http%%3A%s&Referrer=Direct&_n=Page%%20View' % url in urls[names.index('Page View')]
    if 'Visited Site' in names:
        assert 'URL=http%%3A%s&Referrer=Direct&_n=Visited%%20Site' % url in urls[names.index('Visited Site')]
