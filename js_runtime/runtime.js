// kmgen js_runtime/runtime.js: stands in for Transcrypt's org.transcrypt.__runtime__.js.
// Only what the transpiled rules use; no built-in prototype is touched, no global made.

// `{...}` in the rules (and the device's copies of what a page passes): an object whose
// prototype chain holds no Object.prototype, so "__proto__", "constructor" or
// "hasOwnProperty" are just keys. Built by a constructor (not Object.create(null)) so that
// V8 keeps it a fast object instead of a hash table.
export function Dict() {}
Dict.prototype = Object.create(null);

// Transcrypt writes every `{...}` as dict({...}): for-in over the literal allocates nothing
// (most are `{}`), and only its own keys are taken, whatever a page added to Object.prototype.
var hasOwn = Object.prototype.hasOwnProperty;
export function dict(init) {
  var out = new Dict();
  for (var k in init) if (hasOwn.call(init, k)) out[k] = init[k];
  return out;
}

// `len(list)`: the rules only take the length of arrays (see the subset in docs/site-rules.md).
export function len(x) {
  return x.length;
}
