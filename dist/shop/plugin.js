/* kmgen 0.1.0 | generated from kmgen.toml | do not edit: rebuild with `kmgen build` */
// runtime.js
function Dict() {
}
Dict.prototype = /* @__PURE__ */ Object.create(null);
var hasOwn = Object.prototype.hasOwnProperty;
function dict(init) {
  var out = new Dict();
  for (var k in init) if (hasOwn.call(init, k)) out[k] = init[k];
  return out;
}
function len(x) {
  return x.length;
}

// portable.js
var hasOwn2 = Object.prototype.hasOwnProperty;
var toString = Object.prototype.toString;
var ISO = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$/;
var DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
function is_object(x) {
  return x instanceof Dict || x !== null && typeof x === "object" && !Array.isArray(x) && toString.call(x) !== "[object Date]";
}
function is_array(x) {
  return Array.isArray(x);
}
function is_boolean(x) {
  return typeof x === "boolean";
}
function is_string(x) {
  return typeof x === "string";
}
function is_number(x) {
  return typeof x === "number";
}
function is_missing(x) {
  return x === null || x === void 0 || typeof x === "number" && !isFinite(x);
}
function py_keys(d) {
  return is_object(d) ? Object.keys(d) : [];
}
function size(d) {
  return is_object(d) ? Object.keys(d).length : 0;
}
function field(d, key, fallback) {
  if (d instanceof Dict) {
    var v = d[key];
    return v !== void 0 ? v : fallback;
  }
  return d !== null && typeof d === "object" && hasOwn2.call(d, key) && is_object(d) && d[key] !== void 0 ? d[key] : fallback;
}
function push(list, x) {
  list.push(x);
}
function join(parts, sep) {
  return parts.join(sep);
}
function norm_number(x) {
  return x === 0 ? 0 : x;
}
function json_compact(x) {
  return x === void 0 ? "null" : JSON.stringify(x);
}
function to_str(x) {
  return typeof x === "object" && x !== null ? json_compact(x) : String(x);
}
function date_value(x) {
  if (typeof x !== "string") {
    if (x === null || typeof x !== "object" || toString.call(x) !== "[object Date]") return null;
    var t = x.getTime();
    return isFinite(t) ? Math.floor(t / 1e3) : null;
  }
  var m = x.length > 9 && x.charCodeAt(4) === 45 && ISO.exec(x);
  if (!m) return null;
  var d = /* @__PURE__ */ new Date(0), fields = [+m[1], m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0)];
  d.setUTCFullYear(fields[0], fields[1], fields[2]);
  d.setUTCHours(fields[3], fields[4], fields[5]);
  var got = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  for (var i = 0; i < 6; i++) if (got[i] !== fields[i]) return null;
  var offset = 0, zone = m[7];
  if (zone && zone !== "Z") {
    var zh = +zone.slice(1, 3), zm = zone.length > 3 ? +zone.slice(-2) : 0;
    if (zh > 23 || zm > 59) return null;
    offset = (zh * 3600 + zm * 60) * (zone.charAt(0) === "-" ? -1 : 1);
  }
  return d.getTime() / 1e3 - offset;
}
function parse_money(s) {
  if (typeof s !== "string") return null;
  var text3 = s.replace(/[$,]/g, "").replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, "");
  if (!DECIMAL.test(text3)) return null;
  var value = Number(text3);
  return isFinite(value) ? norm_number(value) : null;
}
function lower(s) {
  return s.toLowerCase();
}
var squashed = ["", ""];
function squash(s) {
  if (s !== squashed[0]) squashed = [s, s.toLowerCase().replace(/[ _]/g, "")];
  return squashed[1];
}
var SURROGATE = /[\ud800-\udfff]/;
var PAIR_OR_LONE = /[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]/g;
function well_formed(s) {
  return SURROGATE.test(s) ? s.replace(PAIR_OR_LONE, function(m) {
    return m.length > 1 ? m : "�";
  }) : s;
}
function cut(s, limit) {
  if (s.length <= limit) return well_formed(s);
  s = well_formed(s.slice(0, limit + 1));
  return s.slice(0, s.charCodeAt(limit - 1) >> 10 == 54 ? limit - 1 : limit);
}

