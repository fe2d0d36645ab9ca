// Table view: select-all for bulk actions, and the filter builder (and/or groups of
// per-type conditions) that writes an expression into the filter box.
// Labels and values are put into the page with textContent only.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll(".row-select").forEach(function (c) { c.checked = all.checked; });
    });
  }

  // Group counts come after the rows (one GROUP BY over every matching record can take a while).
  var counts = document.getElementById("group-counts");
  if (counts && counts.dataset.url) {
    var status = document.getElementById("group-status"), list = counts.querySelector("ul");
    fetch(counts.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) { status.textContent = data.error; status.className = "error"; return; }
        (data.groups || []).forEach(function (g) {
          var li = document.createElement("li"), v = document.createElement("span"), n = document.createElement("span");
          v.className = "group-value"; v.textContent = g.label;
          n.className = "count"; n.textContent = String(g.count);
          li.append(v, " ", n);
          list.appendChild(li);
        });
        status.hidden = true;
      })["catch"](function () { status.textContent = status.dataset.failed || ""; })
      .then(function () { counts.removeAttribute("aria-busy"); });
  }

  var box = document.getElementById("filter-builder");
  var filterInput = document.getElementById("filter");
  if (!box || !filterInput) return;
  var fields = JSON.parse(document.getElementById("ff-fields").textContent)
    .filter(function (f) { return f.filterable; });
  var T = box.dataset;

  var OPS = {
    text: ["=", "<>", "contains", "starts", "empty", "notempty"],
    number: ["=", "<>", ">", ">=", "<", "<=", "empty", "notempty"],
    date: ["=", ">", ">=", "<", "<=", "empty", "notempty"],
    datetime: [">", ">=", "<", "<=", "empty", "notempty"],
    time: ["=", ">", ">=", "<", "<=", "empty", "notempty"],
    boolean: ["true", "false"],
    option: ["=", "<>", "empty", "notempty"],
    multi: ["contains", "empty", "notempty"],   // multiselect: holds an option
    user: ["me", "empty", "notempty"],          // single or multiple users
    ref: ["empty", "notempty"]                  // departments and links
  };
  var OP_TEXT = {"=": "=", "<>": "≠", ">": ">", ">=": "≥", "<": "<", "<=": "≤", contains: "⊃ …", starts: "… *",
                 empty: "∅", notempty: "≠ ∅", "true": "✓", "false": "✗"};
  var NO_VALUE = ["empty", "notempty", "true", "false", "me"];
  function kindOf(f) {
    if (f.type === "multiselect") return "multi";
    if (f.type === "user") return "user";
    if (f.type === "department" || f.type === "link") return "ref";
    if (f.options && f.options.length) return "option";
    if (OPS[f.kind]) return f.kind;
    return "text";
  }
  function opText(f, op) { return op === "me" ? (f.me || op) : OP_TEXT[op]; }
  function quote(s) { return '"' + String(s).replace(/"/g, '""') + '"'; }
  function literal(f, v) {
    var k = kindOf(f), m;
    if (k === "number") return /^-?\d+(\.\d+)?$/.test(v.trim()) ? v.trim() : quote(v);
    if (k === "datetime") {
      // a datetime-local value; the engine compares a datetime field with DATE(y, m, d, h, mi, s)
      m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(v);
      if (m) return "DATE(" + [1, 2, 3, 4, 5, 6].map(function (i) { return Number(m[i] || 0); }).join(", ") + ")";
    }
    if (k === "date" || k === "datetime") {
      m = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
      return m ? "DATE(" + Number(m[1]) + ", " + Number(m[2]) + ", " + Number(m[3]) + ")" : quote(v);
    }
    // times are stored "HH:MM:SS"; a time input may leave the seconds out
    if (k === "time" && /^\d{2}:\d{2}$/.test(v)) return quote(v + ":00");
    return quote(v);
  }
  function condExpr(c) {
    var f = fields.filter(function (x) { return x.key === c.field; })[0];
    if (!f) return "";
    switch (c.op) {
      case "empty": return "ISEMPTY(" + f.key + ")";
      case "notempty": return "NOT(ISEMPTY(" + f.key + "))";
      case "true": return f.key + " = TRUE";
      case "false": return f.key + " = FALSE";
      case "me": return f.multiple ? "CONTAINS(" + f.key + ", $user.id)" : f.key + " = $user.id";
      case "contains": return c.value === "" ? "" : "CONTAINS(" + f.key + ", " + quote(c.value) + ")";
      case "starts": return c.value === "" ? "" : "LEFT(" + f.key + ", " + c.value.length + ") = " + quote(c.value);
      default: return c.value === "" ? "" : f.key + " " + c.op + " " + literal(f, c.value);
    }
  }
  function groupExpr(g) {
    var parts = g.items.map(function (it) { return it.items ? groupExpr(it) : condExpr(it); })
      .filter(Boolean);
    if (!parts.length) return "";
    if (parts.length === 1) return parts[0];
    return g.op + "(" + parts.join(", ") + ")";
  }

  var root = {op: "AND", items: []};
  var counter = 0;
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function labelled(control, text) {
    var id = "fb-" + (++counter);
    control.id = id;
    var wrap = el("span", {"class": "fb-part"});
    var lab = el("label", {"for": id, "class": "sr-only"}, text);
    wrap.appendChild(lab); wrap.appendChild(control);
    return wrap;
  }
  function changed() {
    var expr = groupExpr(root);
    if (expr || root.items.length) filterInput.value = expr;
  }
  function renderCond(c, parent, list) {
    var row = el("div", {"class": "fb-cond", role: "group"});
    var fsel = el("select", {"data-fb": "field"});
    fields.forEach(function (f) { var o = el("option", {value: f.key}, f.label); if (f.key === c.field) o.selected = true; fsel.appendChild(o); });
    var f = fields.filter(function (x) { return x.key === c.field; })[0] || fields[0];
    c.field = f.key;
    var osel = el("select", {"data-fb": "op"});
    var ops = OPS[kindOf(f)];
    if (ops.indexOf(c.op) < 0) c.op = ops[0];
    ops.forEach(function (op) { var o = el("option", {value: op}, opText(f, op)); if (op === c.op) o.selected = true; osel.appendChild(o); });
    var value, kind = kindOf(f);
    if ((kind === "option" || kind === "multi") && f.options.length) {
      value = el("select", {"data-fb": "value"});
      f.options.forEach(function (opt) { var o = el("option", {value: opt.value}, opt.label); value.appendChild(o); });
      if (!c.value) c.value = f.options[0].value;
      value.value = c.value;
    } else {
      var type = {date: "date", datetime: "datetime-local", time: "time"}[kind] || "text";
      value = el("input", {"data-fb": "value", type: type});
      if (type === "datetime-local" || type === "time") value.step = "1";
      value.value = c.value || "";
    }
    value.hidden = NO_VALUE.indexOf(c.op) >= 0 || kind === "user" || kind === "ref";
    var rm = el("button", {type: "button", "class": "secondary small"}, T.remove);
    fsel.addEventListener("change", function () { c.field = fsel.value; c.value = ""; render(); changed(); });
    osel.addEventListener("change", function () { c.op = osel.value; render(); changed(); });
    value.addEventListener("input", function () { c.value = value.value; changed(); });
    value.addEventListener("change", function () { c.value = value.value; changed(); });
    rm.addEventListener("click", function () { list.splice(list.indexOf(c), 1); render(); changed(); });
    row.appendChild(labelled(fsel, T.field)); row.appendChild(labelled(osel, T.op));
    row.appendChild(labelled(value, T.value)); row.appendChild(rm);
    parent.appendChild(row);
  }
  function renderGroup(g, parent, list) {
    var wrap = el("div", {"class": "fb-group"});
    var sel = el("select", {"data-fb": "join"});
    [["AND", T.and], ["OR", T.or]].forEach(function (p) { var o = el("option", {value: p[0]}, p[1]); if (g.op === p[0]) o.selected = true; sel.appendChild(o); });
    sel.addEventListener("change", function () { g.op = sel.value; changed(); });
    wrap.appendChild(labelled(sel, T.and + " / " + T.or));
    g.items.forEach(function (it) { if (it.items) renderGroup(it, wrap, g.items); else renderCond(it, wrap, g.items); });
    var add = el("button", {type: "button", "class": "secondary small", "data-fb": "add"}, T.add);
    add.addEventListener("click", function () { g.items.push({field: fields[0].key, op: "", value: ""}); render(); changed(); });
    wrap.appendChild(add);
    if (list === null) {
      var addg = el("button", {type: "button", "class": "secondary small", "data-fb": "add-group"}, T.addGroup);
      addg.addEventListener("click", function () { g.items.push({op: "OR", items: [{field: fields[0].key, op: "", value: ""}]}); render(); changed(); });
      wrap.appendChild(addg);
    } else {
      var rm = el("button", {type: "button", "class": "secondary small"}, T.remove);
      rm.addEventListener("click", function () { list.splice(list.indexOf(g), 1); render(); changed(); });
      wrap.appendChild(rm);
    }
    parent.appendChild(wrap);
  }
  function render() {
    Array.prototype.slice.call(box.children).forEach(function (c) { if (c.tagName !== "LEGEND") c.remove(); });
    if (fields.length) renderGroup(root, box, null);
  }
  render();
})();

