// kmgen js_runtime/device.js: the device-mode boundary shared by the standalone
// integration and the analytics-next plugin. It copies whatever a page passes into a plain
// JSON-like message within the rules' limits (docs/mapping.md), before anything unbounded
// is walked, runs the transpiled rules and pushes the ops onto window._kmq. Nothing here
// throws into the page, whatever it is given (thrown Symbols, Proxies, throwing getters),
// and no built-in prototype is touched.

import { map_call } from './mapping.js';
import { Dict } from './runtime.js';

export { Dict };

// The rules' limits (containers past level 32, 1,000 properties per op, 8,192-unit strings)
// plus a margin, so that the rules, not the boundary, make every cut of an input within
// them: containers past DEPTH, properties of one object past PROPS (not counting null ones),
// array items past ITEMS (enough for an 8,192-unit joined string) and string units past TEXT
// (the rules' cut looks one unit past its limit) are dropped. WORK bounds the whole call: one
// unit per value or property, one per 32 code units of a string.
var DEPTH = 34, PROPS = 1000, ITEMS = 8193, TEXT = 8193, NAME = 65536, WORK = 60000;

export function warn(message) {
  try { console.warn('[kmgen] ' + message); } catch (e) { /* a console that throws is not our problem */ }
}

// What was thrown, as text, without ever throwing again (Symbols, prototype-less objects,
// throwing toString or message getters, Proxies).
export function describe(thrown) {
  try {
    var text = String(thrown !== null && typeof thrown === 'object' && 'message' in thrown ? thrown.message : thrown);
    return text.length > 200 ? text.slice(0, 200) + '...' : text;
  } catch (e) {
    return 'a value that cannot be printed';
  }
}

// Runs fn(); whatever it throws becomes one warning "<what>: <thrown>".
export function guard(fn, what) {
  try { return fn(); } catch (e) { warn(what + ': ' + describe(e)); }
}

// A call as its warnings name it: track("Order Completed"), page("Docs"), identify(), the
// name cut at 50 units. Given only messages the boundary built or copied (no getters, no
// Proxies), and reading only their strings, so it never throws.
export function label(call) {
  var name = call.event || call.name;
  return (typeof call.type === 'string' ? call.type : 'send') + '(' + (typeof name === 'string' ? JSON.stringify(name.slice(0, 50)) : '') + ')';
}

// JSON.parse(JSON.stringify(value)) with the limits above and without its failure modes:
// a getter, trap or toJSON that throws, a circular reference, or a limit drops only that
// value, and the first reason waits in `pending` for the call's one warning. Objects come
// out prototype-free (so "__proto__" is just a key); null stays null (the rules decide what
// it means), undefined members are left out, as JSON.stringify does. Module state, saved
// and restored by copy(), since a getter may call the API again.
var stack = [], work = 0, problem = '', pending = '';

function note(why) {
  if (!problem) problem = why;
}

function walk(v, depth) {
  var t = typeof v;
  if (t === 'string') {
    // Names and ids (the message's own fields) are never cut by the rules: past NAME the
    // field is dropped, not cut, so no page sends a name the cloud would not.
    if (depth < 2 && v.length > NAME) { note('dropped: a name over ' + NAME + ' code units'); return undefined; }
    if (depth > 1 && v.length > TEXT) v = v.slice(0, TEXT);
    work -= 1 + (v.length >> 5);
    return v;
  }
  if (t === 'number') return isFinite(v) ? v : null;
  if (t === 'boolean' || v === null) return v;
  if (t !== 'object') return undefined;
  if (--work < 0) { note('cut: more than kmgen maps in one call'); return undefined; }
  if (depth > DEPTH) { note('dropped: nested deeper than 32 levels'); return undefined; }
  var mark = stack.length, out, i, item, n, key;
  try {
    if (typeof v.toJSON === 'function') {
      v = v.toJSON();
      if (v === null || typeof v !== 'object') return walk(v, depth);
    }
    for (i = 0; i < mark; i++) {
      if (stack[i] === v) { note('dropped: a circular reference'); return undefined; }
    }
    stack.push(v);
    if (Array.isArray(v)) {
      out = [];
      n = v.length;
      if (n > ITEMS) { note('cut: an array over ' + ITEMS + ' items'); n = ITEMS; }
      for (i = 0; i < n && work > 0; i++) {
        item = walk(v[i], depth + 1);
        out.push(item === undefined ? null : item);
      }
    } else {
      out = new Dict();
      var names = Object.keys(v);
      n = 0;
      for (i = 0; i < names.length && --work > 0; i++) {
        key = names[i];
        if (key.length > TEXT) { note('dropped: a property name over 8192 code units'); continue; }
        try { item = v[key]; } catch (e) { note('dropped: ' + JSON.stringify(key.slice(0, 50)) + ', its getter threw (' + describe(e) + ')'); continue; }
        item = walk(item, depth + 1);
        if (item === undefined) continue;
        if (item !== null && ++n > PROPS) { note('cut: over 1000 properties'); break; }
        out[key] = item;
      }
    }
    stack.pop();
    return out;
  } catch (e) {
    stack.length = mark;
    note('dropped: a value whose trap or toJSON threw (' + describe(e) + ')');
    return undefined;
  }
}

