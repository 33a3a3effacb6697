// kmgen js_runtime/device.js: the device-mode boundary shared by the standalone
// integration and the analytics-next plugin. It turns whatever a page passes into a plain
// JSON message (what the vectors describe), runs the transpiled rules and pushes the ops
// onto window._kmq. It never throws into the page and touches no built-in prototype.

import { map_call } from './mapping.js';

var MOBILE = /Android|BlackBerry|iPhone|iPad|iPod|Opera Mini|IEMobile/i;
var MAX_DEPTH = 64;

export function warn(message) {
  try {
    if (typeof console !== 'undefined' && console.warn) console.warn('[kmgen] ' + message);
  } catch (e) { /* a console that throws is not our problem */ }
}

// JSON.parse(JSON.stringify(value)) without its failure modes: circular references and
// getters that throw drop only the offending key (with one warning), never the call.
export function plain(value, problems) {
  var seen = [];
  function walk(v, depth) {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') return isFinite(v) ? v : null;
    if (typeof v !== 'object') return undefined;
    if (typeof v.toJSON === 'function') {
      try { v = v.toJSON(); } catch (e) { problems.push('toJSON threw'); return undefined; }
      if (v === null || typeof v !== 'object') return walk(v, depth);
    }
    if (depth > MAX_DEPTH) { problems.push('nested deeper than ' + MAX_DEPTH); return undefined; }
    for (var s = 0; s < seen.length; s++) {
      if (seen[s] === v) { problems.push('circular reference'); return undefined; }
    }
    seen.push(v);
    var out, i, item;
    if (Array.isArray(v)) {
      out = [];
      for (i = 0; i < v.length; i++) {
        item = walk(read(v, i), depth + 1);
        out.push(item === undefined ? null : item);
      }
    } else {
      out = {};
      var names = Object.keys(v);
      for (i = 0; i < names.length; i++) {
        item = walk(read(v, names[i]), depth + 1);
        if (item !== undefined) {
          Object.defineProperty(out, names[i], {value: item, enumerable: true, writable: true, configurable: true});
        }
      }
    }
    seen.pop();
    return out;
  }
  function read(obj, key) {
    try { return obj[key]; } catch (e) { problems.push('getter for ' + JSON.stringify(String(key)) + ' threw'); return undefined; }
  }
  return walk(value, 0);
}

// Ops hold the rules' prototype-free objects, whose values are flat (strings, numbers,
// booleans); hand the library ordinary objects with the same own keys ("__proto__" too).
function ordinary(op) {
  var out = op.slice();
  var props = out[out.length - 1];
  if (props !== null && typeof props === 'object') {
    var copy = {}, names = Object.keys(props);
    for (var i = 0; i < names.length; i++) {
      if (names[i] === '__proto__') {
        Object.defineProperty(copy, '__proto__', {value: props.__proto__, enumerable: true, writable: true, configurable: true});
      } else {
        copy[names[i]] = props[names[i]];
      }
    }
    out[out.length - 1] = copy;
  }
  return out;
}

export function queue() {
  var w = window;
  if (!w._kmq || typeof w._kmq.push !== 'function') w._kmq = [];
  return w._kmq;
}

export function isMobile() {
  try { return MOBILE.test(navigator.userAgent || ''); } catch (e) { return false; }
}

// Map one message with the rules and push its ops. Returns the ops pushed. With
// state.debug set (tests, `kmgen parity`), the normalised message is kept in state.messages.
export function send(message, settings, label, state) {
  var problems = [];
  var call = plain(message, problems);
  if (problems.length) warn(label + ': dropped what could not be serialized (' + problems[0] + ').');
  if (state && state.debug) state.messages.push(call);
  var ops = map_call(call, settings);
  var q = queue();
  for (var i = 0; i < ops.length; i++) q.push(ordinary(ops[i]));
  return ops;
}

// alias() without a previousId: the current Kissmetrics identity, KM.i(), as soon as the
// library has it (functions on _kmq run once it loads), never undefined.
export function aliasToCurrentIdentity(userId, settings, label, state) {
  var w = window;
  function run() {
    var current = w.KM && typeof w.KM.i === 'function' ? w.KM.i() : null;
    if (current === null || current === undefined || current === '') {
      warn(label + ': no Kissmetrics identity to alias from; pass a previousId.');
      return;
    }
    send({type: 'alias', userId: userId, previousId: current}, settings, label, state);
  }
  if (w.KM && typeof w.KM.i === 'function') run();
  else queue().push(run);
}

export function pageDefaults() {
  var d = document, l = window.location;
  var canonical = d.querySelector ? d.querySelector('link[rel="canonical"]') : null;
  var href = canonical && canonical.getAttribute('href');
  return {
    path: l.pathname,
    referrer: d.referrer,
    search: l.search,
    title: d.title,
    url: href ? (href.indexOf('?') > -1 ? href : href + l.search) : l.href.replace(/#.*$/, ''),
  };
}