// Inline edit: a cell of a field the caller may edit (class "editable", chosen by the server from
// the permission service's field rights) opens an input on double-click or Enter; Enter or leaving
// the input saves with PATCH + If-Match (the row's version), Escape cancels. A 412 (changed
// meanwhile) puts the previous value back and says so; other refusals show the reason in the cell.
(function () {
  "use strict";
  var table = document.getElementById("records");
  if (!table || !table.dataset.recordsUrl) return;
  var T = JSON.parse(document.getElementById("ff-inline-messages").textContent);
  var status = document.getElementById("inline-status");
  var fields = {};
  JSON.parse(document.getElementById("ff-fields").textContent).forEach(function (f) { fields[f.key] = f; });

  function display(key, value) {
    var f = fields[key] || {};
    if (value === null || value === undefined || value === "") return "";
    if (typeof value === "boolean") return value ? T.yes : T.no;
    var opt = (f.options || []).filter(function (o) { return o.value === value; })[0];
    if (opt) return opt.label;
    if (f.type === "datetime") return String(value).replace("T", " ").slice(0, 19);
    return String(value);
  }
  function inputValue(cell, value) {
    if (value === null || value === undefined) return "";
    if (cell.dataset.input === "datetime-local") return String(value).slice(0, 16);
    return String(value);
  }
  function parse(cell, text) {
    var kind = cell.dataset.input;
    if (text === "") return null;
    if (kind === "select" && fields[cell.dataset.field].type === "boolean") return text === "true";
    if (kind === "number" && fields[cell.dataset.field].type === "number") {
      var n = Number(text);
      return isNaN(n) ? text : n;
    }
    return text;  // decimals, money and percent as strings (exact), dates as ISO text
  }
  function problem(data, r) {
    var errs = data.errors || [];
    if (errs.length) return errs.map(function (e) { return e.message; }).join("; ");
    return data.detail || data.title || String(r.status);
  }

  function open(cell) {
    if (cell.dataset.editing) return;
    cell.dataset.editing = "1";
    cell.querySelectorAll(".cell-error").forEach(function (e) { e.remove(); });
    var key = cell.dataset.field;
    var value = JSON.parse(cell.dataset.value);
    var shown = cell.textContent;
    var input;
    if (cell.dataset.input === "select") {
      input = document.createElement("select");
      var choices = fields[key].type === "boolean"
        ? [{value: "true", label: T.yes}, {value: "false", label: T.no}] : (fields[key].options || []);
      [{value: "", label: "—"}].concat(choices).forEach(function (o) {
        var opt = document.createElement("option");
        opt.value = o.value; opt.textContent = o.label; input.appendChild(opt);
      });
      input.value = value === null ? "" : String(value);
    } else {
      input = document.createElement("input");
      input.type = cell.dataset.input;
      if (input.type === "number") input.step = "any";
      if (input.type === "time" || input.type === "datetime-local") input.step = "1";
      input.value = inputValue(cell, value);
    }
    input.className = "cell-input";
    input.setAttribute("aria-label", cell.dataset.label);
    var error = document.createElement("span");
    error.className = "error cell-error";
    error.setAttribute("role", "alert");
    cell.textContent = "";
    cell.appendChild(input);
    cell.appendChild(error);
    input.focus();
    var done = false;

    function close(text) {
      done = true;
      delete cell.dataset.editing;
      cell.textContent = text;
      cell.focus();
    }
    function save() {
      if (done) return;
      var next = parse(cell, input.value);
      if (JSON.stringify(next) === JSON.stringify(value) || input.value === inputValue(cell, value)) {
        close(shown);
        return;
      }
      done = true;
      var row = cell.closest("tr");
      var body = {};
      body[key] = next;
      cell.dataset.saving = "1";
      status.textContent = T.saving;
      fetch(table.dataset.recordsUrl + encodeURIComponent(row.dataset.id), {
        method: "PATCH", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json",
                  "X-CSRFToken": table.dataset.csrf, "If-Match": '"' + row.dataset.id + "-" + row.dataset.version + '"'},
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          delete cell.dataset.saving;
          if (r.ok) {
            row.dataset.version = data._version;
            cell.dataset.value = JSON.stringify(data[key] === undefined ? next : data[key]);
            cell.dataset.saved = "1";
            status.textContent = T.saved;
            close(display(key, data[key] === undefined ? next : data[key]));
          } else if (r.status === 412) {
            close(shown);  // the previous value comes back
            status.textContent = T.stale;
            var note = document.createElement("span");
            note.className = "error cell-error";
            note.setAttribute("role", "alert");
            note.textContent = T.stale;
            cell.appendChild(note);
          } else {
            done = false;  // keep the input so the value can be corrected (Escape gives up)
            error.textContent = T.failed.replace("{m}", problem(data, r));
            status.textContent = error.textContent;
            input.focus();
          }
        });
      }).catch(function (err) {
        delete cell.dataset.saving;
        done = false;
        error.textContent = T.failed.replace("{m}", String(err));
      });
    }
    input.addEventListener("keydown", function (evt) {
      if (evt.key === "Enter") { evt.preventDefault(); evt.stopPropagation(); save(); }
      else if (evt.key === "Escape") { evt.preventDefault(); close(shown); }
    });
    input.addEventListener("blur", function () { if (!cell.dataset.saving && !error.textContent) save(); });
    if (input.tagName === "SELECT") input.addEventListener("change", save);
  }

  table.addEventListener("dblclick", function (evt) {
    var cell = evt.target.closest && evt.target.closest("td.editable");
    if (cell) open(cell);
  });
  table.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && evt.target.matches && evt.target.matches("td.editable")) {
      evt.preventDefault();
      open(evt.target);
    }
  });
})();

