// Typed text is never lost by something the page itself offers. On a page with several forms,
// sending one keeps the unsent text of the others for this tab (sessionStorage, gone when the
// tab closes) and puts it back when the page comes back; following a link or closing the tab
// with unsent text asks first. Forms that autosave (draft.js) look after themselves.
// What is kept is private writing (an addition to a reflection, a note, an annotation, a
// comment), and Chromium writes sessionStorage to disk for session restore: so it is kept only
// sealed (local-copy.js, as draft.js's copy), and only across the one page load that follows
// the send. Each box is sealed as it is typed in, so the send can keep it at once; where it
// cannot be sealed (no WebCrypto or IndexedDB) nothing is kept, and leaving asks first.
// A box that saves itself as a draft (note-draft.js: session notes) is watched here too: once
// the server has its text, that script makes the text the box's defaultValue, so it is no longer
// unsent; until then it is kept and asked about like any other.
// (Issue 24: the same rule as draft.js's copy of a reflection, since an addition to a
// reflection is kept here too.)
(function () {
  "use strict";
  var KEY = "unsent:" + location.pathname;
  var sealer = window.cgLocalCopy && window.cgLocalCopy.supported ? window.cgLocalCopy : null;
  var WAIT_FOR_SEALING_MS = 2000;
  var sending = null;
  var sealed = {};   // box id -> {value, box}: the box's text, sealed, ready to keep

  function watched() {
    return Array.prototype.slice.call(document.querySelectorAll("textarea[id]")).filter(function (el) {
      return !el.closest("form[data-autosave-url]");
    });
  }

  function unsent(el) {
    return el.value.trim() !== "" && el.value !== el.defaultValue;
  }

  function entryFor(el) { return KEY + "#" + el.id; }

  function ready(el) { return !!sealed[el.id] && sealed[el.id].value === el.value; }

  function sealBox(el) {
    var value = el.value;
    if (!sealer || !unsent(el)) { delete sealed[el.id]; return Promise.resolve(); }
    if (ready(el)) { return Promise.resolve(); }
    return sealer.seal(entryFor(el), value).then(function (box) {
      if (box && el.value === value) { sealed[el.id] = { value: value, box: box }; }
    });
  }

  function keptIds() {
    try {
      var kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
      return kept && kept.v === 2 && kept.boxes ? kept.boxes : {};
    } catch (e) { return null; }
  }

  function putBack(el, value) {
    if (typeof value !== "string" || value === el.value) { return; }
    el.value = value;
    // As if typed: a box that saves itself as a draft (note-draft.js) saves it now.
    el.dispatchEvent(new Event("input", { bubbles: true }));
    var details = el.closest("details");
    if (details) { details.open = true; }
    var note = document.createElement("p");
    note.className = "hint kept-note";
    note.setAttribute("role", "status");
    note.textContent = "Your text is back here as you left it. It is not saved yet.";
    el.insertAdjacentElement("afterend", note);
  }

  function restore() {
    var kept;
    try { kept = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { kept = null; }
    try { sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
    if (!kept) { return; }
    watched().forEach(function (el) {
      if (kept.v === 2) {
        if (!kept.boxes || !kept.boxes[el.id] || !sealer) { return; }
        sealer.open(entryFor(el), kept.boxes[el.id]).then(function (value) {
          putBack(el, value);
          sealBox(el);
        });
      } else {
        putBack(el, kept[el.id]);  // kept in plaintext by an earlier version: already removed
      }
    });
  }

  function keep(boxes) {
    var kept = {};
    boxes.forEach(function (el) { kept[el.id] = sealed[el.id].box; });
    try {
      if (boxes.length) { sessionStorage.setItem(KEY, JSON.stringify({ v: 2, boxes: kept })); }
    } catch (e) { /* storage off: the leave warning below still asks */ }
  }

  // Send the form as the person did, after a pause: with the button she pressed, its name and
  // value, and where it sends (form.submit() fires no second submit event, so no second question).
  function resend(form, submitter) {
    if (submitter && submitter.name) {
      var carried = document.createElement("input");
      carried.type = "hidden";
      carried.name = submitter.name;
      carried.value = submitter.value;
      form.appendChild(carried);
    }
    if (submitter && submitter.hasAttribute("formaction")) { form.setAttribute("action", submitter.formAction); }
    if (submitter && submitter.hasAttribute("formmethod")) { form.setAttribute("method", submitter.formMethod); }
    HTMLFormElement.prototype.submit.call(form);
  }

  document.addEventListener("input", function (event) {
    var el = event.target;
    if (el && el.tagName === "TEXTAREA" && el.id && watched().indexOf(el) !== -1) { sealBox(el); }
  });

  // On window, so that it runs after the document's own submit listeners (a confirmation the
  // person declined has already prevented the submit by then).
  window.addEventListener("submit", function (event) {
    if (event.defaultPrevented) { return; }
    var form = event.target;
    var others = watched().filter(function (el) { return el.form !== form && unsent(el); });
    sending = form;
    if (!sealer || others.every(ready)) {
      keep(others.filter(ready));
      return;
    }
    // A box was typed in a moment ago and its sealed copy is not ready yet: finish it, then send.
    event.preventDefault();
    var waited = new Promise(function (resolve) { setTimeout(resolve, WAIT_FOR_SEALING_MS); });
    Promise.race([Promise.all(others.map(sealBox)), waited]).then(function () {
      keep(others.filter(ready));  // whatever could not be sealed is not kept: leaving asks
      resend(form, event.submitter);
    });
  });

  window.addEventListener("beforeunload", function (event) {
    var lost = watched().some(function (el) {
      if (!unsent(el)) { return false; }
      if (sending && el.form === sending) { return false; }  // being sent now
      if (sending) {  // kept for this tab by the submit handler
        var kept = keptIds();
        return !kept || !(el.id in kept);
      }
      return true;
    });
    if (lost) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Chromium otherwise writes what is typed in a box into its session-restore files (Default/
  // Sessions) in plaintext, to refill it on Back or after a crash: this page keeps what it must.
  watched().forEach(function (el) { el.setAttribute("autocomplete", "off"); });
  restore();
  // Seal what is already typed (a box put back, or filled by the browser) so a send keeps it.
  watched().forEach(function (el) { if (unsent(el)) { sealBox(el); } });
})();