// values.js
var MAX_DEPTH = 32;
var MAX_PROPERTIES = 1e3;
var MAX_TEXT = 8192;
var RESERVED = dict({ "_k": true, "_p": true, "_n": true, "_t": true, "_d": true });
var DEPTH_NOTE = "dropped: nested deeper than 32 levels";
var note = function(settings, message) {
  var notes = settings instanceof Dict ? settings["notes"] !== void 0 ? settings["notes"] : null : field(settings, "notes", null);
  if (is_array(notes)) {
    push(notes, message);
  }
};
var scalar = function(value, settings) {
  if (is_string(value)) {
    var seconds = date_value(value);
    return is_missing(seconds) ? text_value(value, settings) : seconds;
  }
  if (is_number(value)) {
    return norm_number(value);
  }
  var seconds = date_value(value);
  return is_missing(seconds) ? value : seconds;
};
var text_value = function(value, settings) {
  var out = cut(value, MAX_TEXT);
  if (len(out) < len(value)) {
    note(settings, "cut: a string over 8192 code units");
  }
  return out;
};
var is_container = function(value) {
  return is_object(value) || is_array(value);
};
var deep = function(depth, settings) {
  if (depth < MAX_DEPTH) {
    return false;
  }
  note(settings, DEPTH_NOTE);
  return true;
};
var bounded = function(value, depth, settings) {
  if (is_string(value)) {
    return well_formed(value);
  }
  if (!is_container(value)) {
    return value;
  }
  if (depth > MAX_DEPTH) {
    note(settings, DEPTH_NOTE);
    return null;
  }
  if (is_array(value)) {
    var py_items = [];
    for (var i = 0; i < len(value); i++) {
      push(py_items, bounded(value[i], depth + 1, settings));
    }
    return py_items;
  }
  var out = dict({});
  var names = py_keys(value);
  for (var i = 0; i < len(names); i++) {
    out[well_formed(names[i])] = bounded(value[names[i]], depth + 1, settings);
  }
  return out;
};
var array_text = function(py_items, depth, settings) {
  var parts = [];
  for (var i = 0; i < len(py_items); i++) {
    var item = py_items[i];
    if (is_missing(item) || is_container(item) && deep(depth, settings)) {
      push(parts, "");
    } else if (is_array(item)) {
      push(parts, array_text(item, depth + 1, settings));
    } else if (is_object(item)) {
      push(parts, json_compact(bounded(item, depth + 1, settings)));
    } else {
      push(parts, to_str(item));
    }
  }
  return join(parts, ",");
};
var flatten_into = function(out, path, obj, depth, settings) {
  var names = py_keys(obj);
  for (var i = 0; i < len(names); i++) {
    var value = obj[names[i]];
    if (is_missing(value)) {
      continue;
    }
    if (is_object(value)) {
      if (!deep(depth, settings)) {
        flatten_into(out, path + well_formed(names[i]) + ".", value, depth + 1, settings);
      }
      continue;
    }
    var listed = is_array(value);
    if (listed && deep(depth, settings)) {
      continue;
    }
    var key = path + well_formed(names[i]);
    if (path === "" && field(RESERVED, key, false)) {
      note(settings, "dropped: reserved name " + key);
    } else if (listed) {
      out[key] = text_value(array_text(value, depth + 1, settings), settings);
    } else {
      out[key] = scalar(value, settings);
    }
  }
  return out;
};
var clean = function(obj, prefix, settings) {
  var out = dict({});
  if (is_object(obj)) {
    flatten_into(out, prefix, obj, 1, settings);
  }
  return out;
};
var limited = function(props, settings) {
  if (size(props) <= MAX_PROPERTIES) {
    return props;
  }
  note(settings, "cut: over 1000 properties");
  var names = py_keys(props);
  var out = dict({});
  for (var i = 0; i < MAX_PROPERTIES; i++) {
    out[names[i]] = props[names[i]];
  }
  return out;
};
var prefix_of = function(label2) {
  return label2 + " - ";
};
var text = function(value) {
  if (is_string(value)) {
    return well_formed(value);
  }
  if (is_missing(value) || is_object(value) || is_array(value)) {
    return "";
  }
  return to_str(value);
};
var amount = function(value) {
  if (is_missing(value)) {
    return null;
  }
  if (is_number(value)) {
    return norm_number(value);
  }
  return parse_money(value);
};
var without = function(obj, py_name) {
  var out = dict({});
  var names = py_keys(obj);
  for (var i = 0; i < len(names); i++) {
    if (names[i] !== py_name) {
      out[names[i]] = obj[names[i]];
    }
  }
  return out;
};
var first_present = function(obj, names) {
  for (var i = 0; i < len(names); i++) {
    var value = field(obj, names[i], null);
    if (!is_missing(value)) {
      return value;
    }
  }
  return null;
};