// Files in cells: the server renders attachment/image values as spans (display.FileList) with each
// file's id, name and size; here they become download links, and images small thumbnails linking to
// the full image (the record id comes from the row). Names only ever go through textContent and
// setAttribute, never into HTML.
(function () {
  "use strict";
  var table = document.getElementById("records");
  if (!table) return;
  var THUMB = 64, SHOWN = 40;  // the 64px thumbnail drawn at 40 CSS px stays sharp on dense screens
  table.querySelectorAll("tr[data-id] .ff-files[data-api][data-field]").forEach(function (list) {
    var row = list.closest("tr");
    var base = list.dataset.api + encodeURIComponent(row.dataset.id) + "/files/" +
      encodeURIComponent(list.dataset.field) + "/";
    var image = list.dataset.kind === "image";
    var out = document.createElement("span");
    out.className = "ff-files" + (image ? " images" : "");
    list.querySelectorAll(".ff-file[data-id]").forEach(function (item, i) {
      var url = base + encodeURIComponent(item.dataset.id);
      var name = item.dataset.name || "";
      var a = document.createElement("a");
      a.setAttribute("href", url);
      a.setAttribute("title", name + " (" + (item.dataset.size || "") + ")");
      if (image) {
        a.setAttribute("target", "_blank");
        a.setAttribute("rel", "noopener");
        var img = document.createElement("img");
        img.className = "thumb";
        img.setAttribute("src", url + "/thumbnail?size=" + THUMB);
        img.setAttribute("alt", name);
        img.setAttribute("width", String(SHOWN));
        img.setAttribute("height", String(SHOWN));
        img.setAttribute("loading", "lazy");
        a.appendChild(img);
        out.appendChild(a);
      } else {
        if (i) out.appendChild(document.createTextNode(", "));
        a.setAttribute("download", name);
        a.textContent = name;
        var size = document.createElement("span");
        size.className = "muted";
        size.textContent = " (" + (item.dataset.size || "") + ")";
        out.appendChild(a);
        out.appendChild(size);
      }
    });
    list.replaceWith(out);
  });
})();
