// Import wizard: the chosen file stays in the browser; it is posted to the preview endpoint
// (proposed mapping + row errors, nothing written) and then to the import endpoint as a
// background job whose progress is polled. Text goes into the page with textContent only.
(function () {
  "use strict";
  var root = document.getElementById("wizard");
  if (!root) return;
  var T = JSON.parse(document.getElementById("ff-wizard-messages").textContent);
  var D = root.dataset;
  var fileInput = document.getElementById("wizard-file");
  var status = document.getElementById("wizard-status");
  var state = {file: null, preview: null};

  function $(id) { return document.getElementById(id); }
  function fill(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
  function li(list, text) { var x = document.createElement("li"); x.textContent = text; list.appendChild(x); }
  function show(id, on) { $(id).hidden = !on; }

  function mapping() {
    var out = {};
    document.querySelectorAll("#mapping select[data-header]").forEach(function (s) {
      out[s.dataset.header] = s.value || null;
    });
    return out;
  }

  function post(url, extra) {
    var body = new FormData();
    body.append("file", state.file);
    body.append("lang", D.lang);
    Object.keys(extra).forEach(function (k) { body.append(k, extra[k]); });
    return fetch(url, {method: "POST", credentials: "same-origin", body: body,
                       headers: {"X-CSRFToken": D.csrf, "Accept": "application/json"}})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) { return {status: r.status, data: data}; });
      });
  }

  function problem(data) { return data.detail || data.title || data.message || "HTTP error"; }

  function renderMapping(p) {
    var tbody = document.querySelector("#mapping tbody");
    clear(tbody);
    var first = p.sample.length ? p.sample[0].cells : [];
    p.proposed.forEach(function (col, i) {
      if (!col.header) return;
      var tr = document.createElement("tr");
      var th = document.createElement("th"); th.scope = "row"; th.textContent = col.header;
      var td1 = document.createElement("td"); td1.textContent = first[col.index] || "";
      var td2 = document.createElement("td");
      var sel = document.createElement("select");
      sel.id = "map-" + i; sel.dataset.header = col.header;
      sel.setAttribute("aria-label", col.header);
      var none = document.createElement("option"); none.value = ""; none.textContent = T.ignore; sel.appendChild(none);
      p.fields.forEach(function (f) {
        var o = document.createElement("option"); o.value = f.key;
        o.textContent = f.label + (f.label !== f.key ? " (" + f.key + ")" : "") + (f.required ? " *" : "");
        sel.appendChild(o);
      });
      var chosen = Object.prototype.hasOwnProperty.call(p.mapping, col.header) ? p.mapping[col.header] : col.field;
      sel.value = chosen || "";
      sel.addEventListener("change", check);
      td2.appendChild(sel);
      tr.appendChild(th); tr.appendChild(td1); tr.appendChild(td2);
      tbody.appendChild(tr);
    });
  }

  function renderPreview(p) {
    var refused = $("preview-refused");
    refused.hidden = !p.refused;
    refused.textContent = p.refused ? fill(T.refused, {m: p.refused.message}) : "";
    $("preview-summary").textContent = p.refused ? "" :
      (p.failed ? fill(T.summary, {rows: p.rows, checked: p.checked, failed: p.failed}) : T.all_good);
    var warnings = $("preview-warnings"); clear(warnings);
    (p.warnings || []).forEach(function (w) { li(warnings, w); });
    var list = $("preview-errors"); clear(list);
    (p.errors || []).forEach(function (e) { li(list, e.location + ": " + e.message); });
    if (p.more_errors) li(list, fill(T.more_errors, {n: p.more_errors}));
    show("step-preview", true);
    show("step-run", !p.refused);
    root.dataset.checked = "1";
  }

  function check(initial) {
    if (!state.file) { status.textContent = T.choose_file; return; }
    status.textContent = T.checking;
    root.dataset.checked = "";
    var extra = initial === true ? {} : {mapping: JSON.stringify(mapping())};
    post(D.previewUrl, extra).then(function (res) {
      if (res.status !== 200) { status.textContent = fill(T.failed, {m: problem(res.data)}); return; }
      status.textContent = "";
      state.preview = res.data;
      if (initial === true) renderMapping(res.data);
      show("step-map", true);
      renderPreview(res.data);
    }).catch(function (err) { status.textContent = fill(T.failed, {m: String(err)}); });
  }

  $("wizard-upload").addEventListener("click", function () {
    state.file = fileInput.files && fileInput.files[0];
    show("step-result", false);
    check(true);
  });
  $("wizard-recheck").addEventListener("click", check);

  function showResult(report) {
    show("step-result", true);
    $("result-created").textContent = fill(T.created, {n: report.created});
    var failed = $("result-failed");
    failed.textContent = report.failed ? (report.created || report.mode === "good_rows" ?
      fill(T.not_created, {n: report.failed}) : T.nothing) : "";
    var list = $("result-errors"); clear(list);
    (report.lines || []).slice(0, 200).forEach(function (line) { li(list, line); });
    root.dataset.done = "1";
  }

  function poll(url) {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (job) {
        var bar = $("import-progress"), counts = {done: job.progress || 0, total: job.total || "?"};
        if (job.total) { bar.max = job.total; bar.value = job.progress || 0; }
        var text = job.status === "queued" ? T.queued : fill(T.progress, counts);
        if (job.status === "running" && job.phase === "checking") text = fill(T.checking, counts);
        if (job.status === "running" && job.phase === "writing") {
          // all or nothing on SQLite writes in one transaction that cannot report as it goes
          if (!job.progress) { bar.removeAttribute("value"); text = fill(T.writing_all, counts); }
          else text = fill(T.writing, counts);
        }
        $("progress-text").textContent = text;
        if (job.status === "done") { bar.value = bar.max; showResult(job.result); $("wizard-run").disabled = false; return; }
        if (job.status === "failed") {
          $("progress-text").textContent = fill(T.failed, {m: (job.error && job.error.message) || "?"});
          $("wizard-run").disabled = false;
          return;
        }
        setTimeout(function () { poll(url); }, 400);
      })
      .catch(function (err) { $("progress-text").textContent = fill(T.failed, {m: String(err)}); });
  }

  $("wizard-run").addEventListener("click", function () {
    if (!state.file) { status.textContent = T.choose_file; return; }
    var mode = document.querySelector("input[name=mode]:checked").value;
    $("wizard-run").disabled = true;
    root.dataset.done = "";
    show("run-progress", true);
    $("progress-text").textContent = T.queued;
    post(D.importUrl, {mode: mode, mapping: JSON.stringify(mapping()), "async": "1"}).then(function (res) {
      if (res.status === 202) { poll(res.data.url); return; }
      $("wizard-run").disabled = false;
      if (res.status === 200 || res.status === 422 && res.data.rows !== undefined) { showResult(res.data); return; }
      $("progress-text").textContent = fill(T.failed, {m: problem(res.data)});
    }).catch(function (err) { $("wizard-run").disabled = false; $("progress-text").textContent = fill(T.failed, {m: String(err)}); });
  });
})();