// mapping.js
var BILLING_AMOUNT = "Billing Amount";
var PAGE_VIEW = "Page View";
var MOBILE_SESSION = "Mobile Session";
var DEFAULTS = dict({ "prefix_properties": true, "track_named_pages": true, "track_categorized_pages": true, "record_page_view": true, "group_prefix": "Group" });
var setting = function(settings, py_name) {
  return field(settings, py_name, DEFAULTS[py_name]);
};
var timestamp = function(call) {
  var seconds = date_value(call instanceof Dict ? call["timestamp"] !== void 0 ? call["timestamp"] : null : field(call, "timestamp", null));
  if (is_missing(seconds)) {
    var seconds = date_value(call instanceof Dict ? call["originalTimestamp"] !== void 0 ? call["originalTimestamp"] : null : field(call, "originalTimestamp", null));
  }
  return seconds;
};
var text_of = function(first2, second, key) {
  var value = text(field(first2, key, null));
  if (value === "") {
    var value = text(field(second, key, null));
  }
  return value;
};
var is_order_completed = function(py_name) {
  return py_name === "ordercompleted" || py_name === "completedorder";
};
var experiment_traits = function(props, settings) {
  var experiment = text(first_present(props, ["experiment_name", "experiment_id"]));
  var variation = text(first_present(props, ["variation_name", "variation_id"]));
  if (experiment === "" || variation === "") {
    return null;
  }
  var traits = dict({});
  traits["Experiment: " + experiment] = text_value(variation, settings);
  return traits;
};
var identify = function(call, settings) {
  var ops = [];
  var user_id = text(call instanceof Dict ? call["userId"] !== void 0 ? call["userId"] : null : field(call, "userId", null));
  var traits = call instanceof Dict ? call["traits"] !== void 0 ? call["traits"] : null : field(call, "traits", null);
  if (!is_object(traits) || size(traits) === 0) {
    var traits = field(call instanceof Dict ? call["context"] !== void 0 ? call["context"] : null : field(call, "context", null), "traits", null);
  }
  var props = clean(traits, "", settings);
  if (user_id !== "") {
    push(ops, ["identify", user_id]);
    props["id"] = text_value(user_id, settings);
  }
  if (size(props) > 0) {
    push(ops, ["set", limited(props, settings)]);
  }
  var mobile2 = call instanceof Dict ? call["mobile"] !== void 0 ? call["mobile"] : null : field(call, "mobile", null);
  if (is_boolean(mobile2) && mobile2 === true) {
    var session = dict({});
    session[MOBILE_SESSION] = "Yes";
    push(ops, ["set", session]);
  }
  return ops;
};
var track = function(call, settings) {
  var event = text(call instanceof Dict ? call["event"] !== void 0 ? call["event"] : null : field(call, "event", null));
  if (event === "") {
    return [];
  }
  var raw = call instanceof Dict ? call["properties"] !== void 0 ? call["properties"] : null : field(call, "properties", null);
  if (!is_object(raw)) {
    var raw = dict({});
  }
  var squashed2 = squash(event);
  var order = is_order_completed(squashed2);
  var products = raw instanceof Dict ? raw["products"] !== void 0 ? raw["products"] : null : field(raw, "products", null);
  if (order && is_array(products)) {
    var raw = without(raw, "products");
  }
  var revenue = raw instanceof Dict ? raw["revenue"] !== void 0 ? raw["revenue"] : null : field(raw, "revenue", null);
  var source = "revenue";
  if (is_missing(revenue) && order) {
    var revenue = raw instanceof Dict ? raw["total"] !== void 0 ? raw["total"] : null : field(raw, "total", null);
    var source = "total";
  }
  var billing = amount(revenue);
  var key_prefix = setting(settings, "prefix_properties") ? prefix_of(event) : "";
  var props = clean(raw, key_prefix, settings);
  if (!is_missing(billing) && source === "revenue") {
    props[key_prefix + "revenue"] = billing;
  }
  if (!is_missing(billing)) {
    props[BILLING_AMOUNT] = billing;
  }
  var ops = [["record", event, limited(props, settings)]];
  if (order && is_array(products)) {
    add_products(ops, key_prefix, products, timestamp(call), settings);
  }
  if (squashed2 === "experimentviewed") {
    var traits = experiment_traits(raw, settings);
    if (!is_missing(traits)) {
      push(ops, ["set", traits]);
    }
  }
  return ops;
};
var add_products = function(ops, key_prefix, products, ts, settings) {
  for (var i = 0; i < len(products); i++) {
    var item = limited(clean(products[i], key_prefix, settings), settings);
    if (size(item) === 0) {
      continue;
    }
    if (!is_missing(ts)) {
      item["_t"] = ts + i;
      item["_d"] = 1;
    }
    push(ops, ["set", item]);
  }
};
var viewed = function(call, kind, label2, settings) {
  var key_prefix = prefix_of(kind);
  var props = clean(call instanceof Dict ? call["properties"] !== void 0 ? call["properties"] : null : field(call, "properties", null), key_prefix, settings);
  var py_name = text(call instanceof Dict ? call["name"] !== void 0 ? call["name"] : null : field(call, "name", null));
  var category = text(call instanceof Dict ? call["category"] !== void 0 ? call["category"] : null : field(call, "category", null));
  if (py_name !== "") {
    props[key_prefix + "name"] = text_value(py_name, settings);
  }
  if (category !== "") {
    props[key_prefix + "category"] = text_value(category, settings);
  }
  return ["record", "Viewed " + label2 + " " + kind, limited(props, settings)];
};
var page = function(call, settings) {
  var ops = [];
  var props = call instanceof Dict ? call["properties"] !== void 0 ? call["properties"] : null : field(call, "properties", null);
  var context_page = field(call instanceof Dict ? call["context"] !== void 0 ? call["context"] : null : field(call, "context", null), "page", null);
  if (setting(settings, "record_page_view")) {
    var view = dict({});
    var url = text_of(props, context_page, "url");
    if (url !== "") {
      view["Viewed URL"] = text_value(url, settings);
    }
    var referrer = text_of(props, context_page, "referrer");
    view["Referrer"] = referrer !== "" ? text_value(referrer, settings) : "Direct";
    push(ops, ["record", PAGE_VIEW, view]);
  }
  var py_name = text_of(call, props, "name");
  var category = text_of(call, props, "category");
  var label2 = "";
  if (py_name !== "" && setting(settings, "track_named_pages")) {
    var label2 = py_name;
  } else if (category !== "" && setting(settings, "track_categorized_pages")) {
    var label2 = category;
  }
  if (label2 !== "") {
    push(ops, viewed(call, "Page", label2, settings));
  }
  return ops;
};
var screen = function(call, settings) {
  var py_name = text_of(call, call instanceof Dict ? call["properties"] !== void 0 ? call["properties"] : null : field(call, "properties", null), "name");
  if (py_name === "") {
    return [];
  }
  return [viewed(call, "Screen", py_name, settings)];
};
var group = function(call, settings) {
  var key_prefix = prefix_of(setting(settings, "group_prefix"));
  var props = clean(call instanceof Dict ? call["traits"] !== void 0 ? call["traits"] : null : field(call, "traits", null), key_prefix, settings);
  var group_id = text(call instanceof Dict ? call["groupId"] !== void 0 ? call["groupId"] : null : field(call, "groupId", null));
  if (group_id !== "") {
    props[key_prefix + "id"] = text_value(group_id, settings);
  }
  if (size(props) === 0) {
    return [];
  }
  return [["set", limited(props, settings)]];
};
var alias = function(call, settings) {
  var user_id = text(call instanceof Dict ? call["userId"] !== void 0 ? call["userId"] : null : field(call, "userId", null));
  var previous = text(call instanceof Dict ? call["previousId"] !== void 0 ? call["previousId"] : null : field(call, "previousId", null));
  if (previous === "") {
    var previous = text(call instanceof Dict ? call["anonymousId"] !== void 0 ? call["anonymousId"] : null : field(call, "anonymousId", null));
  }
  if (user_id === "" || previous === "") {
    return [];
  }
  return [["alias", user_id, previous]];
};
var RULES = dict({ "identify": identify, "track": track, "page": page, "screen": screen, "group": group, "alias": alias });
var opted_out = function(call) {
  var integrations = call instanceof Dict ? call["integrations"] !== void 0 ? call["integrations"] : null : field(call, "integrations", null);
  if (!is_object(integrations)) {
    return false;
  }
  var names = py_keys(integrations);
  var mine = null;
  for (var i = 0; i < len(names); i++) {
    if (lower(names[i]) === "kissmetrics") {
      var value = integrations[names[i]];
      if (is_boolean(value) && value === false) {
        return true;
      }
      if (is_boolean(value) || is_object(value)) {
        var mine = value;
      }
    }
  }
  var everything = integrations instanceof Dict ? integrations["All"] !== void 0 ? integrations["All"] : null : field(integrations, "All", null);
  return is_boolean(everything) && everything === false && is_missing(mine);
};
var map_call = function(call, settings) {
  var rule = field(RULES, text(call instanceof Dict ? call["type"] !== void 0 ? call["type"] : null : field(call, "type", null)), null);
  if (is_missing(rule)) {
    return [];
  }
  if (opted_out(call)) {
    note(settings, "dropped: opted out (integrations)");
    return [];
  }
  return rule(call, settings);
};

