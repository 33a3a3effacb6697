// The floor: a hand-minimal device integration in plain JavaScript, written for this
// benchmark. Push-only, "<event> - " prefixing and one-level flattening; no revenue, no
// products, no dates, no cleaning, no stub queue, no error handling. Nothing real should
// ship this; it is what "as small and fast as possible" looks like.
(function (w, d) {
  var q = w._kmq = w._kmq || [];
  w._kmk = w._kmk || 'KEY';
  function load(u) { var s = d.createElement('script'); s.async = true; s.src = u; d.head.appendChild(s); }
  load('//i.kissmetrics.io/i.js');
  load('//scripts.kissmetrics.io/' + w._kmk + '.2.js');
  function flat(o, pre) {
    var out = {};
    for (var k in o) {
      var v = o[k];
      if (v && typeof v === 'object' && !Array.isArray(v)) for (var j in v) out[pre + k + '.' + j] = v[j];
      else out[pre + k] = v;
    }
    return out;
  }
  w.floor = {
    identify: function (id, traits) { if (id) q.push(['identify', id]); if (traits) q.push(['set', flat(traits, '')]); },
    track: function (event, props) { q.push(['record', event, flat(props || {}, event + ' - ')]); },
    page: function (name, props) { if (name) q.push(['record', 'Viewed ' + name + ' Page', flat(props || {}, 'Page - ')]); },
    group: function (id, traits) { var t = flat(traits || {}, 'Group - '); t['Group - id'] = id; q.push(['set', t]); },
    alias: function (to, from) { q.push(['alias', to, from]); },
  };
})(window, document);
