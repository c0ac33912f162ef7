/* Knowledge base helpers in the console: "insert link" / "insert text" from the suggestions
   fragment into the reply box (textarea[name=text]), and "use draft" from the assist panel
   (switches the composer to reply; replaces an empty box, appends after a blank line otherwise). Loaded with <script src="/static/kb.js" defer>. */
(function () {
  "use strict";
  function insert(textarea, value) {
    var start = textarea.selectionStart || 0;
    var end = textarea.selectionEnd || 0;
    var before = textarea.value.slice(0, start);
    var after = textarea.value.slice(end);
    var sep = before && !/\s$/.test(before) ? "\n" : "";
    textarea.value = before + sep + value + after;
    var caret = (before + sep + value).length;
    textarea.focus();
    try { textarea.setSelectionRange(caret, caret); } catch (e) { /* not focusable */ }
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }
  function useDraft(textarea, draft) {
    var form = textarea.form;
    var radio = form ? form.querySelector('input[name=mode][value="reply"]') : null;
    if (radio && !radio.disabled && !radio.checked) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }
    if (textarea.value.trim()) {
      textarea.value = textarea.value.replace(/\s+$/, "") + "\n";
      draft = "\n" + draft;
    } else {
      textarea.value = "";
    }
    var end = textarea.value.length;
    textarea.setSelectionRange(end, end);
    insert(textarea, draft);
  }
  document.addEventListener("click", function (event) {
    var use = event.target.closest ? event.target.closest("[data-assist-use]") : null;
    if (use) {
      var box = document.querySelector("#composer-text");
      if (!box) return;
      event.preventDefault();
      useDraft(box, use.dataset.assistUse || "");
      return;
    }
    var button = event.target.closest ? event.target.closest("[data-kb-insert]") : null;
    if (!button) return;
    var textarea = document.querySelector("textarea[name=text]");
    if (!textarea) return;
    event.preventDefault();
    if (button.dataset.kbInsert === "link") {
      insert(textarea, button.dataset.kbTitle + ": " + button.dataset.kbUrl);
    } else {
      insert(textarea, button.dataset.kbText || "");
    }
  });
})();