// device.js
var DEPTH = 34;
var PROPS = 1e3;
var ITEMS = 8193;
var TEXT = 8193;
var NAME = 65536;
var WORK = 6e4;
function warn(message) {
  try {
    console.warn("[kmgen] " + message);
  } catch (e) {
  }
}
function describe(thrown) {
  try {
    var text3 = String(thrown !== null && typeof thrown === "object" && "message" in thrown ? thrown.message : thrown);
    return text3.length > 200 ? text3.slice(0, 200) + "..." : text3;
  } catch (e) {
    return "a value that cannot be printed";
  }
}
function guard(fn, what) {
  try {
    return fn();
  } catch (e) {
    warn(what + ": " + describe(e));
  }
}
function label(call) {
  var name = call.event || call.name;
  return (typeof call.type === "string" ? call.type : "send") + "(" + (typeof name === "string" ? JSON.stringify(name.slice(0, 50)) : "") + ")";
}
var stack = [];
var work = 0;
var problem = "";
var pending = "";
function note2(why) {
  if (!problem) problem = why;
}
function walk(v, depth) {
  var t = typeof v;
  if (t === "string") {
    if (depth < 2 && v.length > NAME) {
      note2("dropped: a name over " + NAME + " code units");
      return void 0;
    }
    if (depth > 1 && v.length > TEXT) v = v.slice(0, TEXT);
    work -= 1 + (v.length >> 5);
    return v;
  }
  if (t === "number") return isFinite(v) ? v : null;
  if (t === "boolean" || v === null) return v;
  if (t !== "object") return void 0;
  if (--work < 0) {
    note2("cut: more than kmgen maps in one call");
    return void 0;
  }
  if (depth > DEPTH) {
    note2("dropped: nested deeper than 32 levels");
    return void 0;
  }
  var mark = stack.length, out, i, item, n, key;
  try {
    if (typeof v.toJSON === "function") {
      v = v.toJSON();
      if (v === null || typeof v !== "object") return walk(v, depth);
    }
    for (i = 0; i < mark; i++) {
      if (stack[i] === v) {
        note2("dropped: a circular reference");
        return void 0;
      }
    }
    stack.push(v);
    if (Array.isArray(v)) {
      out = [];
      n = v.length;
      if (n > ITEMS) {
        note2("cut: an array over " + ITEMS + " items");
        n = ITEMS;
      }
      for (i = 0; i < n && work > 0; i++) {
        item = walk(v[i], depth + 1);
        out.push(item === void 0 ? null : item);
      }
    } else {
      out = new Dict();
      var names = Object.keys(v);
      n = 0;
      for (i = 0; i < names.length && --work > 0; i++) {
        key = names[i];
        if (key.length > TEXT) {
          note2("dropped: a property name over 8192 code units");
          continue;
        }
        try {
          item = v[key];
        } catch (e) {
          note2("dropped: " + JSON.stringify(key.slice(0, 50)) + ", its getter threw (" + describe(e) + ")");
          continue;
        }
        item = walk(item, depth + 1);
        if (item === void 0) continue;
        if (item !== null && ++n > PROPS) {
          note2("cut: over 1000 properties");
          break;
        }
        out[key] = item;
      }
    }
    stack.pop();
    return out;
  } catch (e) {
    stack.length = mark;
    note2("dropped: a value whose trap or toJSON threw (" + describe(e) + ")");
    return void 0;
  }
}
function copy(value, depth) {
  var base = stack.length, savedWork = work, savedProblem = problem;
  work = WORK;
  problem = "";
  try {
    value = walk(value, depth || 0);
    if (work <= 0) note2("cut: more than kmgen maps in one call");
    pending = pending || problem;
    return value;
  } finally {
    if (stack.length !== base) stack.length = base;
    work = savedWork;
    problem = savedProblem;
  }
}
function ordinary(op) {
  var props = op[op.length - 1];
  if (props === null || typeof props !== "object") return op;
  var out = {};
  for (var k in props) {
    if (k === "__proto__") Object.defineProperty(out, k, { value: props[k], enumerable: true, writable: true, configurable: true });
    else out[k] = props[k];
  }
  op[op.length - 1] = out;
  return op;
}
function assign(target, source) {
  var names = source !== null && typeof source === "object" && !Array.isArray(source) ? Object.keys(source) : [];
  for (var i = 0; i < names.length; i++) target[names[i]] = source[names[i]];
  return target;
}
function queue() {
  var w = window;
  if (!w._kmq || typeof w._kmq.push !== "function") w._kmq = [];
  return w._kmq;
}
var mobile = /Android|BlackBerry|iPhone|iPad|iPod|Opera Mini|IEMobile/i.test(navigator.userAgent);
function send(call, settings, state2) {
  if (state2.debug) state2.messages.push(call);
  var notes = settings.notes, ops = map_call(call, settings), q = queue(), why = pending || notes[0] || "";
  pending = "";
  if (notes.length) notes.length = 0;
  if (why && why.indexOf("opted out") < 0) warn(label(call) + ": " + why + ".");
  for (var i = 0; i < ops.length; i++) q.push(ordinary(ops[i]));
}
function sendMessage(message, extra, settings, state2) {
  var call = copy(message);
  if (call === null || typeof call !== "object" || Array.isArray(call)) call = new Dict();
  send(assign(call, extra), settings, state2);
}
function text2(x) {
  return typeof x === "string" ? x.length > NAME ? "" : x : typeof x === "number" && isFinite(x) ? String(x) : "";
}
function aliasToCurrentIdentity(userId, settings, state2) {
  var w = window;
  function run() {
    guard(function() {
      var current = w.KM.i();
      if (current === null || current === void 0 || current === "") warn("alias(): no Kissmetrics identity to alias from; pass a previousId.");
      else send({ type: "alias", userId, previousId: text2(current) }, settings, state2);
    }, "alias() failed");
  }
  if (w.KM && typeof w.KM.i === "function") run();
  else queue().push(run);
}

