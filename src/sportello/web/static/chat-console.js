/* Sportello console, chat conversations: who the visitor is and which page they are on, "the
   visitor is typing…", and the agent's own typing and "seen" sent to the widget.
   Loaded with <script src="/static/chat-console.js" defer> on the page of a chat conversation only;
   no inline script (CSP script-src 'self'). Live events arrive from app.js as "sportello:event". */
(function () {
  "use strict";

  var TYPING_EVERY = 3000; // ms between two "the agent is typing" calls while the agent writes
  var TYPING_IDLE = 4000; // ms without a key press before "the agent stopped typing"
  var VISITOR_TYPING_SHOWN = 6000; // ms the visitor's typing shows without a new signal

  var conv = null;
  var number = null;
  var conversationId = null;

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(path) {
    return fetch("/chat/agent/" + number + "/" + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() },
    }).catch(function () { /* offline: the next call will tell */ });
  }

  /* --- the visitor panel ----------------------------------------------------------------------- */
  function field(name) {
    var panel = document.getElementById("chat-visitor");
    return panel ? panel.querySelector('[data-field="' + name + '"]') : null;
  }
  function setText(name, value) {
    var el = field(name);
    if (el) el.textContent = value || "—";
  }
  function setOnline(online) {
    var el = field("online");
    if (!el) return;
    el.textContent = online ? el.dataset.labelOnline : el.dataset.labelOffline;
    el.classList.toggle("is-online", !!online);
  }
  function setPage(url, title) {
    var el = field("page");
    if (!el) return;
    el.textContent = "";
    if (!url) { el.textContent = "—"; return; }
    if (/^https?:\/\//i.test(url)) {
      var link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = title || url;
      link.title = url;
      el.appendChild(link);
    } else {
      el.textContent = title || url;
    }
  }
  function when(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    try {
      // in the agent's time zone (their profile's), as the server writes every other time
      return date.toLocaleString(document.documentElement.lang || undefined, {
        dateStyle: "short", timeStyle: "short",
        timeZone: document.documentElement.dataset.tz || undefined,
      });
    } catch (e) { return date.toLocaleString(); }
  }
  function setTranscripts(items) {
    var el = field("transcripts");
    if (!el) return;
    el.textContent = "";
    (items || []).forEach(function (t) {
      var p = document.createElement("p");
      p.className = "muted small";
      p.textContent = (el.dataset.label ? el.dataset.label + " " : "") + t.email +
        " · " + t.status + (t.requested_at ? " · " + when(t.requested_at) : "");
      el.appendChild(p);
    });
    el.hidden = !el.childNodes.length;
  }

  var loading = false;
  function loadVisitor() {
    var panel = document.getElementById("chat-visitor");
    if (!panel || loading) return;
    loading = true;
    fetch(panel.dataset.visitorUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v) return;
        setOnline(v.online);
        setPage(v.page, v.page_title);
        setText("name", v.name);
        setText("email", v.email);
        setText("topic", v.topic);
        setText("verified_as", v.verified_as);
        setText("language", v.language ? v.language.toUpperCase() : "");
        setText("last_seen_at", when(v.last_seen_at));
        setTranscripts(v.transcripts);
      })
      .catch(function () { /* offline */ })
      .then(function () { loading = false; });
  }

  /* --- the visitor is typing ------------------------------------------------------------------- */
  var typingTimer = null;
  function visitorTyping(on) {
    var el = document.getElementById("visitor-typing");
    if (!el) return;
    el.hidden = !on;
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { el.hidden = true; }, VISITOR_TYPING_SHOWN);
  }

  /* --- the agent is typing, the agent has seen ------------------------------------------------- */
  var lastTyping = 0;
  var idleTimer = null;
  function isReply() {
    var checked = document.querySelector("#composer input[name=mode]:checked");
    return !checked || checked.value === "reply";
  }
  function agentTyping() {
    if (!isReply()) return;
    var now = Date.now();
    if (now - lastTyping >= TYPING_EVERY) {
      lastTyping = now;
      post("typing?on=true");
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(agentStopped, TYPING_IDLE);
  }
  function agentStopped() {
    clearTimeout(idleTimer);
    if (!lastTyping) return;
    lastTyping = 0;
    post("typing?on=false");
  }
  var lastSeen = 0;
  function seen() {
    if (document.visibilityState === "hidden") return;
    var now = Date.now();
    if (now - lastSeen < 1000) return;
    lastSeen = now;
    post("seen");
  }

  function onEvent(event) {
    var message = event.detail || {};
    var data = message.data || {};
    if (message.type === "chat.typing" && String(data.conversation) === conversationId) {
      visitorTyping(!!data.typing);
    } else if (message.type === "chat.visitor" && String(data.conversation) === conversationId) {
      if (data.online !== undefined) setOnline(data.online);
      if (data.page) setPage(data.page, data.title);
      loadVisitor();
    } else if (String(data.conversation_id) === conversationId && /^message\./.test(message.type || "")) {
      if (message.type === "message.received") {
        visitorTyping(false);
        seen();
      }
    }
  }

  function start() {
    conv = document.querySelector(".conv[data-channel-kind=chat]");
    if (!conv) return;
    number = conv.dataset.number;
    conversationId = conv.dataset.conversationId;
    document.addEventListener("sportello:event", onEvent);
    document.addEventListener("input", function (event) {
      if (event.target && event.target.id === "composer-text") agentTyping();
    });
    document.addEventListener("htmx:afterRequest", function (event) {
      var elt = event.detail.elt;
      if (elt && elt.id === "composer") agentStopped();
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") seen();
    });
    loadVisitor();
    seen();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
