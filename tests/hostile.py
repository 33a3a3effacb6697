"""Hostile input for the browser integration, generated from a seed (README, "The browser
integration"; docs/mapping.md, "Limits"; issue 11, "Never throws" and "Never hangs").

Two parts:

- ``calls(seed, count, methods)``: seeded calls of the public API whose arguments are built
  in the page by small JavaScript constructors (``H.*`` in ``PRELUDE``): thrown values that
  are Symbols, prototype-less objects, objects whose ``toString`` or ``message`` throws,
  Proxies whose traps throw or lie, throwing ``toJSON`` getters, arrays whose ``length``
  throws, throwing getters, circular and shared structures, BigInt, Symbol keys and values,
  functions, invalid Dates, typed arrays, Map/Set, DOM nodes, ``window``, ``__proto__`` and
  ``constructor`` keys, lone surrogates, callbacks that throw any of these... Each call is a
  JavaScript expression, so a failure prints a call one can paste into a console.
- ``BOMBS``: inputs that hold the page for seconds or forever if walked naively, each with
  the ops docs/mapping.md's Limits say must reach ``_kmq`` (written here from that text, not
  produced by the code under test).

``PRELUDE`` is an init script (it runs before any page script): it snapshots the window's
own property names and the built-in prototypes' own property descriptors, counts uncaught
errors, exceptions out of API calls, exceptions out of functions queued on ``_kmq`` (it
drains the queue as the Kissmetrics library would, with a stand-in ``KM.i()``), ops the
library could not send, and ``[kmgen]`` warnings (``console.warn`` is wrapped and silenced).

``bomb_times(browser, snippet_html)`` returns each bomb call's main-thread time in ms, for
the bench (bench/device.py).
"""

import json
import random

# ---------------------------------------------------------------------------------------
# In the page
# ---------------------------------------------------------------------------------------

