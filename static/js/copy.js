// A "Copy" button beside a read-only field: data-copy="<id of the field>". Without JavaScript
// (or a clipboard) the button stays hidden and the field can be selected and copied by hand.
(function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = button.closest(".field") && button.closest(".field").querySelector(".copy-status");
    if (!field || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        if (status) { status.textContent = "Copied. Paste it into your calendar."; }
      }, function () {
        field.focus();
        field.select();
        if (status) { status.textContent = "Copying was not allowed: the address is selected, copy it by hand."; }
      });
    });
    field.addEventListener("focus", function () { field.select(); });
  });
})();
