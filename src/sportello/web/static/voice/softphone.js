/* Sportello console softphone: JsSIP over WebSocket to Kamailio, media through rtpengine.
 *
 * The panel (#softphone, rendered by layout.html with its translated labels) stays hidden until
 * the agent's registration (/api/v1/voice/softphone) says there is a phone. Then JsSIP is
 * loaded, the phone registers, and:
 *   - an incoming call shows a toast with the screen pop (/voice/pop/<Call-ID>): answer, reject;
 *   - during a call: hang up, hold, mute, DTMF keypad, blind transfer;
 *   - after a call: "wrap-up done" (/api/v1/voice/calls/<id>/wrapup) makes the agent available;
 *   - tel: links and [data-phone] elements call out (click-to-call).
 * window.sportelloSoftphone.dial(number, {conversationId}) is the hook other pages use.
 */
(function () {
  "use strict";
  var panel = document.getElementById("softphone");
  if (!panel) return;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var t = JSON.parse(panel.getAttribute("data-labels") || "{}");
  var ua = null, config = null, session = null, current = null, muted = false, held = false;
  var stats = { registered: false, calls: 0 };

  function $(sel) { return panel.querySelector(sel); }
  function label(key) { return t[key] || key; }
  function api(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
  }
  function setState(state, text) {
    panel.setAttribute("data-state", state);
    $(".sp-status").textContent = text || label(state);
  }
  function show(sel, on) { var el = $(sel); if (el) el.hidden = !on; }

  function loadJsSIP(done) {
    if (window.JsSIP) return done();
    var s = document.createElement("script");
    s.src = "/static/vendor/jssip.min.js";
    s.onload = done;
    document.head.appendChild(s);
  }

  function start(cfg) {
    config = cfg;
    panel.hidden = false;
    setState("connecting");
    loadJsSIP(function () {
      var socket = new JsSIP.WebSocketInterface(cfg.ws_url);
      ua = new JsSIP.UA({
        sockets: [socket], uri: cfg.uri, authorization_user: cfg.username, realm: cfg.realm,
        ha1: cfg.ha1, register: true, session_timers: false, user_agent: "Sportello softphone",
      });
      ua.on("registered", function () { stats.registered = true; setState("ready"); });
      ua.on("unregistered", function () { stats.registered = false; setState("offline"); });
      ua.on("registrationFailed", function () { stats.registered = false; setState("failed"); });
      ua.on("disconnected", function () { if (!session) setState("offline"); });
      ua.on("newRTCSession", function (e) {
        if (session) { if (e.originator === "remote") e.session.terminate({ status_code: 486 }); return; }
        attach(e.session, e.originator === "remote" ? e.request.call_id : null);
      });
      ua.start();
    });
  }

  function attach(s, callId) {
    session = s;
    muted = held = false;
    current = { sipCallId: callId, id: null, incoming: !!callId };
    stats.calls += 1;
    s.on("peerconnection", function (e) { wireAudio(e.peerconnection); });
    if (s.connection) wireAudio(s.connection);
    s.on("accepted", function () { setState("talking"); controls(true); });
    s.on("confirmed", function () { setState("talking"); controls(true); });
    s.on("hold", function () { held = true; setState("held"); });
    s.on("unhold", function () { held = false; setState("talking"); });
    s.on("ended", ended);
    s.on("failed", ended);
    if (current.incoming) {
      setState("ringing");
      show(".sp-toast", true);
      fetch("/voice/pop/" + encodeURIComponent(callId), { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var pop = $(".sp-pop-slot");
          pop.innerHTML = html; // server-rendered, escaped by the template
          var card = pop.querySelector("[data-call-id]");
          if (card && current) current.id = card.getAttribute("data-call-id");
        });
    } else {
      setState("calling");
      controls(true);
    }
  }

  function wireAudio(pc) {
    pc.addEventListener("track", function (e) {
      var audio = $(".sp-audio");
      audio.srcObject = e.streams[0];
      audio.play().catch(function () {});
    });
  }

  function controls(on) {
    show(".sp-incall", on);
    show(".sp-dialer", !on);
    $("[data-sp=mute]").setAttribute("aria-pressed", "false");
    $("[data-sp=hold]").setAttribute("aria-pressed", "false");
  }

  function ended(e) {
    stats.lastCause = e && e.cause;
    var wasAnswered = session && session.start_time;
    session = null;
    show(".sp-toast", false);
    $(".sp-pop-slot").innerHTML = "";
    controls(false);
    show(".sp-keypad", false);
    if (current && current.id && wasAnswered) {
      panel.setAttribute("data-call-id", current.id);
      show(".sp-wrapup", true);
      setState("wrapup");
    } else {
      setState(stats.registered ? "ready" : "offline");
    }
  }

  function answer() {
    if (!session) return;
    session.answer({ mediaConstraints: { audio: true, video: false } });
    show(".sp-toast", false);
  }

  function dial(number, opts) {
    opts = opts || {};
    if (!ua || session) return Promise.reject(new Error("phone busy or offline"));
    var digits = String(number).replace(/[^0-9+*#]/g, "");
    if (digits.length < 3) return Promise.reject(new Error("not a phone number"));
    var s = ua.call("sip:" + digits + "@" + config.realm, {
      mediaConstraints: { audio: true, video: false },
    });
    var sipCallId = (s._request && s._request.call_id) || "";
    current.sipCallId = sipCallId;
    return api("POST", "/api/v1/voice/calls", {
      number: digits, sip_call_id: sipCallId, conversation_id: opts.conversationId || null,
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (call) {
      if (call && current && current.sipCallId === sipCallId) current.id = String(call.id);
      return call;
    });
  }

  function wrapupDone() {
    var id = panel.getAttribute("data-call-id");
    if (!id) return;
    api("POST", "/api/v1/voice/calls/" + id + "/wrapup", { resolve: true }).then(function () {
      show(".sp-wrapup", false);
      panel.removeAttribute("data-call-id");
      setState(stats.registered ? "ready" : "offline");
    });
  }

  function rtpStats() {
    if (!session || !session.connection) return Promise.resolve(null);
    return session.connection.getStats().then(function (report) {
      var out = { sent: 0, received: 0 };
      report.forEach(function (s) {
        if (s.type === "outbound-rtp" && s.kind === "audio") out.sent += s.packetsSent || 0;
        if (s.type === "inbound-rtp" && s.kind === "audio") out.received += s.packetsReceived || 0;
      });
      return out;
    });
  }

  panel.addEventListener("click", function (e) {
    var b = e.target.closest("button");
    if (!b) return;
    var act = b.getAttribute("data-sp");
    if (act === "answer") answer();
    else if (act === "reject" && session) session.terminate({ status_code: 486 });
    else if (act === "hangup" && session) session.terminate();
    else if (act === "mute" && session) {
      muted = !muted;
      if (muted) session.mute({ audio: true }); else session.unmute({ audio: true });
      b.setAttribute("aria-pressed", String(muted));
    } else if (act === "hold" && session) {
      if (held) session.unhold(); else session.hold();
      b.setAttribute("aria-pressed", String(!held));
    } else if (act === "keypad") show(".sp-keypad", $(".sp-keypad").hidden);
    else if (act === "dtmf" && session) session.sendDTMF(b.textContent.trim());
    else if (act === "transfer" && session) {
      var to = $(".sp-transfer-to").value.trim();
      if (to) session.refer("sip:" + to.replace(/[^0-9a-zA-Z+*#]/g, "") + "@" + config.realm);
    } else if (act === "dial") dial($(".sp-number").value).catch(function () {});
    else if (act === "wrapup") wrapupDone();
  });

  // Click-to-call: tel: links and [data-phone] anywhere in the console.
  document.addEventListener("click", function (e) {
    if (!ua || panel.hidden) return;
    var el = e.target.closest('a[href^="tel:"], [data-phone]');
    if (!el || panel.contains(el)) return;
    e.preventDefault();
    var number = el.getAttribute("data-phone") || el.getAttribute("href").slice(4);
    var conv = el.closest("[data-live-conversation]");
    dial(number, { conversationId: conv ? Number(conv.getAttribute("data-live-conversation")) : null })
      .catch(function () {});
  });

  window.sportelloSoftphone = {
    dial: dial,
    stats: function () { return rtpStats().then(function (rtp) {
      return {
        registered: stats.registered, calls: stats.calls, lastCause: stats.lastCause || null,
        state: panel.getAttribute("data-state"), rtp: rtp,
      };
    }); },
  };

  fetch("/api/v1/voice/softphone", { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (cfg) { if (cfg) start(cfg); })
    .catch(function () {});
})();
