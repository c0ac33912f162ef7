/* Help center: results as you type. The server renders the fragment (escaped); without this
   script the search form still works as a plain GET. No inline scripts (CSP script-src 'self'). */
(function () {
  "use strict";
  var form = document.querySelector("form.hc-search[data-live]");
  var box = document.getElementById("hc-live");
  if (!form || !box || !window.fetch) return;
  var input = form.querySelector("input[name=q]");
  var timer = null;
  var last = "";
  var controller = null;

  function clear() { box.innerHTML = ""; box.classList.remove("is-open"); }

  function run() {
    var q = input.value.trim();
    if (q === last) return;
    last = q;
    if (q.length < 2) { clear(); return; }
    if (controller) controller.abort();
    controller = window.AbortController ? new AbortController() : null;
    fetch(form.dataset.live + "?q=" + encodeURIComponent(q), {
      headers: { "Accept": "text/html" },
      signal: controller ? controller.signal : undefined
    }).then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (input.value.trim() !== q) return;
        box.innerHTML = html;
        box.classList.toggle("is-open", html.trim() !== "");
      })
      .catch(function () { /* aborted or offline: keep the last results */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(run, 150);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") clear();
    if (event.key === "ArrowDown") {
      var first = box.querySelector("a");
      if (first) { event.preventDefault(); first.focus(); }
    }
  });
  box.addEventListener("keydown", function (event) {
    var links = Array.prototype.slice.call(box.querySelectorAll("a"));
    var i = links.indexOf(document.activeElement);
    if (i < 0) return;
    if (event.key === "ArrowDown" && i < links.length - 1) { event.preventDefault(); links[i + 1].focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); (i > 0 ? links[i - 1] : input).focus(); }
    if (event.key === "Escape") { clear(); input.focus(); }
  });
  document.addEventListener("click", function (event) {
    if (!form.contains(event.target) && !box.contains(event.target)) clear();
  });
})();
