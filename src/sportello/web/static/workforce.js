/* Workforce charts: forecast contacts, agents required and agents on shift per interval, one
   uPlot chart per channel. Data comes from the container's data-chart attribute (CSP-clean, and
   it survives htmx swaps, which drop script elements);
   charts are rebuilt when htmx swaps new content in (the schedule editor). */
(function () {
  "use strict";
  var COLORS = { contacts: "#7aa7d9", required: "#d9534f", onShift: "#2e9d5b" };

  function build(root) {
    if (!window.uPlot) return;
    var data = JSON.parse(root.getAttribute("data-chart") || "{}");
    root.querySelectorAll(".wfm-chart").forEach(function (el) { el.remove(); });
    var labels = {};
    root.querySelectorAll("[data-channel-label]").forEach(function (el) {
      labels[el.getAttribute("data-channel-label")] = el.textContent;
    });
    var stepped = uPlot.paths.stepped({ align: 1 });
    var lang = root.getAttribute("data-lang") || "it";
    var dayFmt = new Intl.DateTimeFormat(lang, { weekday: "short", day: "numeric", month: "numeric", timeZone: "Europe/Rome" });
    var timeFmt = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Rome" });
    var fullFmt = new Intl.DateTimeFormat(lang, { weekday: "short", day: "numeric", month: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "Europe/Rome" });
    var clockFmt = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "Europe/Rome" });
    function tick(ts) {
      var at = new Date(ts * 1e3);
      return clockFmt.format(at) === "00:00" ? dayFmt.format(at) : timeFmt.format(at);
    }
    (data.series || []).forEach(function (s) {
      var box = document.createElement("div");
      box.className = "wfm-chart";
      box.setAttribute("data-channel", s.channel);
      var title = document.createElement("h3");
      title.className = "wfm-h3";
      title.textContent = labels[s.channel] || s.channel;
      box.appendChild(title);
      root.appendChild(box);
      var width = Math.max(320, root.clientWidth - 8);
      var opts = {
        width: width,
        height: 220,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Europe/Rome"); },
        scales: { x: { time: true }, n: { range: function (u, min, max) { return [0, Math.max(1, max * 1.15)]; } },
                  a: { range: function (u, min, max) { return [0, Math.max(2, Math.ceil(max * 1.2))]; } } },
        axes: [
          { values: function (u, splits) { return splits.map(tick); } },
          { scale: "n", label: root.getAttribute("data-label-contacts"), size: 50 },
          { scale: "a", side: 1, label: root.getAttribute("data-label-required"), grid: { show: false }, size: 50 },
        ],
        series: [
          { label: root.getAttribute("data-label-time"), value: function (u, ts) { return ts == null ? "–" : fullFmt.format(new Date(ts * 1e3)); } },
          { label: root.getAttribute("data-label-contacts"), scale: "n", stroke: COLORS.contacts,
            fill: "rgba(122,167,217,0.18)", width: 1, value: function (u, v) { return v == null ? "–" : v.toFixed(1); } },
          { label: root.getAttribute("data-label-required"), scale: "a", stroke: COLORS.required, width: 2, paths: stepped },
          { label: root.getAttribute("data-label-onshift"), scale: "a", stroke: COLORS.onShift, width: 2, paths: stepped,
            dash: [6, 3], value: function (u, v) { return v == null ? "–" : v.toFixed(1); } },
        ],
      };
      new uPlot(opts, [data.x, s.contacts, s.required, s.on_shift], box);
    });
  }

  function buildAll(scope) {
    (scope || document).querySelectorAll("[data-wfm-chart]").forEach(build);
  }

  document.addEventListener("DOMContentLoaded", function () { buildAll(document); });
  document.addEventListener("htmx:afterSettle", function (e) { buildAll(e.target); });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { buildAll(document); }, 200);
  });
})();
