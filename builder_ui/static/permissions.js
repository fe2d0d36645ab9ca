// Permissions editor: reads each set's inputs into the app definition's `permissions`
// section (keeping properties the page does not edit, such as labels), declares roles the
// sets name in the app's `roles`, and saves with PUT + If-Match. A 412 means someone else
// saved meanwhile: nothing is overwritten and the page says so. Row rules are edited with the
// shared formula editor and checked with the server as they are typed. Text is set with textContent only.
(function () {
  "use strict";
  var editor = document.getElementById("perm-editor");
  if (!editor) return;
  var T = JSON.parse(document.getElementById("ff-perm-messages").textContent);
  var F = JSON.parse(document.getElementById("ff-perm-formula").textContent);
  var definition = JSON.parse(document.getElementById("ff-definition").textContent);
  var originals = (definition.permissions || []).filter(function (s) { return s && typeof s === "object"; });
  var D = editor.dataset;
  var holder = document.getElementById("perm-sets");
  var status = document.getElementById("perm-status");
  var errors = document.getElementById("perm-errors");
  var counter = holder.children.length;

  function q(fs, sel) { return fs.querySelector("[data-p=" + sel + "]"); }
  function own(fs, sel) {  // inputs of this set (not of a nested template)
    return Array.prototype.slice.call(fs.querySelectorAll("[data-p=" + sel + "]"));
  }

  function syncForm(fs) {
    var formKey = q(fs, "form").value;
    fs.querySelectorAll("tbody[data-form]").forEach(function (tb) { tb.hidden = tb.dataset.form !== formKey; });
    fs.querySelectorAll(".form-only, .record-action").forEach(function (el) { el.hidden = !formKey; });
    fs.querySelectorAll(".app-action").forEach(function (el) { el.hidden = !!formKey; });
  }

  // The row rule gets the designer's formula editor (formula-editor.js), adopting the page's
  // textarea so its id, label and data-p="rows" (read by collect) stay as they were.
  function ruleEditor(fs) {
    var input = q(fs, "rows");
    return window.formflowFormula.editor({
      input: input,
      delay: 350,
      check: function (source) {
        var formKey = q(fs, "form").value;
        if (!formKey) return Promise.resolve([]);  // app-level sets have no rows to filter
        return fetch(D.checkUrl + encodeURIComponent(formKey) + "/rules/check", {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": D.csrf},
          body: JSON.stringify({source: source})
        }).then(function (r) {
          if (!r.ok) throw new Error(String(r.status));
          return r.json();
        }).then(function (data) { return data.diagnostics || []; });
      },
      // the fields of the form chosen now, then what every rule may use
      chips: function () { return (F.fields[q(fs, "form").value] || []).concat(F.variables); },
      functions: F.functions,
      messages: {fields: T.fields, functions: T.functions, filter_functions: T.filter_functions,
                 ok: T.rule_ok, checking: T.checking}
    });
  }

  function wire(fs) {
    syncForm(fs);
    var rule = ruleEditor(fs);
    q(fs, "form").addEventListener("change", function () { syncForm(fs); rule.ffFormula.refresh(); });
    q(fs, "key").addEventListener("input", function () { fs.querySelector(".pset-name").textContent = q(fs, "key").value; });
    fs.querySelector(".remove-set").addEventListener("click", function () { fs.remove(); });
  }
  holder.querySelectorAll("fieldset.pset").forEach(wire);

  document.getElementById("add-set").addEventListener("click", function () {
    var tpl = document.getElementById("pset-template");
    var n = "n" + (counter++);
    var wrap = document.createElement("div");
    wrap.appendChild(tpl.content.cloneNode(true));
    wrap.querySelectorAll("[id]").forEach(function (el) { el.id = el.id.replace("__n__", n); });
    wrap.querySelectorAll("[for]").forEach(function (el) { el.htmlFor = el.htmlFor.replace("__n__", n); });
    wrap.querySelectorAll("[aria-describedby]").forEach(function (el) {
      el.setAttribute("aria-describedby", el.getAttribute("aria-describedby").replace("__n__", n));
    });
    var fs = wrap.querySelector("fieldset.pset");
    fs.dataset.index = "";
    holder.appendChild(fs);
    wire(fs);
    q(fs, "key").focus();
  });

  function values(select) {
    return Array.prototype.filter.call(select.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
  }

  function collect(fs) {
    var idx = fs.dataset.index;
    var base = idx !== "" && originals[Number(idx)] ? JSON.parse(JSON.stringify(originals[Number(idx)])) : {};
    var s = base;
    s.key = q(fs, "key").value.trim();
    var formKey = q(fs, "form").value;
    var who = {};
    if (q(fs, "everyone").checked) who.everyone = true;
    if (q(fs, "owner").checked) who.owner = true;
    var roles = own(fs, "role").filter(function (c) { return c.checked; }).map(function (c) { return c.value; });
    q(fs, "more_roles").value.split(/[,，\s]+/).forEach(function (r) { if (r && roles.indexOf(r) < 0) roles.push(r); });
    if (roles.length) who.roles = roles;
    var depts = values(q(fs, "departments")); if (depts.length) who.departments = depts;
    var users = values(q(fs, "users")); if (users.length) who.users = users;
    s.who = who;
    s.actions = own(fs, "action").filter(function (c) { return c.checked && !c.closest("label").hidden; })
      .map(function (c) { return c.value; });
    delete s.form; delete s.rows; delete s.fields; delete s.new_fields;
    var hadUnmaskAll = s.unmask === true;
    delete s.unmask;
    if (formKey) {
      s.form = formKey;
      var rule = q(fs, "rows").value.trim();
      if (rule) s.rows = rule;
      s.new_fields = q(fs, "new_fields").value;
      var tbody = fs.querySelector("tbody[data-form='" + formKey + "']");
      var fields = {};
      tbody.querySelectorAll("[data-p=field]").forEach(function (sel) { if (sel.value) fields[sel.dataset.key] = sel.value; });
      if (Object.keys(fields).length) s.fields = fields;
      var boxes = Array.prototype.slice.call(tbody.querySelectorAll("[data-p=unmask]"));
      var unmask = boxes.filter(function (c) { return c.checked; }).map(function (c) { return c.dataset.key; });
      if (hadUnmaskAll && boxes.length && unmask.length === boxes.length) s.unmask = true;
      else if (unmask.length) s.unmask = unmask;
    }
    return s;
  }

  function showErrors(list) {
    while (errors.firstChild) errors.removeChild(errors.firstChild);
    list.forEach(function (e) { var li = document.createElement("li"); li.textContent = e; errors.appendChild(li); });
    errors.hidden = list.length === 0;
  }

  document.getElementById("save-permissions").addEventListener("click", function () {
    var sets = Array.prototype.map.call(holder.querySelectorAll("fieldset.pset"), collect);
    if (sets.some(function (s) { return !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.key); })) { showErrors([T.no_key]); return; }
    showErrors([]);
    var doc = JSON.parse(JSON.stringify(definition));
    delete doc.version;
    doc.permissions = sets;
    var declared = (doc.roles || []).map(function (r) { return r.key; });
    sets.forEach(function (s) {
      ((s.who && s.who.roles) || []).forEach(function (r) {
        if (declared.indexOf(r) < 0) { declared.push(r); doc.roles = (doc.roles || []).concat([{key: r}]); }
      });
    });
    status.textContent = T.saving;
    editor.dataset.saved = "";
    fetch(D.putUrl, {method: "PUT", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": D.csrf,
                "If-Match": D.etag},
      body: JSON.stringify(doc)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.ok) {
          D.etag = r.headers.get("ETag") || D.etag;
          definition = doc; definition.version = data.version;
          originals = sets;
          holder.querySelectorAll("fieldset.pset").forEach(function (fs, i) { fs.dataset.index = String(i); });
          status.textContent = T.saved.replace("{v}", data.version);
          editor.dataset.saved = "1";
        } else if (r.status === 412 || r.status === 409) {
          status.textContent = "";
          showErrors([T.stale]);
          editor.dataset.saved = "stale";
        } else {
          status.textContent = "";
          var list = (data.errors || []).map(function (e) { return (e.location ? e.location + ": " : "") + e.message; });
          showErrors([T.invalid].concat(list.length ? list : [data.detail || data.title || String(r.status)]));
          editor.dataset.saved = "error";
        }
      });
    }).catch(function (err) { status.textContent = T.failed.replace("{m}", String(err)); });
  });
})();
