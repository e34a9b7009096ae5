// Drafts that are never lost: autosave to the server a few seconds after typing stops and when
// a field is left; retry failed saves with a growing pause; keep a copy on this device until the
// server has it; warn before leaving with unsaved text; count characters against the limit.
// The copy on this device holds only what the server has not acknowledged yet: written sealed
// (local-copy.js: AES-GCM, a key no script can read out) when a change is not saved, removed as
// soon as an autosave or the form's own post is acknowledged. Without WebCrypto or IndexedDB
// no copy is kept at all, never a plaintext one.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave-url]");
  if (!form) { return; }
  var sealer = window.cgLocalCopy && window.cgLocalCopy.supported ? window.cgLocalCopy : null;
  // Chromium otherwise writes what is typed here into its session-restore files (Default/Sessions)
  // in plaintext, to refill the form on Back or after a crash; this page refills it itself.
  form.setAttribute("autocomplete", "off");
  fields().forEach(function (el) { if (el.tagName === "TEXTAREA") { el.setAttribute("autocomplete", "off"); } });

  var url = form.getAttribute("data-autosave-url");
  var key = form.getAttribute("data-draft-key");
  var serverSavedAt = Date.parse(form.getAttribute("data-server-saved-at") || "") || 0;
  var status = form.querySelector("[data-save-status]");
  var TYPING_PAUSE_MS = 3000;
  var RETRY_STEPS_MS = [3000, 6000, 12000, 30000];

  var dirty = false, saving = false, again = false, submitting = false, typed = false;
  var timer = null, retryIndex = 0;
  var copyTurn = 0;  // each write or removal of the copy takes a turn; a sealing that finishes
                     // after a later turn (newer text, or the server's acknowledgement) is dropped

  function say(text, failed) {
    if (!status) { return; }
    status.textContent = text;
    status.classList.toggle("failed", !!failed);
  }

  function fields() {
    return Array.prototype.slice.call(form.querySelectorAll("textarea, input[type=radio], input[type=checkbox]"));
  }

  function snapshot() {
    var data = {};
    fields().forEach(function (el) {
      if (el.type === "radio") { if (el.checked) { data[el.name] = el.value; } }
      else if (el.type === "checkbox") { data[el.name] = el.checked; }
      else { data[el.name] = el.value; }
    });
    return data;
  }

  function keepLocally() {
    if (!sealer) { return; }
    var turn = ++copyTurn;
    var at = Date.now();
    sealer.seal(key, { at: at, data: snapshot() }).then(function (box) {
      if (!box || turn !== copyTurn) { return; }
      try { localStorage.setItem(key, JSON.stringify({ v: 2, at: at, iv: box.iv, ct: box.ct })); } catch (e) { /* storage full or off */ }
    });
  }

  function forgetLocal() {
    copyTurn += 1;
    try { localStorage.removeItem(key); } catch (e) { /* ignore */ }
  }

  // The copy on this device, opened: {at, data}, or null. One kept in plaintext by an earlier
  // version is read once and removed (sealed again below if it is still needed).
  function readLocal() {
    var kept;
    try { kept = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { kept = null; }
    if (!kept) { return Promise.resolve(null); }
    if (kept.at <= serverSavedAt) { forgetLocal(); return Promise.resolve(null); }  // the server has newer
    if (kept.v !== 2) {
      forgetLocal();
      return Promise.resolve(kept.data ? { at: kept.at, data: kept.data, plain: true } : null);
    }
    if (!sealer) { forgetLocal(); return Promise.resolve(null); }
    return sealer.open(key, kept).then(function (opened) {
      if (!opened || !opened.data) { forgetLocal(); return null; }  // its key is gone: unreadable
      return opened;
    });
  }

  function restoreLocal() {
    readLocal().then(function (saved) {
      if (saved && !typed) { putBack(saved); }
    });
  }

  function putBack(saved) {
    var changed = false;
    fields().forEach(function (el) {
      if (!(el.name in saved.data)) { return; }
      var value = saved.data[el.name];
      if (el.type === "radio") {
        if (el.checked !== (el.value === value)) { el.checked = el.value === value; changed = true; }
      } else if (el.type === "checkbox") {
        if (el.checked !== !!value) { el.checked = !!value; changed = true; }
      } else if (el.value !== value) { el.value = value; changed = true; }
    });
    if (changed) {
      dirty = true;
      Array.prototype.forEach.call(form.querySelectorAll("textarea[data-limit]"), updateCounter);
      if (saved.plain) { keepLocally(); }  // sealed from now on, until the server has it
      say("Restored text from this device that had not reached the server yet. Saving it now…");
      save();
    }
  }

  function updateCounter(area) {
    var counter = form.querySelector('[data-counter-for="' + area.id + '"]');
    if (!counter) { return; }
    var limit = parseInt(area.getAttribute("data-limit"), 10);
    // Count characters as the server does (code points): an emoji is one, not two UTF-16 units.
    var length = Array.from(area.value.replace(/\r\n/g, "\n")).length;
    counter.textContent = length.toLocaleString() + " / " + limit.toLocaleString() + " characters" +
      (length > limit ? " — " + (length - limit).toLocaleString() + " too many; please shorten it" : "");
    counter.classList.toggle("over", length > limit);
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(save, delay);
  }

  function save() {
    clearTimeout(timer);
    if (!dirty || submitting) { return; }
    if (saving) { again = true; return; }
    saving = true;
    dirty = false;
    var body = new FormData(form);
    body.delete("action");
    say("Saving…");
    fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { ok: response.ok, status: response.status, json: json };
      });
    }).then(function (result) {
      saving = false;
      if (result.ok && result.json.saved) {
        retryIndex = 0;
        serverSavedAt = Date.parse(result.json.saved_at) || Date.now();
        if (!dirty) { forgetLocal(); }
        say("Draft saved at " + result.json.saved_at_display + ".");
      } else if (result.status === 400 || result.status === 409 || result.status === 413) {
        // Refused on its content (too long) or because the task closed: retrying cannot help.
        dirty = true;
        say((result.json.message || "Not saved.") + " Your text is still here.", true);
      } else if (result.status === 401 || result.status === 403) {
        dirty = true;
        say(sealer
          ? "Not saved: you have been signed out. Your text is kept on this device; sign in again in another tab, then come back."
          : "Not saved: you have been signed out. Your text is still here; keep this tab open, sign in again in another tab, then come back.", true);
        retryLater();
      } else {
        dirty = true;
        retryLater();
      }
      if (again) { again = false; save(); }
    }).catch(function () {
      saving = false;
      dirty = true;
      retryLater();
    });
  }

  function retryLater() {
    var wait = RETRY_STEPS_MS[Math.min(retryIndex, RETRY_STEPS_MS.length - 1)];
    retryIndex += 1;
    say("Not saved yet — your text is still here and will be retried in " + Math.round(wait / 1000) + " seconds.", true);
    schedule(wait);
  }

  form.addEventListener("input", function (event) {
    dirty = true;
    typed = true;
    keepLocally();
    if (event.target.tagName === "TEXTAREA") { updateCounter(event.target); }
    schedule(TYPING_PAUSE_MS);
  });
  form.addEventListener("change", function () {
    dirty = true;
    typed = true;
    keepLocally();
    schedule(TYPING_PAUSE_MS);
  });
  form.addEventListener("focusout", function () { if (dirty) { save(); } });
  form.addEventListener("submit", function () {
    submitting = true;
    clearTimeout(timer);
    // The copy stays until the server answers this post; local-copy.js drops it on the page the
    // answer redirects to (the page itself drops it too when the server's draft is newer).
    // (getAttribute: the buttons named "action" hide the form's own .action.)
    if (!sealer) { return; }
    try {
      var path = new URL(form.getAttribute("action") || "", location.href).pathname;
      sessionStorage.setItem(sealer.SENT_MARK, JSON.stringify({ key: key, path: path }));
    } catch (e) { /* storage off: the copy goes when the page finds the server's draft newer */ }
  });
  window.addEventListener("beforeunload", function (event) {
    // No copy is written here: every change already made one, and a page being left by signing
    // out must not make a new key after the old one was destroyed.
    if ((dirty || saving) && !submitting) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  window.addEventListener("online", function () { if (dirty) { save(); } });

  Array.prototype.forEach.call(form.querySelectorAll("textarea[data-limit]"), updateCounter);
  if (sealer) { sealer.ready(); }
  // Typed before this script had loaded (a slow connection): not seen by the listeners above, so
  // taken as a change now; and a copy from this device must not overwrite it.
  var changedEarly = fields().some(function (el) {
    return el.type === "radio" || el.type === "checkbox" ? el.checked !== el.defaultChecked
                                                         : el.value !== el.defaultValue;
  });
  if (changedEarly) {
    dirty = true;
    typed = true;
    keepLocally();
    schedule(TYPING_PAUSE_MS);
  }
  restoreLocal();
})();
