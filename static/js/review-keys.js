// Keyboard shortcuts on the therapist's review pages (issue 18). Progressive enhancement: every
// shortcut does what a link or a box on the page already does, and without this script the
// links work as they are.
//   j or n: next (on the queue: the next row; on a reflection: the next one waiting)
//   k or p: previous            f: the feedback box            ?: the list of shortcuts
// A shortcut never fires while she types in a field, nor with Ctrl, Alt or Meta held (those are
// the browser's and the screen reader's). Moving on with unsent feedback in the box follows the
// link as a click would, so keep-unsent.js asks before the page is left: nothing typed is lost.
(function () {
  "use strict";
  var help = document.getElementById("review-keys-help");
  var opener = null;

  function typing(el) {
    if (!el || !el.tagName) { return false; }
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") { return true; }
    if (el.tagName !== "INPUT") { return false; }
    return ["checkbox", "radio", "button", "submit", "reset", "image", "range", "color", "file"]
      .indexOf((el.type || "").toLowerCase()) === -1;
  }

  function say(text) {
    var status = document.getElementById("review-keys-status");
    if (!status) {
      status = document.createElement("p");
      status.id = "review-keys-status";
      status.className = "visually-hidden";
      status.setAttribute("role", "status");
      document.body.appendChild(status);
    }
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  // On the queue: move along the rows (Enter then opens one, as any link).
  function moveInList(step) {
    var items = Array.prototype.slice.call(document.querySelectorAll("[data-queue-item]"));
    if (!items.length) { say("Nothing waiting for review."); return; }
    var at = items.indexOf(document.activeElement);
    var to = at === -1 ? (step > 0 ? 0 : items.length - 1) : at + step;
    if (to < 0 || to >= items.length) {
      say(step > 0 ? "That was the last reflection on this page." : "That was the first reflection on this page.");
      return;
    }
    items[to].focus();
    items[to].scrollIntoView({ block: "nearest" });
  }

  // On a reflection: follow the queue's Previous or Next, as a click on it would.
  function follow(step) {
    var link = document.querySelector(step > 0 ? "[data-review-next]" : "[data-review-prev]");
    if (link) { link.click(); return; }
    say(step > 0 ? "No other reflection is waiting after this one." : "No reflection waits before this one.");
  }

  function move(step) {
    if (help && help.getAttribute("data-page") === "queue") { moveInList(step); } else { follow(step); }
  }

  function focusFeedback() {
    var box = document.getElementById("feedback-body");
    if (!box) { return; }
    box.focus();
    box.scrollIntoView({ block: "center" });
  }

  function openHelp() {
    if (!help || help.open || typeof help.showModal !== "function") { return; }
    opener = document.activeElement;
    help.showModal();
    var close = help.querySelector("[data-keys-close]");
    if (close) { close.focus(); }
  }

  if (help) {
    help.addEventListener("close", function () {
      // Back where she was (Escape closes the dialog natively; the button closes it here).
      if (opener && opener !== document.body && document.contains(opener)) { opener.focus(); }
      opener = null;
    });
    help.addEventListener("click", function (event) {
      if (event.target.closest("[data-keys-close]")) { help.close(); return; }
      // A click on the backdrop (outside the dialog's box) closes it too.
      var box = help.getBoundingClientRect();
      if (event.target === help && event.detail > 0 && (event.clientX < box.left || event.clientX > box.right ||
          event.clientY < box.top || event.clientY > box.bottom)) { help.close(); }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-keys-help]"), function (button) {
    if (!help || typeof help.showModal !== "function") { return; }
    button.hidden = false;
    button.addEventListener("click", openHelp);
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) { return; }
    if (typing(event.target)) { return; }
    if (help && help.open) { return; }  // the dialog has its own keys (Tab, Enter, Escape)
    var key = event.key;
    if (key === "?") {
      event.preventDefault();
      openHelp();
      return;
    }
    if (event.repeat) { return; }  // a held key moves once, never through the whole queue
    if (key === "j" || key === "n") {
      event.preventDefault();
      move(1);
    } else if (key === "k" || key === "p") {
      event.preventDefault();
      move(-1);
    } else if (key === "f" && document.getElementById("feedback-body")) {
      event.preventDefault();
      focusFeedback();
    }
  });
})();