// `value` copied within the limits; what had to be dropped waits for send()'s warning.
// `depth` is the value's level in its message (0 for the message, 1 for its properties).
export function copy(value, depth) {
  var base = stack.length, savedWork = work, savedProblem = problem;
  work = WORK;
  problem = '';
  try {
    value = walk(value, depth || 0);
    if (work <= 0) note('cut: more than kmgen maps in one call');
    pending = pending || problem;
    return value;
  } finally {
    if (stack.length !== base) stack.length = base;   // only after a throw: a length write is slow in V8
    work = savedWork;
    problem = savedProblem;
  }
}

// Ops hold the rules' prototype-free objects, whose values are flat (strings, numbers,
// booleans); hand the library ordinary objects with the same own keys ("__proto__" too).
function ordinary(op) {
  var props = op[op.length - 1];
  if (props === null || typeof props !== 'object') return op;
  var out = {};
  for (var k in props) {
    if (k === '__proto__') Object.defineProperty(out, k, {value: props[k], enumerable: true, writable: true, configurable: true});
    else out[k] = props[k];
  }
  op[op.length - 1] = out;
  return op;
}

export function assign(target, source) {
  var names = source !== null && typeof source === 'object' && !Array.isArray(source) ? Object.keys(source) : [];
  for (var i = 0; i < names.length; i++) target[names[i]] = source[names[i]];
  return target;
}

export function queue() {
  var w = window;
  if (!w._kmq || typeof w._kmq.push !== 'function') w._kmq = [];
  return w._kmq;
}

export var mobile = /Android|BlackBerry|iPhone|iPad|iPod|Opera Mini|IEMobile/i.test(navigator.userAgent);

// Map one normalised call with the rules and push its ops; one warning, naming the call,
// says the first thing the copy or the rules dropped or cut (the rules note theirs in
// settings.notes; an opt-out is the page's own choice, not worth a warning). With
// state.debug set (tests, `kmgen parity`), the call is kept in state.messages.
export function send(call, settings, state) {
  if (state.debug) state.messages.push(call);
  var notes = settings.notes, ops = map_call(call, settings), q = queue(), why = pending || notes[0] || '';
  pending = '';
  if (notes.length) notes.length = 0;
  if (why && why.indexOf('opted out') < 0) warn(label(call) + ': ' + why + '.');
  for (var i = 0; i < ops.length; i++) q.push(ordinary(ops[i]));
}

// A whole Segment/RudderStack-shaped message (a server's, or analytics-next's event): copied
// within the limits, then mapped. `extra` (the boundary's own fields) is added unchecked.
export function sendMessage(message, extra, settings, state) {
  var call = copy(message);
  if (call === null || typeof call !== 'object' || Array.isArray(call)) call = new Dict();
  send(assign(call, extra), settings, state);
}

// A name or id as the rules take it: strings (never cut; past NAME units, none), and finite
// numbers as String() writes them.
export function text(x) {
  return typeof x === 'string' ? (x.length > NAME ? '' : x) : typeof x === 'number' && isFinite(x) ? String(x) : '';
}

// alias() without a previousId: the current Kissmetrics identity, KM.i(), as soon as the
// library has it (functions on _kmq run once it loads), never undefined.
export function aliasToCurrentIdentity(userId, settings, state) {
  var w = window;
  function run() {
    guard(function () {
      var current = w.KM.i();
      if (current === null || current === undefined || current === '') warn('alias(): no Kissmetrics identity to alias from; pass a previousId.');
      else send({type: 'alias', userId: userId, previousId: text(current)}, settings, state);
    }, 'alias() failed');
  }
  if (w.KM && typeof w.KM.i === 'function') run();
  else queue().push(run);
}
