// A refused post's error summary (templates/homework/reflections/_error_summary.html) takes the
// focus on load, so she starts where the problems are listed (autofocus is for form controls
// only). Following one of its links focuses that box, or the first choice of a rating group,
// with its question scrolled into view above it (a bare jump would hide the label above the
// top edge). Without JavaScript the links still jump to the field.
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) { return; }
  summary.focus();

  function question(field) {
    var group = field.closest("fieldset");
    if (field.type === "radio" && group) { return group.querySelector("legend") || group; }
    return document.querySelector('label[for="' + field.id + '"]') || field;
  }

  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    if (!link) { return; }
    var field = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
    if (!field) { return; }
    event.preventDefault();
    question(field).scrollIntoView();
    field.focus({ preventScroll: true });
  });
})();