PRELUDE = r'''(() => {
  'use strict';
  const W = window, baseGlobals = Object.getOwnPropertyNames(W);
  const PROTOS = {Object: Object.prototype, Array: Array.prototype, String: String.prototype,
    Function: Function.prototype, Number: Number.prototype, Boolean: Boolean.prototype,
    Symbol: Symbol.prototype, Promise: Promise.prototype, BigInt: BigInt.prototype, Error: Error.prototype,
    Date: Date.prototype, RegExp: RegExp.prototype, Map: Map.prototype, Set: Set.prototype,
    'Object (constructor)': Object, 'Array (constructor)': Array, JSON: JSON};
  const ownKeys = Reflect.ownKeys, gopd = Object.getOwnPropertyDescriptor, is = Object.is;
  function snapshot() {
    const out = {};
    for (const name of Object.keys(PROTOS)) {
      const o = PROTOS[name], props = new Map();
      for (const key of ownKeys(o)) props.set(key, gopd(o, key));
      out[name] = {proto: Object.getPrototypeOf(o), extensible: Object.isExtensible(o), props};
    }
    return out;
  }
  const baseProtos = snapshot();
  const keyName = (k) => typeof k === 'symbol' ? k.toString() : k;
  function protoChanges() {
    const now = snapshot(), out = [];
    for (const name of Object.keys(PROTOS)) {
      const a = baseProtos[name], b = now[name];
      if (a.proto !== b.proto) out.push(name + ': [[Prototype]] replaced');
      if (a.extensible !== b.extensible) out.push(name + ': extensibility changed');
      for (const [key, d] of b.props) {
        const old = a.props.get(key);
        if (!old) { out.push(name + '.' + keyName(key) + ' added'); continue; }
        for (const f of ['value', 'get', 'set', 'writable', 'enumerable', 'configurable']) {
          if (!is(old[f], d[f])) { out.push(name + '.' + keyName(key) + ': ' + f + ' changed'); break; }
        }
      }
      for (const key of a.props.keys()) if (!b.props.has(key)) out.push(name + '.' + keyName(key) + ' deleted');
    }
    return out;
  }

  // A description of any value that cannot itself throw.
  function describe(e) {
    let t;
    try { t = typeof e; } catch (x) { t = '?'; }
    if (t === 'symbol') return 'symbol ' + e.toString();
    if (t === 'bigint') return 'bigint ' + e.toString();
    let s;
    try { s = String(e); } catch (x) {
      try { s = Object.prototype.toString.call(e); } catch (y) { s = '<unprintable>'; }
    }
    return t + ' ' + s.slice(0, 160);
  }

  const R = {calls: 0, current: -1, phase: 'load', thrown: [], rejected: [], pageErrors: [], queued: [],
             unsendable: [], built: [], warnings: [], owner: new WeakMap(), done: false, progress: true};
  R.api = () => W.analytics;
  W.addEventListener('error', (ev) => {
    R.pageErrors.push({index: R.current, phase: R.phase, what: describe(ev.message) + ' / ' + describe(ev.error)});
  });
  W.addEventListener('unhandledrejection', (ev) => {
    R.pageErrors.push({index: R.current, phase: R.phase, what: 'unhandled rejection: ' + describe(ev.reason)});
  });
  console.warn = function () {
    try {
      const m = arguments[0];
      R.warnings.push(typeof m === 'string' ? m.slice(0, 300) : describe(m));
    } catch (e) { /* a warning is never a failure here */ }
  };

  // The hostile constructors the generated calls use.
  const H = {
    api: () => R.api(),
    trap(thrown, target) {
      return new Proxy(target || {}, new Proxy({}, {get: () => () => { throw thrown(); }}));
    },
    badString: (thrown) => ({toString() { throw thrown(); }, valueOf() { throw thrown(); }}),
    badPrimitive: (thrown) => ({[Symbol.toPrimitive]() { throw thrown(); }}),
    noPrimitive: () => ({toString() { return {}; }, valueOf() { return {}; }}),
    badError(field, thrown) {
      const e = new Error('hostile');
      Object.defineProperty(e, field, {get() { throw thrown(); }, configurable: true});
      return e;
    },
    bareError() { const e = new Error('bare'); Object.setPrototypeOf(e, null); return e; },
    revoked(target) { const r = Proxy.revocable(target || {}, {}); r.revoke(); return r.proxy; },
    getter(obj, key, thrown) {
      Object.defineProperty(obj, key, {enumerable: true, configurable: true, get() { throw thrown(); }});
      return obj;
    },
    toJSONGetter(obj, thrown) {
      Object.defineProperty(obj, 'toJSON', {enumerable: false, configurable: true, get() { throw thrown(); }});
      return obj;
    },
    toJSONThrows(obj, thrown) {
      Object.defineProperty(obj, 'toJSON', {value() { throw thrown(); }, configurable: true});
      return obj;
    },
    toJSONReturns(obj, value) {
      Object.defineProperty(obj, 'toJSON', {value() { return value(); }, configurable: true});
      return obj;
    },
    badLength(items, thrown) {
      return new Proxy(items, {get(t, k, r) { if (k === 'length') throw thrown(); return Reflect.get(t, k, r); }});
    },
    badIndex(items, index, thrown) {
      Object.defineProperty(items, index, {enumerable: true, configurable: true, get() { throw thrown(); }});
      return items;
    },
    lying(kind, thrown) {
      const desc = () => ({value: 1, enumerable: true, configurable: true, writable: true});
      if (kind === 'ghost') return new Proxy({}, {ownKeys: () => ['ghost', 'b'], getOwnPropertyDescriptor: desc,
        get() { throw thrown(); }});
      if (kind === 'nonconfigurable') return new Proxy({}, {ownKeys: () => ['a'],
        getOwnPropertyDescriptor: () => ({value: 1, enumerable: true, configurable: false})});
      if (kind === 'duplicates') return new Proxy({}, {ownKeys: () => ['a', 'a']});
      if (kind === 'hidden') return new Proxy({a: 1}, {getOwnPropertyDescriptor: () => undefined});
      if (kind === 'growing') {
        let n = 0;
        return new Proxy({}, {ownKeys: () => Array.from({length: n += 700}, (_, i) => 'k' + i),
          getOwnPropertyDescriptor: desc, get: (t, k) => (typeof k === 'string' ? k : undefined)});
      }
      if (kind === 'array') return new Proxy([1, 2], {getPrototypeOf() { throw thrown(); }, ownKeys() { throw thrown(); }});
      return new Proxy({}, {ownKeys() { throw thrown(); }});
    },
    fickle() {
      let n = 0;
      const kinds = [() => 1, () => 'two', () => ({three: 3}), () => [4], () => Symbol('five'), () => null];
      return {get x() { return kinds[n++ % kinds.length](); }, get y() { return kinds[n++ % kinds.length](); }};
    },
    endless() {
      const make = (n) => ({n, get next() { return make(n + 1); }});
      return make(0);
    },
    inherit: (proto, own) => Object.create(proto, Object.getOwnPropertyDescriptors(own)),
    cyclic: (obj, key) => H.key(obj, key, obj),
    cyclicArray(items) { items.push(items, {back: items}); return items; },
    shared(v) { return {a: v, b: v, c: [v, v], d: {e: v}}; },
    sparse(n, items) { const a = []; a.length = n; items.forEach((v, i) => { a[i * 7 % n] = v; }); return a; },
    key(obj, key, value) {
      Object.defineProperty(obj, key, {value, enumerable: true, writable: true, configurable: true});
      return obj;
    },
    hidden(obj, key, value) { Object.defineProperty(obj, key, {value, enumerable: false}); return obj; },
    symbolKey(obj, value) { obj[Symbol('key')] = value; return obj; },
    frozen: (obj) => Object.freeze(obj),
    wide(n, value) { const o = {}; for (let i = 0; i < n; i++) o['w' + i] = value; return o; },
    deep(n, leaf) { let o = leaf; for (let i = 0; i < n; i++) o = {d: o, i}; return o; },
    deepArray(n) { let a = [1]; for (let i = 0; i < n; i++) a = [a]; return a; },
    dateWith(field, thrown) { const d = new Date(0); d[field] = () => { throw thrown(); }; return d; },
    detached() { const el = document.createElement('div'); el.self = el; el.dataset.x = '1'; return el; },
    event: () => new Event('hostile'),
    long(n, tail) { return 'x'.repeat(n) + tail; },
    cb(index, fn) { return function () { R.current = index; return fn.apply(this, arguments); }; },
  };
  H.lyingArray = () => H.lying('array', () => Symbol('array trap'));

  function countQueued(before) {
    const q = W._kmq;
    if (!Array.isArray(q)) return;
    for (let j = before; j < q.length; j++) {
      const item = q[j];
      if ((typeof item === 'function' || (item !== null && typeof item === 'object')) && !R.owner.has(item)) {
        R.owner.set(item, R.current);
      }
    }
  }
  function queueLength() { const q = W._kmq; return Array.isArray(q) ? q.length : 0; }

  // Call calls[i] = [method, () => args] on R.api(), each in its own try/catch.
  function one(calls, i, offset) {
    const [method, build] = calls[i];
    R.current = offset + i;
    if (R.progress) console.log('[hostile] call #' + R.current);
    let args;
    try { args = build(); } catch (e) { R.built.push({index: R.current, what: describe(e)}); return undefined; }
    const before = queueLength();
    let result;
    try {
      const api = R.api();
      result = api[method].apply(api, args);
    } catch (e) {
      R.thrown.push({index: R.current, what: describe(e)});
    }
    R.calls++;
    countQueued(before);
    return {result, before};
  }
  R.runSync = function (calls, offset, phase) {
    R.phase = phase;
    for (let i = 0; i < calls.length; i++) one(calls, i, offset);
  };
  // Async, in slices, so timers (callbacks) run between them and a hang fails by timeout.
  R.run = async function (calls, offset, phase, awaitEach) {
    R.done = false;
    R.phase = phase;
    for (let i = 0; i < calls.length; i++) {
      const made = one(calls, i, offset), result = made && made.result;
      if (awaitEach && result && typeof result.then === 'function') {
        try { await result; } catch (e) { R.rejected.push({index: offset + i, what: describe(e)}); }
        R.current = offset + i;
        countQueued(made.before);   // what a plugin pushed once analytics-next delivered the call
      }
      if (i % 250 === 249) await new Promise((r) => setTimeout(r, 0));
    }
    await new Promise((r) => setTimeout(r, 30));
    await new Promise((r) => setTimeout(r, 30));
    R.done = true;
  };

  // What the Kissmetrics library does with _kmq: run the functions (with KM.i() available),
  // and send the ops, which needs every string to survive encodeURIComponent.
  function sendable(op) {
    const fail = (why) => { throw new Error(why); };
    if (!Array.isArray(op) || typeof op[0] !== 'string') fail('not a [command, ...] array');
    // Names (ids, event names, keys) are never cut (docs/mapping.md); string values are.
    const check = (s, what, value) => {
      if (typeof s !== 'string') fail(what + ' is a ' + typeof s);
      if (value && s.length > 8192) fail(what + ' is ' + s.length + ' code units (Limits: 8,192)');
      encodeURIComponent(s);
    };
    for (let i = 1; i < op.length; i++) {
      const x = op[i];
      if (typeof x === 'string') check(x, 'argument ' + i, false);
      else if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
        const names = Object.keys(x);
        if (names.length > 1000) fail(names.length + ' properties (Limits: 1,000)');
        for (const k of names) {
          check(k, 'a key', false);
          const v = x[k];
          if (typeof v === 'string') check(v, 'the value of ' + JSON.stringify(k.slice(0, 40)), true);
          else if (!(typeof v === 'number' && isFinite(v)) && typeof v !== 'boolean') fail('the value of ' + JSON.stringify(k.slice(0, 40)) + ' is ' + describe(v));
        }
      } else fail('argument ' + i + ' is ' + describe(x));
    }
  }
  R.drain = function () {
    const hadKM = 'KM' in W;
    if (!hadKM) W.KM = {i: () => 'km-anon-1'};
    try {
      for (let round = 0; round < 8; round++) {
        const q = W._kmq;
        if (!Array.isArray(q)) break;
        const items = q.splice(0, q.length);
        if (!items.length) break;
        for (const item of items) {
          if (typeof item === 'function') {
            R.current = R.owner.has(item) ? R.owner.get(item) : -1;
            const before = queueLength();
            try { item(); } catch (e) { R.queued.push({index: R.current, what: describe(e)}); }
            countQueued(before);
          } else {
            try { sendable(item); } catch (e) {
              R.unsendable.push({index: R.owner.has(item) ? R.owner.get(item) : -1, what: describe(e) + ' in ' + describe(JSON.stringify(item)).slice(0, 200)});
            }
          }
        }
      }
    } finally {
      if (!hadKM) delete W.KM;
    }
  };
  R.report = function () {
    const added = Object.getOwnPropertyNames(W).filter((n) => baseGlobals.indexOf(n) < 0 && n !== '__hostile');
    return JSON.stringify({calls: R.calls, thrown: R.thrown, rejected: R.rejected, pageErrors: R.pageErrors,
      queued: R.queued, unsendable: R.unsendable, built: R.built, warnings: R.warnings.length,
      globals: added, prototypes: protoChanges()});
  };

  // One bomb call, timed on the main thread; returns what reached _kmq, summarised.
  function summary(x) {
    if (typeof x === 'string') return x.length > 9000 ? '<string of ' + x.length + ' code units>' : x;
    if (Array.isArray(x)) return x.map(summary);
    if (x !== null && typeof x === 'object') {
      const out = {}, names = Object.keys(x);
      for (let i = 0; i < names.length && i < 1010; i++) out[names[i]] = summary(x[names[i]]);
      if (names.length > 1010) out['<more>'] = names.length + ' properties in all';
      return out;
    }
    return x;
  }
  R.bomb = function (source, call) {
    R.bombResult = undefined;
    setTimeout(() => {
      const value = (0, eval)(source);
      const before = queueLength(), warned = R.warnings.length;
      let error = null;
      const t0 = performance.now();
      try { call(R.api(), value); } catch (e) { error = describe(e); }
      const ms = performance.now() - t0;
      const q = W._kmq, ops = Array.isArray(q) ? q.slice(before) : [];
      R.bombResult = JSON.stringify({ms, error, warnings: R.warnings.slice(warned), ops: summary(ops)});
    }, 0);
  };

  Object.defineProperty(W, '__hostile', {value: R, configurable: true});
  Object.defineProperty(R, 'H', {value: H});
  R.describe = describe;
})();'''

