// Kanban: drag a card to another column (SortableJS) or choose the column in the card's
// "move to" list; the record is saved with PATCH + If-Match (its version). When the save
// fails (changed meanwhile, not allowed, invalid) the card goes back and the reason is shown.
(function () {
  "use strict";
  var board = document.getElementById("kanban");
  if (!board) return;
  var T = JSON.parse(document.getElementById("ff-kanban-messages").textContent);
  var status = document.getElementById("kanban-status");
  var canMove = board.dataset.canMove === "1";

  function counts() {
    board.querySelectorAll(".kanban-col").forEach(function (col) {
      col.querySelector("[data-count]").textContent = col.querySelectorAll(".kanban-card").length;
    });
  }

  function columnOf(value) {
    return Array.prototype.filter.call(board.querySelectorAll(".kanban-cards"), function (ul) {
      return ul.dataset.value === value;
    })[0];
  }

  function save(card, from, oldIndex) {
    var target = card.parentNode;
    var value = target.dataset.value;
    var body = {};
    body[board.dataset.field] = value === "" ? null : value;
    card.dataset.saving = "1";
    fetch(board.dataset.recordsUrl + encodeURIComponent(card.dataset.id), {
      method: "PATCH", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": board.dataset.csrf,
                "If-Match": '"' + card.dataset.id + "-" + card.dataset.version + '"'},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        delete card.dataset.saving;
        if (r.ok) {
          card.dataset.version = data._version;
          var sel = card.querySelector("select.move-card");
          if (sel) sel.value = value;
          status.textContent = T.moved;
          card.dataset.saved = "1";
        } else {
          from.insertBefore(card, from.children[oldIndex] || null);
          var sel2 = card.querySelector("select.move-card");
          if (sel2) sel2.value = from.dataset.value;
          status.textContent = r.status === 412 ? T.stale : T.failed.replace("{m}", data.detail || data.title || r.status);
        }
        counts();
      });
    }).catch(function (err) {
      delete card.dataset.saving;
      from.insertBefore(card, from.children[oldIndex] || null);
      status.textContent = T.failed.replace("{m}", String(err));
      counts();
    });
  }

  if (!canMove) return;
  board.querySelectorAll(".kanban-cards").forEach(function (ul) {
    if (window.Sortable) {
      window.Sortable.create(ul, {
        group: "kanban", animation: 120, forceFallback: true, ghostClass: "kanban-ghost",
        filter: "select, a", preventOnFilter: false,
        onEnd: function (evt) {
          if (evt.from === evt.to) return;
          save(evt.item, evt.from, evt.oldIndex);
        }
      });
    }
  });
  board.addEventListener("change", function (evt) {
    var sel = evt.target;
    if (!sel.classList || !sel.classList.contains("move-card")) return;
    var card = sel.closest(".kanban-card");
    var from = card.parentNode;
    var oldIndex = Array.prototype.indexOf.call(from.children, card);
    var to = columnOf(sel.value);
    if (!to || to === from) return;
    to.insertBefore(card, to.firstChild);
    save(card, from, oldIndex);
  });
})();
