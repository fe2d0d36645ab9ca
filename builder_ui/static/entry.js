// Data entry: fills the generated form, previews the draft on the server as the user types
// (formulas, defaults, visibility, validation), and saves it through the REST API.
// User data is only ever put into the page with textContent / value — never as HTML.
//
// window.formflowEntry.mount(root, options) runs all of this on any element holding the
// widgets of _widgets.html — the data-entry page mounts itself on #entry; the form designer
// mounts it on its live preview with the draft definition as extra body and saving off.
// options: previewUrl (POST → {values, visible, errors}), csrf, body (object, or function
// returning one, merged into every preview request: re-read each time), messages, record
// (values to start from), recordId, defaults (first preview applies default values; default:
// no record), errorBox, save (false: the form never saves nor uploads) with saveUrl, method,
// version, doneUrl, statusBox; touched (keys whose errors show at once).
// Returns {root, preview(), values(), destroy()}.
(function () {
  "use strict";

  function mount(form, options) {
    options = options || {};
    var messages = options.messages || {};
    var record = options.record || null;
    var recordId = options.recordId || null;
    var canSave = options.save === true;
    var errorBox = options.errorBox || form.querySelector("[data-form-errors]");
    var touched = {};
    (options.touched || []).forEach(function (k) { touched[k] = true; });
    var submitted = false;
    var rowCounter = 0;
    var timer = null;
    var seq = 0;
    var destroyed = false;

    // top-level fields sit anywhere under the root (e.g. inside section wrappers), but never
    // inside a subform row or its template
    function isTop(el) { return !el.closest("tr[data-row], template, .subform"); }
    function topFields() {
      return Array.prototype.filter.call(form.querySelectorAll(".field[data-key]"), isTop);
    }
    function input(el) { return el.querySelector("[data-input]"); }
    function text(v) { return v === null || v === undefined ? "" : String(v); }
    function blankToNull(s) { s = s.trim(); return s === "" ? null : s; }

    // -- reading and writing one widget (el carries data-kind) --------------------------
    function getValue(el) {
      var kind = el.dataset.kind, i = input(el);
      switch (kind) {
        case "none": return undefined;
        case "bool": return i.checked;
        case "list":
          var out = [];
          el.querySelectorAll("[data-option]").forEach(function (c) { if (c.checked) out.push(c.value); });
          return out.length ? out : null;
        case "ids":
          if (el.querySelector(".link-picker")) return pickerIds(el).length ? pickerIds(el) : null;
          var ids = i.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
          return ids.length ? ids : null;
        case "files":
          return el._files && el._files.length ? el._files.slice() : null;
        case "address":
        case "location":
          var obj = {}, any = false;
          el.querySelectorAll("[data-part]").forEach(function (p) {
            var v = blankToNull(p.value); obj[p.dataset.part] = v; if (v !== null) any = true;
          });
          return any ? obj : null;
        case "rows":
          return Array.prototype.map.call(el.querySelectorAll("[data-rows] > tr[data-row]"), function (tr) {
            var row = {};
            tr.querySelectorAll("td[data-key]").forEach(function (td) {
              var v = getValue(td); if (v !== undefined) row[td.dataset.key] = v;
            });
            return row;
          });
        default:
          if (el.querySelector(".link-picker")) { var one = pickerIds(el); return one.length ? one[0] : null; }
          return i ? blankToNull(i.value) : undefined;
      }
    }

    function setValue(el, value) {
      var kind = el.dataset.kind, i = input(el);
      switch (kind) {
        case "none":
          var out = el.querySelector("[data-output]");
          if (out) out.textContent = Array.isArray(value) ? value.join(", ") : text(value);
          return;
        case "bool": i.checked = value === true; return;
        case "list":
          el.querySelectorAll("[data-option]").forEach(function (c) {
            c.checked = Array.isArray(value) && value.indexOf(c.value) >= 0;
          });
          return;
        case "files":
          el._files = Array.isArray(value) ? value.slice() : [];
          el._saved = el._saved || (el._files.map(function (f) { return f.id; }));
          renderFiles(el);
          return;
        case "address":
        case "location":
          el.querySelectorAll("[data-part]").forEach(function (p) { p.value = value ? text(value[p.dataset.part]) : ""; });
          return;
        case "rows":
          var body = el.querySelector("[data-rows]");
          while (body.firstChild) body.removeChild(body.firstChild);
          (value || []).forEach(function (row) { addRow(el, row); });
          return;
        default:
          if (el.querySelector(".link-picker")) {
            var ids = value === null || value === undefined ? [] : (Array.isArray(value) ? value : [value]);
            ids.forEach(function (id) { choose(el, id, id); });
            return;
          }
          if (!i) return;
          var v = text(value);
          if (el.dataset.type === "datetime") v = v.slice(0, 19);
          i.value = Array.isArray(value) ? value.join(", ") : v;
      }
    }

    // -- subform rows ---------------------------------------------------------------
    function addRow(el, values) {
      var tpl = el.querySelector("template[data-row-template]");
      var n = rowCounter++;
      var tr = tpl.content.firstElementChild.cloneNode(true);
      tr.querySelectorAll("[id]").forEach(function (x) { x.id = x.id.replace("__row__", String(n)); });
      tr.querySelectorAll("[aria-controls]").forEach(function (x) {
        x.setAttribute("aria-controls", x.getAttribute("aria-controls").replace("__row__", String(n)));
      });
      el.querySelector("[data-rows]").appendChild(tr);
      tr.querySelectorAll("td[data-key]").forEach(function (td) {
        if (values && values[td.dataset.key] !== undefined) setValue(td, values[td.dataset.key]);
        setupPicker(td);
      });
      return tr;
    }

    form.addEventListener("click", function (ev) {
      var add = ev.target.closest("[data-add-row]");
      if (add) {
        var tr = addRow(add.closest(".field"), null);
        var first = tr.querySelector("input, select, textarea");
        if (first) first.focus();
        touched[add.closest(".field").dataset.key] = true;
        schedule();
        return;
      }
      var rm = ev.target.closest("[data-remove-row]");
      if (rm) {
        var field = rm.closest(".field");
        rm.closest("tr").remove();
        touched[field.dataset.key] = true;
        var next = field.querySelector("[data-add-row]");
        if (next) next.focus();
        schedule();
      }
    });

    // -- link picker: search the target form through the records API -----------------
    function pickerIds(el) {
      return Array.prototype.map.call(el.querySelectorAll(".chosen > li"), function (li) { return li.dataset.id; });
    }
    function choose(el, id, label) {
      var picker = el.querySelector(".link-picker");
      var list = picker.querySelector(".chosen");
      if (picker.dataset.multiple !== "1") while (list.firstChild) list.removeChild(list.firstChild);
      if (pickerIds(el).indexOf(id) >= 0) return;
      var li = document.createElement("li");
      li.dataset.id = id;
      var span = document.createElement("span");
      span.textContent = label;
      var x = document.createElement("button");
      x.type = "button"; x.className = "link small"; x.textContent = "×";
      x.setAttribute("aria-label", messages.remove + " " + label);
      x.addEventListener("click", function () { li.remove(); touched[topKey(el)] = true; schedule(); });
      li.appendChild(span); li.appendChild(x);
      list.appendChild(li);
      if (id !== label) return;
      // an id shown before its label is known: fetch the display value
      if (picker.dataset.directory) {
        fetch(directoryUrl(picker, {ids: id}), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : {items: []}; })
          .then(function (data) { if (data.items.length) span.textContent = data.items[0].name; });
        return;
      }
      var display = picker.dataset.display;
      if (!display) return;
      fetch(recordsUrl(picker) + "/" + encodeURIComponent(id), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (rec) { if (rec && rec[display]) span.textContent = rec[display]; });
    }
    function topKey(el) { var f = el.closest(".field"); return f ? f.dataset.key : ""; }
    function recordsUrl(picker) {
      return "/api/v1/apps/" + encodeURIComponent(picker.dataset.app) + "/forms/" +
        encodeURIComponent(picker.dataset.form) + "/records";
    }
    // user and department pickers search the directory (id and display name only)
    function directoryUrl(picker, params) {
      var p = new URLSearchParams(params);
      p.set("kind", picker.dataset.directory);
      return "/api/v1/directory/search?" + p.toString();
    }
    function quote(s) { return '"' + s.replace(/"/g, '""') + '"'; }
    function setupPicker(el) {
      var picker = el.querySelector(".link-picker");
      if (!picker || picker.dataset.ready) return;
      picker.dataset.ready = "1";
      var search = picker.querySelector(".link-search");
      var results = picker.querySelector(".link-results");
      var t = null;
      function run() {
        var q = search.value.trim(), display = picker.dataset.display;
        var url;
        if (picker.dataset.directory) {
          display = "name";
          url = directoryUrl(picker, {q: q, limit: "10"});
        } else {
          var params = new URLSearchParams({limit: "10"});
          if (q && display) params.set("filter", "CONTAINS(" + display + ", " + quote(q) + ")");
          url = recordsUrl(picker) + "?" + params.toString();
        }
        fetch(url, {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : {records: []}; })
          .then(function (data) {
            if (data.items) data.records = data.items.map(function (it) { return {_id: it.id, name: it.name}; });
            while (results.firstChild) results.removeChild(results.firstChild);
            if (!data.records.length) {
              var none = document.createElement("li"); none.textContent = messages.no_results; results.appendChild(none);
            }
            data.records.forEach(function (rec) {
              var li = document.createElement("li");
              var b = document.createElement("button");
              b.type = "button"; b.setAttribute("role", "option"); b.className = "link";
              b.textContent = (display && rec[display]) ? rec[display] : rec._id;
              b.addEventListener("click", function () {
                choose(el, rec._id, b.textContent);
                while (results.firstChild) results.removeChild(results.firstChild);
                search.value = "";
                touched[topKey(el)] = true;
                schedule();
              });
              li.appendChild(b); results.appendChild(li);
            });
          });
      }
      search.addEventListener("input", function () { clearTimeout(t); t = setTimeout(run, 250); });
      search.addEventListener("focus", function () { if (!results.firstChild) run(); });
    }

    // -- preview on the server ------------------------------------------------------
    function collect() {
      var values = {};
      topFields().forEach(function (el) {
        var v = getValue(el);
        if (v !== undefined) values[el.dataset.key] = v;
      });
      return values;
    }
    function csrfHeaders(extra) {
      var h = {"Content-Type": "application/json", "X-CSRFToken": options.csrf};
      for (var k in extra || {}) h[k] = extra[k];
      return h;
    }
    function extraBody() {
      var extra = (typeof options.body === "function" ? options.body() : options.body) || {}, out = {};
      Object.keys(extra).forEach(function (k) { out[k] = extra[k]; });
      return out;
    }
    function preview(withDefaults) {
      var mine = ++seq;
      var body = extraBody();
      // with defaults, only the values the user gave (e.g. a re-mounted designer preview) are sent:
      // the server fills in the defaults of the others
      body.values = withDefaults ? (record ? given() : {}) : collect();
      if (recordId) body.record = recordId;
      if (withDefaults) body.defaults = true;
      return fetch(options.previewUrl, {method: "POST", credentials: "same-origin",
        headers: csrfHeaders(), body: JSON.stringify(body)})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || mine !== seq || destroyed) return null;
          apply(data, withDefaults);
          return data;
        });
    }
    function given() {
      var values = collect(), out = {};
      Object.keys(values).forEach(function (k) { if (values[k] !== null && record[k] !== undefined) out[k] = values[k]; });
      return out;
    }
    function schedule() {
      clearTimeout(timer);
      if (destroyed) return;
      timer = setTimeout(function () { preview(false); }, 300);
    }
    function apply(data, fillDefaults) {
      topFields().forEach(function (el) {
        var key = el.dataset.key;
        el.hidden = data.visible[key] === false;
        if (el.dataset.kind === "none") setValue(el, data.values[key]);
        else if (fillDefaults && data.values[key] !== null && data.values[key] !== undefined &&
                 !(record && record[key] !== null && record[key] !== undefined)) setValue(el, data.values[key]);
        else if (el.dataset.kind === "rows") applyRowOutputs(el, data.values[key] || []);
      });
      // a section whose fields are all hidden is hidden with them
      form.querySelectorAll("[data-section]").forEach(function (section) {
        var fields = Array.prototype.filter.call(section.querySelectorAll(".field[data-key]"), isTop);
        section.hidden = fields.length > 0 && fields.every(function (el) { return el.hidden; });
      });
      showErrors(data.errors, !submitted);
    }
    function applyRowOutputs(el, rows) {
      el.querySelectorAll("[data-rows] > tr[data-row]").forEach(function (tr, i) {
        tr.querySelectorAll("td[data-kind=none]").forEach(function (td) {
          setValue(td, rows[i] ? rows[i][td.dataset.key] : null);
        });
      });
    }

    // -- errors, located by field key (e.g. "parts[0].price") -------------------------
    function message(e) {
      return (e.code && messages[e.code] && e.code !== "rule") ? messages[e.code] : e.message;
    }
    function clearErrors() {
      form.querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (x) { x.removeAttribute("aria-invalid"); });
      if (!errorBox) return;
      while (errorBox.firstChild) errorBox.removeChild(errorBox.firstChild);
      errorBox.hidden = true;
    }
    function showErrors(errors, onlyTouched) {
      clearErrors();
      var box = errorBox;
      (errors || []).forEach(function (e) {
        var loc = e.location || "";
        var m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\](?:\.([A-Za-z_][A-Za-z0-9_]*))?)?/.exec(loc);
        var field = m ? form.querySelector('.field[data-key="' + m[1] + '"]') : null;
        if (field && !isTop(field)) field = null;
        if (onlyTouched && (!field || !touched[m[1]])) return;
        var target = field, p = null;
        if (field && m[2] !== undefined) {
          var tr = field.querySelectorAll("[data-rows] > tr[data-row]")[Number(m[2])];
          var td = tr && m[3] ? tr.querySelector('td[data-key="' + m[3] + '"]') : null;
          if (td) { target = td; p = td.querySelector(".field-error"); }
        }
        if (!field) {
          if (!box) return;
          var li = document.createElement("p"); li.textContent = message(e); box.appendChild(li); box.hidden = false;
          return;
        }
        p = p || field.querySelector(":scope > .field-error");
        p.textContent = (p.textContent ? p.textContent + " " : "") + message(e);
        var ctl = target.querySelector("input, select, textarea");
        if (ctl) ctl.setAttribute("aria-invalid", "true");
      });
    }

    form.addEventListener("input", function (ev) {
      if (ev.target.classList.contains("link-search")) return;
      var f = ev.target.closest(".field"); if (f) touched[f.dataset.key] = true;
      schedule();
    });
    form.addEventListener("change", function (ev) {
      if (ev.target.classList.contains("link-search")) return;
      var f = ev.target.closest(".field"); if (f) touched[f.dataset.key] = true;
      schedule();
    });

    // -- attachment and image fields: upload to /api/v1/files, keep the returned values ----
    function renderFiles(el) {
      var ul = el.querySelector("[data-files] > ul"), box = el.querySelector("[data-files]");
      while (ul.firstChild) ul.removeChild(ul.firstChild);
      (el._files || []).forEach(function (f, n) {
        var li = document.createElement("li"), name;
        if (recordId && canSave && (el._saved || []).indexOf(f.id) >= 0 && isTop(el)) {
          name = document.createElement("a");
          name.href = options.saveUrl + "/files/" + encodeURIComponent(el.dataset.key) + "/" + encodeURIComponent(f.id);
        } else {
          name = document.createElement("span");
        }
        name.textContent = f.name + " (" + Math.max(1, Math.round(f.size / 1024)) + " KB)";
        var rm = document.createElement("button");
        rm.type = "button"; rm.className = "secondary small"; rm.textContent = box.dataset.removeLabel;
        rm.addEventListener("click", function () {
          el._files.splice(n, 1); renderFiles(el); touched[el.dataset.key] = true; schedule();
        });
        li.appendChild(name); li.appendChild(document.createTextNode(" ")); li.appendChild(rm);
        ul.appendChild(li);
      });
    }
    form.addEventListener("change", function (ev) {
      if (!ev.target.matches("[data-file-input]")) return;
      if (!canSave) { ev.target.value = ""; return; }  // an upload stores a file: never from a preview
      var el = ev.target.closest("[data-kind=files]"), picked = Array.prototype.slice.call(ev.target.files);
      var where = /\/apps\/([^/]+)\/forms\/([^/]+)\/records/.exec(options.saveUrl);
      var err = el.querySelector(".field-error");
      ev.target.value = "";
      picked.reduce(function (done, file) {
        return done.then(function () {
          var data = new FormData();
          data.append("file", file, file.name);
          if (where && isTop(el)) {  // top-level fields: the field's own limits apply
            data.append("app", decodeURIComponent(where[1])); data.append("form", decodeURIComponent(where[2]));
            data.append("field", el.dataset.key);
          }
          return fetch("/api/v1/files", {method: "POST", credentials: "same-origin",
            headers: {"X-CSRFToken": options.csrf}, body: data})
            .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, data: j}; }); })
            .then(function (res) {
              if (!res.ok) { if (err) err.textContent = file.name + ": " + (res.data.detail || res.data.title); return; }
              el._files = (el._files || []).concat([res.data]);
              renderFiles(el);
            });
        });
      }, Promise.resolve()).then(function () { touched[el.dataset.key] = true; schedule(); });
    });

    // -- save through the REST API -------------------------------------------------
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!canSave) return;
      submitted = true;
      clearTimeout(timer);
      var status = options.statusBox;
      status.textContent = messages.saving;
      var headers = {};
      if (recordId && options.version) headers["If-Match"] = '"' + recordId + "-" + options.version + '"';
      fetch(options.saveUrl, {method: options.method, credentials: "same-origin",
        headers: csrfHeaders(headers), body: JSON.stringify(collect())})
        .then(function (r) { return r.json().then(function (data) { return {ok: r.ok, data: data}; }); })
        .then(function (res) {
          if (res.ok) {
            status.textContent = messages.saved;
            window.location.assign(options.doneUrl.replace("__id__", encodeURIComponent(res.data._id)));
            return;
          }
          status.textContent = messages.check;
          showErrors(res.data.errors && res.data.errors.length ? res.data.errors
                     : [{location: "", message: res.data.detail || res.data.title}], false);
          var bad = form.querySelector("[aria-invalid]");
          if (bad) bad.focus();
        })
        .catch(function (err) { status.textContent = messages.failed.replace("{m}", String(err)); });
    });

    // -- start ------------------------------------------------------------------------
    if (!canSave) {
      form.querySelectorAll("[data-file-input]").forEach(function (x) { x.disabled = true; });
    }
    topFields().forEach(setupPicker);
    if (record) {
      topFields().forEach(function (el) {
        if (el.dataset.kind !== "none" && record[el.dataset.key] !== undefined) setValue(el, record[el.dataset.key]);
      });
    }
    var withDefaults = options.defaults !== undefined ? options.defaults : !record;
    preview(withDefaults).then(function () { if (!destroyed) form.dataset.ready = "1"; });

    return {
      root: form,
      preview: function () { return preview(false); },
      values: collect,
      destroy: function () { destroyed = true; clearTimeout(timer); seq++; }
    };
  }

  window.formflowEntry = {mount: mount};

  // the data-entry page: one form, configured by its data attributes and JSON scripts
  var entry = document.getElementById("entry");
  if (entry) {
    mount(entry, {
      previewUrl: entry.dataset.previewUrl, csrf: entry.dataset.csrf,
      messages: JSON.parse(document.getElementById("ff-messages").textContent),
      record: JSON.parse(document.getElementById("ff-record").textContent),
      recordId: entry.dataset.record || null, version: entry.dataset.version,
      save: true, saveUrl: entry.dataset.saveUrl, method: entry.dataset.method, doneUrl: entry.dataset.doneUrl,
      errorBox: document.getElementById("form-errors"), statusBox: document.getElementById("save-status")
    });
  }
})();
