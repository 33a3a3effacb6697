// Profile the built integration in Node (V8, as Chromium), outside a browser:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/device_profile.js [dist/shop/kmgen.js] [calls] [order|signup|identify]
// A fake window/document (no network, no Kissmetrics library: _kmq stays an array) is enough
// for the boundary and the rules; the payloads are bench/device.py's. Prints us/call per
// payload (best of 3); the profile (chrome://inspect or any .cpuprofile reader) splits the
// time between the boundary (call, copy/walk, ordinary, send) and the rules (map_call).
// Figures here are for finding hot spots; the bench's Chromium ratios are the ones reported.
const fs = require('fs');
const path = require('path');
const file = process.argv[2] || path.join(__dirname, '..', 'dist', 'shop', 'kmgen.js');
const N = +(process.argv[3] || 100000);
const only = process.argv[4];
const element = () => ({setAttribute() {}, appendChild() {}, insertBefore() {}, parentNode: null});
globalThis.window = globalThis;
globalThis.document = {
  querySelector: () => null, getElementsByTagName: () => [], createElement: element, currentScript: null,
  head: element(), documentElement: element(), readyState: 'complete', referrer: '', title: 'T',
};
globalThis.location = {pathname: '/p', search: '', href: 'http://x.test/p'};
if (typeof navigator === 'undefined') globalThis.navigator = {userAgent: 'node'};
(0, eval)(fs.readFileSync(file, 'utf8'));
const api = window.analytics;
const ORDER = {order_id: 'o-1', total: 30.5, revenue: '$30.50', currency: 'USD',
  shipping: {method: 'ground', address: {city: 'Paris', zip: '75001'}}, coupon: null,
  products: [0, 1, 2].map((i) => ({sku: 'A-' + i, name: 'Item ' + i, price: 10.5 + i, quantity: 1, tags: ['a', 'b']}))};
const PAYLOADS = {
  order: ['track', ['Order Completed', ORDER]],
  signup: ['track', ['Signed Up', {plan: 'pro', seats: 3}]],
  identify: ['identify', ['u1', {email: 'ada@example.test', name: 'Ada', plan: 'pro'}]],
};
for (const [name, [method, args]] of Object.entries(PAYLOADS)) {
  if (only && only !== name) continue;
  for (let i = 0; i < 5000; i++) { api[method].apply(api, args); if ((i & 255) === 255) window._kmq.length = 0; }
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i++) { api[method].apply(api, args); if ((i & 1023) === 1023) window._kmq.length = 0; }
    best = Math.min(best, Number(process.hrtime.bigint() - started) / N / 1000);
  }
  window._kmq.length = 0;
  console.log(name + ' ' + best.toFixed(3) + ' us/call');
}
