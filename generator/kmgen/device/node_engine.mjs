// kmgen's JavaScript engine for `kmgen ops --engine js` and the twin tests.
// Loads the bundled rules into a fresh V8 context (as a page would load the snippet),
// reads one JSON request per stdin line and writes one canonical JSON answer per line:
//   {"call": {...}, "settings": {...}}  -> the ops
//   {"helper": "name", "args": [...]}   -> that portable helper's result
// With --purity it also reports which globals and built-in prototype keys changed.
import fs from 'node:fs';
import vm from 'node:vm';

const [bundlePath, mode] = process.argv.slice(2);
// The rules' console.warn (a site rule that failed) goes to stderr as "Warning: ...".
const context = vm.createContext({console: {warn: (text) => process.stderr.write(
  'Warning: ' + String(text).replace(/^\[kmgen\] /, '') + '\n')}});
const snapshot = () => vm.runInContext(`(() => {
  const names = (o) => Object.getOwnPropertyNames(o).sort();
  return {globals: names(globalThis), Object: names(Object.prototype), Array: names(Array.prototype),
          String: names(String.prototype), Number: names(Number.prototype), Function: names(Function.prototype)};
})()`, context);
const before = snapshot();
vm.runInContext(fs.readFileSync(bundlePath, 'utf8'), context, {filename: 'kmgen-rules.js'});
const rules = vm.runInContext('kmgenRules', context);
const compact = rules.portable.json_compact;

const lines = fs.readFileSync(0, 'utf8').split('\n').filter((line) => line.trim() !== '');
const out = [];
for (const line of lines) {
  try {
    // Parse inside the rules' own context, as the browser's JSON normalisation would.
    const request = vm.runInContext('JSON.parse', context)(line);
    if (request.helper !== undefined) {
      const fn = rules.portable[request.helper === 'keys' ? 'py_keys' : request.helper];
      if (typeof fn !== 'function') throw new Error(`no helper named ${request.helper}`);
      out.push(compact(fn.apply(null, request.args)));
    } else {
      out.push(compact(rules.map_call(request.call, request.settings || {})));
    }
  } catch (err) {
    out.push(JSON.stringify({error: String(err && err.stack || err)}));
  }
}
if (mode === '--purity') {
  const after = snapshot();
  const changed = {};
  for (const key of Object.keys(before)) {
    const added = after[key].filter((n) => !before[key].includes(n));
    const removed = before[key].filter((n) => !after[key].includes(n));
    if (added.length || removed.length) changed[key] = {added, removed};
  }
  out.push(JSON.stringify({purity: changed}));
}
process.stdout.write(out.length ? out.join('\n') + '\n' : '');
