// kmgen js_runtime/site.js: a site's own rules around kmgen's, in the browser. The build
// puts this file in the place of mapping.js when kmgen.toml names site rules, so device.js and
// the engine call it as they call the built-in rules. Twin of Ruleset.run in
// generator/kmgen/ruleset.py (same checks, same warnings); see docs/site-rules.md.
// A site rule that throws or returns something invalid drops that one call with one
// console.warn; nothing is thrown into the page. Touches no built-in prototype.

import { map_call as builtin_map_call, DEFAULTS } from './builtin_mapping.js';
import * as site from './site_rules.js';
import { is_array, is_missing, is_number, is_object, is_string, json_compact } from './portable.js';

export { DEFAULTS };

var SHAPES = {identify: ['text'], set: ['props'], record: ['text', 'props'], alias: ['text', 'text']};
var hasOwn = Object.prototype.hasOwnProperty;
// Transport fields (kmgen's rules drop them from properties); only a set may carry _t/_d.
var WIRE_NAMES = {_k: 1, _p: 1, _n: 1};
var TIME_NAMES = {_t: 1, _d: 1};

function warn(message) {
  try {
    if (typeof console !== 'undefined' && console.warn) console.warn('[kmgen] ' + message);
  } catch (e) { /* a console that throws is not our problem */ }
}

export function kind(x) {
  if (is_missing(x)) return 'null';
  if (x === true || x === false) return 'a boolean';
  if (is_string(x)) return 'a string';
  if (is_number(x)) return 'a number';
  if (is_array(x)) return 'a list';
  return is_object(x) ? 'an object' : typeof x;
}

export function ops_problem(ops) {
  if (!is_array(ops)) return 'returned ' + kind(ops) + ', not a list of ops';
  for (var i = 0; i < ops.length; i++) {
    var op = ops[i];
    var shape = is_array(op) && op.length > 0 && is_string(op[0]) && hasOwn.call(SHAPES, op[0]) ? SHAPES[op[0]] : null;
    if (shape === null || op.length !== shape.length + 1) {
      return 'returned op #' + i + ' ' + (is_array(op) ? json_compact(op) : kind(op)) + ', not ["identify", id], '
        + '["set", props], ["record", name, props] or ["alias", to, from]';
    }
    for (var j = 0; j < shape.length; j++) {
      var value = op[j + 1];
      if (shape[j] === 'text' && !is_string(value)) {
        return 'returned op #' + i + ' (' + op[0] + ') with ' + kind(value) + ' where a string belongs';
      }
      if (shape[j] === 'props') {
        if (!is_object(value)) return 'returned op #' + i + ' (' + op[0] + ') with ' + kind(value) + ' where properties belong';
        var names = Object.keys(value);
        for (var k = 0; k < names.length; k++) {
          var item = value[names[k]];
          if (hasOwn.call(WIRE_NAMES, names[k]) || (hasOwn.call(TIME_NAMES, names[k]) && op[0] !== 'set')) {
            return 'returned op #' + i + ' (' + op[0] + ') with the reserved wire name ' + json_compact(names[k]);
          }
          if (!(is_string(item) || item === true || item === false || (is_number(item) && !is_missing(item)))) {
            return 'returned op #' + i + ' (' + op[0] + ') with ' + kind(item) + ' for ' + json_compact(names[k])
              + '; use a string, number or boolean (clean() flattens objects)';
          }
        }
      }
    }
  }
  return null;
}

function label(call) {
  var type = is_object(call) ? call.type : null;
  var name = is_object(call) ? (call.event !== undefined ? call.event : call.name) : null;
  return (is_string(type) ? type : '?') + '(' + (is_string(name) ? json_compact(name) : '') + ')';
}

function failed(fn, call, e) {
  var what = e && e.name !== undefined ? e.name + ': ' + e.message : String(e);
  return 'site rules: ' + fn + ' failed on ' + label(call) + ' (' + what + '); the call was dropped.';
}

export function map_call(call, settings) {
  var ops, result;
  if (typeof site.before === 'function') {
    try {
      result = site.before(call, settings);
    } catch (e) {
      warn(failed('before()', call, e));
      return [];
    }
    if (is_missing(result)) return [];
    if (!is_object(result)) {
      warn('site rules: before() returned ' + kind(result) + ', not a call or None, on ' + label(call)
        + '; the call was dropped.');
      return [];
    }
    call = result;
  }
  ops = builtin_map_call(call, settings);
  if (typeof site.after === 'function') {
    try {
      result = site.after(call, ops, settings);
    } catch (e) {
      warn(failed('after()', call, e));
      return [];
    }
    var problem = ops_problem(result);
    if (problem !== null) {
      warn('site rules: after() ' + problem + ' on ' + label(call) + '; the call was dropped.');
      return [];
    }
    ops = result;
  }
  return ops;
}
