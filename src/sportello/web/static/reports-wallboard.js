/* The wallboard: renders the snapshot, and fetches a fresh one whenever the console socket
   (app.js) hears an event, at most once a second; a slow timer keeps the waits and times in
   state moving between events. No reload, no inline script (CSP script-src 'self'). */
(function () {
  "use strict";
  var root = document.getElementById("wallboard");
  if (!root) return;
  var L = JSON.parse(root.getAttribute("data-labels") || "{}");
  var url = root.getAttribute("data-snapshot-url");
  var snapshot = JSON.parse(document.getElementById("wb-initial").textContent || "{}");
  var fetchedAt = Date.now();
  var pending = null, inFlight = false, again = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + ("0" + (s % 60)).slice(-2) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + ("0" + Math.floor((s % 3600) / 60)).slice(-2) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }
  function pct(v) { return v === null || v === undefined ? "–" : Math.round(v * 100) + "%"; }
  function elapsed() { return (Date.now() - fetchedAt) / 1000; }

  function tile(t, small) {
    var box = el("div", "wb-tile wb-" + t.level);
    box.setAttribute("data-id", t.id);
    box.appendChild(el("div", "wb-name", t.name));
    var big = el("div", "wb-figures");
    function figure(value, label, cls) {
      var f = el("div", "wb-figure " + (cls || ""));
      f.appendChild(el("div", "wb-value", value));
      f.appendChild(el("div", "wb-label", label));
      big.appendChild(f);
    }
    figure(String(t.waiting), L.waiting, "wb-waiting");
    figure(t.longest_wait === null ? "–" : duration(t.longest_wait + (t.waiting ? elapsed() : 0)), L.longest, "wb-longest");
    figure(pct(t.service_level), L.sl, "wb-sl");
    if (!small) {
      figure(String(t.answered), L.answered);
      figure(String(t.abandoned), L.abandoned);
    }
    box.appendChild(big);
    if (!small && t.agents) {
      var states = el("div", "wb-states");
      ["available", "busy", "break", "away", "offline"].forEach(function (s) {
        if (t.agents[s]) {
          var chip = el("span", "wb-chip wb-state-" + s, t.agents[s] + " " + (L[s] || s));
          states.appendChild(chip);
        }
      });
      box.appendChild(states);
    }
    return box;
  }

  function render() {
    var q = document.getElementById("wb-queues");
    var c = document.getElementById("wb-channels");
    var a = document.getElementById("wb-agents");
    var al = document.getElementById("wb-alerts");
    q.replaceChildren.apply(q, (snapshot.queues || []).map(function (t) { return tile(t, false); }));
    c.replaceChildren.apply(c, (snapshot.channels || []).map(function (t) { return tile(t, true); }));
    var names = {};
    (snapshot.queues || []).forEach(function (t) { names[t.id] = t.name; });
    al.replaceChildren.apply(al, (snapshot.alerts || []).map(function (x) {
      return el("div", "wb-alert", "⚠ " + (L[x.kind] || x.kind) + " · " + (names[x.queue_id] || ""));
    }));
    var head = el("tr");
    [L.agent, L.state, L.in_state, L.load, L.handled, L.csat].forEach(function (h) { head.appendChild(el("th", null, h)); });
    var rows = [head];
    (snapshot.agents || []).forEach(function (x) {
      var tr = el("tr", "wb-agent wb-state-" + x.state);
      tr.appendChild(el("td", null, x.name));
      tr.appendChild(el("td", null, L[x.state] || x.state));
      tr.appendChild(el("td", null, duration(x.in_state + elapsed())));
      tr.appendChild(el("td", "wb-num", String(x.load)));
      tr.appendChild(el("td", "wb-num", String(x.handled)));
      tr.appendChild(el("td", "wb-num", x.csat_n ? pct(x.csat) : "–"));
      rows.push(tr);
    });
    a.replaceChildren.apply(a, rows);
    root.setAttribute("data-at", snapshot.at || "");
    fit();
  }

  // TV: scale the type so the board fills the screen without scrolling
  function fit() {
    var size = 16;
    document.documentElement.style.fontSize = size + "px";
    var limit = window.innerHeight;
    var lo = 10, hi = 48;
    while (hi - lo > 1) {
      size = Math.floor((lo + hi) / 2);
      document.documentElement.style.fontSize = size + "px";
      if (document.documentElement.scrollHeight <= limit + 1) lo = size; else hi = size;
    }
    document.documentElement.style.fontSize = lo + "px";
  }

  function load() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) { snapshot = data; fetchedAt = Date.now(); render(); }
      })
      .catch(function () { /* offline: the next event or tick tries again */ })
      .then(function () {
        inFlight = false;
        if (again) { again = false; schedule(); }
      });
  }
  function schedule() {
    if (pending) return;
    pending = setTimeout(function () { pending = null; load(); }, 1000);
  }
  document.addEventListener("sportello:event", schedule);
  setInterval(load, 15000);
  setInterval(render, 1000); // waits and times in state tick between snapshots
  window.addEventListener("resize", fit);
  function clock() {
    var c = document.getElementById("wb-clock");
    if (c) c.textContent = new Date().toLocaleTimeString(document.documentElement.lang || "it", { hour: "2-digit", minute: "2-digit" });
  }
  setInterval(clock, 10000);
  clock();
  var fs = document.getElementById("wb-fullscreen");
  if (fs) fs.addEventListener("click", function () {
    if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen();
  });
  render();
})();
