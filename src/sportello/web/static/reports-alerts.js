/* Supervisors' console: wallboard alerts (service level low, nobody available) as
   notifications, from "reports.alert" events on the console socket (app.js). */
(function () {
  "use strict";
  var box = document.getElementById("reports-alerts");
  if (!box) return;
  var L = JSON.parse(box.getAttribute("data-labels") || "{}");
  document.addEventListener("sportello:event", function (event) {
    var message = event.detail || {};
    if (message.type !== "reports.alert") return;
    var d = message.data || {};
    if (d.state !== "raised") return;
    var note = document.createElement("div");
    note.className = "rep-note";
    note.setAttribute("role", "alert");
    var link = document.createElement("a");
    link.href = "/wallboard";
    link.textContent = "⚠ " + (L[d.kind] || d.kind) + " · " + (d.queue_name || "");
    note.appendChild(link);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-ghost";
    close.textContent = "×";
    close.setAttribute("aria-label", L.close || "Close");
    close.addEventListener("click", function () { note.remove(); });
    note.appendChild(close);
    box.appendChild(note);
    setTimeout(function () { note.remove(); }, 30000);
  });
})();
