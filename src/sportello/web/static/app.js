/* Sportello console: one WebSocket per tab for live updates, htmx glue, keyboard shortcuts.
   No inline scripts anywhere (CSP script-src 'self'); everything is wired from here. */
(function () {
  "use strict";

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  /* --- toasts --------------------------------------------------------------------------------- */
  var toastTimer = null;
  function toast(text, isError) {
    var el = $("#toast");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("is-error", !!isError);
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, isError ? 6000 : 3000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var message = ($("#toast") || {}).dataset ? $("#toast").dataset.msgError : "Error";
    try {
      var body = JSON.parse(xhr.responseText);
      message = body.detail || body.title || message;
    } catch (e) { /* not JSON: keep the generic message */ }
    toast(message, true);
    // a refused change (say, an invalid status): put the panels back as they are on the server
    var target = event.detail.target;
    if (target && target.id === "timeline" && event.detail.requestConfig.verb !== "get") {
      schedule(target);
    }
  });
  document.addEventListener("htmx:sendError", function () {
    var el = $("#toast");
    toast(el ? el.dataset.msgOffline : "Offline", true);
  });

  /* --- composer ------------------------------------------------------------------------------- */
  function composerMode(mode) {
    var form = $("#composer");
    if (!form) return false;
    if (mode) {
      var radio = form.querySelector('input[name=mode][value="' + mode + '"]');
      if (radio && !radio.disabled) radio.checked = true;
    }
    var checked = form.querySelector("input[name=mode]:checked");
    var isNote = checked && checked.value === "note";
    form.classList.toggle("is-note", !!isNote);
    var text = $("#composer-text");
    if (text) text.placeholder = isNote ? text.dataset.placeholderNote : text.dataset.placeholderReply;
    return true;
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("#composer input[name=mode]")) composerMode();
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    var config = event.detail.requestConfig || {};
    // Only the form's own submission empties it. htmx reports a request whose element was
    // swapped out (the composer's "Reply via" part, loaded with the page and again when the
    // agent picks a channel) on the nearest element still in the page: the form. Resetting then
    // threw away what the agent had typed.
    if (event.detail.successful && elt && elt.matches && elt.matches("form[data-reset-on-success]") &&
        config.verb === "post" && config.path === elt.getAttribute("hx-post")) {
      elt.reset();
      composerMode();
      ownChange = true;
      // A live refresh sent just before this reply was stored may land after it and show the
      // timeline without it: one more refresh shortly after heals that.
      setTimeout(function () {
        var timeline = document.getElementById("timeline");
        if (timeline && timeline.hasAttribute("data-live-url")) schedule(timeline);
      }, 700);
    }
  });

  /* --- timeline scrolling ---------------------------------------------------------------------- */
  var stickToBottom = true;
  var ownChange = false;
  function timelineAtBottom() {
    var t = $("#timeline");
    return !t || t.scrollHeight - t.scrollTop - t.clientHeight < 80;
  }
  function scrollTimeline() {
    var t = $("#timeline");
    if (t) t.scrollTop = t.scrollHeight;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "timeline") stickToBottom = timelineAtBottom();
    if (target && target.id === "inbox") rememberSelection();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if ($("#timeline") && (stickToBottom || ownChange)) scrollTimeline();
    ownChange = false;
    restoreSelection();
  });

  /* --- list selection (j / k) ----------------------------------------------------------------- */
  var selectedId = null;
  function rows() { return $$("[data-row]"); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("is-selected"); });
    if (!row) return;
    row.classList.add("is-selected");
    selectedId = row.dataset.conversationId || null;
    row.scrollIntoView({ block: "nearest" });
    if (row.focus && row.tagName === "A") row.focus({ preventScroll: true });
  }
  function move(delta) {
    var all = rows();
    if (!all.length) return;
    var index = all.findIndex(function (r) { return r.classList.contains("is-selected"); });
    index = index < 0 ? (delta > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, index + delta));
    select(all[index]);
  }
  function rememberSelection() {
    var row = $("[data-row].is-selected");
    selectedId = row ? row.dataset.conversationId : selectedId;
  }
  function restoreSelection() {
    if (!selectedId) return;
    var row = $('[data-row][data-conversation-id="' + selectedId + '"]');
    if (row) row.classList.add("is-selected");
  }
  function openSelected() {
    var row = $("[data-row].is-selected");
    if (!row) return false;
    var link = row.tagName === "A" ? row : row.querySelector("a");
    if (link) window.location.href = link.href;
    return true;
  }

  /* --- help overlay ------------------------------------------------------------------------- */
  function toggleHelp(force) {
    var help = $("#help");
    if (!help) return;
    help.hidden = force === undefined ? !help.hidden : !force;
  }
  document.addEventListener("click", function (event) {
    var trigger = event.target.closest && event.target.closest("[data-action=help]");
    if (trigger) { event.preventDefault(); toggleHelp(); return; }
    if (event.target.id === "help") toggleHelp(false);
  });

  /* --- keyboard shortcuts --------------------------------------------------------------------- */
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target.closest && target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (event.key === "Escape") { target.blur(); return; }
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.id === "composer-text") {
        event.preventDefault();
        var form = $("#composer");
        if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key;
    var handled = true;
    if (key === "?") toggleHelp();
    else if (key === "Escape") toggleHelp(false);
    else if (key === "/") { var s = $("#search-input"); if (s) { s.focus(); s.select(); } }
    else if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "o" || key === "Enter") handled = openSelected();
    else if (key === "r" || key === "n") {
      handled = composerMode(key === "r" ? "reply" : "note");
      if (handled) $("#composer-text").focus();
    } else {
      var el = $('[data-key="' + key + '"]');
      if (el) el.click(); else handled = false;
    }
    if (handled) event.preventDefault();
  });

  /* --- live updates: one WebSocket per tab ---------------------------------------------------- */
  var timers = {};
  function refresh(el) {
    if (!el.isConnected || !window.htmx) return;
    var url = el.getAttribute("data-live-url");
    if (el.id === "timeline") stickToBottom = timelineAtBottom();
    // The part itself is the request's source: htmx queues requests per source, keeping only
    // the last one waiting, so with the page's body as everyone's source a third part
    // refreshed by the same event (counts, timeline, composer) would lose its turn.
    window.htmx.ajax("GET", url, { source: el, target: "#" + el.id, swap: "outerHTML" });
  }
  function schedule(el) {
    var key = el.id;
    if (!key) return;
    clearTimeout(timers[key]);
    timers[key] = setTimeout(function () {
      var current = document.getElementById(key);
      if (current) refresh(current);
    }, 150);
  }
  function refreshAll() { $$("[data-live-url]").forEach(schedule); }
  // A part that changes at a known moment with no event to say so (the composer's WhatsApp
  // template picker, when the 24-hour window closes): one refresh then, no polling.
  var momentTimers = {};
  function armMoments() {
    $$("[data-live-url][data-refresh-at]").forEach(function (el) {
      var key = el.id;
      if (!key) return;
      clearTimeout(momentTimers[key]);
      var wait = Number(el.getAttribute("data-refresh-at")) - Date.now() + 1000;
      if (!(wait < 2147483647)) return; // not a number, or beyond what setTimeout can wait
      momentTimers[key] = setTimeout(function () {
        var current = document.getElementById(key);
        if (current) refresh(current);
      }, Math.max(wait, 0));
    });
  }
  document.addEventListener("htmx:afterSettle", armMoments);
  function onEvent(message) {
    var data = message.data || {};
    if (message.type === "hello") return;
    // Only events with a conversation_id change what the lists and timelines show. Others (the
    // chat's typing and visitor events carry "conversation") are passed on, for chat-console.js.
    if (data.conversation_id !== undefined) {
      $$("[data-live-url]").forEach(function (el) {
        var only = el.getAttribute("data-live-conversation");
        if (only && String(data.conversation_id) !== only) return;
        schedule(el);
      });
    }
    document.dispatchEvent(new CustomEvent("sportello:event", { detail: message }));
  }

  var socket = null;
  var backoff = 1000;
  var everConnected = false;
  var pingTimer = null;
  function setLive(on) {
    var el = $("#live");
    if (el) el.setAttribute("data-state", on ? "on" : "off");
    document.documentElement.setAttribute("data-live", on ? "on" : "off");
  }
  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + "/ws");
    socket.onopen = function () {
      setLive(true);
      document.dispatchEvent(new CustomEvent("sportello:connected"));
      if (everConnected) refreshAll(); // events may have been missed while away
      everConnected = true;
      backoff = 1000;
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (socket && socket.readyState === 1) socket.send("ping");
      }, 25000);
    };
    socket.onmessage = function (event) {
      if (event.data === "pong") return;
      try { onEvent(JSON.parse(event.data)); } catch (e) { /* ignore malformed frames */ }
    };
    socket.onclose = function (event) {
      setLive(false);
      clearInterval(pingTimer);
      socket = null;
      if (event.code === 4401) {
        window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
        return;
      }
      var wait = backoff + Math.floor(Math.random() * 500);
      backoff = Math.min(backoff * 2, 30000);
      setTimeout(connect, wait);
    };
  }

  // A button with data-confirm asks before its form is sent (destructive admin actions).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var text = button && button.getAttribute("data-confirm");
    if (text && !window.confirm(text)) event.preventDefault();
  });

  // Other scripts (agent-tools.js: the collision notice) speak on this tab's one socket.
  window.sportelloSend = function (frame) {
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  };

  /* --- remote images in mail: held back until the agent asks, remembered for this tab ------- */
  var IMAGES_KEY = "sportello.remoteImages";
  function shownImages() {
    try { return JSON.parse(sessionStorage.getItem(IMAGES_KEY) || "[]"); } catch (e) { return []; }
  }
  function showImages(messageId) {
    var msg = document.getElementById(messageId);
    if (!msg) return;
    $$("img[data-remote-src]", msg).forEach(function (img) {
      img.src = img.getAttribute("data-remote-src");
      img.removeAttribute("data-remote-src");
    });
    var note = $("[data-show-remote-images]", msg);
    if (note && note.parentNode) note.parentNode.remove();
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-show-remote-images]");
    if (!button) return;
    var id = button.getAttribute("data-show-remote-images");
    var shown = shownImages();
    if (shown.indexOf(id) < 0) shown.push(id);
    try { sessionStorage.setItem(IMAGES_KEY, JSON.stringify(shown.slice(-200))); } catch (e) { /* full */ }
    showImages(id);
  });
  function restoreImages() { shownImages().forEach(showImages); }
  document.addEventListener("htmx:afterSettle", restoreImages);

  function start() {
    restoreImages();
    composerMode();
    scrollTimeline();
    armMoments();
    if ($("#live")) connect();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