// plugin.js
var SETTINGS = assign(new Dict(), { "group_prefix": "Group", "prefix_properties": true, "record_page_view": true, "track_categorized_pages": true, "track_named_pages": true });
SETTINGS.notes = [];
function load(w, d, nonce) {
  var q = w._kmq = w._kmq || [];
  if (w.KM || q.kmgen) return;
  try {
    Object.defineProperty(q, "kmgen", { value: 1 });
  } catch (e) {
  }
  w._kmk = w._kmk || "0123456789abcdef0123456789abcdef01234567";
  w.KM_SKIP_PAGE_VIEW = 1;
  function script(src) {
    var s = d.createElement("script");
    s.async = true;
    s.src = src;
    if (nonce) s.setAttribute("nonce", nonce);
    (d.head || d.documentElement).appendChild(s);
  }
  script("//i.kissmetrics.io/i.js");
  script("//scripts.kissmetrics.io/0123456789abcdef0123456789abcdef01234567.2.js");
}
var first = mobile;
var state = { debug: false, messages: [] };
var aliasTargets = typeof WeakMap === "function" ? /* @__PURE__ */ new WeakMap() : null;
function watchAliases(analytics) {
  var factory = analytics && analytics.eventFactory;
  if (!aliasTargets || !factory || typeof factory.alias !== "function" || factory.alias.kmgen) return;
  var alias2 = factory.alias;
  factory.alias = function(to) {
    var event = alias2.apply(this, arguments);
    try {
      if (event && typeof event === "object") aliasTargets.set(event, to);
    } catch (e) {
    }
    return event;
  };
  factory.alias.kmgen = true;
}
function aliasTarget(event) {
  var to = aliasTargets && aliasTargets.get(event);
  if (typeof to === "string" && to !== "") return to;
  if (event.previousId !== null && event.previousId !== void 0 && event.userId === event.previousId) {
    warn("alias(): the new id was replaced by the current user id " + JSON.stringify(event.userId) + " before it reached kmgen; the call was dropped (call alias before identify).");
    return null;
  }
  return event.userId;
}
function deliver(ctx) {
  guard(function() {
    var event = ctx.event, userId = event.userId;
    if (event.type === "alias" && (userId = aliasTarget(event)) === null) return;
    if (event.type === "alias" && (event.previousId === null || event.previousId === void 0 || event.previousId === "")) {
      aliasToCurrentIdentity(text2(userId), SETTINGS, state);
      return;
    }
    var extra = {};
    if (event.type === "identify" && first) {
      extra.mobile = true;
      first = false;
    }
    sendMessage({
      type: event.type,
      event: event.event,
      userId,
      anonymousId: event.anonymousId,
      previousId: event.previousId,
      groupId: event.groupId,
      name: event.name,
      category: event.category,
      properties: event.properties,
      traits: event.traits,
      timestamp: event.timestamp,
      context: event.context,
      integrations: event.integrations
    }, extra, SETTINGS, state);
  }, "the call failed and was dropped");
  return ctx;
}
var plugin = {
  name: "Kissmetrics (kmgen)",
  type: "destination",
  version: "0.1.0",
  _kmgen: state,
  isLoaded: function() {
    return true;
  },
  load: function(ctx, analytics) {
    guard(function() {
      watchAliases(analytics);
      load(window, document, "");
    }, "kmgen could not load the Kissmetrics library");
    return Promise.resolve();
  },
  identify: deliver,
  track: deliver,
  page: deliver,
  screen: deliver,
  group: deliver,
  alias: deliver
};
var plugin_default = plugin;
export {
  plugin_default as default
};