# ---------------------------------------------------------------------------------------
# The generator (Python, seeded): each call is JavaScript source
# ---------------------------------------------------------------------------------------

KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', 'toJSON', 'then',
        'length', '0', '7', '4294967295', '-1', '1.5', '', 'a.b', 'a', 'name', 'category', 'url', 'id',
        'revenue', 'total', 'products', '_p', '_t', '_k', '_n', '_d', 'userId', 'event', 'properties',
        '\ud800', 'x\udfffy', '\U0001f600', 'ключ', '\u2028', '</script>', 'caller', 'arguments']
STRINGS = ['', 'pro', '\ud800', 'a\udc00b', '\udbff', '\U0001f600\ud83d', '2024-02-30', '2024-01-01T00:00:00Z',
           '+275760-09-13T00:00:00Z', '9999-12-31T23:59:59.999+14:00', '$1,000.50', '-$', 'NaN', 'Infinity',
           '__proto__', 'constructor', '</script><script>', '\u2028\u2029', '\x00', ' ', 'Order Completed',
           'completed_order', 'Experiment Viewed', 'undefined', 'null', '1e400', '0x10']
NUMBERS = ['NaN', 'Infinity', '-Infinity', '-0', '0', '1e21', '2 ** 53 + 2', 'Number.MAX_VALUE',
           'Number.MIN_VALUE', '1.5', '-7', '4294967295']
