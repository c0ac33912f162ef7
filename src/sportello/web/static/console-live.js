/* Presence and offers on every console page: the top bar's status menu, the offer toasts (with
   countdown, sound and the tab title's counter), the "an offer timed out" notice, and the live
   clocks of the SLA badges and of the time in state.

   Nothing here polls the server: the menu and the toasts are reloaded (GET /routing/me/bar) when
   the console's socket (app.js re-dispatches its frames as "sportello:event") says something
   changed for this agent, and when the socket reconnects. The one-second timer only redraws
   clocks from times the server rendered. No inline scripts (CSP script-src 'self'). */
(function () {
  "use strict";

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var store = (function () {
    try { window.localStorage.setItem("sportello.t", "1"); return window.localStorage; }
    catch (e) { return null; }
  })();
  function get(key) { return store ? store.getItem(key) : null; }
  function set(key, value) { if (store) { try { store.setItem(key, value); } catch (e) { /* full */ } } }

  var MUTE_KEY = "sportello.offer-sound";
  var PLAYED_KEY = "sportello.offer-played";
  var DISMISSED_KEY = "sportello.notice-dismissed";
  var MY_EVENTS = /^(routing\.offer|agent\.presence_changed$)/;

  function bar() { return document.getElementById("cl-bar"); }
  function me() {
    var el = bar();
    return el && el.getAttribute("data-user-id") ? Number(el.getAttribute("data-user-id")) : null;
  }

  /* --- reloading the bar (status menu + toasts, out of band) ------------------------------------ */
  var pending = null;
  function reload() {
    clearTimeout(pending);
    pending = setTimeout(function () {
      var el = bar();
      if (!el || !window.htmx) return;
      window.htmx.ajax("GET", "/routing/me/bar", { source: el, target: "#cl-bar", swap: "outerHTML" });
    }, 120);
  }
  function offeredConversations() {
    return $$(".cl-offer[data-conversation-id]").map(function (el) { return el.getAttribute("data-conversation-id"); });
  }
  document.addEventListener("sportello:event", function (event) {
    var message = event.detail || {};
    var type = message.type || "";
    var data = message.data || {};
    var mine = me();
    if (mine === null) return;
    if (MY_EVENTS.test(type) && Number(data.user_id) === mine) { reload(); return; }
    // an offer of ours withdrawn by someone else (a supervisor reassigned, pinned or moved it)
    if (data.conversation_id !== undefined && offeredConversations().indexOf(String(data.conversation_id)) >= 0) {
      reload();
    }
  });
  // The supervisors' live page: refreshed on routing, presence, SLA and conversation events (not
  // on every message: nothing there changes with one), at most once a second.
  var LIVE_PAGE_EVENTS = /^(routing\.|agent\.presence_changed$|sla\.|conversation\.(created|updated|assigned)$)/;
  var livePending = null;
  var liveLast = 0;
  function refreshLiveParts() {
    livePending = null;
    liveLast = Date.now();
    $$("[data-cl-live-url]").forEach(function (el) {
      if (el.id && window.htmx) {
        window.htmx.ajax("GET", el.getAttribute("data-cl-live-url"), { source: el, target: "#" + el.id, swap: "outerHTML" });
      }
    });
  }
  function scheduleLiveParts() {
    if (livePending || !$("[data-cl-live-url]")) return;
    livePending = setTimeout(refreshLiveParts, Math.max(200, 1000 - (Date.now() - liveLast)));
  }
  document.addEventListener("sportello:event", function (event) {
    var message = event.detail || {};
    if (LIVE_PAGE_EVENTS.test(message.type || "")) scheduleLiveParts();
  });

  // The socket came back after a drop (app.js marks <html data-live="off"> on a close): events
  // may have been missed. The first connection of the page is not a comeback.
  var wasLive = null;
  function liveState() {
    var value = document.documentElement.getAttribute("data-live");
    return value === null ? null : value === "on";
  }
  new MutationObserver(function () {
    var live = liveState();
    if (live && wasLive === false) { reload(); scheduleLiveParts(); }
    wasLive = live;
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["data-live"] });

  /* --- menus: the status menu and the supervisors' routing menus (buttons, not <details>) ------ */
  function setOpen(wrapper, open) {
    if (!wrapper) return;
    var button = wrapper.querySelector("[aria-expanded]");
    var body = wrapper.querySelector(".cl-menu, .cl-supervise-body");
    wrapper.classList.toggle("is-open", open);
    if (button) button.setAttribute("aria-expanded", open ? "true" : "false");
    if (body) body.hidden = !open;
    if (!open && wrapper.classList.contains("cl-supervise")) runDeferred();
  }
  function openMenus() { return $$(".cl-status.is-open, .cl-supervise.is-open"); }

  // A live refresh of a part with an open routing menu waits until the menu closes: the part
  // would be replaced under the supervisor's pointer.
  var deferred = {};
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    var config = event.detail.requestConfig || {};
    if (!target || !target.id || (config.verb && config.verb !== "get")) return;
    if (target.querySelector && target.querySelector(".cl-supervise.is-open")) {
      event.preventDefault();
      deferred[target.id] = true;
    }
  });
  function runDeferred() {
    Object.keys(deferred).forEach(function (id) {
      delete deferred[id];
      var target = document.getElementById(id);
      var url = target && (target.getAttribute("data-live-url") || target.getAttribute("data-cl-live-url"));
      if (url && window.htmx) window.htmx.ajax("GET", url, { source: target, target: "#" + id, swap: "outerHTML" });
    });
  }

  document.addEventListener("click", function (event) {
    var el = event.target;
    var toggle = el.closest && el.closest("[data-action=cl-status], [data-action=cl-supervise]");
    openMenus().forEach(function (menu) {
      if (!menu.contains(el)) setOpen(menu, false);
    });
    if (toggle) {
      var wrapper = toggle.closest(".cl-status, .cl-supervise");
      setOpen(wrapper, !wrapper.classList.contains("is-open"));
      var first = wrapper.classList.contains("is-open") && wrapper.querySelector(".cl-menu-item");
      if (first) first.focus();
      unlockAudio();
      return;
    }
    var mute = el.closest && el.closest("[data-action=cl-mute]");
    if (mute) {
      event.preventDefault();
      set(MUTE_KEY, muted() ? "on" : "off");
      syncMute();
      if (!muted()) beep(); // let the agent hear what the offers sound like
      return;
    }
    var dismiss = el.closest && el.closest("[data-action=cl-dismiss]");
    if (dismiss) {
      var notice = dismiss.closest(".cl-notice");
      if (notice) {
        set(DISMISSED_KEY, notice.getAttribute("data-notice-key") || "");
        notice.hidden = true;
      }
      return;
    }
    unlockAudio();
  });
  // Enter on a button of ours presses that button: the console's shortcuts (Enter opens the
  // selected conversation) must not see it.
  window.addEventListener("keydown", function (event) {
    var own = event.target.closest && event.target.closest("#cl-bar, #cl-offers, .cl-supervise");
    if (own && (event.key === "Enter" || event.key === " ")) event.stopPropagation();
  }, true);
  document.addEventListener("keydown", function (event) {
    var status = $("#cl-status.is-open");
    if (status && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      var items = $$(".cl-menu-item", status);
      var at = items.indexOf(document.activeElement);
      var next = event.key === "ArrowDown" ? at + 1 : at - 1;
      if (items.length) items[(next + items.length) % items.length].focus();
      event.preventDefault();
      return;
    }
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      setOpen(menu, false);
      var button = menu.querySelector("[aria-expanded]");
      if (button) button.focus();
    });
  });
  function muted() { return get(MUTE_KEY) === "off"; }
  function syncMute() {
    $$("[data-action=cl-mute]").forEach(function (el) {
      el.textContent = el.getAttribute(muted() ? "data-label-off" : "data-label-on");
      el.setAttribute("aria-pressed", muted() ? "true" : "false");
    });
  }

  /* --- sound (Web Audio: two short tones, no file) ---------------------------------------------- */
  var audio = null;
  function context() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audio) { try { audio = new Ctx(); } catch (e) { return null; } }
    return audio;
  }
  function unlockAudio() { // browsers start audio only after a user gesture
    var ctx = audio || (document.hasFocus() ? context() : null);
    if (ctx && ctx.state === "suspended") ctx.resume();
  }
  function beep() {
    var ctx = context();
    if (!ctx) return;
    if (ctx.state === "suspended") ctx.resume();
    var start = ctx.currentTime + 0.02;
    [[880, 0], [1175, 0.16]].forEach(function (tone) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, start + tone[1]);
      gain.gain.exponentialRampToValueAtTime(0.18, start + tone[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + tone[1] + 0.14);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + tone[1]);
      osc.stop(start + tone[1] + 0.16);
    });
    document.documentElement.setAttribute("data-offer-sound", String(Date.now()));
  }

  /* --- after each (re)load of the bar: sound for new offers, title, notice -------------------- */
  var baseTitle = document.title.replace(/^\(\d+\)\s+/, "");
  var seen = {};
  function played() {
    try { return JSON.parse(get(PLAYED_KEY) || "[]"); } catch (e) { return []; }
  }
  function sync() {
    var offers = $$(".cl-offer[data-offer-id]");
    var fresh = false;
    var already = played();
    offers.forEach(function (el) {
      var id = el.getAttribute("data-offer-id");
      if (seen[id]) return;
      seen[id] = true;
      // one sound per offer, even with the console open in several tabs
      if (already.indexOf(id) < 0) { fresh = true; already.push(id); }
    });
    if (fresh) {
      set(PLAYED_KEY, JSON.stringify(already.slice(-50)));
      if (!muted()) beep();
    }
    document.title = offers.length ? "(" + offers.length + ") " + baseTitle : baseTitle;
    var notice = $("#cl-timeout-notice");
    if (notice && get(DISMISSED_KEY) === notice.getAttribute("data-notice-key")) notice.hidden = true;
    syncMute();
    tick();
  }
  // A reload of the bar keeps the status menu open if the agent had it open.
  var menuWasOpen = false;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "cl-bar") {
      var menu = $("#cl-status");
      menuWasOpen = !!(menu && menu.classList.contains("is-open"));
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && (target.id === "cl-bar" || target.id === "cl-offers")) {
      var verb = (event.detail.requestConfig || {}).verb;
      if (menuWasOpen && verb === "get") setOpen($("#cl-status"), true);
      menuWasOpen = false;
      sync();
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.closest && (elt.closest("#cl-offers") || elt.closest("#cl-bar"))) reload();
  });

  /* --- clocks: time in state, waiting time, offer countdowns, SLA due times ---------------------- */
  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = h ? (m < 10 ? "0" : "") + m : String(m);
    return (h ? h + ":" : "") + mm + ":" + (s < 10 ? "0" : "") + s;
  }
  var relative = null;
  try { relative = new Intl.RelativeTimeFormat(document.documentElement.lang || "it", { numeric: "always" }); }
  catch (e) { relative = null; }
  function fromNow(ms) {
    if (!relative) return "";
    var seconds = Math.round(ms / 1000);
    var abs = Math.abs(seconds);
    if (abs < 60) return relative.format(seconds, "second");
    if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
    if (abs < 172800) return relative.format(Math.round(seconds / 3600), "hour");
    return relative.format(Math.round(seconds / 86400), "day");
  }
  function tick() {
    var now = Date.now();
    $$("[data-clock-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-clock-since"));
      if (!isNaN(since)) el.textContent = clock((now - since) / 1000);
    });
    $$(".cl-offer[data-expires]").forEach(function (el) {
      var expires = Date.parse(el.getAttribute("data-expires"));
      var offered = Date.parse(el.getAttribute("data-offered"));
      var left = Math.max(0, (expires - now) / 1000);
      var count = el.querySelector(".cl-countdown");
      if (count) count.textContent = Math.ceil(left) + "s";
      el.classList.toggle("is-urgent", left <= 10);
      el.classList.toggle("is-expired", left <= 0);
      var bar = el.querySelector(".cl-offer-progress > span");
      var total = (expires - offered) / 1000;
      if (bar && total > 0) bar.style.width = Math.max(0, Math.min(100, (left / total) * 100)) + "%";
    });
    $$("[data-sla-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-sla-due"));
      if (isNaN(due)) return;
      var left = el.querySelector("[data-sla-left]");
      var text = fromNow(due - now);
      if (left && text && left.textContent !== text) left.textContent = text;
      if (due <= now && !el.classList.contains("sla-breached")) {
        el.classList.remove("sla-ok", "sla-warning");
        el.classList.add("sla-breached");
      }
    });
  }
  setInterval(tick, 1000);

  function start() {
    wasLive = liveState();
    syncMute();
    tick();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
