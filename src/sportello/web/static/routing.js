/* Routing panels: offer countdowns, and a refresh of the panels on routing events heard on the
   console's socket (app.js re-dispatches them as "sportello:event"). No routing decision is ever
   driven from here: the server routes on its own events and sweep. */
(function () {
  "use strict";
  var ROUTING_EVENTS = /^(routing\.|agent\.presence_changed|sla\.|conversation\.)/;
  var pending = null;

  function refresh() {
    pending = null;
    document.querySelectorAll("[data-routing-panel]").forEach(function (el) {
      var url = el.getAttribute("data-live-url");
      if (url && window.htmx) {
        window.htmx.ajax("GET", url, { target: "#" + el.id, swap: "outerHTML" });
      }
    });
  }

  document.addEventListener("sportello:event", function (event) {
    var message = event.detail || {};
    if (!ROUTING_EVENTS.test(message.type || "")) return;
    if (!pending) pending = setTimeout(refresh, 200);
  });

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.getAttribute("data-expires")) - now) / 1000));
      el.textContent = left + "s";
      el.classList.toggle("is-urgent", left <= 5);
    });
  }
  setInterval(tick, 1000);
  tick();
})();