LEAVES = ['undefined', 'null', 'true', 'false', '10n', '-(2n ** 70n)', 'Symbol("value")', 'Symbol.iterator',
          'function named() {}', '() => 1', 'class K {}', 'new Date(0)', 'new Date(NaN)', 'new Date(8.64e15)',
          'new Uint8Array([1, 2, 3])', 'new Float64Array([NaN, 1.5])', 'new BigInt64Array(2)',
          'new ArrayBuffer(8)', 'new DataView(new ArrayBuffer(4))', 'new Map([["a", 1]])', 'new Set([1, 2])',
          'new WeakMap()', '/re(g)ex/g', 'Promise.resolve(1)', 'new Error("as a value")', 'new String("boxed")',
          'new Number(5)', 'new Boolean(false)', 'Object(Symbol("boxed"))', 'Object(1n)', 'Math', 'JSON',
          'document.body', 'document', 'document.all', 'location', 'navigator', 'window', 'globalThis',
          'document.querySelectorAll("*")', 'H.detached()', 'H.event()', 'new Image()', 'H.fickle()',
          'H.endless()', 'H.lyingArray()', 'H.revoked([])', 'H.noPrimitive()', 'Object.create(null)',
          'H.long(9000, "\\ud800")', 'H.long(8191, "\\ud83d\\ude00tail")']
