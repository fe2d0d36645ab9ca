/* The form designer (templates/designer.html). Plain JS, no inline code (CSP script-src 'self').
   Every user text is set with textContent / .value, never as HTML. The preview fragment is
   server-rendered by Jinja (autoescaped) and parsed with DOMParser (inert: no scripts run). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("ff-designer").textContent);
  var M = cfg.messages, P = cfg.props;
  var root = document.getElementById("designer");
  var CSRF = root.dataset.csrf;
  var LANG = document.documentElement.lang === "en" ? "en" : "zh-CN";
  var TYPES = {};
  cfg.types.forEach(function (t) { TYPES[t.name] = t; });
  var COMMON = ["id", "key", "type", "label", "description", "help", "required", "unique", "indexed", "default",
                "default_formula", "hidden", "readonly", "sensitive", "visible_if"];
  var state = {def: cfg.definition, version: cfg.version, form: 0, sel: null, errors: []};
  var uids = new WeakMap(), byUid = new Map(), nextUid = 1;
  var sortables = [];
  // While editing, a section's `fields` holds the field objects themselves (a rename then needs no
  // bookkeeping); draft() writes them back as keys, the format the engine reads.
  var sectionObjs = new WeakSet();

  if (cfg.form) {
    state.def.forms.forEach(function (f, i) { if (f.key === cfg.form) state.form = i; });
  }
  hydrate(state.def);

  // -- small helpers --------------------------------------------------------------
  var el = window.formflowFormula.el;  // formula-editor.js loads first (defer keeps the order)
  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? String(values[k]) : m; });
  }
  function textOf(label, fallback) {
    if (typeof label === "string") return label || fallback || "";
    if (!label || typeof label !== "object") return fallback || "";
    var order = [LANG, "zh-CN", "en"].concat(Object.keys(label));
    for (var i = 0; i < order.length; i++) if (label[order[i]]) return label[order[i]];
    return fallback || "";
  }
  function uidOf(obj) {
    if (!uids.has(obj)) { var u = "u" + (nextUid++); uids.set(obj, u); byUid.set(u, obj); }
    return uids.get(obj);
  }
  function curForm() { return state.def.forms[state.form]; }
  function sectionsOf(form) { return (form.layout && form.layout.sections) || []; }
  function isSection(obj) { return !!obj && sectionObjs.has(obj); }
  function hydrate(def) {  // section field keys → field objects
    def.forms.forEach(function (form) {
      sectionsOf(form).forEach(function (sec) {
        sectionObjs.add(sec);
        sec.fields = (sec.fields || []).map(function (k) {
          return form.fields.filter(function (f) { return f.key === k; })[0];
        }).filter(Boolean);
      });
      normalize(form);
    });
  }
  function sectionOf(field) {
    return sectionsOf(curForm()).filter(function (s) { return s.fields.indexOf(field) >= 0; })[0] || null;
  }
  function normalize(form) {  // `fields` in display order: fields outside sections, then each section's
    var secs = sectionsOf(form);
    if (!secs.length) return;
    var placed = new Set();
    secs.forEach(function (s) {
      s.fields = s.fields.filter(function (f) { return form.fields.indexOf(f) >= 0 && !placed.has(f); });
      s.fields.forEach(function (f) { placed.add(f); });
    });
    var loose = form.fields.filter(function (f) { return !placed.has(f); });
    form.fields = secs.reduce(function (acc, s) { return acc.concat(s.fields); }, loose);
  }
  function tidyLayout(form) {  // no empty layout objects in the saved definition
    if (!form.layout) return;
    if (form.layout.sections && !form.layout.sections.length) delete form.layout.sections;
    if (!Object.keys(form.layout).length) delete form.layout;
  }
  function typeLabel(name) { return TYPES[name] ? TYPES[name].label : name; }
  function isIdent(key) { return /^[^\W\d]\w*$/u.test(key); }
  function api(method, url, body, headers) {
    var h = {"Content-Type": "application/json", "X-CSRFToken": CSRF, "Accept": "application/json"};
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(url, {method: method, credentials: "same-origin", headers: h,
                       body: body === undefined ? undefined : JSON.stringify(body)});
  }
  function debounce(fn, ms) {
    var t = null;
    return function () { var args = arguments; clearTimeout(t); t = setTimeout(function () { fn.apply(null, args); }, ms); };
  }
  var idSeq = 0;
  function nextId(prefix) { idSeq += 1; return prefix + "-" + idSeq; }

  // -- the model: where a field lives -----------------------------------------------
  function parentOf(field) {  // the subform holding `field`, or null (top level of the current form)
    var found = null;
    curForm().fields.forEach(function (f) {
      if (f.type === "subform" && (f.fields || []).indexOf(field) >= 0) found = f;
    });
    return found;
  }
  function siblingsOf(field) { var p = parentOf(field); return p ? p.fields : curForm().fields; }
  function uniqueKey(base, list) {
    var keys = {}, n = 1;
    list.forEach(function (f) { keys[f.key] = true; });
    while (keys[base + n]) n += 1;
    return base + n;
  }
  function formByTarget(target) {
    if (!target) return null;
    var local = state.def.forms.filter(function (f) { return f.key === target; })[0];
    if (local) return local;
    return cfg.other_forms.filter(function (f) { return f.target === target; })[0] || null;
  }
  function applyRequiredDefaults(f, list) {
    var t = f.type, form = curForm();
    if ((t === "select" || t === "multiselect") && !f.options) f.options = ["option1", "option2"];
    if (t === "subform" && !f.fields) f.fields = [newField("text", [])];
    if (t === "link" && !f.target) {
      var other = state.def.forms.filter(function (x) { return x !== form; })[0];
      f.target = (other || form).key;
    }
    if (t === "formula" && f.formula === undefined) f.formula = "";
    if (t === "serial" && !f.pattern) f.pattern = "{0000}";
    if (t === "lookup") {
      var link = (list || []).filter(function (x) { return x.type === "link"; })[0];
      if (link && !f.link) {
        f.link = link.key;
        var target = formByTarget(link.target);
        if (target && target.fields.length) f.field = target.fields[0].key;
      }
    }
    if (t === "rollup") {
      var src = (list || []).filter(function (x) { return x.type === "subform" || x.type === "link"; })[0];
      if (src && !f.source) f.source = src.key;
      if (!f["function"]) f["function"] = "COUNT";
    }
  }
  function newField(type, list) {
    var f = {key: uniqueKey(type, list), type: type, label: {}};
    f.label[LANG] = typeLabel(type);
    applyRequiredDefaults(f, list);
    return f;
  }
  function changeType(f, type) {
    var props = {};
    (TYPES[type] ? TYPES[type].properties : []).forEach(function (pair) { props[pair[0]] = true; });
    Object.keys(f).forEach(function (k) {
      if (COMMON.indexOf(k) < 0 && !props[k]) delete f[k];
    });
    delete f["default"];
    f.type = type;
    if (TYPES[type] && TYPES[type].computed) { delete f.required; delete f.default_formula; delete f.unique; }
    applyRequiredDefaults(f, siblingsOf(f));
  }
  function draft() {
    return JSON.parse(JSON.stringify(state.def, function (k, v) {
      if (k === "fields" && sectionObjs.has(this)) return v.map(function (f) { return f.key; });
      return v;
    }));
  }

  // -- located errors ---------------------------------------------------------------
  function snapshot() {  // objects by index, as the definition is sent now
    return state.def.forms.map(function (form) {
      return {form: form, fields: form.fields.map(function (f) {
        return {field: f, children: (f.fields || []).slice()};
      }), rules: (form.rules || []).slice()};
    });
  }
  var LOC = /^forms\[(\d+)\](?:\.fields\[(\d+)\](?:\.fields\[(\d+)\])?)?(?:\.rules\[(\d+)\])?(?:\.([A-Za-z_]+))?/;
  function setErrors(list, snap) {
    state.errors = (list || []).map(function (e) {
      var out = {location: e.location || "", message: e.message || "", form: null, field: null, rule: null, prop: null};
      var m = LOC.exec(out.location);
      if (m && snap && snap[+m[1]]) {
        var s = snap[+m[1]];
        out.form = s.form;
        if (m[2] !== undefined && s.fields[+m[2]]) {
          var entry = s.fields[+m[2]];
          out.field = m[3] !== undefined ? (entry.children[+m[3]] || entry.field) : entry.field;
        }
        if (m[4] !== undefined) out.rule = s.rules[+m[4]] || null;
        out.prop = m[5] || null;
      }
      return out;
    });
    renderErrorBox();
    renderCanvas();
    paintPropErrors();
  }
  function errorsOf(field, prop) {
    return state.errors.filter(function (e) {
      return e.field === field && (prop === undefined || e.prop === prop);
    });
  }
  function renderErrorBox(extra) {
    var box = document.getElementById("designer-errors");
    box.replaceChildren();
    if (extra) box.appendChild(extra);
    if (state.errors.length) {
      var ul = el("ul", {className: "located-errors"});
      state.errors.forEach(function (e) {
        var li = el("li", {}, el("code", {text: e.location}), " ", e.message);
        if (e.field || e.form) {
          li.appendChild(el("button", {type: "button", className: "link small", text: M.select, onclick: function () {
            var fi = state.def.forms.indexOf(e.form);
            if (fi >= 0) state.form = fi;
            state.sel = e.field;
            render();
          }}));
        }
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    box.hidden = !box.firstChild;
  }

  // -- forms list -------------------------------------------------------------------
  function renderForms() {
    var ul = document.getElementById("form-list");
    ul.replaceChildren();
    state.def.forms.forEach(function (form, i) {
      var b = el("button", {type: "button", className: "link form-tab", "data-form": form.key,
                            "aria-current": i === state.form ? "true" : null,
                            onclick: function () { state.form = i; state.sel = null; render(); }},
                 textOf(form.label, form.key));
      ul.appendChild(el("li", {}, b, " ", el("code", {className: "muted small", text: form.key})));
    });
    document.getElementById("canvas-form-name").textContent = textOf(curForm().label, curForm().key);
  }
  document.getElementById("add-form").addEventListener("click", function () {
    var keyInput = document.getElementById("new-form-key"), labelInput = document.getElementById("new-form-label");
    var key = keyInput.value.trim();
    if (!key) { keyInput.focus(); return; }
    var label = {};
    label[LANG] = labelInput.value.trim() || key;
    var form = {key: key, label: label, fields: []};
    state.def.forms.push(form);
    state.form = state.def.forms.length - 1;
    form.fields.push(newField("text", form.fields));
    state.sel = null;
    keyInput.value = ""; labelInput.value = "";
    changed();
  });

  // -- palette ----------------------------------------------------------------------
  function renderPalette() {
    var ul = document.getElementById("palette");
    cfg.types.forEach(function (t) {
      var li = el("li", {className: "palette-item", "data-type": t.name},
        el("button", {type: "button", className: "secondary small", "data-add-type": t.name, title: M.add_field},
           t.label));
      ul.appendChild(li);
    });
    ul.addEventListener("click", function (event) {  // delegated: Sortable's clones carry no listeners
      var b = event.target.closest("[data-add-type]");
      if (b && ul.contains(b)) addField(b.dataset.addType, null);
    });
    if (window.Sortable) {
      window.Sortable.create(ul, {group: {name: "fields", pull: "clone", put: false}, sort: false,
                                  forceFallback: true, fallbackOnBody: true});
    }
  }
  function addField(type, subform) {
    var form = curForm(), list = subform ? subform.fields : form.fields;
    var f = newField(type, list);
    list.push(f);
    // pressing a type while a section (or one of its fields) is selected adds it to that section
    var sec = subform ? null : isSection(state.sel) ? state.sel : state.sel ? sectionOf(state.sel) : null;
    if (sec && sectionsOf(form).indexOf(sec) >= 0) sec.fields.push(f);
    state.sel = f;
    changed();
  }

  // -- canvas -----------------------------------------------------------------------
  function fieldCard(f, list, child) {
    var errs = errorsOf(f);
    var li = el("li", {className: "d-field" + (f === state.sel ? " selected" : "") + (errs.length ? " d-has-error" : ""),
                       "data-uid": uidOf(f), "data-key": f.key, "data-type": f.type});
    var name = textOf(f.label, f.key);
    var head = el("div", {className: "d-field-head"},
      el("span", {className: "d-handle", "aria-hidden": "true", text: "⠿"}),
      el("button", {type: "button", className: "link d-select", "aria-pressed": f === state.sel ? "true" : "false",
                    onclick: function () { state.sel = f; render(); }}, name),
      el("code", {className: "small", text: f.key}),
      el("span", {className: "badge", text: typeLabel(f.type)}),
      f.required ? el("span", {className: "req", "aria-hidden": "true", text: "*"}) : null,
      el("span", {className: "spacer"}),
      el("button", {type: "button", className: "secondary small", "data-move": "up", "aria-label": M.move_up + ": " + name,
                    disabled: list.indexOf(f) === 0, onclick: function () { move(list, f, -1); }}, "↑"),
      el("button", {type: "button", className: "secondary small", "data-move": "down", "aria-label": M.move_down + ": " + name,
                    disabled: list.indexOf(f) === list.length - 1, onclick: function () { move(list, f, 1); }}, "↓"),
      el("button", {type: "button", className: "secondary small", "data-delete": "1", "aria-label": M["delete"] + ": " + name,
                    onclick: function () { remove(list, f); }}, "✕"));
    li.appendChild(head);
    errs.forEach(function (e) { li.appendChild(el("p", {className: "field-error", text: (e.prop ? e.prop + ": " : "") + e.message})); });
    if (f.type === "subform" && !child) {
      var ol = el("ol", {className: "d-children canvas", "data-parent": uidOf(f), "data-empty": M.drop_here,
                         "aria-label": M.children + ": " + name});
      (f.fields || []).forEach(function (c) { ol.appendChild(fieldCard(c, f.fields, true)); });
      li.appendChild(ol);
      var sel = el("select", {"aria-label": M.add_field + " (" + name + ")", "data-child-type": f.key});
      cfg.types.forEach(function (t) { if (t.name !== "subform") sel.appendChild(el("option", {value: t.name, text: t.label})); });
      li.appendChild(el("div", {className: "d-add-child"}, sel,
        el("button", {type: "button", className: "secondary small", "data-add-child": f.key,
                      onclick: function () { f.fields = f.fields || []; addField(sel.value, f); }}, M.add_field)));
    }
    return li;
  }
  function move(list, f, delta) {
    var i = list.indexOf(f), j = i + delta;
    if (j < 0 || j >= list.length) return;
    list.splice(i, 1);
    list.splice(j, 0, f);
    if (list === state.loose) {  // a filtered copy: write the new order back into the form
      var form = curForm();
      form.fields = list.concat(form.fields.filter(function (x) { return list.indexOf(x) < 0; }));
    }
    changed();
    var btn = document.querySelector('[data-uid="' + uidOf(f) + '"] [data-move="' + (delta < 0 ? "up" : "down") + '"]');
    if (btn && !btn.disabled) btn.focus();
  }
  function remove(list, f) {
    list.splice(list.indexOf(f), 1);
    var form = curForm(), at = form.fields.indexOf(f);
    if (at >= 0) form.fields.splice(at, 1);  // a field shown in a section is also a field of the form
    if (state.sel === f || (f.fields || []).indexOf(state.sel) >= 0) state.sel = null;
    changed();
  }
  function looseFields(form) {
    var placed = new Set();
    sectionsOf(form).forEach(function (s) { s.fields.forEach(function (f) { placed.add(f); }); });
    return form.fields.filter(function (f) { return !placed.has(f); });
  }
  function sectionCard(sec, i, secs) {
    var name = textOf(sec.label, fmt(M.section_n, {n: i + 1}));
    var selected = state.sel === sec;
    var box = el("section", {className: "d-section" + (selected ? " selected" : ""), "data-uid": uidOf(sec),
                             "aria-label": M.section + ": " + name});
    box.appendChild(el("div", {className: "d-section-head"},
      el("button", {type: "button", className: "link d-select d-section-title", "aria-pressed": selected ? "true" : "false",
                    onclick: function () { state.sel = sec; render(); }}, name),
      el("span", {className: "badge", text: fmt(M.n_columns, {n: sec.columns || (curForm().layout || {}).columns || 1})}),
      sec.collapsed ? el("span", {className: "badge", text: M.collapsed}) : null,
      el("span", {className: "spacer"}),
      el("button", {type: "button", className: "secondary small", "data-move": "up", "aria-label": M.move_up + ": " + name,
                    disabled: i === 0, onclick: function () { move(secs, sec, -1); }}, "↑"),
      el("button", {type: "button", className: "secondary small", "data-move": "down", "aria-label": M.move_down + ": " + name,
                    disabled: i === secs.length - 1, onclick: function () { move(secs, sec, 1); }}, "↓"),
      el("button", {type: "button", className: "secondary small", "data-delete-section": "1",
                    "aria-label": M.delete_section + ": " + name, title: M.delete_section,
                    onclick: function () { removeSection(sec); }}, "✕")));
    var ol = el("ol", {className: "canvas d-section-fields", "data-section": uidOf(sec), "data-empty": M.drop_here,
                       "aria-label": M.section + ": " + name});
    sec.fields.forEach(function (f) { ol.appendChild(fieldCard(f, sec.fields, false)); });
    box.appendChild(ol);
    return box;
  }
  function addSection() {
    var form = curForm();
    form.layout = form.layout || {};
    form.layout.sections = form.layout.sections || [];
    var label = {};
    label[LANG] = fmt(M.section_n, {n: form.layout.sections.length + 1});
    var sec = {label: label, fields: []};
    sectionObjs.add(sec);
    form.layout.sections.push(sec);
    state.sel = sec;
    changed();
  }
  function removeSection(sec) {  // its fields stay in the form, outside any section
    var form = curForm(), secs = sectionsOf(form);
    secs.splice(secs.indexOf(sec), 1);
    if (state.sel === sec) state.sel = null;
    tidyLayout(form);
    changed();
  }
  function renderCanvas() {
    var ol = document.getElementById("canvas");
    var secBox = document.getElementById("sections");
    sortables.forEach(function (s) { s.destroy(); });
    sortables = [];
    ol.replaceChildren();
    secBox.replaceChildren();
    var form = curForm();
    normalize(form);
    var loose = state.loose = looseFields(form);
    loose.forEach(function (f) { ol.appendChild(fieldCard(f, loose, false)); });
    var secs = sectionsOf(form);
    secs.forEach(function (sec, i) { secBox.appendChild(sectionCard(sec, i, secs)); });
    if (!window.Sortable) return;
    var opts = {group: {name: "fields", put: true}, animation: 120, forceFallback: true, fallbackOnBody: true,
                handle: ".d-handle", onSort: syncSoon};
    sortables.push(window.Sortable.create(ol, opts));
    secBox.querySelectorAll("ol.d-section-fields").forEach(function (list) {
      sortables.push(window.Sortable.create(list, opts));
    });
    root.querySelectorAll("ol.d-children").forEach(function (child) {
      sortables.push(window.Sortable.create(child, {
        group: {name: "fields", put: function (to, from, item) { return item.dataset.type !== "subform"; }},
        animation: 120, forceFallback: true, fallbackOnBody: true, handle: ".d-handle", onSort: syncSoon}));
    });
  }
  var syncing = false;
  function syncSoon() {
    if (syncing) return;
    syncing = true;
    setTimeout(function () { syncing = false; syncFromDom(); }, 0);
  }
  function syncFromDom() {  // the order after a drag: read the canvas back into the model
    var form = curForm();
    function readList(ol, subform) {
      var out = [];
      Array.prototype.forEach.call(ol.children, function (li) {
        if (li.classList.contains("sortable-fallback")) return;
        if (li.dataset.uid && byUid.has(li.dataset.uid)) out.push(byUid.get(li.dataset.uid));
        else if (li.dataset.type && TYPES[li.dataset.type]) {
          var f = newField(li.dataset.type, subform ? subform.fields : form.fields);
          out.push(f);
          state.sel = f;
        }
      });
      return out;
    }
    var canvas = document.getElementById("canvas");
    var top = readList(canvas, null);
    root.querySelectorAll("ol.d-section-fields").forEach(function (ol) {
      var sec = byUid.get(ol.dataset.section);
      if (!sec) return;
      sec.fields = readList(ol, null);
      top = top.concat(sec.fields);
    });
    root.querySelectorAll("ol.d-children").forEach(function (ol) {
      var sub = byUid.get(ol.dataset.parent);
      if (sub) sub.fields = readList(ol, sub);
    });
    form.fields = top;
    changed();
    root.dataset.drops = String((+root.dataset.drops || 0) + 1);  // tests wait for this after a drag
  }

  // -- property panel ---------------------------------------------------------------
  function row(labelText, control, errorProp, field) {
    var id = control.id || nextId("p");
    var target = control.querySelector && !/^(INPUT|SELECT|TEXTAREA)$/.test(control.tagName) ? control.querySelector("input, select, textarea") : control;
    if (target && !target.id) target.id = id;
    var wrap = el("div", {className: "prop", "data-prop": errorProp || ""},
      el("label", {"for": target ? target.id : id, text: labelText}), control);
    if (field && errorProp) wrap.appendChild(el("div", {className: "prop-errors", "data-errors-for": errorProp}));
    return wrap;
  }
  function textInput(value, onchange, attrs) {
    var input = el("input", Object.assign({type: "text", value: value === undefined || value === null ? "" : String(value),
                                          autocomplete: "off"}, attrs || {}));
    input.addEventListener("input", function () { onchange(input.value); });
    return input;
  }
  function setOrDelete(obj, key, value) {
    if (value === "" || value === null || value === undefined || (Array.isArray(value) && !value.length)) delete obj[key];
    else obj[key] = value;
  }
  function checkbox(obj, key, onchange, defaultOn) {
    var input = el("input", {type: "checkbox", checked: defaultOn ? obj[key] !== false : !!obj[key], "data-name": key});
    input.addEventListener("change", function () {
      if (input.checked === !!defaultOn) delete obj[key]; else obj[key] = input.checked;
      onchange();
    });
    return input;
  }
  function selectOf(options, value, onchange, allowEmpty) {
    var sel = el("select", {});
    if (allowEmpty) sel.appendChild(el("option", {value: "", text: M.none}));
    options.forEach(function (o) { sel.appendChild(el("option", {value: o.value, text: o.label})); });
    sel.value = value === undefined || value === null ? "" : String(value);
    sel.addEventListener("change", function () { onchange(sel.value); });
    return sel;
  }
  function labelInputs(obj, prop, field, keyPrefix) {
    var out = [];
    [["zh-CN", P.label_zh], ["en", P.label_en]].forEach(function (pair) {
      var lang = pair[0];
      var current = obj[prop] && typeof obj[prop] === "object" ? obj[prop][lang] : (lang === LANG ? obj[prop] : "");
      out.push(row(pair[1], textInput(current, function (v) {
        var label = obj[prop] && typeof obj[prop] === "object" ? obj[prop] : (obj[prop] ? {} : {});
        if (typeof obj[prop] === "string" && obj[prop]) label[LANG] = obj[prop];
        if (v) label[lang] = v; else delete label[lang];
        if (prop !== "label" && !Object.keys(label).length) delete obj[prop]; else obj[prop] = label;
        changed({keepProps: true});
      }, {"data-name": keyPrefix + lang}), prop, field));
    });
    return out;
  }

  function keyChoices(f, prop) {
    var list = siblingsOf(f);
    function keys(fields) { return (fields || []).map(function (x) { return {value: x.key, label: x.key}; }); }
    if (f.type === "lookup" && prop === "link") return keys(list.filter(function (x) { return x.type === "link"; }));
    if (f.type === "lookup" && prop === "field") {
      var link = list.filter(function (x) { return x.key === f.link; })[0];
      var target = link && formByTarget(link.target);
      return keys(target && target.fields);
    }
    if (f.type === "rollup" && prop === "source") {
      return keys(list.filter(function (x) { return x.type === "subform" || x.type === "link"; }));
    }
    if (f.type === "rollup" && prop === "field") {
      var src = list.filter(function (x) { return x.key === f.source; })[0];
      if (!src) return [];
      if (src.type === "subform") return keys(src.fields);
      var t = formByTarget(src.target);
      return keys(t && t.fields);
    }
    if (f.type === "link" && prop === "display_field") {
      var tf = formByTarget(f.target);
      return keys(tf && tf.fields);
    }
    return keys(list.filter(function (x) { return x !== f; }));
  }
  function exprContext(f, prop) {  // which fields an expression of `f` sees: {subform: key|null}
    var parent = f ? parentOf(f) : null;
    if (parent) return {subform: parent.key};
    if (f && f.type === "rollup" && prop === "where") {
      var src = siblingsOf(f).filter(function (x) { return x.key === f.source; })[0];
      if (src && src.type === "subform") return {subform: src.key};
      if (src && src.type === "link" && state.def.forms.some(function (x) { return x.key === src.target; })) {
        return {subform: null, form: src.target};  // the linked records' fields (a form of this app)
      }
    }
    return {subform: null};
  }

  function optionsEditor(f) {
    var box = el("div", {className: "options-editor", "data-options": f.key});
    var opts = f.options || (f.options = []);
    opts.forEach(function (o, i) {
      var obj = typeof o === "string" ? {value: o} : o;
      function store() {
        var label = obj.label || {};
        Object.keys(label).forEach(function (k) { if (!label[k]) delete label[k]; });
        opts[i] = Object.keys(label).length ? {value: obj.value, label: label} : obj.value;
        changed({keepProps: true});
      }
      var value = textInput(obj.value, function (v) { obj.value = v; store(); },
                            {"aria-label": M.option_value + " " + (i + 1), "data-option-value": i});
      var zh = textInput(obj.label && obj.label["zh-CN"], function (v) { obj.label = obj.label || {}; obj.label["zh-CN"] = v; store(); },
                         {"aria-label": M.option_label_zh + " " + (i + 1)});
      var en = textInput(obj.label && obj.label.en, function (v) { obj.label = obj.label || {}; obj.label.en = v; store(); },
                         {"aria-label": M.option_label_en + " " + (i + 1)});
      box.appendChild(el("div", {className: "option-row"}, value, zh, en,
        el("button", {type: "button", className: "secondary small", "aria-label": M.move_up + " " + (i + 1), disabled: i === 0,
                      onclick: function () { opts.splice(i - 1, 0, opts.splice(i, 1)[0]); changed(); }}, "↑"),
        el("button", {type: "button", className: "secondary small", "aria-label": M.move_down + " " + (i + 1),
                      disabled: i === opts.length - 1,
                      onclick: function () { opts.splice(i + 1, 0, opts.splice(i, 1)[0]); changed(); }}, "↓"),
        el("button", {type: "button", className: "secondary small", "aria-label": M.remove + " " + (i + 1),
                      onclick: function () { opts.splice(i, 1); changed(); }}, "✕")));
    });
    box.appendChild(el("button", {type: "button", className: "secondary small", "data-add-option": f.key,
                                  onclick: function () { opts.push("option" + (opts.length + 1)); changed(); }}, M.add_option));
    return box;
  }

  function propertyControl(f, name, schema) {
    var value = f[name];
    function set(v) { setOrDelete(f, name, v); changed({keepProps: true}); }
    if (name === "target") {
      var choices = state.def.forms.map(function (x) { return {value: x.key, label: textOf(x.label, x.key) + " (" + x.key + ")"}; })
        .concat(cfg.other_forms.map(function (x) { return {value: x.target, label: x.label + " (" + x.target + ")"}; }));
      return selectOf(choices, value, function (v) { setOrDelete(f, name, v); changed(); }, false);
    }
    if (schema.$ref === "#/$defs/expression") return formulaEditor(f, name, exprContext(f, name));
    if (schema.$ref === "#/$defs/key") return selectOf(keyChoices(f, name), value, function (v) { setOrDelete(f, name, v); changed(); }, true);
    if (schema["enum"]) {
      return selectOf(schema["enum"].map(function (v) { return {value: v, label: String(v)}; }), value,
                      function (v) { set(v); }, true);
    }
    var type = schema.type;
    if (type === "boolean") return checkbox(f, name, function () { changed({keepProps: true}); });
    if (type === "integer") {
      return textInput(value, function (v) { set(/^-?\d+$/.test(v.trim()) ? parseInt(v, 10) : v.trim() === "" ? "" : v); },
                       {inputmode: "numeric", "data-name": name});
    }
    if (type === "array") {
      return textInput(Array.isArray(value) ? value.join(", ") : value, function (v) {
        set(v.split(",").map(function (s) { return s.trim(); }).filter(Boolean));
      }, {"data-name": name});
    }
    return textInput(value, function (v) { set(v); }, {"data-name": name});
  }

  function defaultControl(f) {
    var t = f.type;
    if (t === "boolean") {
      return selectOf([{value: "true", label: M.yes}, {value: "false", label: M.no}],
                      f["default"] === undefined ? "" : String(f["default"]),
                      function (v) { setOrDelete(f, "default", v === "" ? "" : v === "true"); changed({keepProps: true}); }, true);
    }
    if (t === "select") {
      return selectOf((f.options || []).map(function (o) { var v = typeof o === "string" ? o : o.value; return {value: v, label: v}; }),
                      f["default"], function (v) { setOrDelete(f, "default", v); changed({keepProps: true}); }, true);
    }
    var shown = Array.isArray(f["default"]) ? f["default"].join(", ") : f["default"];
    return textInput(shown, function (v) {
      setOrDelete(f, "default", t === "multiselect" ? v.split(",").map(function (s) { return s.trim(); }).filter(Boolean) : v);
      changed({keepProps: true});
    }, {"data-name": "default"});
  }

  function renderProps() {
    var box = document.getElementById("props");
    box.replaceChildren();
    if (isSection(state.sel)) {
      if (sectionsOf(curForm()).indexOf(state.sel) >= 0) { renderSectionProps(box, state.sel); return; }
      state.sel = null;
    }
    var f = state.sel;
    if (f && siblingsOf(f).indexOf(f) < 0) f = state.sel = null;
    if (!f) { renderFormProps(box); return; }
    var t = TYPES[f.type] || {properties: [], computed: false};
    box.appendChild(el("button", {type: "button", className: "link", id: "props-form",
                                  onclick: function () { state.sel = null; render(); }}, "‹ " + M.form_props));
    box.appendChild(el("p", {className: "muted small", text: typeLabel(f.type)}));
    box.appendChild(el("div", {className: "prop-errors", "data-errors-for": "", id: "props-field-errors"}));
    var typeSel = selectOf(cfg.types.filter(function (x) { return x.name !== "subform" || !parentOf(f); })
                             .map(function (x) { return {value: x.name, label: x.label}; }), f.type,
                           function (v) { changeType(f, v); changed(); }, false);
    typeSel.id = "prop-type";
    box.appendChild(row(P.type, typeSel, "type", f));
    var key = textInput(f.key, function (v) { f.key = v.trim(); changed({keepProps: true}); }, {id: "prop-key", "data-name": "key"});
    box.appendChild(row(P.key, key, "key", f));
    labelInputs(f, "label", f, "label-").forEach(function (r) { box.appendChild(r); });
    var checks = el("div", {className: "checks"});
    var names = t.computed ? ["sensitive", "hidden"] : f.type === "subform" ? ["required", "hidden", "readonly"]
      : ["required", "unique", "indexed", "sensitive", "hidden", "readonly"];
    names.forEach(function (name) {
      var cb = checkbox(f, name, function () { changed({keepProps: true}); }, name === "sensitive" && t.sensitive);
      cb.id = "prop-" + name;
      checks.appendChild(el("span", {className: "check"}, cb, el("label", {"for": cb.id, text: P[name] || name})));
    });
    box.appendChild(checks);
    if (!t.computed && f.type !== "subform") {
      var d = defaultControl(f); d.id = "prop-default";
      box.appendChild(row(P["default"], d, "default", f));
      box.appendChild(row(P.default_formula, formulaEditor(f, "default_formula", exprContext(f)), "default_formula", f));
    }
    box.appendChild(row(P.visible_if, formulaEditor(f, "visible_if", exprContext(f)), "visible_if", f));
    t.properties.forEach(function (pair) {  // in the registry's order
      var name = pair[0], schema = pair[1] || {};
      if (name === "fields") return;
      if (name === "options") {
        box.appendChild(el("fieldset", {className: "prop", "data-prop": "options"}, el("legend", {text: P.options}),
                           optionsEditor(f), el("div", {className: "prop-errors", "data-errors-for": "options"})));
        return;
      }
      var control = propertyControl(f, name, schema);
      if (!control.id && /^(INPUT|SELECT|TEXTAREA)$/.test(control.tagName)) control.id = "prop-" + name;
      box.appendChild(row(P[name] || name, control, name, f));
    });
    var parent = parentOf(f), form = curForm(), secs = sectionsOf(form);
    var subforms = form.fields.filter(function (x) { return x.type === "subform" && x !== f; });
    if (f.type === "subform") subforms = [];
    if (subforms.length || secs.length) {  // keyboard alternative to dragging between sections and subforms
      var choices = [{value: "", label: secs.length ? M.no_section : textOf(form.label, form.key)}].concat(
        secs.map(function (s, i) { return {value: uidOf(s), label: M.section + ": " + textOf(s.label, fmt(M.section_n, {n: i + 1}))}; }),
        subforms.map(function (s) { return {value: uidOf(s), label: M.children + ": " + textOf(s.label, s.key)}; }));
      var home = parent || sectionOf(f);
      var mover = selectOf(choices, home ? uidOf(home) : "", function (v) {
        var from = parentOf(f);
        if (from) from.fields.splice(from.fields.indexOf(f), 1);
        secs.forEach(function (s) { var at = s.fields.indexOf(f); if (at >= 0) s.fields.splice(at, 1); });
        var to = v ? byUid.get(v) : null;
        if (to && !isSection(to)) {  // into a subform: no longer a field of the form itself
          var at = form.fields.indexOf(f);
          if (at >= 0) form.fields.splice(at, 1);
          to.fields = to.fields || [];
          to.fields.push(f);
        } else {
          if (form.fields.indexOf(f) < 0) form.fields.push(f);
          else { form.fields.splice(form.fields.indexOf(f), 1); form.fields.push(f); }
          if (to) to.fields.push(f);
        }
        changed();
      }, false);
      mover.id = "prop-parent";
      box.appendChild(row(M.move_into, mover, null, null));
    }
    paintPropErrors();
  }
  function renderSectionProps(box, sec) {
    var form = curForm();
    box.appendChild(el("button", {type: "button", className: "link", id: "props-form",
                                  onclick: function () { state.sel = null; render(); }}, "‹ " + M.form_props));
    box.appendChild(el("p", {className: "muted small", text: M.section}));
    labelInputs(sec, "label", null, "section-label-").forEach(function (r) { box.appendChild(r); });
    labelInputs(sec, "description", null, "section-description-").forEach(function (r, i) {
      r.querySelector("label").textContent = i ? M.description_en : M.description_zh;
      box.appendChild(r);
    });
    var cols = columnsSelect(sec.columns, function (v) { setOrDelete(sec, "columns", v); changed({keepProps: true}); },
                             (form.layout || {}).columns || 1);
    cols.id = "section-columns";
    box.appendChild(row(M.columns, cols, null, null));
    box.appendChild(row(P.visible_if, formulaEditor(sec, "visible_if", {subform: null}), null, null));
    var folded = checkbox(sec, "collapsed", function () { changed({keepProps: true}); });
    folded.id = "section-collapsed";
    box.appendChild(el("div", {className: "checks"}, el("span", {className: "check"}, folded,
                                                        el("label", {"for": folded.id, text: M.collapsed}))));
    box.appendChild(el("button", {type: "button", className: "secondary", id: "delete-section",
                                  onclick: function () { removeSection(sec); }}, M.delete_section));
  }
  function columnsSelect(value, onchange, inherited) {  // 1–4, or empty: inherit
    var choices = [1, 2, 3, 4].map(function (n) { return {value: String(n), label: fmt(M.n_columns, {n: n})}; });
    var sel = selectOf(choices, value, function (v) { onchange(v ? parseInt(v, 10) : ""); }, true);
    sel.options[0].textContent = fmt(M.n_columns, {n: inherited});
    return sel;
  }
  function paintPropErrors() {  // errors of the selected field / the form's rules, in place (keeps focus)
    var box = document.getElementById("props");
    box.querySelectorAll(".prop-errors").forEach(function (slot) {
      var list = [];
      if (slot.dataset.rule !== undefined) {
        var rule = (curForm().rules || [])[+slot.dataset.rule];
        list = state.errors.filter(function (e) { return rule && e.rule === rule; });
      } else if (state.sel) {
        var prop = slot.dataset.errorsFor;
        list = state.errors.filter(function (e) {
          if (e.field !== state.sel) return false;
          if (prop) return e.prop === prop;
          return !e.prop || !box.querySelector('.prop-errors[data-errors-for="' + e.prop + '"]');
        });
      }
      slot.replaceChildren.apply(slot, list.map(function (e) {
        return el("p", {className: "field-error", text: (slot.dataset.errorsFor ? "" : (e.prop ? e.prop + ": " : "")) + e.message});
      }));
    });
  }

  function renderFormProps(box) {
    var form = curForm();
    box.appendChild(el("p", {className: "muted", text: M.no_field}));
    box.appendChild(el("h3", {text: M.form_props}));
    box.appendChild(row(M.form_key, textInput(form.key, function (v) { form.key = v.trim(); changed({keepProps: true}); },
                                                {id: "form-key"}), null, null));
    labelInputs(form, "label", null, "form-label-").forEach(function (r) { box.appendChild(r); });
    var tf = selectOf(form.fields.filter(function (x) { return x.type !== "subform"; })
                        .map(function (x) { return {value: x.key, label: x.key}; }), form.title_field,
                      function (v) { setOrDelete(form, "title_field", v); changed({keepProps: true}); }, true);
    tf.id = "form-title-field";
    box.appendChild(row(M.title_field, tf, null, null));
    var cols = columnsSelect((form.layout || {}).columns, function (v) {
      form.layout = form.layout || {};
      setOrDelete(form.layout, "columns", v);
      tidyLayout(form);
      changed({keepProps: true});
    }, 1);
    cols.id = "form-columns";
    box.appendChild(row(M.columns, cols, null, null));
    box.appendChild(el("h3", {text: M.rules}));
    var rules = form.rules || [];
    rules.forEach(function (rule, i) {
      var fs = el("fieldset", {className: "rule", "data-rule": i}, el("legend", {text: M.rules + " " + (i + 1)}));
      fs.appendChild(row(M.rule_formula, formulaEditor(rule, "formula", {subform: null}), null, null));
      [["zh-CN", M.rule_message_zh], ["en", M.rule_message_en]].forEach(function (pair) {
        var msg = rule.message && typeof rule.message === "object" ? rule.message[pair[0]] : (pair[0] === LANG ? rule.message : "");
        fs.appendChild(row(pair[1], textInput(msg, function (v) {
          var m = rule.message && typeof rule.message === "object" ? rule.message : {};
          if (v) m[pair[0]] = v; else delete m[pair[0]];
          rule.message = m;
          changed({keepProps: true});
        }, {"data-name": "rule-message-" + pair[0]}), null, null));
      });
      fs.appendChild(el("div", {className: "prop-errors", "data-rule": String(i)}));
      fs.appendChild(el("button", {type: "button", className: "secondary small",
                                   onclick: function () { rules.splice(i, 1); if (!rules.length) delete form.rules; changed(); }}, M.remove));
      box.appendChild(fs);
    });
    box.appendChild(el("button", {type: "button", className: "secondary", id: "add-rule", onclick: function () {
      form.rules = form.rules || [];
      var message = {};
      message[LANG] = "";
      form.rules.push({formula: "", message: message});
      changed();
    }}, M.add_rule));
    paintPropErrors();
  }

  // -- formula editor -----------------------------------------------------------------
  // The editor itself is static/formula-editor.js (shared with the permissions editor); here it
  // gets what only the designer knows: the draft to check against and the fields in scope.
  function formulaEditor(obj, prop, ctx) {
    return window.formflowFormula.editor({
      id: nextId("fx"), name: prop, formula: prop, value: obj[prop] || "",
      onChange: function (value) { setOrDelete(obj, prop, value); changed({keepProps: true}); },
      check: function (source) {
        var body = {source: source, app: cfg.app, form: (ctx && ctx.form) || curForm().key, definition: draft()};
        if (ctx && ctx.subform) body.subform = ctx.subform;
        return api("POST", "/api/v1/expressions/check", body).then(function (r) { return r.json(); }).then(function (data) {
          if (!data.diagnostics && data.detail) return [{message: data.detail, line: 1, column: 1, end_column: source.length + 1}];
          return data.diagnostics || [];
        });
      },
      chips: function () { return chipFields(ctx); },
      functions: cfg.functions,
      messages: {fields: M.fields, functions: M.functions, filter_functions: M.filter_functions,
                 ok: M.formula_ok, checking: M.checking}
    });
  }
  function chipFields(ctx) {
    var other = ctx && ctx.form && state.def.forms.filter(function (x) { return x.key === ctx.form; })[0];
    var form = other || curForm(), out = [];
    function ref(k) { return isIdent(k) ? k : "{" + k + "}"; }
    if (ctx && ctx.subform) {
      var sub = form.fields.filter(function (x) { return x.key === ctx.subform; })[0];
      (sub && sub.fields || []).forEach(function (c) { out.push({ref: ref(c.key), title: textOf(c.label, c.key)}); });
      form.fields.forEach(function (f) { if (f.type !== "subform") out.push({ref: "$parent." + ref(f.key), title: textOf(f.label, f.key)}); });
      return out;
    }
    form.fields.forEach(function (f) {
      out.push({ref: ref(f.key), title: textOf(f.label, f.key)});
      if (f.type === "subform") {
        (f.fields || []).forEach(function (c) { out.push({ref: ref(f.key) + "." + ref(c.key), title: textOf(c.label, c.key)}); });
      }
    });
    return out;
  }

  // -- preview ----------------------------------------------------------------------
  // The fragment is interactive: static/entry.js is mounted on it and evaluates what the builder
  // types against the draft (POST …/design/preview/evaluate, the draft re-sent each time since it
  // keeps changing); saving and uploads stay off. Each new fragment gets a new mount, carrying
  // over the values typed so far.
  var previewSeq = 0, previewMount = null, previewForm = null;
  function mountPreview(box) {
    var root = box.querySelector(".preview-form");
    var texts = box.querySelector("script[data-ff-messages]");
    var carried = null, given = [];
    if (previewMount) {
      if (previewForm === curForm().key) carried = previewMount.values();
      previewMount.destroy();
      previewMount = null;
    }
    Object.keys(carried || {}).forEach(function (k) { if (carried[k] !== null) given.push(k); });
    previewForm = curForm().key;
    if (!root || !window.formflowEntry) return;
    previewMount = window.formflowEntry.mount(root, {
      previewUrl: root.dataset.evaluateUrl, csrf: CSRF, save: false, defaults: true,
      messages: texts ? JSON.parse(texts.textContent) : {}, record: carried, touched: given,
      body: function () { return {definition: draft(), form: previewForm}; }
    });
  }
  var refreshPreview = debounce(function () {
    var seq = ++previewSeq, snap = snapshot();
    api("POST", root.dataset.previewUrl, {definition: draft(), form: curForm().key}).then(function (r) {
      if (seq !== previewSeq) return null;
      var note = document.getElementById("preview-note");
      if (r.ok) {
        return r.text().then(function (html) {
          if (seq !== previewSeq) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var box = document.getElementById("preview");
          box.replaceChildren.apply(box, Array.prototype.map.call(doc.body.childNodes, function (n) { return document.importNode(n, true); }));
          mountPreview(box);
          note.hidden = true;
          if (state.errors.length) setErrors([], snap);
        });
      }
      return r.json().then(function (data) {
        if (seq !== previewSeq) return;
        note.textContent = M.preview_error;
        note.hidden = false;
        setErrors(data.errors || [], snap);
      });
    })["catch"](function () {});
  }, 500);

  // -- save: dry run → plan → confirm with If-Match ------------------------------------
  var status = document.getElementById("save-status");
  var dialog = document.getElementById("plan-dialog");
  var pending = null;
  function appUrl(dry) { return "/api/v1/apps/" + encodeURIComponent(cfg.app) + (dry ? "?dry_run=1" : ""); }
  // No If-Match: the draft carries the `version` it was loaded at, and the API answers 409 when the
  // app moved on since (someone else saved) — the clear "reload" message below, never an overwrite.
  function ifMatch() { return {}; }
  function showStale(detail) {
    status.textContent = "";
    var p = el("p", {className: "stale", id: "stale-message", text: M.stale + (detail ? " (" + detail + ")" : "")});
    var again = el("button", {type: "button", className: "secondary", onclick: function () { location.reload(); }}, M.reload);
    renderErrorBox(el("div", {}, p, again));
  }
  function failed(r, snap) {
    return r.json()["catch"](function () { return {}; }).then(function (data) {
      if (r.status === 409 || r.status === 412) { showStale(data.detail); return; }
      if (r.status === 422 || r.status === 400) {
        status.textContent = M.invalid;
        setErrors(data.errors || [{location: "", message: data.detail || ""}], snap);
        return;
      }
      status.textContent = fmt(M.failed_save, {m: data.detail || r.status});
    });
  }
  function showPlan(result) {
    var ul = document.getElementById("plan-steps");
    ul.replaceChildren();
    var plan = result.plan || [];
    if (!plan.length) ul.appendChild(el("li", {text: M.plan_empty}));
    plan.forEach(function (step) {
      var li = el("li", {className: "plan-step", "data-op": step.op || ""}, el("span", {text: step.summary || step.op}));
      if (step.report) {
        li.appendChild(el("p", {className: "plan-converted", text: fmt(M.converted, {n: step.report.converted})}));
        li.appendChild(el("p", {className: "plan-failed" + (step.report.failed ? " error" : ""),
                                text: fmt(M.failed, {n: step.report.failed})}));
        if ((step.report.samples || []).length) {
          var table = el("table", {className: "plan-samples"}, el("caption", {text: M.samples}),
            el("thead", {}, el("tr", {}, el("th", {scope: "col", text: M.record}), el("th", {scope: "col", text: M.value}),
                                      el("th", {scope: "col", text: M.error}))));
          var tbody = el("tbody");
          step.report.samples.forEach(function (s) {
            tbody.appendChild(el("tr", {}, el("td", {className: "mono", text: String(s.record)}),
              el("td", {text: typeof s.value === "string" ? s.value : JSON.stringify(s.value)}), el("td", {text: s.error || ""})));
          });
          table.appendChild(tbody);
          li.appendChild(table);
        }
      }
      ul.appendChild(li);
    });
    dialog.showModal();
    document.getElementById("plan-confirm").focus();
  }
  document.getElementById("save-definition").addEventListener("click", function () {
    var body = draft(), snap = snapshot();
    status.textContent = M.checking;
    renderErrorBox();
    api("PUT", appUrl(true), body, ifMatch()).then(function (r) {
      if (!r.ok) return failed(r, snap);
      return r.json().then(function (result) {
        status.textContent = "";
        pending = {body: body, snap: snap};
        showPlan(result);
      });
    })["catch"](function (e) { status.textContent = fmt(M.failed_save, {m: e.message}); });
  });
  document.getElementById("plan-cancel").addEventListener("click", function () { pending = null; dialog.close(); });
  document.getElementById("plan-confirm").addEventListener("click", function () {
    if (!pending) return;
    var job = pending;
    pending = null;
    dialog.close();
    status.textContent = M.saving;
    api("PUT", appUrl(false), job.body, ifMatch()).then(function (r) {
      if (!r.ok) return failed(r, job.snap);
      return r.json().then(function (result) { return reload(result.version); });
    })["catch"](function (e) { status.textContent = fmt(M.failed_save, {m: e.message}); });
  });
  function reload(version) {  // the saved definition again (ids of new fields assigned by the engine)
    return fetch(appUrl(false), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); }).then(function (defn) {
        var formKey = curForm().key, selPath = null;
        if (state.sel) { var p = parentOf(state.sel); selPath = [p ? p.key : null, state.sel.key]; }
        state.def = defn;
        hydrate(state.def);
        state.version = defn.version || version;
        state.form = Math.max(0, defn.forms.map(function (f) { return f.key; }).indexOf(formKey));
        state.sel = null;
        if (selPath) {
          var list = curForm().fields;
          if (selPath[0]) { var sub = list.filter(function (f) { return f.key === selPath[0]; })[0]; list = sub ? sub.fields : []; }
          state.sel = list.filter(function (f) { return f.key === selPath[1]; })[0] || null;
        }
        state.errors = [];
        render();
        status.textContent = fmt(M.saved, {v: state.version});
        root.dataset.version = String(state.version);
      });
  }

  // -- render -----------------------------------------------------------------------
  function changed(opts) {
    opts = opts || {};
    renderForms();
    renderCanvas();
    if (!opts.keepProps) renderProps();
    refreshPreview();
  }
  function render() {
    renderForms();
    renderCanvas();
    renderProps();
    renderErrorBox();
    refreshPreview();
  }
  document.getElementById("add-section").addEventListener("click", function () { addSection(); });
  renderPalette();
  render();
  root.dataset.version = String(state.version);
  root.dataset.ready = "1";
})();
