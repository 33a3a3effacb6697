// TEST DOUBLE of the Kissmetrics JavaScript library (<key>.2.js). Not the real library:
// it does what the library does with _kmq, as far as kmgen's tests need. It drains the
// queue (arrays call KM[cmd](...args), functions are called), then replaces _kmq with an
// object whose push runs at once; KM.i() returns the current identity, KM.ts() the time;
// record/set/alias fire beacons to trk.kissmetrics.io/e|s|a, which the tests intercept;
// KM.log keeps every command and, as ['beacon', command, url], every beacon it fired.
(function (w) {
  var identity = w.__kmDoubleIdentity || 'km-double-anon-1';
  var log = [];
  var command = null;
  function beacon(path, fields, props) {
    var pairs = [['_k', w._kmk], ['_p', identity]];
    var key;
    for (key in fields) pairs.push([key, fields[key]]);
    pairs.push(['_t', String(KM.ts())], ['_d', '0']);
    for (key in props) {
      for (var i = pairs.length - 1; i >= 0; i--) if (pairs[i][0] === key) pairs.splice(i, 1);
      pairs.push([key, String(props[key])]);
    }
    var query = pairs.map(function (p) { return encodeURIComponent(p[0]) + '=' + encodeURIComponent(p[1]); });
    var url = 'https://trk.kissmetrics.io/' + path + '?' + query.join('&');
    log.push(['beacon', command, url]);
    new Image().src = url;
  }
  var KM = {
    double: true,
    log: log,
    i: function () { return identity; },
    ts: function () { return Math.floor(Date.now() / 1000); },
    identify: function (id) {
      log.push(['identify', id]);
      if (id && id !== identity) {
        beacon('a', {_n: id}, {});
        identity = id;
      }
    },
    set: function (props) { log.push(['set', props]); beacon('s', {}, props); },
    record: function (name, props) { log.push(['record', name, props]); beacon('e', {_n: name}, props || {}); },
    alias: function (to, from) {
      log.push(['alias', to, from]);
      var saved = identity;
      identity = from;
      beacon('a', {_n: to}, {});
      identity = saved;
    },
  };
  function run(item) {
    try {
      if (typeof item === 'function') item();
      else { command = item[0]; KM[item[0]].apply(KM, item.slice(1)); }
    } catch (e) {
      log.push(['error', String(e)]);
    }
  }
  var pending = w._kmq || [];
  w.KM = KM;
  w._kmq = {push: function () { for (var i = 0; i < arguments.length; i++) run(arguments[i]); }};
  for (var i = 0; i < pending.length; i++) run(pending[i]);
})(window);
