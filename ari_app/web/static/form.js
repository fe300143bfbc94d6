// The public form's small helpers; the form works without them.
(function () {
  "use strict";
  // After a failed submission, take keyboard and screen-reader users to the first field to fix.
  var invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) { invalid.focus(); }
  // The time choice in the zone the browser is in, and only times the typed number may be called at. The
  // page already lists the business's times: without this, "as soon as possible" and those still work.
  var select = document.getElementById("preferred_at");
  var zoneInput = document.querySelector("input[name=tz]");
  var shownInput = document.querySelector("input[name=shown_tz]");
  var zoneLabel = document.querySelector("[data-zone-label]");
  var phone = document.getElementById("phone");
  var browserZone = "";
  try { browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { browserZone = ""; }
  function option(value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }
  function rebuild(choice) {
    var chosen = select.value;
    while (select.options.length > 1) { select.remove(1); }
    while (select.querySelector("optgroup")) { select.removeChild(select.querySelector("optgroup")); }
    choice.days.forEach(function (day) {
      var group = document.createElement("optgroup");
      group.label = day.label;
      day.slots.forEach(function (slot) { group.appendChild(option(slot.value, slot.label)); });
      select.appendChild(group);
    });
    select.value = chosen;
    if (select.value !== chosen) { select.value = ""; }  // that time is not offered for this number
    select.setAttribute("data-zone", choice.zone);
    zoneLabel.textContent = choice.zone_label;
    zoneInput.value = choice.browser_zone;
    shownInput.value = choice.zone;
  }
  function refresh() {
    var query = new URLSearchParams();
    if (browserZone) { query.set("tz", browserZone); }
    if (phone && phone.value.trim()) { query.set("phone", phone.value.trim()); }
    fetch("/form/slots?" + query.toString(), { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (choice) { if (choice && choice.days) { rebuild(choice); } })
      .catch(function () { /* keep the times the page came with */ });
  }
  if (select && zoneInput && shownInput && zoneLabel && window.fetch && window.URLSearchParams) {
    if (browserZone && browserZone !== select.getAttribute("data-zone")) {
      zoneInput.value = browserZone;
      refresh();
    }
    if (phone) { phone.addEventListener("change", refresh); }
  }
  // Inside the embed's iframe: tell the host page how tall we are, so it can size the frame.
  if (window.parent === window) { return; }
  function report() {
    window.parent.postMessage({ callbackFormHeight: document.documentElement.scrollHeight }, "*");
  }
  window.addEventListener("load", report);
  if (window.ResizeObserver) { new ResizeObserver(report).observe(document.body); }
  report();
})();