METHODS = ('identify', 'track', 'page', 'screen', 'group', 'alias', 'ready')
PLUGIN_METHODS = ('identify', 'track', 'page', 'screen', 'group', 'alias')


class Generator:
    """Seeded hostile JavaScript: ``thrown()``, ``value()``, ``obj()``, ``name()``, ``call()``."""

    def __init__(self, seed, callbacks=True):
        self.rng = random.Random(seed)
        self.callbacks = callbacks

    def pick(self, items):
        return self.rng.choice(items)

    def chance(self, p):
        return self.rng.random() < p

    def string(self):
        return json.dumps(self.pick(STRINGS))

    def thunk(self, depth):
        return '() => ' + self.thrown(depth + 1)

    def thrown(self, depth=0):
        """An expression for a value to throw (evaluated at each throw)."""
        simple = ['Symbol("thrown")', 'Object.create(null)', 'undefined', 'null', '0', '""', '10n', 'window',
                  'new Error("plain")', 'H.bareError()', 'H.noPrimitive()', 'H.revoked()', '() => 1',
                  'document.body', '"a string"', 'H.lyingArray()']
        if depth >= 2 or self.chance(0.45):
            return self.pick(simple)
        kind = self.pick(['badString', 'badPrimitive', 'message', 'name', 'stack', 'trap', 'trapError'])
        inner = self.thunk(depth)
        if kind == 'message' or kind == 'name' or kind == 'stack':
            return 'H.badError(%s, %s)' % (json.dumps(kind), inner)
        if kind == 'trap':
            return 'H.trap(%s)' % inner
        if kind == 'trapError':
            return 'H.trap(%s, new Error("target"))' % inner
        return 'H.%s(%s)' % (kind, inner)

    def value(self, depth):
        roll = self.rng.random()
        if depth < 4 and roll < 0.22:
            return self.obj(depth + 1)
        if depth < 4 and roll < 0.32:
            return self.array(depth + 1)
        if roll < 0.45:
            return self.string()
        if roll < 0.55:
            return self.pick(NUMBERS)
        if roll < 0.62:
            return self.hostile_object(depth)
        return self.pick(LEAVES)

    def array(self, depth):
        items = ', '.join(self.value(depth) for _ in range(self.rng.randint(0, 4)))
        kind = self.pick(['plain', 'plain', 'holes', 'sparse', 'badLength', 'badIndex', 'cyclic', 'deep', 'trap'])
        if kind == 'holes':
            return '[%s, , ,]' % items
        if kind == 'sparse':
            return 'H.sparse(%d, [%s])' % (self.rng.randint(1, 300), items)
        if kind == 'badLength':
            return 'H.badLength([%s], %s)' % (items, self.thunk(0))
        if kind == 'badIndex':
            return 'H.badIndex([%s], 0, %s)' % (items, self.thunk(0))
        if kind == 'cyclic':
            return 'H.cyclicArray([%s])' % items
        if kind == 'deep':
            return 'H.deepArray(%d)' % self.rng.choice([40, 200, 2000])
        if kind == 'trap':
            return 'H.trap(%s, [%s])' % (self.thunk(0), items)
        return '[%s]' % items

    def literal(self, depth, size=None):
        n = self.rng.randint(0, 4) if size is None else size
        parts = ['[%s]: %s' % (json.dumps(self.pick(KEYS)), self.value(depth)) for _ in range(n)]
        return '{%s}' % ', '.join(parts)

    def hostile_object(self, depth):
        inner = self.thunk(0)
        kind = self.pick(['getter', 'toJSONGetter', 'toJSONThrows', 'toJSONReturns', 'trap', 'lying', 'protoTrap',
                          'cyclic', 'shared', 'key', 'hidden', 'symbolKey', 'frozen', 'inherit', 'wide', 'deep',
                          'dateWith', 'badString', 'badPrimitive', 'revoked', 'bare'])
        base = self.literal(depth + 1) if depth < 4 else '{}'
        if kind == 'getter':
            return 'H.getter(%s, %s, %s)' % (base, json.dumps(self.pick(KEYS)), inner)
        if kind in ('toJSONGetter', 'toJSONThrows'):
            return 'H.%s(%s, %s)' % (kind, base, inner)
        if kind == 'toJSONReturns':
            returned = self.value(depth + 1) if depth < 4 else 'undefined'
            return 'H.toJSONReturns(%s, () => (%s))' % (base, returned)
        if kind == 'trap':
            return 'H.trap(%s)' % inner
        if kind == 'lying':
            return 'H.lying(%s, %s)' % (json.dumps(self.pick(['ghost', 'nonconfigurable', 'duplicates', 'hidden',
                                                               'growing', 'array', 'throws'])), inner)
        if kind == 'protoTrap':
            return 'H.inherit(H.trap(%s), %s)' % (inner, base)
        if kind == 'cyclic':
            return 'H.cyclic(%s, %s)' % (base, json.dumps(self.pick(KEYS)))
        if kind == 'shared':
            return 'H.shared(%s)' % (self.value(depth + 1) if depth < 4 else '{}')
        if kind == 'key':
            return 'H.key(%s, %s, %s)' % (base, json.dumps(self.pick(KEYS)), self.value(depth + 1) if depth < 4 else '1')
        if kind == 'hidden':
            return 'H.hidden(%s, "secret", %s)' % (base, inner[6:])
        if kind == 'symbolKey':
            return 'H.symbolKey(%s, %s)' % (base, self.pick(LEAVES))
        if kind == 'frozen':
            return 'H.frozen(%s)' % base
        if kind == 'inherit':
            return 'H.inherit(%s, %s)' % (self.literal(depth + 1) if depth < 4 else '{a: 1}', base)
        if kind == 'wide':
            return 'H.wide(%d, %s)' % (self.rng.choice([3, 1001, 1500]), self.string())
        if kind == 'deep':
            return 'H.deep(%d, %s)' % (self.rng.choice([31, 33, 100, 3000]), self.literal(4, 1))
        if kind == 'dateWith':
            return 'H.dateWith(%s, %s)' % (json.dumps(self.pick(['toJSON', 'toISOString', 'getTime', 'valueOf'])), inner)
        if kind in ('badString', 'badPrimitive'):
            return 'H.%s(%s)' % (kind, inner)
        if kind == 'revoked':
            return 'H.revoked()'
        return 'H.inherit(null, %s)' % base

    def obj(self, depth):
        """An object argument (properties, traits, options): usually hostile somewhere inside."""
        if self.chance(0.35):
            return self.hostile_object(depth)
        return self.literal(depth)

    def name(self):
        """An id, event name, category or previous id."""
        roll = self.rng.random()
        if roll < 0.35:
            return self.string()
        if roll < 0.45:
            return self.pick(NUMBERS)
        if roll < 0.55:
            return self.pick(['"ok"', '"Signed Up"', '"u-1"', '"Order Completed"'])
        if roll < 0.8:
            return self.pick(['Symbol("name")', '10n', 'undefined', 'null', 'true', 'new String("boxed")', '["a", "b"]',
                              'new Date(NaN)', 'H.noPrimitive()', 'H.revoked()', 'Object.create(null)', 'window',
                              'H.long(10000, "")'])
        return self.hostile_object(2)

    def callback(self, index):
        kind = self.pick(['throw', 'throw', 'reenter', 'return'])
        if kind == 'throw':
            body = '{ throw %s; }' % self.thrown()
        elif kind == 'reenter':
            method = self.pick(METHODS[:-1])
            body = '{ H.api().%s(%s); }' % (method, ', '.join(self.arg(index, 1, method, nested=True) for _ in range(2)))
        else:
            body = '{ return %s; }' % self.thrown()
        return 'H.cb(%d, function () %s)' % (index, body)

    def arg(self, index, position, method, nested=False):
        roll = self.rng.random()
        if self.callbacks and not nested and roll < 0.08:
            return self.callback(index)
        if method == 'ready' and roll < 0.5:
            return self.pick(['undefined', '"not a function"', 'H.trap(() => Symbol("ready"))'])
        wants_name = position == 0 or (position == 1 and method in ('page', 'alias'))
        if roll < (0.75 if wants_name else 0.2):
            return self.name()
        return self.obj(0 if position < 2 else 2)

    def call(self, index, methods):
        method = self.pick(methods)
        if method == 'ready':
            args = [self.callback(index) if self.callbacks and self.chance(0.85) else self.arg(index, 0, method)]
        else:
            count = self.rng.choice([0, 1, 2, 2, 2, 3, 3, 4, 5])
            args = [self.arg(index, i, method) for i in range(count)]
            if self.callbacks and count and self.chance(0.25):
                args[-1] = self.callback(index)
        return method, '[%s]' % ', '.join(args)


