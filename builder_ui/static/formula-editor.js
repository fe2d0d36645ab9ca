/* The formula editor shared by the form designer (designer.js) and the permissions editor
   (permissions.js): a textarea over a mirror <pre> that underlines the first diagnostic's
   line/column range, checks debounced through the caller's `check`, chips that insert field
   references and a filterable function list with help. Plain JS, no inline code (CSP
   script-src 'self'); every text is set with textContent / .value, never as HTML.

   window.formflowFormula.editor(options) → the editor element (div.fx), options:
     value       initial text (ignored when `input` is given: its value is kept)
     input       an existing <textarea> to adopt (keeps its id, label, data-* and name for the
                 form it belongs to); it is replaced in the page by the editor
     id, name    id and data-name of a new textarea; formula: data-formula of the editor
     diagId      id of the diagnostics line (default: the input's aria-describedby or id + "-diag")
     onChange(value)                      after every edit
     check(source) → Promise of [{message, line, column, end_column}] (1-based, end exclusive)
     chips       [{ref, title}] or a function returning them (read again by refresh())
     functions   [{name, signature, doc, example}]
     messages    {fields, functions, filter_functions, ok, checking}
     delay       ms of quiet before a check (300)
   The element gets `ffFormula` = {input, refresh(), check()}: refresh() rebuilds the chips and
   checks again (for a caller whose context, such as the chosen form, changed). */
(function () {
  "use strict";
  var seq = 0;

  // Builds an element whose text and values are only ever set as text (never parsed as HTML);
  // shared with designer.js (formflowFormula.el).
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else if (k === "value") node.value = v;
      else if (k === "checked") node.checked = !!v;
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function editor(options) {
    var o = options || {};
    var T = o.messages || {};
    var input = o.input;
    var wrap = el("div", {className: "fx", "data-formula": o.formula});
    if (input) {
      if (input.parentNode) input.parentNode.replaceChild(wrap, input);
      input.classList.add("fx-input", "mono");
    } else {
      input = el("textarea", {id: o.id || "ffx-" + (++seq), className: "fx-input mono", rows: "2",
                              "data-name": o.name});
      input.value = o.value || "";
    }
    input.setAttribute("spellcheck", "false");
    input.setAttribute("autocomplete", "off");
    if (!input.getAttribute("rows")) input.setAttribute("rows", "2");
    var diagId = o.diagId || input.getAttribute("aria-describedby") || input.id + "-diag";
    input.setAttribute("aria-describedby", diagId);
    var mirror = el("pre", {className: "fx-mirror", "aria-hidden": "true"});
    var diag = el("p", {className: "fx-diag", id: diagId, role: "status", "aria-live": "polite"});
    wrap.appendChild(el("div", {className: "fx-box"}, mirror, input));
    wrap.appendChild(diag);

    function paint(diagnostic) {
      var src = input.value;
      mirror.replaceChildren();
      input.removeAttribute("aria-invalid");
      if (!diagnostic) { mirror.textContent = src + "\n"; return; }
      var lines = src.split("\n"), offset = 0;
      for (var i = 0; i < diagnostic.line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      var start = Math.min(src.length, offset + Math.max(0, diagnostic.column - 1));
      var end = Math.min(src.length, offset + Math.max(diagnostic.column, diagnostic.end_column - 1));
      var bad = src.slice(start, end) || " ";
      mirror.append(src.slice(0, start), el("mark", {className: "fx-err", text: bad}), src.slice(end) + "\n");
      input.setAttribute("aria-invalid", "true");
    }

    // Only the answer to the latest check is shown: an older one arriving late would paint
    // diagnostics of a text that is no longer there.
    var checks = 0, timer = null;
    function runCheck() {
      var source = input.value, mine = ++checks;
      if (!source.trim() || !o.check) { paint(null); diag.textContent = ""; diag.className = "fx-diag"; return; }
      diag.textContent = T.checking || "";
      Promise.resolve(o.check(source)).then(function (list) {
        if (mine !== checks || !input.isConnected || input.value !== source) return;
        list = list || [];
        paint(list[0] || null);
        diag.className = "fx-diag " + (list.length ? "error" : "ok");
        diag.textContent = list.length
          ? list.map(function (d) { return d.line + ":" + d.column + " " + d.message; }).join("; ") : (T.ok || "");
      })["catch"](function () { if (mine === checks) diag.textContent = ""; });
    }
    function checkSoon() {
      clearTimeout(timer);
      timer = setTimeout(runCheck, o.delay === undefined ? 300 : o.delay);
    }
    input.addEventListener("input", function () {
      paint(null);
      checkSoon();
      if (o.onChange) o.onChange(input.value);
    });
    input.addEventListener("scroll", function () { mirror.scrollTop = input.scrollTop; });

    function insert(text, caretBack) {
      var s = input.selectionStart, e = input.selectionEnd, v = input.value;
      input.value = v.slice(0, s) + text + v.slice(e);
      var pos = s + text.length - (caretBack || 0);
      input.focus();
      input.setSelectionRange(pos, pos);
      input.dispatchEvent(new Event("input"));
    }

    // field chips
    var chips = el("div", {className: "fx-chips", role: "group", "aria-label": T.fields});
    function renderChips() {
      var list = typeof o.chips === "function" ? o.chips() : o.chips;
      chips.replaceChildren();
      (list || []).forEach(function (c) {
        chips.appendChild(el("button", {type: "button", className: "chip", "data-chip": c.ref, title: c.title,
                                        onclick: function () { insert(c.ref); }}, c.ref));
      });
      chips.hidden = !chips.firstChild;
    }
    renderChips();
    wrap.appendChild(chips);

    // function list with help
    var help = el("div", {className: "fx-help-text", "aria-live": "polite"});
    var filter = el("input", {type: "search", placeholder: T.filter_functions, "aria-label": T.filter_functions});
    var list = el("ul", {className: "fx-funcs"});
    function showHelp(fn) {
      help.replaceChildren(el("code", {text: fn.signature}), el("p", {text: fn.doc}),
                           el("code", {className: "muted", text: fn.example}));
    }
    (o.functions || []).forEach(function (fn) {
      list.appendChild(el("li", {"data-fn": fn.name}, el("button", {type: "button", className: "link small", "data-function": fn.name,
        onmouseenter: function () { showHelp(fn); }, onfocus: function () { showHelp(fn); },
        onclick: function () { showHelp(fn); insert(fn.name + "()", 1); }}, fn.name)));
    });
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toUpperCase();
      Array.prototype.forEach.call(list.children, function (li) { li.hidden = q && li.dataset.fn.indexOf(q) < 0; });
    });
    wrap.appendChild(el("details", {className: "fx-fns"}, el("summary", {text: T.functions}), filter, list, help));

    paint(null);
    if (input.value.trim()) checkSoon();
    wrap.ffFormula = {input: input, refresh: function () { renderChips(); runCheck(); }, check: runCheck};
    return wrap;
  }

  window.formflowFormula = {editor: editor, el: el};
})();
