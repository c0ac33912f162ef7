/* Sportello agent tools: the composer's "/" picker of canned replies, the collision notice
   ("Chiara is looking / writing"), the inbox's filters, selection and bulk bar, and "resolve and
   next". No inline scripts (CSP); app.js owns the WebSocket and lends window.sportelloSend. */
(function () {
  "use strict";

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  function fold(s) { return (s || "").toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, ""); }

  /* --- "/" picker in the composer --------------------------------------------------------------- */
  var picker = { box: null, items: null, loadedAt: 0, shown: [], index: 0, start: -1, open: false };

  function pickerBox(textarea) {
    if (picker.box && picker.box.isConnected) return picker.box;
    var box = document.createElement("div");
    box.className = "reply-picker";
    box.id = "reply-picker";
    box.setAttribute("role", "listbox");
    box.hidden = true;
    textarea.parentNode.insertBefore(box, textarea);
    picker.box = box;
    return box;
  }
  function loadReplies(textarea, then) {
    if (picker.items && Date.now() - picker.loadedAt < 30000) { then(); return; }
    fetch(textarea.dataset.replyPicker, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (body) { picker.items = body.items || []; picker.loadedAt = Date.now(); then(); })
      .catch(function () { picker.items = []; then(); });
  }
  function slashQuery(textarea) {
    var before = textarea.value.slice(0, textarea.selectionStart);
    var match = /(^|\s)\/([^\s\/]{0,40})$/.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, query: match[2] };
  }
  function closePicker() {
    picker.open = false;
    if (picker.box) picker.box.hidden = true;
  }
  function renderPicker(textarea, query) {
    var box = pickerBox(textarea);
    var q = fold(query);
    // shortcuts that start with what was typed first, then titles with a word that does, then
    // anything that contains it; in each group the server's order (by title)
    function rank(item) {
      var shortcut = fold(item.shortcut), title = fold(item.title);
      if (!q || shortcut.indexOf(q) === 0) return 0;
      if (title.indexOf(q) === 0 || title.indexOf(" " + q) !== -1) return 1;
      if (shortcut.indexOf(q) !== -1 || title.indexOf(q) !== -1) return 2;
      return 3;
    }
    picker.shown = (picker.items || []).map(function (item, i) { return { item: item, rank: rank(item), i: i }; })
      .filter(function (x) { return x.rank < 3; })
      .sort(function (a, b) { return a.rank - b.rank || a.i - b.i; })
      .slice(0, 8)
      .map(function (x) { return x.item; });
    picker.index = Math.min(picker.index, Math.max(picker.shown.length - 1, 0));
    box.textContent = "";
    if (!picker.shown.length) {
      var empty = document.createElement("p");
      empty.className = "reply-picker-empty muted small";
      empty.textContent = textarea.dataset.pickerEmpty;
      box.appendChild(empty);
    }
    picker.shown.forEach(function (item, i) {
      var row = document.createElement("div");
      row.className = "reply-picker-item" + (i === picker.index ? " is-active" : "");
      row.setAttribute("role", "option");
      row.setAttribute("aria-selected", i === picker.index ? "true" : "false");
      row.dataset.replyId = item.id;
      var head = document.createElement("div");
      head.className = "reply-picker-head";
      var title = document.createElement("strong");
      title.textContent = item.title;
      var shortcut = document.createElement("span");
      shortcut.className = "muted small";
      shortcut.textContent = "/" + item.shortcut;
      head.appendChild(title);
      head.appendChild(shortcut);
      var text = document.createElement("div");
      text.className = "reply-picker-text small";
      text.textContent = item.text.length > 160 ? item.text.slice(0, 160) + "…" : item.text;
      row.appendChild(head);
      row.appendChild(text);
      var todo = (item.missing || []).concat(item.unknown || []);
      if (todo.length) {
        var warn = document.createElement("div");
        warn.className = "reply-picker-missing small";
        warn.textContent = textarea.dataset.pickerMissing + " " + todo.map(function (n) { return "{{" + n + "}}"; }).join(", ");
        row.appendChild(warn);
      }
      row.addEventListener("mousedown", function (event) {
        event.preventDefault();
        picker.index = i;
        insertReply(textarea);
      });
      box.appendChild(row);
    });
    var hint = document.createElement("p");
    hint.className = "reply-picker-hint muted small";
    hint.textContent = textarea.dataset.pickerHint;
    box.appendChild(hint);
    box.hidden = false;
    picker.open = true;
  }
  function insertReply(textarea) {
    var item = picker.shown[picker.index];
    var found = slashQuery(textarea);
    if (!item || !found) { closePicker(); return; }
    var before = textarea.value.slice(0, found.start);
    var after = textarea.value.slice(textarea.selectionStart);
    textarea.value = before + item.text + after;
    var caret = before.length + item.text.length;
    // a placeholder still to fill is selected, so the agent types straight over it
    var gap = /\{\{\s*[A-Za-z_.0-9]+\s*\}\}/.exec(item.text);
    textarea.focus();
    if (gap) textarea.setSelectionRange(before.length + gap.index, before.length + gap.index + gap[0].length);
    else textarea.setSelectionRange(caret, caret);
    closePicker();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }
  document.addEventListener("input", function (event) {
    var textarea = event.target;
    if (!textarea.matches || !textarea.matches("textarea[data-reply-picker]")) return;
    var found = slashQuery(textarea);
    if (!found) { closePicker(); return; }
    if (!picker.open) picker.index = 0;
    loadReplies(textarea, function () {
      var again = slashQuery(textarea);
      if (again) renderPicker(textarea, again.query); else closePicker();
    });
  });
  document.addEventListener("keydown", function (event) {
    var textarea = event.target;
    if (!picker.open || !textarea.matches || !textarea.matches("textarea[data-reply-picker]")) return;
    var key = event.key;
    if (key === "ArrowDown" || key === "ArrowUp") {
      var n = picker.shown.length;
      if (n) picker.index = (picker.index + (key === "ArrowDown" ? 1 : n - 1)) % n;
      var found = slashQuery(textarea);
      if (found) renderPicker(textarea, found.query);
    } else if ((key === "Enter" || key === "Tab") && !event.ctrlKey && !event.metaKey) {
      if (!picker.shown.length) { closePicker(); return; }
      insertReply(textarea);
    } else if (key === "Escape") {
      closePicker();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }, true);
  document.addEventListener("focusout", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-reply-picker]")) setTimeout(closePicker, 150);
  });

  /* --- collision notice ------------------------------------------------------------------------- */
  var TYPING_EVERY = 3000;
  var TYPING_IDLE = 5000;
  var TYPING_SHOWN = 8000;
  var others = {};
  var myState = "viewing";
  var lastTypingSent = 0;
  var idleTimer = null;

  function notice() { return $("#collision"); }
  function conversationId() { var el = notice(); return el ? Number(el.dataset.conversation) : null; }
  function send(state, echo) {
    var id = conversationId();
    if (!id || !window.sportelloSend) return;
    window.sportelloSend({ type: "collision", conversation: id, state: state, echo: !!echo });
  }
  function showOthers() {
    var el = notice();
    if (!el) return;
    var now = Date.now();
    var lines = [];
    Object.keys(others).forEach(function (id) {
      var o = others[id];
      var typing = o.state === "typing" && now - o.at < TYPING_SHOWN;
      var label = typing ? el.dataset.labelTyping : el.dataset.labelViewing;
      lines.push({ text: label.replace("{name}", o.name), typing: typing });
    });
    el.textContent = "";
    lines.forEach(function (line) {
      var span = document.createElement("span");
      span.className = "collision-line" + (line.typing ? " is-typing" : "");
      span.textContent = line.text;
      el.appendChild(span);
    });
    el.hidden = !lines.length;
  }
  document.addEventListener("sportello:event", function (event) {
    var message = event.detail || {};
    if (message.type !== "agent.collision") return;
    var data = message.data || {};
    var el = notice();
    if (!el || data.conversation !== conversationId() || String(data.agent_id) === el.dataset.me) return;
    if (data.state === "left") delete others[data.agent_id];
    else others[data.agent_id] = { name: data.agent_name, state: data.state, at: Date.now() };
    showOthers();
    if (!data.echo && data.state !== "left") send(myState, true); // let the newcomer know of us
    if (data.state === "typing") setTimeout(showOthers, TYPING_SHOWN + 100);
  });
  document.addEventListener("sportello:connected", function () {
    others = {};
    showOthers();
    if (notice()) send("viewing");
  });
  document.addEventListener("input", function (event) {
    if (!event.target.matches || !event.target.matches("#composer-text") || !notice()) return;
    var now = Date.now();
    if (myState !== "typing" || now - lastTypingSent > TYPING_EVERY) {
      myState = "typing";
      lastTypingSent = now;
      send("typing");
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { myState = "viewing"; send("viewing"); }, TYPING_IDLE);
  });
  window.addEventListener("pagehide", function () { send("left"); });

  /* --- inbox: filters, selection, bulk bar --------------------------------------------------------- */
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.matches) return;
    if (el.matches("select[data-filter]")) {
      var form = el.form;
      if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
    } else if (el.matches("#select-all")) {
      $$("[data-pick]").forEach(function (box) { box.checked = el.checked; });
      updateBulk();
    } else if (el.matches("[data-pick]")) {
      updateBulk();
    } else if (el.matches("#bulk-macro") && el.value) {
      var bulk = $("#bulk");
      ["#bulk-assignee", "#bulk-status", "#bulk-priority", "#bulk-tags"].forEach(function (sel) {
        var field = $(sel); if (field) field.value = "";
      });
      if (bulk) bulk.requestSubmit ? bulk.requestSubmit() : bulk.submit();
    }
  });
  function updateBulk() {
    var checked = $$("[data-pick]:checked").length;
    var all = $$("[data-pick]").length;
    var actions = $("[data-bulk-actions]");
    var count = $("[data-bulk-count]");
    var selectAll = $("#select-all");
    if (actions) actions.hidden = checked === 0;
    if (count) count.textContent = checked ? count.dataset.labelSome.replace("{n}", checked) : count.dataset.labelNone;
    if (selectAll) {
      selectAll.checked = all > 0 && checked === all;
      selectAll.indeterminate = checked > 0 && checked < all;
    }
    $$("[data-pick]").forEach(function (box) {
      var wrap = box.closest(".row-wrap");
      if (wrap) wrap.classList.toggle("is-checked", box.checked);
    });
  }
  // A live refresh of the list (a conversation arrived, another agent changed one) keeps what
  // the agent was doing: the rows ticked, the bulk choices, an open "save view" box.
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "inbox" || event.detail.requestConfig.verb !== "get") return;
    kept = {
      ids: $$("[data-pick]:checked").map(function (box) { return box.value; }),
      fields: $$("#bulk select, #bulk input[type=text], #view-name").map(function (el) { return [el.id, el.value]; }),
      saveOpen: !!($("#save-view") && $("#save-view").open),
      focus: document.activeElement && document.activeElement.id
    };
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (kept && event.detail.target && event.detail.target.id === "inbox") {
      kept.ids.forEach(function (id) {
        var box = $('[data-pick][value="' + id + '"]');
        if (box) box.checked = true;
      });
      kept.fields.forEach(function (pair) {
        var el = pair[0] && document.getElementById(pair[0]);
        if (el) el.value = pair[1];
      });
      if (kept.saveOpen && $("#save-view")) $("#save-view").open = true;
      if (kept.focus && document.getElementById(kept.focus)) document.getElementById(kept.focus).focus();
      kept = null;
    }
    updateBulk();
  });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "m" && $("#macro-select")) {
      $("#macro-select").focus(); // choose with the arrows, then the Apply button
      event.preventDefault();
      return;
    }
    if (event.key !== "x") return;
    var row = $("[data-row].is-selected");
    var wrap = row && row.closest(".row-wrap");
    var box = wrap && wrap.querySelector("[data-pick]");
    if (!box) return;
    box.checked = !box.checked;
    updateBulk();
    event.preventDefault();
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  /* --- resolve and next: remember the view the agent works from ------------------------------------- */
  function rememberView() {
    var inbox = $("#inbox");
    if (inbox && inbox.dataset.viewPath) {
      try { sessionStorage.setItem("sportello.view", inbox.dataset.viewPath); } catch (e) { /* private mode */ }
    }
    var view = null;
    try { view = sessionStorage.getItem("sportello.view"); } catch (e) { /* private mode */ }
    if (view) $$("input[data-current-view]").forEach(function (input) { input.value = view; });
  }
  document.addEventListener("htmx:afterSettle", rememberView);

  function start() {
    rememberView();
    updateBulk();
    if (notice()) send("viewing"); // the socket may already be open (else "connected" sends it)
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
