// The front line, live: the notification bell, the required-briefing overlay, and a briefing's
// receipts on the supervisor's page refresh when their events arrive on the console socket.
(function () {
  "use strict";
  function load(selector, url) {
    var el = document.querySelector(selector);
    if (el && window.htmx) window.htmx.ajax("GET", url, { target: el, swap: "outerHTML" });
  }
  function myId() {
    var bell = document.getElementById("fl-bell");
    return bell ? bell.getAttribute("data-user") : null;
  }
  document.addEventListener("sportello:event", function (event) {
    var message = event.detail || {};
    var data = message.data || {};
    if (message.type === "notification.created" && String(data.user_id) === myId()) {
      load("#fl-bell", "/frontline/bell");
      if (data.kind === "briefing" || data.kind === "briefing_reminder") {
        load("#fl-required", "/frontline/required");
      }
    } else if (message.type === "briefing.receipt_changed") {
      document.querySelectorAll("[data-fl-briefing='" + data.briefing_id + "']").forEach(function (el) {
        if (el.id) load("#" + el.id, el.getAttribute("data-fl-live"));
      });
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-fl-dismiss]") : null;
    if (!button) return;
    var overlay = document.getElementById("fl-required");
    if (overlay) overlay.hidden = true;
  });
  document.addEventListener("sportello:connected", function () {
    if (document.getElementById("fl-bell")) load("#fl-bell", "/frontline/bell");
  });
})();
