// Drafts that are never lost: autosave to the server a few seconds after typing stops and when
// a field is left; retry failed saves with a growing pause; keep a copy on this device until the
// server has it; warn before leaving with unsaved text; count characters against the limit.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave-url]");
  if (!form) { return; }

  var url = form.getAttribute("data-autosave-url");
  var key = form.getAttribute("data-draft-key");
  var serverSavedAt = Date.parse(form.getAttribute("data-server-saved-at") || "") || 0;
  var status = form.querySelector("[data-save-status]");
  var TYPING_PAUSE_MS = 3000;
  var RETRY_STEPS_MS = [3000, 6000, 12000, 30000];

  var dirty = false, saving = false, again = false, submitting = false;
  var timer = null, retryIndex = 0;

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
    try { localStorage.setItem(key, JSON.stringify({ at: Date.now(), data: snapshot() })); } catch (e) { /* storage full or off */ }
  }

  function forgetLocal() {
    try { localStorage.removeItem(key); } catch (e) { /* ignore */ }
  }

  function restoreLocal() {
    var saved;
    try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.data || saved.at <= serverSavedAt) { return; }
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
        say("Not saved: you have been signed out. Your text is kept on this device; sign in again in another tab, then come back.", true);
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
    keepLocally();
    if (event.target.tagName === "TEXTAREA") { updateCounter(event.target); }
    schedule(TYPING_PAUSE_MS);
  });
  form.addEventListener("change", function () {
    dirty = true;
    keepLocally();
    schedule(TYPING_PAUSE_MS);
  });
  form.addEventListener("focusout", function () { if (dirty) { save(); } });
  form.addEventListener("submit", function () { submitting = true; clearTimeout(timer); });
  window.addEventListener("beforeunload", function (event) {
    if ((dirty || saving) && !submitting) {
      keepLocally();
      event.preventDefault();
      event.returnValue = "";
    }
  });
  window.addEventListener("online", function () { if (dirty) { save(); } });

  Array.prototype.forEach.call(form.querySelectorAll("textarea[data-limit]"), updateCounter);
  restoreLocal();
})();
