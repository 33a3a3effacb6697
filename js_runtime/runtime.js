// kmgen js_runtime/runtime.js: stands in for Transcrypt's org.transcrypt.__runtime__.js.
// Only what the transpiled rules use; no built-in prototype is touched, no global made.

// `{...}` in the rules: a prototype-free object, so "__proto__" or "constructor" is just a key.
export function dict(init) {
  var out = Object.create(null);
  if (init) {
    var names = Object.keys(init);
    for (var i = 0; i < names.length; i++) out[names[i]] = init[names[i]];
  }
  return out;
}

// `len(list)`: the rules only take the length of arrays (see the subset in STYLE.md).
export function len(x) {
  return x.length;
}
