/*! Sportello live chat widget. Plain JS, no dependencies, no third-party requests.
 *
 *   <script src="https://SPORTELLO/static/widget/widget.js" data-channel="PUBLIC_ID" async></script>
 *
 * Optional attributes: data-user-id + data-user-hash (hex HMAC-SHA256 of the user id with the
 * channel's identity secret, computed by the host site's server), data-user-name.
 * Language from <html lang> (it, en). Everything lives in a shadow root: the host page's CSS does
 * not reach in, ours does not leak out. Styles go through constructable stylesheets (CSSOM), so a
 * strict Content-Security-Policy on the host page does not block them.
 */
(function () {
  "use strict";
  if (window.__sportelloChat) return;
  window.__sportelloChat = true;

  var script = document.currentScript || document.querySelector("script[data-channel][src*='/widget/']");
  if (!script) return;
  var CHANNEL = script.getAttribute("data-channel");
  if (!CHANNEL) return;
  var BASE = script.src.replace(/\/static\/widget\/[^\/?#]*([?#].*)?$/, "");
  var WS_BASE = BASE.replace(/^http/, "ws");
  var USER = script.getAttribute("data-user-id") ? {
    id: script.getAttribute("data-user-id"),
    hash: script.getAttribute("data-user-hash") || "",
    name: script.getAttribute("data-user-name") || ""
  } : null;
  var LANG = ((document.documentElement.getAttribute("lang") || navigator.language || "it").slice(0, 2).toLowerCase() === "en") ? "en" : "it";

  var STRINGS = {
    it: {
      open: "Apri la chat", close: "Chiudi la chat", title: "Chatta con noi",
      placeholder: "Scrivi un messaggio…", inputLabel: "Il tuo messaggio", send: "Invia",
      attach: "Allega un file", online: "Online: ti rispondiamo qui", closed: "Siamo chiusi in questo momento",
      nobody: "Nessun operatore disponibile ora", offlineIntro: "Lasciaci un messaggio con la tua email: ti risponderemo per email.",
      name: "Nome", email: "Email", topic: "Argomento", message: "Messaggio", start: "Inizia la chat", skip: "Salta",
      prechatIntro: "Prima di iniziare, dicci come contattarti.", leave: "Invia il messaggio",
      offlineThanks: "Grazie! Ti risponderemo per email al più presto.", typing: "{name} sta scrivendo…",
      agent: "Operatore", you: "Tu", sending: "Invio…", sent: "Inviato", delivered: "Inviato", read: "Letto",
      failed: "Non inviato", reconnecting: "Connessione persa: riconnessione in corso…",
      transcript: "Ricevi la chat via email", transcriptSend: "Invia", transcriptOk: "Ti invieremo la conversazione via email.",
      newMessage: "Nuovo messaggio da {name}: {text}", unread: "{n} messaggi non letti",
      fileTooBig: "Il file supera il limite di {size}.", fileType: "Questo tipo di file non è accettato.",
      uploading: "Invio del file…", required: "Compila i campi richiesti.", badEmail: "Controlla l'indirizzo email.",
      identity: "Non è stato possibile verificare il tuo account.", menu: "Altre azioni", error: "Qualcosa non ha funzionato: riprova."
    },
    en: {
      open: "Open chat", close: "Close chat", title: "Chat with us",
      placeholder: "Write a message…", inputLabel: "Your message", send: "Send",
      attach: "Attach a file", online: "Online: we answer here", closed: "We are closed right now",
      nobody: "No agent is available right now", offlineIntro: "Leave us a message with your email: we will answer by email.",
      name: "Name", email: "Email", topic: "Topic", message: "Message", start: "Start chatting", skip: "Skip",
      prechatIntro: "Before we start, tell us how to reach you.", leave: "Send message",
      offlineThanks: "Thank you! We will answer by email as soon as we can.", typing: "{name} is typing…",
      agent: "Agent", you: "You", sending: "Sending…", sent: "Sent", delivered: "Sent", read: "Read",
      failed: "Not sent", reconnecting: "Connection lost: reconnecting…",
      transcript: "Get this chat by email", transcriptSend: "Send", transcriptOk: "We will email you the conversation.",
      newMessage: "New message from {name}: {text}", unread: "{n} unread messages",
      fileTooBig: "The file is over the limit of {size}.", fileType: "This type of file is not accepted.",
      uploading: "Sending the file…", required: "Please fill in the required fields.", badEmail: "Please check the email address.",
      identity: "Your account could not be verified.", menu: "More actions", error: "Something went wrong: please retry."
    }
  };
  var T = STRINGS[LANG];
  function t(key, vars) {
    return T[key].replace(/\{(\w+)\}/g, function (_, k) { return vars && vars[k] != null ? String(vars[k]) : ""; });
  }

  /* --- storage: the token and the unsent messages survive reloads ------------------------------ */
  var KEY = "sportello-chat:" + CHANNEL;
  var memory = {};
  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "{}") || {}; } catch (e) { return memory; }
  }
  function save() {
    var data = { token: S.token, conv: S.conv, outbox: S.outbox, open: S.open };
    try { window.localStorage.setItem(KEY, JSON.stringify(data)); } catch (e) { memory = data; }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  var stored = load();
  var S = {
    token: stored.token || null, conv: stored.conv || null, outbox: stored.outbox || [], open: !!stored.open,
    config: null, ws: null, connected: false, welcomed: false, backoff: 1000, retry: null, pingTimer: null,
    pongTimer: null, lastId: 0, lastAgentId: 0, seenUpTo: 0, unread: 0, view: "chat", isOpen: true,
    isOnline: true, prechatDone: false, typingSent: 0, typingStop: null, typingHide: null, fatal: false
  };

  /* --- DOM ------------------------------------------------------------------------------------- */
  var CSS = [
    ":host{all:initial;--c:#0b6e4f;position:fixed;right:20px;bottom:20px;z-index:2147483000;font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1d1f}",
    "*{box-sizing:border-box;font:inherit}",
    "[hidden]{display:none!important}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".launch{width:60px;height:60px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:grid;place-items:center;position:relative}",
    ".launch svg{width:28px;height:28px;fill:currentColor}",
    "button:focus-visible,input:focus-visible,textarea:focus-visible,select:focus-visible,a:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;border-radius:11px;background:#c62828;color:#fff;font-size:12px;font-weight:700;display:grid;place-items:center;padding:0 6px}",
    ".panel{position:absolute;right:0;bottom:76px;width:370px;max-width:calc(100vw - 40px);height:540px;max-height:calc(100vh - 120px);background:#fff;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden}",
    "header{background:var(--c);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}",
    "header h2{margin:0;font-size:17px;font-weight:650;flex:1}",
    "header p{margin:2px 0 0;font-size:12.5px;opacity:.92}",
    "header .grow{flex:1;min-width:0}",
    ".icon{background:transparent;border:0;color:inherit;cursor:pointer;width:34px;height:34px;border-radius:8px;display:grid;place-items:center}",
    ".icon:hover{background:rgba(255,255,255,.15)}",
    ".icon svg{width:20px;height:20px;fill:currentColor}",
    ".banner{background:#fff4d6;color:#5c4400;font-size:13px;padding:6px 12px}",
    ".log{list-style:none;margin:0;padding:12px;flex:1;overflow-y:auto;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}",
    ".greet,.m{max-width:82%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".greet,.m.agent{background:#fff;border:1px solid #e1e3e8;align-self:flex-start;border-bottom-left-radius:4px}",
    ".m.visitor{background:var(--c);color:#fff;align-self:flex-end;border-bottom-right-radius:4px}",
    ".m .who{display:block;font-size:12px;font-weight:650;margin-bottom:2px;color:#50545c}",
    ".m .meta{display:block;font-size:11px;opacity:.8;margin-top:3px;text-align:right}",
    ".m a{color:inherit;text-decoration:underline}",
    ".choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}",
    ".choices button{min-width:44px;min-height:40px;padding:0 10px;border:1px solid var(--c);border-radius:8px;background:#fff;color:#1d2330;font-size:14px;cursor:pointer}",
    ".choices button:disabled{opacity:.55;cursor:default}",
    ".choices button[aria-pressed=true]{background:var(--c);color:#fff;opacity:1}",
    ".m.failed{background:#fdecea;color:#8a1c1c}",
    ".typing{font-size:12.5px;color:#50545c;padding:0 14px 4px;min-height:18px}",
    "form.compose{display:flex;gap:6px;align-items:flex-end;border-top:1px solid #e1e3e8;padding:8px}",
    "textarea{flex:1;resize:none;border:1px solid #c9ccd3;border-radius:10px;padding:8px 10px;max-height:120px;min-height:40px}",
    ".send{background:var(--c);color:#fff;border:0;border-radius:10px;height:40px;padding:0 14px;cursor:pointer;font-weight:600}",
    ".attach{background:transparent;border:1px solid #c9ccd3;color:#50545c;border-radius:10px;width:40px;height:40px;cursor:pointer;display:grid;place-items:center}",
    ".attach svg{width:20px;height:20px;fill:currentColor}",
    ".form{padding:14px;overflow-y:auto;flex:1;display:flex;flex-direction:column;gap:10px}",
    ".form label{display:flex;flex-direction:column;gap:4px;font-size:13.5px;font-weight:600}",
    ".form input,.form select,.form textarea{border:1px solid #c9ccd3;border-radius:8px;padding:8px 10px;font-weight:400;width:100%}",
    ".form p{margin:0}",
    ".row{display:flex;gap:8px;justify-content:flex-end}",
    ".ghost{background:transparent;border:1px solid #c9ccd3;border-radius:10px;height:40px;padding:0 14px;cursor:pointer}",
    ".err{color:#b3261e;font-size:13px}",
    ".menu{position:absolute;top:56px;right:10px;background:#fff;border:1px solid #e1e3e8;border-radius:10px;box-shadow:0 6px 20px rgba(0,0,0,.15);padding:10px;width:260px;display:flex;flex-direction:column;gap:8px}",
    ".menu input{border:1px solid #c9ccd3;border-radius:8px;padding:7px 9px}",
    ":host(.left){right:auto;left:20px}:host(.left) .panel{right:auto;left:0}:host(.left) .badge{right:auto;left:-4px}",
    "@media (max-width:480px){.panel,:host(.left) .panel{position:fixed;inset:0;width:auto;max-width:none;height:auto;max-height:none;border-radius:0}}",
    "@media (prefers-reduced-motion:no-preference){.panel{transition:opacity .15s}}"
  ].join("\n");

  var ICON_CHAT = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
  var ICON_CLOSE = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z"/></svg>';
  var ICON_MORE = '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="5" cy="12" r="2"/><circle cx="12" cy="12" r="2"/><circle cx="19" cy="12" r="2"/></svg>';
  var ICON_CLIP = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"/></svg>';

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "html") node.innerHTML = attrs[k]; // only our own constant SVG icons
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  var host = el("div", { id: "sportello-chat" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", { text: CSS }));
  }

  var badge = el("span", { "class": "badge", "aria-hidden": "true", hidden: true });
  var launcher = el("button", {
    type: "button", "class": "launch", "aria-label": t("open"), "aria-expanded": "false",
    "aria-controls": "sp-panel", "aria-haspopup": "dialog", html: ICON_CHAT
  });
  launcher.appendChild(badge);
  var title = el("h2", { id: "sp-title", text: t("title") });
  var status = el("p", { id: "sp-status", text: "" });
  var menuBtn = el("button", { type: "button", "class": "icon", "aria-label": t("menu"), "aria-expanded": "false", "aria-controls": "sp-menu", html: ICON_MORE });
  var closeBtn = el("button", { type: "button", "class": "icon", "aria-label": t("close"), html: ICON_CLOSE });
  var banner = el("div", { "class": "banner", role: "status", hidden: true });
  var log = el("ol", { "class": "log", role: "log", "aria-live": "polite", "aria-label": t("title") });
  var typing = el("div", { "class": "typing", "aria-live": "polite" });
  var announcer = el("div", { "class": "sr", "aria-live": "polite", "aria-atomic": "true" });
  var input = el("textarea", { id: "sp-input", rows: "1", placeholder: t("placeholder"), "aria-label": t("inputLabel"), maxlength: "5000" });
  var fileInput = el("input", { type: "file", "class": "sr", tabindex: "-1", "aria-hidden": "true" });
  var attachBtn = el("button", { type: "button", "class": "attach", "aria-label": t("attach"), html: ICON_CLIP });
  var sendBtn = el("button", { type: "submit", "class": "send", text: t("send") });
  var compose = el("form", { "class": "compose" }, [attachBtn, fileInput, input, sendBtn]);
  var chatView = el("div", { style: null }, [log, typing, compose]);
  var formView = el("div", { "class": "form", hidden: true });
  var menuEmail = el("input", { type: "email", "aria-label": t("email"), placeholder: t("email"), autocomplete: "email" });
  var menuSend = el("button", { type: "button", "class": "send", text: t("transcriptSend") });
  var menuMsg = el("p", { "class": "small", role: "status" });
  var menu = el("div", { "class": "menu", id: "sp-menu", hidden: true }, [
    el("label", { text: t("transcript") }), menuEmail, el("div", { "class": "row" }, [menuSend]), menuMsg
  ]);
  var panel = el("div", {
    "class": "panel", id: "sp-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "sp-title",
    "aria-describedby": "sp-status", hidden: true
  }, [
    el("header", {}, [el("div", { "class": "grow" }, [title, status]), menuBtn, closeBtn]),
    banner, menu, chatView, formView, announcer
  ]);
  // Flex layout for the chat view without a style attribute (CSP): CSSOM is allowed.
  chatView.style.display = "flex";
  chatView.style.flexDirection = "column";
  chatView.style.flex = "1";
  chatView.style.minHeight = "0";
  root.appendChild(panel);
  root.appendChild(launcher);

  /* --- rendering ------------------------------------------------------------------------------- */
  var byId = {};
  var byCid = {};
  var greeting = null;

  function timeOf(iso) {
    try { return new Date(iso).toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; }
  }
  function fileUrl(f) {
    return BASE + "/chat/files/" + encodeURIComponent(CHANNEL) + "/" + f.id + "?t=" + encodeURIComponent(S.token || "");
  }
  function stateLabel(node) {
    var meta = node.querySelector(".meta");
    if (!meta) return;
    var s = node.getAttribute("data-state");
    var label = s === "pending" ? t("sending") : s === "failed" ? t("failed") : s === "read" ? t("read") : t("sent");
    meta.textContent = (node.getAttribute("data-time") || "") + (node.classList.contains("visitor") ? " · " + label : "");
  }
  // Links in the team's messages (a survey, a tracking page) open with one tap; a visitor's own
  // text stays plain text. Only http(s) addresses; trailing punctuation stays outside the link.
  var LINK = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/g;
  function linked(text) {
    var span = el("span", { "class": "text" }), last = 0, found;
    LINK.lastIndex = 0;
    while ((found = LINK.exec(text))) {
      span.appendChild(document.createTextNode(text.slice(last, found.index)));
      span.appendChild(el("a", { href: found[0], target: "_blank", rel: "noopener noreferrer", text: found[0] }));
      last = found.index + found[0].length;
    }
    span.appendChild(document.createTextNode(text.slice(last)));
    return span;
  }
  // Buttons under a team message (a survey's scores): one tap sends the choice, not a message.
  function choices(list) {
    var box = el("div", { "class": "choices", role: "group" });
    list.forEach(function (c) {
      var button = el("button", { type: "button", "aria-pressed": "false", text: c.title });
      button.addEventListener("click", function () {
        if (!send({ t: "choice", id: c.id })) { connect(); return; }
        Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { b.disabled = true; });
        button.setAttribute("aria-pressed", "true");
      });
      box.appendChild(button);
    });
    return box;
  }
  function bubble(m) {
    var who = m.from === "agent" ? (m.name || t("agent")) : t("you");
    var node = el("li", { "class": "m " + m.from, "data-time": m.at ? timeOf(m.at) : "" }, [
      el("span", { "class": m.from === "agent" ? "who" : "sr", text: who })
    ]);
    var body = m.from === "agent" ? linked(m.text || "") : el("span", { "class": "text", text: m.text || "" });
    node.appendChild(body);
    if (m.choices && m.choices.length) node.appendChild(choices(m.choices));
    (m.files || []).forEach(function (f) {
      node.appendChild(el("a", { href: fileUrl(f), target: "_blank", rel: "noopener", text: "📎 " + f.name }));
    });
    node.appendChild(el("span", { "class": "meta" }));
    return node;
  }
  function showGreeting() {
    if (greeting || !S.config) return;
    var text = (S.config.greeting && S.config.greeting[LANG]) || "";
    if (!text) return;
    greeting = el("li", { "class": "greet", text: text });
    log.insertBefore(greeting, log.firstChild);
  }
  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function addPending(cid, text, fileName) {
    var node = bubble({ from: "visitor", text: fileName ? "📎 " + fileName : text, at: new Date().toISOString() });
    node.setAttribute("data-state", "pending");
    node.setAttribute("data-cid", cid);
    byCid[cid] = node;
    log.appendChild(node);
    stateLabel(node);
    scrollDown();
  }
  function render(m) {
    if (byId[m.id]) return false;
    var node = m.cid && byCid[m.cid];
    var fresh = !node;
    if (node) {
      var replacement = bubble(m);
      log.replaceChild(replacement, node);
      node = replacement;
    } else {
      node = bubble(m);
      log.appendChild(node);
    }
    node.setAttribute("data-id", m.id);
    if (m.cid) { byCid[m.cid] = node; node.setAttribute("data-cid", m.cid); dropOutbox(m.cid); }
    node.setAttribute("data-state", m.from === "visitor" && m.id <= S.seenUpTo ? "read" : "sent");
    stateLabel(node);
    byId[m.id] = node;
    return fresh;
  }
  function markSeen(upTo) {
    if (!upTo || upTo <= S.seenUpTo) return;
    S.seenUpTo = upTo;
    Array.prototype.forEach.call(log.querySelectorAll(".m.visitor[data-id]"), function (node) {
      if (Number(node.getAttribute("data-id")) <= upTo) { node.setAttribute("data-state", "read"); stateLabel(node); }
    });
  }
  function clearLog() {
    byId = {}; byCid = {}; greeting = null; S.lastId = 0; S.lastAgentId = 0; S.seenUpTo = 0;
    while (log.firstChild) log.removeChild(log.firstChild);
    showGreeting();
  }

  /* --- the socket ------------------------------------------------------------------------------ */
  function send(frame) {
    if (S.ws && S.ws.readyState === 1 && S.welcomed) { S.ws.send(JSON.stringify(frame)); return true; }
    return false;
  }
  function connect() {
    if (S.ws || S.fatal) return;
    clearTimeout(S.retry);
    if (navigator.onLine === false) { setBanner(t("reconnecting")); return; } // "online" retries
    var ws;
    try { ws = new WebSocket(WS_BASE + "/chat/ws/" + encodeURIComponent(CHANNEL)); } catch (e) { scheduleReconnect(); return; }
    S.ws = ws;
    S.welcomed = false;
    ws.onopen = function () {
      S.connected = true;
      ws.send(JSON.stringify({
        t: "hello", token: S.token, last: S.lastId, conv: S.conv, page: location.href,
        title: document.title, lang: LANG, user: USER
      }));
      clearInterval(S.pingTimer);
      S.pingTimer = setInterval(function () {
        if (ws.readyState !== 1) return;
        ws.send("ping");
        clearTimeout(S.pongTimer);
        S.pongTimer = setTimeout(function () { ws.close(); }, 10000);
      }, 25000);
    };
    ws.onmessage = function (event) {
      if (event.data === "pong") { clearTimeout(S.pongTimer); return; }
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
    };
    ws.onclose = function (event) {
      clearInterval(S.pingTimer);
      clearTimeout(S.pongTimer);
      if (S.ws === ws) S.ws = null;
      S.connected = false;
      S.welcomed = false;
      if (event.code === 4403 || event.code === 4404) {
        S.fatal = true;
        setBanner(event.code === 4403 && USER ? t("identity") : t("error"));
        return;
      }
      setBanner(t("reconnecting"));
      scheduleReconnect();
    };
  }
  function scheduleReconnect() {
    clearTimeout(S.retry);
    var wait = S.backoff + Math.floor(Math.random() * 400);
    S.backoff = Math.min(S.backoff * 2, 30000);
    S.retry = setTimeout(connect, wait);
  }
  function reconnectNow() {
    S.backoff = 1000;
    if (S.ws) { try { S.ws.close(); } catch (e) { /* closing anyway */ } S.ws = null; }
    connect();
  }
  window.addEventListener("online", reconnectNow);
  window.addEventListener("offline", function () {
    setBanner(t("reconnecting"));
    if (S.ws) { var ws = S.ws; S.ws = null; S.welcomed = false; try { ws.close(); } catch (e) { /* gone */ } }
  });

  function setBanner(text) {
    banner.textContent = text || "";
    banner.hidden = !text;
  }
  function setStatus() {
    status.textContent = !S.isOpen ? t("closed") : !S.isOnline ? t("nobody") : t("online");
  }

  function flushOutbox() {
    S.outbox.forEach(function (item) {
      if (!item.kind && !byCid[item.cid]) addPending(item.cid, item.text);
      send({ t: item.kind || "msg", cid: item.cid, text: item.text, name: item.name, email: item.email });
    });
  }
  function dropOutbox(cid) {
    var before = S.outbox.length;
    S.outbox = S.outbox.filter(function (item) { return item.cid !== cid; });
    if (S.outbox.length !== before) save();
  }

  function onFrame(f) {
    if (f.t === "welcome") {
      S.welcomed = true;
      S.backoff = 1000;
      setBanner("");
      S.token = f.token;
      S.isOpen = f.open;
      S.isOnline = f.online;
      S.prechatDone = f.prechat_done;
      if (f.conv !== S.conv) { if (S.conv) clearLog(); S.conv = f.conv; }
      markSeen(f.seen);
      save();
      setStatus();
      chooseView();
      flushOutbox();
    } else if (f.t === "history") {
      if (f.conv !== S.conv) { clearLog(); S.conv = f.conv; save(); }
      var agentNew = [];
      var delivered = [];
      f.messages.forEach(function (m) {
        var fresh = render(m);
        S.lastId = Math.max(S.lastId, m.id);
        if (m.from === "agent") {
          S.lastAgentId = Math.max(S.lastAgentId, m.id);
          markSeen(m.id - 1);
          if (m.state !== "read" && m.state !== "delivered") delivered.push(m.id);
          if (fresh && m.state !== "read") agentNew.push(m);
        }
      });
      // Read implies delivered: with the chat in view, one "read" mark says both.
      if (delivered.length && !visible()) send({ t: "delivered", ids: delivered });
      if (agentNew.length) {
        hideTyping();
        var last = agentNew[agentNew.length - 1];
        if (!visible()) {
          S.unread += agentNew.length;
          updateBadge();
          announcer.textContent = t("newMessage", { name: last.name || t("agent"), text: last.text });
        }
      }
      if (S.view !== "chat" && f.messages.length) showChat();
      markRead();
      scrollDown();
    } else if (f.t === "ack") {
      var node = byCid[f.cid];
      if (node && !node.getAttribute("data-id")) {
        node.setAttribute("data-id", f.id);
        node.setAttribute("data-state", "sent");
        byId[f.id] = node;
        stateLabel(node);
      }
      if (f.conv !== S.conv) { S.conv = f.conv; }
      dropOutbox(f.cid);
      save();
    } else if (f.t === "typing") {
      if (f.on) {
        typing.textContent = t("typing", { name: f.name || t("agent") });
        clearTimeout(S.typingHide);
        S.typingHide = setTimeout(hideTyping, 6000);
      } else hideTyping();
    } else if (f.t === "seen") {
      markSeen(f.up_to);
    } else if (f.t === "offline_ok") {
      dropOutbox(f.cid);
      formView.textContent = "";
      formView.appendChild(el("p", { role: "status", text: t("offlineThanks") }));
    } else if (f.t === "transcript_ok") {
      menuMsg.textContent = t("transcriptOk");
    } else if (f.t === "prechat_ok") {
      S.prechatDone = true;
      showChat();
    } else if (f.t === "error") {
      if (f.cid && byCid[f.cid] && f.code !== "rate_limited") {
        byCid[f.cid].setAttribute("data-state", "failed");
        byCid[f.cid].classList.add("failed");
        stateLabel(byCid[f.cid]);
        dropOutbox(f.cid);
      }
      if (f.code !== "rate_limited") setBanner(f.message || t("error"));
    }
  }
  function hideTyping() { typing.textContent = ""; }

  /* --- views: chat, pre-chat form, offline message ------------------------------------------- */
  function chooseView() {
    if (S.conv || byId[S.lastId]) return showChat();
    if (!S.isOpen || !S.isOnline) return showOffline();
    var mode = S.config ? S.config.prechat : "off";
    if (mode !== "off" && !S.prechatDone && !USER) return showPrechat(mode === "required");
    showChat();
  }
  function showChat() {
    S.view = "chat";
    formView.hidden = true;
    chatView.hidden = false;
    chatView.style.display = "flex";
    if (visible()) input.focus();
  }
  function field(label, attrs, required) {
    var control = attrs.tag === "textarea" ? el("textarea", attrs) : attrs.tag === "select" ? el("select", attrs) : el("input", attrs);
    if (required) control.setAttribute("required", "");
    return { label: el("label", {}, [document.createTextNode(label + (required ? " *" : "")), control]), control: control };
  }
  function showForm(intro, fields, buttons, onSubmit) {
    formView.textContent = "";
    var error = el("p", { "class": "err", role: "alert" });
    var form = el("form", { "class": "form", novalidate: true }, [el("p", { text: intro })]);
    form.style.padding = "0";
    fields.forEach(function (f) { form.appendChild(f.label); });
    form.appendChild(error);
    form.appendChild(el("div", { "class": "row" }, buttons));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var missing = fields.filter(function (f) { return f.control.required && !f.control.value.trim(); });
      if (missing.length) { error.textContent = t("required"); missing[0].control.focus(); return; }
      var email = fields.filter(function (f) { return f.control.type === "email" && f.control.value.trim(); })[0];
      if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.control.value.trim())) { error.textContent = t("badEmail"); email.control.focus(); return; }
      onSubmit();
    });
    formView.appendChild(form);
    S.view = "form";
    chatView.hidden = true;
    chatView.style.display = "none";
    formView.hidden = false;
    if (visible() && fields[0]) fields[0].control.focus();
  }
  function showPrechat(required) {
    var name = field(t("name"), { type: "text", autocomplete: "name", maxlength: "200" }, required);
    var email = field(t("email"), { type: "email", autocomplete: "email", maxlength: "320" }, required);
    var fields = [name, email];
    var topics = (S.config && S.config.topics) || [];
    var topic = null;
    if (topics.length) {
      topic = field(t("topic"), { tag: "select" }, false);
      topic.control.appendChild(el("option", { value: "", text: "—" }));
      topics.forEach(function (x) { topic.control.appendChild(el("option", { value: x, text: x })); });
      fields.push(topic);
    }
    var buttons = [el("button", { type: "submit", "class": "send", text: t("start") })];
    if (!required) {
      var skip = el("button", { type: "button", "class": "ghost", text: t("skip") });
      skip.addEventListener("click", function () { S.prechatDone = true; showChat(); });
      buttons.unshift(skip);
    }
    showForm(t("prechatIntro"), fields, buttons, function () {
      send({ t: "prechat", name: name.control.value.trim(), email: email.control.value.trim(), topic: topic ? topic.control.value : "" });
    });
  }
  function showOffline() {
    var name = field(t("name"), { type: "text", autocomplete: "name", maxlength: "200" }, false);
    var email = field(t("email"), { type: "email", autocomplete: "email", maxlength: "320" }, true);
    var text = field(t("message"), { tag: "textarea", rows: "4", maxlength: "5000" }, true);
    showForm((S.isOpen ? t("nobody") : t("closed")) + ". " + t("offlineIntro"), [name, email, text],
      [el("button", { type: "submit", "class": "send", text: t("leave") })], function () {
        var item = { kind: "offline", cid: uuid(), text: text.control.value.trim(), name: name.control.value.trim(), email: email.control.value.trim() };
        S.outbox.push(item);
        save();
        if (!send({ t: "offline", cid: item.cid, text: item.text, name: item.name, email: item.email })) connect();
      });
  }

  /* --- sending --------------------------------------------------------------------------------- */
  function submit() {
    var text = input.value.replace(/\s+$/, "");
    if (!text.trim()) return;
    input.value = "";
    autosize();
    var cid = uuid();
    S.outbox.push({ cid: cid, text: text });
    save();
    addPending(cid, text);
    stopTyping();
    if (!send({ t: "msg", cid: cid, text: text })) connect();
  }
  compose.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); submit(); }
  });
  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }
  function stopTyping() {
    clearTimeout(S.typingStop);
    if (S.typingSent) { S.typingSent = 0; send({ t: "typing", on: false }); }
  }
  input.addEventListener("input", function () {
    autosize();
    var now = Date.now();
    if (input.value.trim() && now - S.typingSent > 2000) { S.typingSent = now; send({ t: "typing", on: true }); }
    clearTimeout(S.typingStop);
    S.typingStop = setTimeout(stopTyping, 3000);
  });

  attachBtn.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    var limits = (S.config && S.config.upload) || { max_bytes: 10485760, types: [] };
    if (file.size > limits.max_bytes) { setBanner(t("fileTooBig", { size: Math.round(limits.max_bytes / 1048576) + " MB" })); return; }
    if (limits.types.length && limits.types.indexOf(file.type) < 0) { setBanner(t("fileType")); return; }
    if (!S.token) { connect(); setBanner(t("error")); return; }
    var cid = uuid();
    addPending(cid, "", file.name);
    var body = new FormData();
    body.append("token", S.token);
    body.append("cid", cid);
    body.append("file", file, file.name);
    fetch(BASE + "/chat/upload/" + encodeURIComponent(CHANNEL), { method: "POST", body: body, credentials: "omit" })
      .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (res) {
        var node = byCid[cid];
        if (!res.ok) {
          if (node) { node.classList.add("failed"); node.setAttribute("data-state", "failed"); stateLabel(node); }
          setBanner(res.data.message || t("error"));
        } else if (res.data.conv !== S.conv) { S.conv = res.data.conv; save(); }
        if (!S.ws) connect();
      })
      .catch(function () { var node = byCid[cid]; if (node) { node.classList.add("failed"); node.setAttribute("data-state", "failed"); stateLabel(node); } });
  });

  /* --- opening, closing, reading --------------------------------------------------------------- */
  function visible() { return !panel.hidden && document.visibilityState !== "hidden"; }
  function updateBadge() {
    badge.hidden = !S.unread;
    badge.textContent = S.unread > 9 ? "9+" : String(S.unread);
    launcher.setAttribute("aria-label", S.unread ? t("open") + " (" + t("unread", { n: S.unread }) + ")" : t("open"));
  }
  function markRead() {
    if (!visible() || !S.lastAgentId) return;
    S.unread = 0;
    updateBadge();
    send({ t: "read", up_to: S.lastAgentId });
  }
  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", t("close"));
    S.open = true;
    save();
    showGreeting();
    if (!S.ws) connect();
    if (S.welcomed) chooseView();
    if (S.view === "chat") input.focus();
    else { var first = formView.querySelector("input,textarea,select,button"); if (first) first.focus(); }
    markRead();
    scrollDown();
  }
  function close() {
    panel.hidden = true;
    menu.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    S.open = false;
    save();
    updateBadge();
    launcher.focus();
  }
  launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      if (!menu.hidden) { menu.hidden = true; menuBtn.setAttribute("aria-expanded", "false"); menuBtn.focus(); }
      else close();
    }
  });
  menuBtn.addEventListener("click", function () {
    menu.hidden = !menu.hidden;
    menuBtn.setAttribute("aria-expanded", String(!menu.hidden));
    if (!menu.hidden) menuEmail.focus();
  });
  menuSend.addEventListener("click", function () {
    var email = menuEmail.value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) { menuMsg.textContent = t("badEmail"); return; }
    if (!send({ t: "transcript", email: email })) menuMsg.textContent = t("error");
  });
  document.addEventListener("visibilitychange", markRead);

  // Single-page apps: report navigation without a reload.
  function pageChanged() { send({ t: "page", url: location.href, title: document.title }); }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    if (typeof original !== "function") return;
    history[name] = function () {
      var result = original.apply(this, arguments);
      setTimeout(pageChanged, 0);
      return result;
    };
  });
  window.addEventListener("popstate", pageChanged);
  window.addEventListener("hashchange", pageChanged);

  /* --- start ------------------------------------------------------------------------------------- */
  function start() {
    document.body.appendChild(host);
    fetch(BASE + "/chat/config/" + encodeURIComponent(CHANNEL), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (config) {
        if (!config) { host.remove(); return; }
        S.config = config;
        S.isOpen = config.open;
        S.isOnline = config.online;
        if (/^#[0-9a-fA-F]{6}$/.test(config.color || "")) host.style.setProperty("--c", config.color);
        if (config.position === "left") host.classList.add("left");
        if (config.title) { title.textContent = config.title; log.setAttribute("aria-label", config.title); }
        setStatus();
        showGreeting();
        // Returning visitors (a token, a pending message, an open panel) connect at once, so an
        // agent's reply reaches them on any page; others connect when they open the chat.
        if (S.token || S.outbox.length || S.open) connect();
        if (S.open) open();
      })
      .catch(function () { /* Sportello unreachable: no launcher rather than a broken one */ host.remove(); });
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
