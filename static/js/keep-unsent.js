// Typed text is never lost by something the page itself offers. On a page with several forms,
// sending one keeps the unsent text of the others for this tab (sessionStorage, gone when the
// tab closes) and puts it back when the page comes back; following a link or closing the tab
// with unsent text asks first. Forms that autosave (draft.js) look after themselves.
(function () {
  "use strict";
  var KEY = "unsent:" + location.pathname;
  var sending = null;

  function watched() {
    return Array.prototype.slice.call(document.querySelectorAll("textarea[id]")).filter(function (el) {
      return !el.closest("form[data-autosave-url]");
    });
  }

  function unsent(el) {
    return el.value.trim() !== "" && el.value !== el.defaultValue;
  }

  function restore() {
    var kept;
    try { kept = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { kept = null; }
    try { sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
    if (!kept) { return; }
    watched().forEach(function (el) {
      var value = kept[el.id];
      if (typeof value !== "string" || value === el.value) { return; }
      el.value = value;
      var details = el.closest("details");
      if (details) { details.open = true; }
      var note = document.createElement("p");
      note.className = "hint kept-note";
      note.setAttribute("role", "status");
      note.textContent = "Your text is back here as you left it. It is not saved yet.";
      el.insertAdjacentElement("afterend", note);
    });
  }

  // On window, so that it runs after the document's own submit listeners (a confirmation the
  // person declined has already prevented the submit by then).
  window.addEventListener("submit", function (event) {
    if (event.defaultPrevented) { return; }
    sending = event.target;
    var keep = {};
    watched().forEach(function (el) {
      if (el.form !== sending && unsent(el)) { keep[el.id] = el.value; }
    });
    try {
      if (Object.keys(keep).length) { sessionStorage.setItem(KEY, JSON.stringify(keep)); }
    } catch (e) { /* storage off: the leave warning below still asks */ }
  });

  window.addEventListener("beforeunload", function (event) {
    var lost = watched().some(function (el) {
      if (!unsent(el)) { return false; }
      if (sending && el.form === sending) { return false; }  // being sent now
      if (sending) {  // kept for this tab by the submit handler
        try { return !(el.id in JSON.parse(sessionStorage.getItem(KEY) || "{}")); } catch (e) { return true; }
      }
      return true;
    });
    if (lost) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  restore();
})();