def calls(seed, count, methods=METHODS, callbacks=True, start=0):
    """``count`` hostile calls: (method, JavaScript source of the argument list), indexed
    from ``start``; the same seed gives the same calls."""
    generator = Generator(seed, callbacks)
    return [generator.call(start + i, methods) for i in range(count)]


def script(name, generated):
    """JavaScript that stores ``generated`` as ``__hostile.<name>``, each argument list built
    only when its call is made. Safe inside an HTML <script> element."""
    entries = ',\n'.join('[%s, () => %s]' % (json.dumps(method), args) for method, args in generated)
    text = '(() => { const H = __hostile.H; __hostile.%s = [\n%s\n]; })();' % (name, entries)
    return text.replace('</', '<\\/')


def reproduction(seed, generated, start, index, api='analytics'):
    """The call at ``index``, as something one can paste into the page's console."""
    method, args = generated[index - start]
    return 'seed %d, call #%d: %s.%s(...%s)' % (seed, index, api, method, args)


# ---------------------------------------------------------------------------------------
# Bombs (docs/mapping.md, "Limits" and "Key order"), each passed as track('Bomb', <value>)
# ---------------------------------------------------------------------------------------

CAP_STRING, CAP_PROPS, CAP_DEPTH = 8192, 1000, 32
BIG = 10 ** 8


