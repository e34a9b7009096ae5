// Session notes that save themselves (the shared note, the private clinical note, a pair
// member's note): a few seconds after typing stops, and when she leaves the box, what she typed
// is posted as her draft (JSON, CSRF token in the header). A draft is hers alone: only the
// note's Save shares it (or makes it part of the clinical note). Each box marked
// [data-note-draft][data-note-draft-url] is one note (a member's edit of a note of hers names it:
// [data-note-id]; her draft of it keeps the readers she chose, a clinical draft its template);
// its status line says which it is now:
// "Saved as a draft at 10:42 — not yet shared", or what went wrong, and her text always stays.
// Once the server has her text, the box's defaultValue becomes that text: keep-unsent.js (which
// asks before leaving with unsent text, and keeps it when another form on the page is sent)
// then knows it is not unsent any more. Text the server has not got keeps its warning.
// The clinical note's template picker switches its fields here without a reload, every word
// kept (the same rule as the server's, app/therapy_sessions/note_templates.py: switched()).
(function () {
  "use strict";
  var boxes = Array.prototype.slice.call(document.querySelectorAll("[data-note-draft][data-note-draft-url]"));
  if (!boxes.length || !window.fetch || !window.JSON) { return; }
  var TYPING_PAUSE_MS = 2500;
  var SAVE_TIMEOUT_MS = 8000;
  var RETRY_STEPS_MS = [3000, 6000, 12000, 30000];
  var KEPT = { shared: "not yet shared", clinical: "not yet saved to the note", member: "not yet added" };

  function node(tag, className, text) {
    var made = document.createElement(tag);
    if (className) { made.className = className; }
    if (text !== undefined) { made.textContent = text; }
    return made;
  }

  function Note(box) {
    this.box = box;
    this.kind = box.getAttribute("data-note-draft");
    this.url = box.getAttribute("data-note-draft-url");
    this.prefix = box.getAttribute("data-note-prefix") || "";
    this.noteId = box.getAttribute("data-note-id") || "";
    this.form = box.tagName === "FORM" ? box : box.closest("form");
    this.status = box.querySelector("[data-note-status]");
    if (!this.status) {  // a member's first note has no status line yet
      this.status = node("p", "note-status", "");
      this.status.setAttribute("data-note-status", "");
      this.status.setAttribute("role", "status");
      var button = box.querySelector("button[type=submit]:not([data-switch-template])");
      box.insertBefore(this.status, button && button.parentNode === box ? button : null);
    }
    this.kept = this.status.getAttribute("data-kept") || KEPT[this.kind];
    this.base = box.querySelector('input[name="' + this.prefix + 'version"]');
    this.seen = box.querySelector('input[name="' + this.prefix + 'draft_version"]');
    this.dirty = false;
    this.saving = false;
    this.again = false;
    this.stopped = false;   // a 409: no more autosaves until she saves or reloads
    this.timer = null;
    this.retryIndex = 0;
    this.waiters = [];
  }

  Note.prototype.say = function (text, failed) {
    this.status.textContent = text;
    this.status.classList.toggle("failed", !!failed);
    this.status.classList.remove("is-draft");
  };

  Note.prototype.areas = function () {
    return Array.prototype.slice.call(this.box.querySelectorAll("textarea"));
  };

  Note.prototype.templateName = function () {
    var input = this.box.querySelector("input[data-template-name]");
    return input ? input.value : "";
  };

  // What a draft holds: {body} or, on a template, {sections: [[label, text], ...]}.
  Note.prototype.content = function () {
    var prefix = this.prefix;
    if (this.templateName()) {
      var sections = [];
      Array.prototype.forEach.call(this.box.querySelectorAll('textarea[name^="' + prefix + 'sections-"]'), function (area) {
        var index = area.name.slice((prefix + "sections-").length);
        var label = area.form ? area.form.querySelector('input[name="' + prefix + "labels-" + index + '"]') : null;
        sections.push([label ? label.value : "", area.value]);
      });
      return { body: "", sections: sections };
    }
    var body = this.box.querySelector('textarea[name="' + prefix + 'body"]');
    return { body: body ? body.value : "", sections: null };
  };

  Note.prototype.schedule = function (delay) {
    var note = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { note.save(); }, delay);
  };

  Note.prototype.token = function () {
    var input = this.form ? this.form.querySelector('input[name$="csrf_token"]') : null;
    return input ? input.value : "";
  };

  Note.prototype.save = function () {
    clearTimeout(this.timer);
    if (!this.dirty || this.stopped || submitting) { return; }
    if (this.saving) { this.again = true; return; }
    var base = this.base ? parseInt(this.base.value, 10) : NaN;
    if (isNaN(base)) { return; }
    var note = this;
    var content = this.content();
    var payload = { kind: this.kind, body: content.body, base_version: String(base),
                    draft_version: this.seen ? this.seen.value : "" };
    if (content.sections) {
      payload.labels = content.sections.map(function (s) { return s[0]; });
      payload.sections = content.sections.map(function (s) { return s[1]; });
      payload.template_name = this.templateName();
    }
    if (this.kind === "member") {
      var chosen = this.box.querySelector('input[name="' + this.prefix + 'visibility"]:checked');
      if (chosen) { payload.visibility = chosen.value; }
      if (this.noteId) { payload.note_id = this.noteId; }
    }
    var sentValues = this.areas().map(function (area) { return [area, area.value]; });
    this.saving = true;
    this.dirty = false;
    this.say("Saving a draft…");
    var controller = window.AbortController ? new AbortController() : null;
    var gaveUp = setTimeout(function () { if (controller) { controller.abort(); } }, SAVE_TIMEOUT_MS);
    fetch(this.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": this.token(), "X-Requested-With": "fetch" },
      // Flat text, as every JSON body here must be (app/web/input_guard.py).
      body: JSON.stringify(payload),
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      // Signed out meanwhile: the request was sent on to the sign-in page.
      var signedOut = response.redirected && /\/login(\/|$)/.test(new URL(response.url).pathname);
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: signedOut ? 401 : response.status, json: json };
      });
    }).then(function (result) {
      clearTimeout(gaveUp);
      note.answered(result, sentValues);
    }, function () {
      clearTimeout(gaveUp);
      note.answered(null, sentValues);
    });
  };

  Note.prototype.answered = function (result, sentValues) {
    this.saving = false;
    var json = result ? result.json || {} : {};
    var message = json.message || [json.error, json.detail].filter(Boolean).join(". ");
    if (result && result.status === 200 && json.saved) {
      this.retryIndex = 0;
      if (this.seen) { this.seen.value = json.version || ""; }
      // The server has this text now: leaving the page loses nothing (keep-unsent.js).
      sentValues.forEach(function (pair) { if (pair[0].value === pair[1]) { pair[0].defaultValue = pair[1]; } });
      if (json.draft) {
        this.say("Saved as a draft at " + json.saved_at_display + " — " + this.kept + "." +
                 (json.stale ? " The note was saved again since this draft began: Save to merge them." : ""));
        this.status.classList.add("is-draft");
      } else {
        this.say(message);
      }
    } else if (result && result.status === 409) {
      this.stopped = true;
      this.dirty = true;
      this.say(message || "Not saved as a draft: this note was changed elsewhere. Your text is still here.", true);
    } else if (result && (result.status === 400 || result.status === 404 || result.status === 413)) {
      this.dirty = true;  // refused as sent: retried only once she changes it
      this.say((message || "Not saved as a draft.") + (/still here/.test(message) ? "" : " Your text is still here."), true);
    } else if (result && (result.status === 401 || result.status === 403)) {
      this.dirty = true;
      this.say("Not saved as a draft: you may have been signed out. Your text is still here; keep " +
               "this tab open, sign in again in another tab, then come back.", true);
      this.retryLater();
    } else {
      this.dirty = true;
      this.retryLater();
    }
    if (this.again) { this.again = false; this.save(); }
    if (!this.saving) {
      var waiters = this.waiters;
      this.waiters = [];
      waiters.forEach(function (go) { go(); });
    }
  };

  Note.prototype.retryLater = function () {
    var wait = RETRY_STEPS_MS[Math.min(this.retryIndex, RETRY_STEPS_MS.length - 1)];
    this.retryIndex += 1;
    this.say("Not saved as a draft yet — your text is still here; trying again in " +
             Math.round(wait / 1000) + " seconds.", true);
    this.schedule(wait);
  };

  Note.prototype.changed = function (event) {
    if (event && event.target && event.target.tagName === "TEXTAREA") { counter(event.target); }
    if (this.stopped) { return; }
    this.dirty = true;
    this.schedule(TYPING_PAUSE_MS);
  };

  // --- over the limit: say so as she types (the server refuses it the same way) ---------------

  function counter(area) {
    var limit = parseInt(area.getAttribute("data-limit"), 10);
    if (!limit) { return; }
    var id = area.id + "-count";
    var shown = document.getElementById(id);
    var length = Array.from(area.value.replace(/\r\n/g, "\n")).length;
    if (length <= limit) {
      if (shown) { shown.parentNode.removeChild(shown); }
      return;
    }
    if (!shown) {
      shown = node("p", "hint counter over");
      shown.id = id;
      shown.setAttribute("aria-live", "polite");
      area.insertAdjacentElement("afterend", shown);
    }
    shown.textContent = length.toLocaleString() + " / " + limit.toLocaleString() + " characters — " +
      (length - limit).toLocaleString() + " too many; please shorten it.";
  }

  // --- the clinical note's template -----------------------------------------------------------

  function joined(sections) {
    return sections.filter(function (s) { return s[1].trim(); })
      .map(function (s) { return s[0] + "\n" + s[1].trim(); }).join("\n\n");
  }

  // The same rule as note_templates.switched(): sections of the same name keep their text,
  // everything else goes, under its old label, into the first section (or is the free text).
  function switched(content, labels) {
    if (!labels.length) { return { body: content.sections ? joined(content.sections) : content.body, sections: [] }; }
    var texts = {}, leftovers = [], byName = {};
    labels.forEach(function (label) { texts[label] = ""; byName[label.toLocaleLowerCase()] = label; });
    if (content.sections) {
      content.sections.forEach(function (s) {
        var target = byName[s[0].toLocaleLowerCase()];
        if (target !== undefined && !texts[target]) { texts[target] = s[1]; }
        else if (s[1].trim()) { leftovers.push(s[0] + "\n" + s[1].trim()); }
      });
    } else if (content.body.trim()) {
      leftovers.push(content.body);
    }
    if (leftovers.length) {
      var first = labels[0];
      texts[first] = (texts[first].trim() ? [texts[first].replace(/\s+$/, "")] : []).concat(leftovers).join("\n\n");
    }
    return { body: "", sections: labels.map(function (label) { return [label, texts[label]]; }) };
  }

  function textarea(id, name, value, describedBy) {
    var area = node("textarea");
    area.id = id;
    area.name = name;
    area.rows = 4;
    area.setAttribute("data-limit", "20000");
    area.setAttribute("autocomplete", "off");
    if (describedBy) { area.setAttribute("aria-describedby", describedBy); }
    area.value = value;
    return area;
  }

  // The fields the server draws (templates/therapy_sessions/_note_fields.html), drawn here.
  function drawFields(note, holder, template, result) {
    var prefix = note.prefix;
    var nameInput = note.box.querySelector("input[data-template-name]");
    nameInput.value = template ? template.name : "";
    while (holder.firstChild) { holder.removeChild(holder.firstChild); }
    holder.appendChild(nameInput);
    if (!template) {
      var field = node("div", "field");
      var label = node("label", null, "Private clinical note — only you");
      label.htmlFor = prefix + "body";
      field.appendChild(label);
      field.appendChild(textarea(prefix + "body", prefix + "body", result.body, prefix + "body-help"));
      var hint = node("p", "hint", "Kept apart from everything shared. No client ever sees it.");
      hint.id = prefix + "body-help";
      field.appendChild(hint);
      holder.appendChild(field);
      return;
    }
    var fieldset = node("fieldset", "note-sections");
    fieldset.appendChild(node("legend", null, "Private clinical note · " + template.name));
    result.sections.forEach(function (section, i) {
      var id = prefix + "sections-" + i;
      var hintText = template.sections[i] ? template.sections[i][1] : "";
      var row = node("div", "field");
      var label = node("label", null, section[0]);
      label.htmlFor = id;
      row.appendChild(label);
      if (hintText) {
        var hint = node("p", "hint section-hint", hintText);
        hint.id = id + "-help";
        row.appendChild(hint);
      }
      row.appendChild(textarea(id, id, section[1], hintText ? id + "-help" : ""));
      var hidden = node("input");
      hidden.type = "hidden";
      hidden.name = prefix + "labels-" + i;
      hidden.value = section[0];
      row.appendChild(hidden);
      fieldset.appendChild(row);
    });
    holder.appendChild(fieldset);
  }

  function setUpPicker(note) {
    var picker = note.box.querySelector("select[name='" + note.prefix + "template']");
    var button = note.box.querySelector("[data-switch-template]");
    var holder = note.box.querySelector("[data-note-fields]");
    var data = note.box.querySelector("script[data-note-templates]");
    if (!picker || !button || !holder || !data) { return; }
    var templates;
    try { templates = JSON.parse(data.textContent); } catch (e) { return; }  // the button posts instead
    // What a switch did stays said here (the status line moves on to the draft being kept).
    var told = node("p", "hint switch-note");
    told.setAttribute("role", "status");
    picker.closest(".picker-row").insertAdjacentElement("afterend", told);
    function tell(text) { told.textContent = text; }
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (picker.value === "kept") {  // the sections it was written on: nothing to switch to
        tell("The note stays on the sections it was written on.");
        return;
      }
      var template = templates.filter(function (t) { return t.key === picker.value; })[0] || null;
      var labels = template ? template.sections.map(function (s) { return s[0]; }) : [];
      var before = note.content();
      var current = before.sections ? before.sections.map(function (s) { return s[0]; }) : [];
      if (note.templateName() === (template ? template.name : "") && current.join("\n") === labels.join("\n")) {
        tell(template ? "The note is on " + template.name + " already." : "The note is free text already.");
        return;
      }
      var hadWords = before.body.trim() || (before.sections || []).some(function (s) { return s[1].trim(); });
      drawFields(note, holder, template, switched(before, labels));
      var first = holder.querySelector("textarea");
      if (first) { first.focus(); }
      tell("The private clinical note is now on " + (template ? "the " + template.name + " sections" : "free text") +
               "." + (hadWords ? (template ? " Your words are kept: sections of the same name keep theirs, the rest is in “" +
               labels[0] + "”." : " Your words are kept, each section under its name.") : "") + " Not saved yet.");
      note.changed();
    });
  }

  // --- the page -------------------------------------------------------------------------------

  var submitting = false;
  var notes = boxes.map(function (box) { return new Note(box); });
  notes.forEach(function (note) {
    var box = note.box;
    box.addEventListener("input", function (event) { note.changed(event); });
    note.box.addEventListener("focusout", function (event) {
      if (event.target.tagName === "TEXTAREA" && note.dirty) { note.save(); }
    });
    note.areas().forEach(function (area) { area.setAttribute("autocomplete", "off"); counter(area); });
    if (note.kind === "clinical") { setUpPicker(note); }
    // Filled from a post the server refused: the server may not have this text yet, so it is
    // unsent (keep-unsent.js asks before leaving) until the autosave has it.
    if (box.hasAttribute("data-note-unsaved")) {
      note.areas().forEach(function (area) {
        if (!area.value.trim()) { return; }
        area.value = area.value;  // its own value from now on (else it follows the default)
        area.defaultValue = "";
      });
    }
    // Typed before this script loaded (a slow connection), or filled as above: a change to keep.
    if (note.areas().some(function (area) { return area.value !== area.defaultValue; })) { note.changed(); }
  });

  // A Save pressed while a draft is on its way waits for its answer, so that the post names the
  // draft that answer made (else the note would be saved and that draft left behind).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var busy = notes.filter(function (note) { return note.form === form && note.saving; });
    if (busy.length) {
      event.preventDefault();
      var submitter = event.submitter || null;
      var left = busy.length;
      busy.forEach(function (note) {
        note.waiters.push(function () {
          left -= 1;
          if (left === 0) { if (form.requestSubmit) { form.requestSubmit(submitter); } else { form.submit(); } }
        });
      });
      return;
    }
    if (notes.some(function (note) { return note.form === form; })) {
      submitting = true;
      notes.forEach(function (note) { clearTimeout(note.timer); });
    }
  });
  window.addEventListener("pageshow", function () { submitting = false; });
  window.addEventListener("online", function () { notes.forEach(function (note) { if (note.dirty) { note.save(); } }); });
})();
