// The public form's small helpers; the form works without them.
(function () {
  "use strict";
  // After a failed submission, take keyboard and screen-reader users to the first field to fix.
  var invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) { invalid.focus(); }
  // Inside the embed's iframe: tell the host page how tall we are, so it can size the frame.
  if (window.parent === window) { return; }
  function report() {
    window.parent.postMessage({ callbackFormHeight: document.documentElement.scrollHeight }, "*");
  }
  window.addEventListener("load", report);
  if (window.ResizeObserver) { new ResizeObserver(report).observe(document.body); }
  report();
})();