def _dag_key(i):
    # The 30-level DAG: level 1 is {x: 1}, level k is {a: level k-1, b: level k-1}; the
    # properties object is level 30, so a key is 29 letters then x, in key order
    # (a before b): the i-th key spells i in binary, 0 as a and 1 as b.
    return '.'.join('ab'[(i >> bit) & 1] for bit in range(28, -1, -1)) + '.x'


def _deep_expected():
    # Level k (the properties object is level 1) is {v: k, d: level k+1}; levels past 32
    # are dropped, so v survives on levels 1..32 and the d chains end there.
    return {'Bomb - ' + 'd.' * (k - 1) + 'v': k for k in range(1, CAP_DEPTH + 1)}


# name -> (JavaScript building the properties, the record's properties the Limits ask for)
BOMBS = {
    '1e8-character string': (
        # A surrogate pair straddles code unit 8,192: the cut is at the code point before it.
        # The string is flattened before the call (V8 keeps a concatenation as a rope and
        # flattens it on first read: 100 MB copied, the builder's cost, not the call's).
        "(() => { const s = 'x'.repeat(8191) + '\\ud83d\\ude00' + 'y'.repeat(%d); s.charCodeAt(1); return {s}; })()"
        % (BIG - CAP_STRING - 1),
        {'Bomb - s': 'x' * (CAP_STRING - 1)}),
    '1e6-key object': (
        # Integer-like keys come first in JavaScript's key order whatever their insertion.
        "(() => { const o = {}; for (let i = 0; i < 1e6; i++) o['k' + i] = i; o['7'] = 'seven'; o['3'] = 'three';"
        " return o; })()",
        dict([('Bomb - 3', 'three'), ('Bomb - 7', 'seven')] + [('Bomb - k%d' % i, i) for i in range(CAP_PROPS - 2)])),
    '30-level DAG of shared objects': (
        "(() => { let o = {x: 1}; for (let i = 1; i < 30; i++) o = {a: o, b: o}; return o; })()",
        {'Bomb - ' + _dag_key(i): 1 for i in range(CAP_PROPS)}),
    'sparse array of length 2**32-1': (
        "(() => { const a = []; a.length = 2 ** 32 - 1; a[0] = 'a'; a[5] = 'b'; a[2 ** 32 - 2] = 'z';"
        " return {list: a}; })()",
        {'Bomb - list': ('a,,,,,b' + ',' * CAP_STRING)[:CAP_STRING]}),
    '10,000-deep nesting': (
        "(() => { let o = {v: 10000}; for (let k = 9999; k >= 1; k--) o = {v: k, d: o}; return o; })()",
        _deep_expected()),
    'Proxy whose every trap throws': (
        # Only the unreadable value is dropped; its siblings stay.
        "({before: 1, p: new Proxy({}, new Proxy({}, {get: () => () => { throw Symbol('trap'); }})), after: 2})",
        {'Bomb - before': 1, 'Bomb - after': 2}),
}
BOMB_CALL = '(api, value) => api.track("Bomb", value)'


