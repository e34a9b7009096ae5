// "Not saved yet": send the kept form again by itself, waiting longer after each attempt
// (5 s, 10 s, 20 s, then every 30 s). Typing in a kept text pauses the countdown.
(function () {
  var form = document.querySelector("[data-retry-form]");
  if (!form) { return; }
  var status = document.querySelector("[data-retry-status]");
  var attempt = parseInt(form.getAttribute("data-retry-attempt"), 10) || 1;
  var left = Math.min(5 * Math.pow(2, attempt - 1), 30);
  var paused = false;

  function tick() {
    if (paused) { return; }
    if (left <= 0) {
      if (status) { status.textContent = "now…"; }
      form.submit();
      return;
    }
    if (status) { status.textContent = "in " + left + " second" + (left === 1 ? "" : "s"); }
    left -= 1;
    setTimeout(tick, 1000);
  }

  form.addEventListener("input", function () {
    paused = true;
    if (status) { status.textContent = "when you press the button (paused while you type)"; }
  });
  tick();
})();
