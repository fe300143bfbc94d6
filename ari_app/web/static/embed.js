// The callback form for any web page: put this tag where the form should appear.
//   <script src="https://callback.example.com/embed.js" async></script>
// or give it a place: <div id="callback"></div> <script src="…/embed.js" data-target="#callback" async></script>
// It adds an iframe of the form (the page at "/", served by us); nothing else is loaded from anywhere.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var base = new URL(script.src);
  var origin = base.origin;
  var src = new URL("/", base);
  src.searchParams.set("embed", "1");
  src.searchParams.set("page_url", window.location.href.split("#")[0]);

  var frame = document.createElement("iframe");
  frame.src = src.toString();
  frame.title = script.getAttribute("data-title") || "Request a callback";
  frame.setAttribute("scrolling", "no");
  frame.style.width = "100%";
  frame.style.maxWidth = "34rem";
  frame.style.border = "0";
  frame.style.display = "block";
  frame.style.height = "640px";

  var selector = script.getAttribute("data-target");
  var place = selector ? document.querySelector(selector) : null;
  if (place) { place.appendChild(frame); } else { script.parentNode.insertBefore(frame, script.nextSibling); }

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) { return; }
    var height = event.data && event.data.callbackFormHeight;
    if (typeof height === "number" && height > 0 && height < 5000) { frame.style.height = Math.ceil(height) + "px"; }
  });
})();
