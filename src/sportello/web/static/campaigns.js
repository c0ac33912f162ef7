// The campaign call page: record the attempt, then dial with the console softphone when the
// voice channel provides one (window.sportelloSoftphone.dial), else with a tel: link.
// Progressive mode dials by itself as soon as the page shows a contact.
(function () {
  "use strict";
  var page = document.getElementById("call-page");
  var button = document.getElementById("dial");
  if (!page) return;
  var status = document.getElementById("dial-status");
  var tel = document.getElementById("tel-link");
  var form = document.getElementById("disposition-form");
  var token = form ? form.querySelector("input[name=csrf_token]") : document.querySelector("input[name=csrf_token]");

  function dial() {
    if (!button || button.disabled) return;
    button.disabled = true;
    fetch(button.dataset.url, {
      method: "POST",
      headers: { "X-CSRF-Token": token ? token.value : "" },
      credentials: "same-origin",
    }).then(function (answer) {
      if (answer.status === 204) {
        var number = button.dataset.number;
        var phone = window.sportelloSoftphone;
        if (phone && typeof phone.dial === "function") {
          phone.dial(number, { conversationId: button.dataset.conversation || null });
          status.textContent = button.dataset.calling || "…";
        } else if (tel) {
          tel.hidden = false;
          tel.click();
        }
        return;
      }
      button.disabled = false;
      return answer.json().then(function (problem) {
        status.textContent = (problem && problem.detail) || answer.statusText;
      }, function () { status.textContent = answer.statusText; });
    }, function () {
      button.disabled = false;
    });
  }

  if (button) button.addEventListener("click", dial);
  if (form) {
    var when = document.getElementById("callback_at");
    form.addEventListener("change", function (event) {
      var radio = event.target;
      if (radio.name === "disposition" && when) when.required = radio.dataset.callback === "1";
    });
  }
  if (page.dataset.mode === "progressive" && button && !button.disabled && !status.textContent.trim()) {
    dial();
  }
})();
