// TEST DOUBLE of the Kissmetrics JavaScript library (i.js + <key>.2.js). Not the real library:
// it reproduces, as written, the parts of it that decide what kmgen's ops become on the wire.
// Sources (cited by fact below):
//   [docs-js]   kissmetrics/km-support _posts/2013-04-19-javascript-specific.md (the _kmq API,
//               callback functions "executed once the KISSmetrics API is loaded", KM.i(), KM.ts())
//   [docs-tools] kissmetrics/km-support _posts/2010-01-05-using-dev-tools.md ("requests to
//               trk.kissmetrics.com": /e record, /a alias, /s set; _n, _k, _p, _t)
//   [docs-spec] kissmetrics/km-support _posts/2013-04-23-specifications.md (_k, _p, _n, _t, _d)
//   [docs-ids]  kissmetrics/km-support _posts/2012-10-19-javascript-identities.md ("When you
//               identify an anonymous user, it connects the anonymous ID with the named one")
//   [docs-auto] kissmetrics/km-support _posts/2012-10-19-javascript-settings.md (Visited Site
//               once per 30-minute session; Page View)
//   [src]       a public copy of the library's own source (an early build: KM_KEY,
//               doug1izaerwt3.cloudfront.net): KMQ.prototype.push, KM.x, KM.p, KM.identify,
//               KM.alias, KM.record, KM.set, KM.pageView, KM.rvs. The function names below are
//               the library's, so each can be read against it.
// Left out, because they send nothing on kmgen's test pages (no referrer, no km_/utm_ query
// parameters, no forms): the URL API, Referrer, Search Engine Hit, Ad Campaign Hit, form
// fields, trackClick/trackSubmit, A/B tests, `returning` (KM.tr), the cookie retry queue and
// cookies themselves (identities live in memory: window.__kmDoubleIdentity seeds the anonymous
// id, window.__kmDoubleNamed a named one; the vs session flag lasts one page load).
// Test bookkeeping, not the library: KM.double, and KM.log, which keeps every command the
// library was given (as JSON, when it was given) and every beacon as
// ['beacon', command, url, identity at that moment].
(function (w) {
  var TRK = 'http://trk.kissmetrics.com', TRK_SECURE = 'https://trk.kissmetrics.com';   // [src] KM.td/tds, [docs-tools]
  var anon = w.__kmDoubleIdentity || null;    // the km_ai cookie
  var named = w.__kmDoubleNamed || null;      // the km_ni cookie
  var current = null;                         // KM._i
  var visited = false;                        // the km_vs cookie (30 minutes)
  var anonCount = 0;
  var log = [];
  var command = null;

  function copy(value) {
    try { return value === undefined ? null : JSON.parse(JSON.stringify(value)); } catch (e) { return String(value); }
  }
  function logged(name, fn) {
    return function () {
      var outer = command === null;
      if (outer) { command = name; log.push([name].concat(copy(Array.prototype.slice.call(arguments)))); }
      try { return fn.apply(KM, arguments); } finally { if (outer) command = null; }
    };
  }

  var KM = {double: true, log: log};
  KM.ts = function () { return Math.round(new Date().getTime() / 1000); };   // [src] KM.ts
  KM.u = function () { return document.location + ''; };
  KM.rf = function () { return document.referrer; };
  // [src] KM.i: KM._i, else the named id, else the anonymous id, else a new anonymous id.
  KM.i = function () {
    if (current) return current;
    if ((current = named)) return current;
    if ((current = anon)) return current;
    anonCount += 1;
    current = anon = 'km-double-anon-' + anonCount;   // the real one: base64 of a random SHA-1
    return current;
  };
  // [src] KM.p: every own and inherited enumerable key; functions skipped, null -> '', an object
  // with a join function (an array) -> join(','), any other object skipped; every key and value
  // through encodeURIComponent, which throws URIError on a lone surrogate.
  KM.p = function (b) {
    var f = [], e, skip;
    for (var a in b) {
      e = b[a];
      skip = false;
      if (typeof e !== 'function') {
        if (e === null) e = '';
        else if (typeof e === 'object') {
          if (typeof e.join === 'function') e = e.join(',');
          else skip = true;
        }
        if (!skip) f.push(encodeURIComponent(a) + '=' + encodeURIComponent(e));
      }
    }
    return f.join('&');
  };
  // [src] KM.x: the properties object itself gets _k, then _p unless it has a truthy one
  // (so a `_p` property files the call under that person), then _t = KM.ts() (always: a
  // `_t` property is overwritten). No _d. One image GET.
  KM.x = function (path, b) {
    var key = w._kmk || w.KM_KEY;
    if (!key) return;
    if (!b || typeof b !== 'object') b = {};
    b._k = key;
    if (!b._p) b._p = KM.i();
    b._t = KM.ts();
    var params = KM.p(b);
    var url = (KM.u().toLowerCase().indexOf('https') === 0 ? TRK_SECURE : TRK) + '/' + path + '?' + params;
    log.push(['beacon', command, url, current || named || anon || null]);
    new Image(1, 1).src = url;
  };
  // [src] KM.identify: a null-like id clears the identity; an anonymous visitor (one with an
  // anonymous id and no named one) is aliased to the new id [docs-ids]; an already named one is not.
  KM.identify = logged('identify', function (a) {
    var nulls = ['null', 'nil', "'null'", "'nil'", '"null"', '"nil"', "''", '""'];
    for (var i = 0; i < nulls.length; i++) if (a == nulls[i]) { a = null; break; }
    if (!a) { KM.clearIdentity(); return; }
    if (named) anon = a;
    else if (anon) KM.alias(a, anon);
    named = a;
    current = a;
  });
  KM.clearIdentity = logged('clearIdentity', function () {
    current = null;
    if (named) anon = null;
    named = null;
  });
  // [src] KM.alias: nothing when both ids are equal (loosely); else /a with _n = the new id, _p = the old.
  KM.alias = logged('alias', function (a, b) {
    if (a != b) KM.x('a', {_n: a, _p: b});
  });
  // [src] KM.set: a non-object becomes {}; sent when it has one non-function value.
  KM.set = logged('set', function (b) {
    if (b) {
      if (typeof b !== 'object') b = {};
      for (var a in b) if (typeof b[a] !== 'function') { KM.x('s', b); break; }
    }
  });
  // [src] KM.record: (name, props), (name), (props) -> set; _n is written into the properties.
  KM.record = logged('record', function (c, a) {
    var e, b;
    if (c && a) { b = c; e = a; }
    else if (c && !a) { if (typeof c === 'string') { b = c; e = {}; } else e = c; }
    else if (!c && a) e = a;
    if (typeof e !== 'object') e = {};
    if (b) { e._n = b; KM.x('e', e); }
    else if (e) KM.set(e);
  });
  // [src] KM.pageView, run at load unless KM_SKIP_PAGE_VIEW [docs-auto].
  KM.pageView = function () {
    w._kmq.push(['record', 'Page View', {'Viewed URL': KM.u(), Referrer: KM.rf() || 'Direct'}]);
  };
  // [src] KM.rvs: Visited Site once per session, queued at load unless KM_SKIP_VISITED_SITE [docs-auto].
  KM.rvs = logged('rvs', function () {
    if (!visited) KM.record('Visited Site', {URL: KM.u(), Referrer: KM.rf() || 'Direct'});
    visited = true;
  });

  // [src] KMQ: arrays call KM[command](...args) (unknown commands are ignored), functions are
  // called; nothing is caught, so an exception reaches whoever pushed. The queue the page built
  // is replayed inside the constructor: an exception there leaves window._kmq the page's array,
  // and the library never takes the queue over [docs-js: "executed once ... loaded"].
  function KMQ(a) {
    this.r = 1;
    if (a && a.length) for (var b = 0; b < a.length; b++) this.push(a[b]);
  }
  KMQ.prototype.push = function (b) {
    if (b) {
      if (typeof b === 'object' && b.length) {
        var a = b.splice(0, 1);
        if (KM[a]) KM[a].apply(KM, b);
      } else if (typeof b === 'function') {
        b();
      }
    }
  };
  KM.ikmq = function () {
    if (!w._kmq.r) w._kmq = new KMQ(w._kmq);
  };

  w.KM = KM;
  if (typeof w._kmq === 'undefined') w._kmq = [];
  if (typeof w.KM_SKIP_PAGE_VIEW === 'undefined' || !w.KM_SKIP_PAGE_VIEW) KM.pageView();
  if (typeof w.KM_SKIP_VISITED_SITE === 'undefined' || !w.KM_SKIP_VISITED_SITE) w._kmq.push(['rvs']);
  // [src] KM.odr/KM.cdr: the queue is taken over once the document is ready.
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', KM.ikmq);
  else KM.ikmq();
})(window);