def run_bomb(page, name, timeout_ms=15000):
    """Make one bomb call in ``page`` (the PRELUDE installed, the integration loaded):
    {"ms", "error", "warnings", "ops"}. Raises playwright's TimeoutError when the page
    does not come back within ``timeout_ms`` (the bomb hung it)."""
    source = BOMBS[name][0]
    page.evaluate('([source, call]) => { __hostile.bomb(source, (0, eval)(call)); }', [source, BOMB_CALL])
    page.wait_for_function('() => window.__hostile.bombResult !== undefined', timeout=timeout_ms, polling=50)
    return json.loads(page.evaluate('() => window.__hostile.bombResult'))


def bomb_times(browser, snippet_html, timeout_ms=15000):
    """For the bench: {bomb name: main-thread ms of its one call} in Chromium, each bomb in a
    fresh page of ``browser`` (a Playwright Browser) that has ``snippet_html``, the
    Kissmetrics hosts blocked; a bomb that hangs the page counts as ``timeout_ms``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from kmgen.parity import Router, html
    times = {}
    for name in BOMBS:
        context = browser.new_context()
        router = Router()
        router.km_library = 'blocked'
        context.route('**/*', router.handle)
        page = context.new_page()
        page.add_init_script(PRELUDE)
        page.goto(router.page('bomb.html', html(snippet_html)))
        try:
            times[name] = run_bomb(page, name, timeout_ms)['ms']
        except PlaywrightTimeout:
            times[name] = float(timeout_ms)
        context.close()
    return times
