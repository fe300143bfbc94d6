// The dashboard's live parts: when /admin/events says something changed, fetch the fresh HTML of every
// element marked data-live="<url>" and swap it in. The server renders (and escapes) everything.
(function () {
  "use strict";
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  var status = document.querySelector("[data-live-status]");
  function say(text, state) {
    if (!status) { return; }
    status.textContent = text;
    status.setAttribute("data-state", state);
  }
  if (!regions.length || !window.EventSource) { say("", "off"); return; }

  // Cards that moved or changed get a short highlight; the others stay still.
  function snapshot(region) {
    var seen = {};
    region.querySelectorAll("[data-contact]").forEach(function (card) {
      var column = card.closest("[data-stage]");
      seen[card.getAttribute("data-contact")] = (column ? column.getAttribute("data-stage") : "") + card.innerHTML;
    });
    return seen;
  }
  function markChanged(region, before) {
    var after = snapshot(region);
    region.querySelectorAll("[data-contact]").forEach(function (card) {
      var key = card.getAttribute("data-contact");
      if (before[key] !== after[key]) { card.classList.add("changed"); }
    });
  }

  var busy = false;
  var again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    Promise.all(regions.map(function (region) {
      return fetch(region.getAttribute("data-live"), { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (answer) {
          if (answer.redirected || answer.status === 401) { window.location.reload(); return; }
          if (!answer.ok) { return; }
          return answer.text().then(function (html) {
            var focused = document.activeElement && document.activeElement.getAttribute("data-focus-key");
            var before = snapshot(region);
            region.innerHTML = html;
            markChanged(region, before);
            if (focused) {
              var target = region.querySelector('[data-focus-key="' + focused + '"]');
              if (target) { target.focus(); }
            }
          });
        });
    })).catch(function () { /* the next change tries again */ }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  var source = new EventSource("/admin/events");
  source.addEventListener("ready", function () { say("Live", "on"); });
  source.addEventListener("change", refresh);
  source.addEventListener("error", function () { say("Reconnecting…", "off"); });
})();
