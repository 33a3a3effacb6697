// kmgen js_runtime/portable.js: hand-written twins of generator/kmgen/rules/portable.py.
// Exported under the names Transcrypt emits (`keys` -> `py_keys`). Touches no built-in
// prototype and creates no global. Both twins run tests/vectors/helpers.json.

import { Dict } from './runtime.js';

var hasOwn = Object.prototype.hasOwnProperty;
var toString = Object.prototype.toString;
var ISO = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$/;
var DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

// The rules' own objects and the device's copies are Dicts: one prototype check decides them.
export function is_object(x) {
  return x instanceof Dict || x !== null && typeof x === 'object' && !Array.isArray(x) && toString.call(x) !== '[object Date]';
}

export function is_array(x) {
  return Array.isArray(x);
}

// Python's == for JSON values (each == and != of a site's rules compiles to this): a boolean
// equals the number it stands for, containers compare by value, nothing else converts.
export function py_eq(a, b) {
  if (a === b) return true;
  var ta = typeof a, tb = typeof b, i, names;
  if (ta === 'boolean' || tb === 'boolean') return (ta === 'number' || tb === 'number') && +a === +b;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (i = 0; i < a.length; i++) if (!py_eq(a[i], b[i])) return false;
    return true;
  }
  if (!is_object(a) || !is_object(b)) return false;
  names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (i = 0; i < names.length; i++) if (!hasOwn.call(b, names[i]) || !py_eq(a[names[i]], b[names[i]])) return false;
  return true;
}

export function is_boolean(x) {
  return typeof x === 'boolean';
}

export function is_string(x) {
  return typeof x === 'string';
}

export function is_number(x) {
  return typeof x === 'number';
}

export function is_missing(x) {
  return x === null || x === undefined || (typeof x === 'number' && !isFinite(x));
}

export function py_keys(d) {
  return is_object(d) ? Object.keys(d) : [];
}

export function size(d) {
  return is_object(d) ? Object.keys(d).length : 0;
}

export function field(d, key, fallback) {
  // A Dict's chain holds no inherited names, so what it reads is its own.
  if (d instanceof Dict) { var v = d[key]; return v !== undefined ? v : fallback; }
  return d !== null && typeof d === 'object' && hasOwn.call(d, key) && is_object(d) && d[key] !== undefined ? d[key] : fallback;
}

export function push(list, x) {
  list.push(x);
}

export function join(parts, sep) {
  return parts.join(sep);
}

export function norm_number(x) {
  return x === 0 ? 0 : x;
}

// Key order is the own-property order JSON.stringify already writes, NaN and the
// infinities are null, undefined members are left out: JSON.stringify is the twin, but for
// a lone undefined, which it returns as undefined rather than text.
export function json_compact(x) {
  return x === undefined ? 'null' : JSON.stringify(x);
}

export function to_str(x) {
  return typeof x === 'object' && x !== null ? json_compact(x) : String(x);
}

export function date_value(x) {
  if (typeof x !== 'string') {
    if (x === null || typeof x !== 'object' || toString.call(x) !== '[object Date]') return null;
    var t = x.getTime();
    return isFinite(t) ? Math.floor(t / 1000) : null;
  }
  // The shortest ISO date is YYYY-MM-DD: a cheap look before the regex.
  var m = x.length > 9 && x.charCodeAt(4) === 45 && ISO.exec(x);
  if (!m) return null;
  // The calendar is the Date object's (proleptic Gregorian, years 0-9999 as written); a
  // field out of range rolls the date over, and the round trip catches it.
  var d = new Date(0), fields = [+m[1], m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0)];
  d.setUTCFullYear(fields[0], fields[1], fields[2]);
  d.setUTCHours(fields[3], fields[4], fields[5]);
  var got = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  for (var i = 0; i < 6; i++) if (got[i] !== fields[i]) return null;
  var offset = 0, zone = m[7];
  if (zone && zone !== 'Z') {
    var zh = +zone.slice(1, 3), zm = zone.length > 3 ? +zone.slice(-2) : 0;
    if (zh > 23 || zm > 59) return null;
    offset = (zh * 3600 + zm * 60) * (zone.charAt(0) === '-' ? -1 : 1);
  }
  return d.getTime() / 1000 - offset;
}

export function parse_money(s) {
  if (typeof s !== 'string') return null;
  var text = s.replace(/[$,]/g, '').replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
  if (!DECIMAL.test(text)) return null;
  var value = Number(text);
  return isFinite(value) ? norm_number(value) : null;
}

export function lower(s) {
  return s.toLowerCase();
}

// A page tracks a handful of event names over and over: the last one is remembered.
var squashed = ['', ''];
export function squash(s) {
  if (s !== squashed[0]) squashed = [s, s.toLowerCase().replace(/[ _]/g, '')];
  return squashed[1];
}

// Most strings hold no surrogate at all, and one regex test tells (in V8 about half the cost
// of toWellFormed); a string that holds one is rebuilt, each lone surrogate as U+FFFD.
var SURROGATE = /[\ud800-\udfff]/, PAIR_OR_LONE = /[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]/g;
export function well_formed(s) {
  return SURROGATE.test(s) ? s.replace(PAIR_OR_LONE, function (m) { return m.length > 1 ? m : '\ufffd'; }) : s;
}

// Cut before well_formed so a huge string is never walked whole; the unit after the cut
// decides whether the last one is half of a pair.
export function cut(s, limit) {
  if (s.length <= limit) return well_formed(s);
  s = well_formed(s.slice(0, limit + 1));
  return s.slice(0, s.charCodeAt(limit - 1) >> 10 == 54 ? limit - 1 : limit);
}
