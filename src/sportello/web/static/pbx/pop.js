/* The screen pop for calls on a customer's PBX: when the PBX rings this agent's extension, the
   call's voice.call_changed event (state "ringing", agent_id) arrives on the console's socket
   (app.js re-dispatches it as "sportello:event"); the pop is server-rendered (/pbx/pop/<id>) and
   stays until the call is answered elsewhere, ends, or is closed. No inline script (CSP). */
(function () {
  "use strict";
  var slot = document.getElementById("pbx-pop");
  if (!slot) return;
  var me = slot.getAttribute("data-user");
  var body = slot.querySelector(".pbx-pop-body");
  var showing = null;
  function hide() { slot.hidden = true; body.innerHTML = ""; showing = null; }
  slot.querySelector(".pbx-pop-close").addEventListener("click", hide);
  document.addEventListener("sportello:event", function (event) {
    var message = event.detail || {};
    if (message.type !== "voice.call_changed") return;
    var data = message.data || {};
    if (String(data.call_id) === showing && (data.state === "ended" || String(data.agent_id) !== me)) {
      hide();
      return;
    }
    if (data.state !== "ringing" || String(data.agent_id) !== me) return;
    fetch("/pbx/pop/" + encodeURIComponent(data.call_id), { credentials: "same-origin" })
      .then(function (r) { return r.status === 200 ? r.text() : null; })
      .then(function (html) {
        if (html === null) return; // not a PBX call (the softphone pops its own), or not ours
        body.innerHTML = html; // server-rendered, escaped by the template
        showing = String(data.call_id);
        slot.hidden = false;
      })
      .catch(function () {});
  });
})();
