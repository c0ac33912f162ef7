/* The PBX channel's form: its AMI link's state, a server-rendered fragment, refreshed every few
   seconds (the worker connects in the background). No inline script (CSP script-src 'self'). */
(function () {
  "use strict";
  function load(el) {
    fetch(el.getAttribute("data-pbx-status"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) el.innerHTML = html; }) // escaped by the template
      .catch(function () {});
  }
  var boxes = document.querySelectorAll("[data-pbx-status]");
  boxes.forEach(load);
  if (boxes.length) setInterval(function () { boxes.forEach(load); }, 5000);
})();
