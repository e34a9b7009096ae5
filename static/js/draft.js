// Drafts that are never lost: autosave to the server a few seconds after typing stops and when
// a field is left; retry failed saves with a growing pause; keep a copy on this device until the
// server has it; warn before leaving with unsaved text; count characters against the limit.
// The copy on this device holds only what the server has not acknowledged yet: written sealed
// (local-copy.js: AES-GCM, a key no script can read out) when a change is not saved, removed as
// soon as an autosave or the form's own post is acknowledged. Without WebCrypto or IndexedDB
// no copy is kept at all, never a plaintext one.
// Every save names the draft version this page last saw (the hidden draft_version). A draft saved
// meanwhile from another tab or device is never overwritten: the server answers 409 with the
// other text, and the page shows both, with "Keep both", "Keep mine" and "Keep the other".
// A save that gets no answer within SAVE_TIMEOUT_MS is given up and retried ("Not saved yet").
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
  var versionField = form.querySelector("input[name=draft_version]");
  var TYPING_PAUSE_MS = 3000;
  var SAVE_TIMEOUT_MS = 7000;  // with the typing pause, "Not saved yet" within 10 s of the last key
  var RETRY_STEPS_MS = [3000, 6000, 12000, 30000];

  var dirty = false, saving = false, again = false, submitting = false, typed = false;
  var timer = null, retryIndex = 0;
  var resolveNext = null;  // "both": the next save asks the server to join the two versions
  var unanswered = [];     // what saves sent without an answer carried (one may have got through)
  // The draft was saved elsewhere: {version, seen, theirs, at} (the panel is shown), or "server"
  // (the page itself came with the conflict and its choices). No autosave until she chooses.
  var conflict = form.querySelector("[data-draft-conflict]") ? "server" : null;
  // With "server": the version her text was based on, before the one saved elsewhere.
  var seenBefore = conflict ? form.querySelector("[data-draft-conflict]").getAttribute("data-seen-version") : "";
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

  function version() { return versionField ? versionField.value : ""; }
  function setVersion(value) { if (versionField && typeof value === "string") { versionField.value = value; } }
  // The version a copy on this device is based on: during a conflict, the one before it.
  function copyBase() {
    if (conflict === "server") { return seenBefore || ""; }
    return conflict ? conflict.seen : version();
  }

  function norm(value) { return String(value == null ? "" : value).replace(/\r\n?/g, "\n"); }

  // The answers and the ratings (what a draft holds) of a snapshot or a FormData, as strings.
  function draftFields(get) {
    var data = {};
    fields().forEach(function (el) {
      if (/^answer_\d+$/.test(el.name) || el.name === "resentment" || el.name === "closeness" ||
          el.name === "stayed_present") { data[el.name] = norm(get(el.name)); }
    });
    return data;
  }

  function sameDraft(a, b) {
    return Object.keys(a).every(function (name) { return norm(a[name]) === norm(b[name]); });
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
    var base = copyBase();
    sealer.seal(key, { at: at, data: snapshot() }).then(function (box) {
      if (!box || turn !== copyTurn) { return; }
      try { localStorage.setItem(key, JSON.stringify({ v: 2, at: at, base: base, iv: box.iv, ct: box.ct })); } catch (e) { /* storage full or off */ }
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
    // A copy that names its version is compared below; an older one by its time alone.
    if (typeof kept.base !== "string" && kept.at <= serverSavedAt) { forgetLocal(); return Promise.resolve(null); }  // the server has newer
    if (kept.v !== 2) {
      forgetLocal();
      return Promise.resolve(kept.data ? { at: kept.at, data: kept.data, plain: true } : null);
    }
    if (!sealer) { forgetLocal(); return Promise.resolve(null); }
    return sealer.open(key, kept).then(function (opened) {
      if (!opened || !opened.data) { forgetLocal(); return null; }  // its key is gone: unreadable
      opened.base = kept.base;
      return opened;
    });
  }

  function restoreLocal() {
    readLocal().then(function (saved) {
      if (!saved || typed) { return; }
      if (conflict === "server") {
        keepLocally();  // her text stays kept, on its old version, until she chooses
        return;
      }
      if (typeof saved.base === "string" && saved.base !== version()) {
        // Not acknowledged, and the draft was saved elsewhere since it was written.
        var shown = snapshot();
        var theirs = draftFields(function (name) { return shown[name]; });
        if (sameDraft(theirs, draftFields(function (name) { return saved.data[name]; }))) {
          forgetLocal();  // the server has exactly this
          return;
        }
        putBack(saved, { version: version(), seen: saved.base, theirs: theirs, at: "" });
        return;
      }
      putBack(saved);
    });
  }

  function putBack(saved, found) {
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
      updateCounters();
      if (found) {
        showConflict(found);
        say("Restored text from this device that had not reached the server yet; the draft was " +
            "also changed elsewhere since. Both versions are shown above your answers: choose which to keep.", true);
        return;
      }
      if (saved.plain) { keepLocally(); }  // sealed from now on, until the server has it
      say("Restored text from this device that had not reached the server yet. Saving it now…");
      save();
    }
  }

  function putFields(values) {
    fields().forEach(function (el) {
      if (!(el.name in values)) { return; }
      if (el.type === "radio") { el.checked = el.value === values[el.name]; }
      else if (el.type !== "checkbox") { el.value = values[el.name]; }
    });
    updateCounters();
  }

  // --- a conflict: both versions, and her choice ----------------------------------------------

  function node(tag, className, text) {
    var made = document.createElement(tag);
    if (className) { made.className = className; }
    if (text !== undefined) { made.textContent = text; }
    return made;
  }

  function side(who, text) {
    var box = node("div", "conflict-side");
    box.appendChild(node("p", "who", who));
    box.appendChild(text.trim() ? node("div", "conflict-text", text) : node("p", "empty", "No answer."));
    return box;
  }

  function ratingLine(values) {
    function shown(name) { return values[name] ? values[name] : "–"; }
    return "resentment " + shown("resentment") + " · closeness " + shown("closeness") +
           " · stayed present " + shown("stayed_present");
  }

  function removePanel() {
    Array.prototype.forEach.call(form.querySelectorAll(".draft-conflict[data-by-script]"), function (panel) {
      panel.parentNode.removeChild(panel);
    });
  }

  // The same panel as the server's (templates/homework/reflections/_draft_conflict.html), with
  // buttons that choose here instead of posting the form.
  function showConflict(found) {
    conflict = found;
    removePanel();
    var now = snapshot();
    var mine = draftFields(function (name) { return now[name]; });
    var panel = node("section", "draft-conflict");
    panel.setAttribute("data-by-script", "");
    panel.setAttribute("aria-labelledby", "conflict-heading");
    var heading = node("h2", null, "This draft was also changed elsewhere");
    heading.id = "conflict-heading";
    heading.tabIndex = -1;
    panel.appendChild(heading);
    panel.appendChild(node("p", null, "Since this page was opened, the draft was saved from another tab or device" +
      (found.at ? " at " + found.at : "") + ". Nothing has been overwritten. Your text from this page is in " +
      "the boxes below; here are both versions. Choose which to keep."));
    fields().forEach(function (el) {
      if (!/^answer_\d+$/.test(el.name) || mine[el.name] === norm(found.theirs[el.name])) { return; }
      var label = form.querySelector('label[for="' + el.id + '"]');
      var question = node("div", "conflict-question");
      question.appendChild(node("p", "prompt", label ? label.textContent : ""));
      var sides = node("div", "side-by-side");
      sides.appendChild(side("Yours, from this page", mine[el.name]));
      sides.appendChild(side("The other, saved elsewhere", norm(found.theirs[el.name])));
      question.appendChild(sides);
      panel.appendChild(question);
    });
    if (["resentment", "closeness", "stayed_present"].some(function (name) {
      return (name in mine) && mine[name] !== norm(found.theirs[name]);
    })) {
      panel.appendChild(node("p", "conflict-ratings", "Ratings: yours " + ratingLine(mine) +
                             "; the other " + ratingLine(found.theirs) + "."));
    }
    var actions = node("div", "actions");
    [["both", "Keep both", "button primary"], ["mine", "Keep mine", "button"],
     ["theirs", "Keep the other", "button"]].forEach(function (choice) {
      var button = node("button", choice[2], choice[1]);
      button.type = "button";
      button.setAttribute("data-keep", choice[0]);
      button.addEventListener("click", function () { choose(choice[0]); });
      actions.appendChild(button);
    });
    panel.appendChild(actions);
    panel.appendChild(node("p", "hint", "“Keep both” puts the other version under yours in each answer, " +
      "below a line that says where it came from; your ratings are kept where you chose one. You can " +
      "edit the result before sending."));
    form.insertBefore(panel, form.querySelector(".field"));
  }

  function choose(which) {
    if (!conflict || conflict === "server") { return; }
    var found = conflict;
    // Everything is decided before the panel goes: removing the focused button may fire a
    // focusout, which saves at once.
    setVersion(found.version);
    resolveNext = which === "both" ? "both" : null;
    dirty = which !== "theirs";
    if (which === "theirs") {
      putFields(found.theirs);
      unanswered = [];
    }
    conflict = null;
    if (which === "theirs") { forgetLocal(); } else { keepLocally(); }  // on the version it replaces
    removePanel();
    var first = form.querySelector("textarea");
    if (first) { first.focus(); }  // the button pressed is gone: back to the writing
    if (which === "theirs") {
      say("You kept the version saved elsewhere" + (found.at ? " (saved at " + found.at + ")" : "") +
          ". The text from this page was not saved.");
      return;
    }
    save();
  }

  // The counter shows only from data-count-from (near the limit) on, and only then describes
  // the box. It is not a live region (every key would be read out): crossing into "near" or
  // "over", or back, is said once in a status region of its own.
  var counterStatus = null;
  function sayCount(text) {
    if (!counterStatus) {
      counterStatus = document.createElement("p");
      counterStatus.className = "visually-hidden";
      counterStatus.setAttribute("role", "status");
      form.appendChild(counterStatus);
    }
    counterStatus.textContent = text;
  }

  function describedBy(area, id, on) {
    var ids = (area.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) {
      return x && x !== id;
    });
    if (on) { ids.unshift(id); }
    if (ids.length) { area.setAttribute("aria-describedby", ids.join(" ")); }
    else { area.removeAttribute("aria-describedby"); }
  }

  function updateCounters() {
    Array.prototype.forEach.call(form.querySelectorAll("textarea[data-limit]"), function (area) {
      updateCounter(area, false);
    });
  }

  function updateCounter(area, typing) {
    var counter = form.querySelector('[data-counter-for="' + area.id + '"]');
    if (!counter) { return; }
    var limit = parseInt(area.getAttribute("data-limit"), 10);
    var from = parseInt(area.getAttribute("data-count-from"), 10) || 0;
    // Count characters as the server does (code points): an emoji is one, not two UTF-16 units.
    var length = Array.from(area.value.replace(/\r\n/g, "\n")).length;
    var state = length > limit ? "over" : length >= from ? "near" : "below";
    counter.textContent = length.toLocaleString() + " / " + limit.toLocaleString() + " characters" +
      (length > limit ? " — " + (length - limit).toLocaleString() + " too many; please shorten it" : "");
    counter.classList.toggle("over", state === "over");
    counter.hidden = state === "below";
    describedBy(area, counter.id, state !== "below");
    var before = counter.getAttribute("data-state");
    counter.setAttribute("data-state", state);
    if (!typing || state === before) { return; }
    if (state === "over") {
      sayCount((length - limit).toLocaleString() + " characters too many in this answer; please shorten it.");
    } else if (state === "near") {
      sayCount((limit - length).toLocaleString() + " characters left in this answer.");
    }
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(save, delay);
  }

  // POST the form's data; resolves to {ok, status, json}, rejects on no answer in time.
  function send(body) {
    var controller = window.AbortController ? new AbortController() : null;
    var timeout = null;
    var gaveUp = new Promise(function (resolve, reject) {
      timeout = setTimeout(function () {
        if (controller) { controller.abort(); }
        reject(new Error("no answer in time"));
      }, SAVE_TIMEOUT_MS);
    });
    var answered = fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" },
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { ok: response.ok, status: response.status, json: json };
      });
    });
    return Promise.race([answered, gaveUp]).then(function (result) {
      clearTimeout(timeout);
      return result;
    }, function (error) {
      clearTimeout(timeout);
      throw error;
    });
  }

  function unlock() {
    Array.prototype.forEach.call(form.querySelectorAll("textarea"), function (el) { el.readOnly = false; });
  }

  function save() {
    clearTimeout(timer);
    if (!dirty || submitting || conflict) { return; }
    if (saving) { again = true; return; }
    saving = true;
    dirty = false;
    var body = new FormData(form);
    body.delete("action");
    var resolving = resolveNext;
    resolveNext = null;
    if (resolving) {
      body.set("resolve", resolving);
      // The joined text comes back from the server: no typing meanwhile, or it would be lost.
      Array.prototype.forEach.call(form.querySelectorAll("textarea"), function (el) { el.readOnly = true; });
    }
    var sent = draftFields(function (name) { return body.get(name); });
    say("Saving…");
    send(body).then(function (result) {
      saving = false;
      unlock();
      if (result.ok && result.json.saved) {
        retryIndex = 0;
        unanswered = [];
        setVersion(result.json.version);
        serverSavedAt = Date.parse(result.json.saved_at) || Date.now();
        if (result.json.fields) { putFields(result.json.fields); }  // "Keep both": the joined text
        if (!dirty) { forgetLocal(); } else { keepLocally(); }  // still unsaved: on the new version
        say("Draft saved at " + result.json.saved_at_display + ".");
      } else if (result.status === 409 && result.json.conflict) {
        dirty = true;
        if (unanswered.some(function (earlier) { return sameDraft(result.json.theirs, earlier); })) {
          // What is "saved elsewhere" is this page's own earlier save, whose answer never came.
          unanswered = [];
          setVersion(result.json.version);
          again = true;
        } else {
          showConflict({ version: result.json.version, seen: version(), theirs: result.json.theirs || {},
                         at: result.json.saved_at_display || "" });
          keepLocally();
          say("Not saved: this draft was also changed in another tab or on another device. Both " +
              "versions are shown above your answers: choose which to keep.", true);
        }
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
        if (result.status >= 500) { unanswered.push(sent); }  // it may have been saved all the same
        if (resolving) { resolveNext = resolving; }
        retryLater();
      }
      if (again) { again = false; save(); }
      sendWaitingForm();
    }).catch(function () {
      // No answer (offline, or none in time): it may still have reached the server.
      saving = false;
      unlock();
      dirty = true;
      unanswered.push(sent);
      if (resolving) { resolveNext = resolving; }
      retryLater();
      sendWaitingForm();
    });
  }

  // "Send" or "Save draft" pressed while an autosave was on its way: the post waits for that
  // answer, so that it carries the version the autosave made (else this very page would look
  // like another tab to the server). A conflict found meanwhile is hers to settle first.
  var waitingSubmit = null;
  function sendWaitingForm() {
    if (!waitingSubmit || saving) { return; }
    var button = waitingSubmit.button;
    waitingSubmit = null;
    if (conflict) { return; }
    if (form.requestSubmit) { form.requestSubmit(button || undefined); } else if (button) { button.click(); } else { form.submit(); }
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
    if (event.target.tagName === "TEXTAREA") { updateCounter(event.target, true); }
    schedule(TYPING_PAUSE_MS);
  });
  form.addEventListener("change", function () {
    dirty = true;
    typed = true;
    keepLocally();
    schedule(TYPING_PAUSE_MS);
  });
  form.addEventListener("focusout", function () { if (dirty) { save(); } });
  form.addEventListener("submit", function (event) {
    if (saving) {
      event.preventDefault();
      waitingSubmit = { button: event.submitter || null };
      say("Saving… then sending.");
      return;
    }
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

  updateCounters();
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
