// The hosted form's helpers: what only the browser knows (time zone, the page around the
// form), the proof of work, and, inside an iframe, the page's height for the blog around it.
(function () {
  "use strict";
  // In a frame: tell the embedding page how tall this page is, whenever that changes, so
  // the frame fits it (embed.js listens). Only the origins allowed to frame us hear it.
  if (window.self !== window.top) {
    document.body.classList.add("framed");
    var origins = (document.body.getAttribute("data-frame-origins") || "").split(" ").filter(Boolean);
    origins.push(window.location.origin);
    var last = 0;
    var tell = function (force) {
      var height = Math.ceil(document.body.getBoundingClientRect().height);
      if (!force && height === last) return;
      last = height;
      origins.forEach(function (o) { window.parent.postMessage({ tendHeight: height }, o); });
    };
    if (window.ResizeObserver) new ResizeObserver(function () { tell(false); }).observe(document.body);
    window.addEventListener("load", function () { tell(true); });
    window.addEventListener("message", function (event) {
      if (event.source === window.parent && event.data === "tend:height?" && origins.indexOf(event.origin) >= 0) tell(true);
    });
    tell(true);
  }

  var form = document.getElementById("signup-form");
  if (!form) return;
  try {
    form.elements.timezone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) { /* no Intl: the server uses its default zone */ }
  if (!form.elements.page.value) form.elements.page.value = document.referrer || window.location.href;
  var summary = document.getElementById("form-banner");
  if (summary) summary.focus();

  // The proof of work starts as the page opens; a press before it is done waits for it.
  var raw = form.getAttribute("data-challenge");
  if (!raw || form.elements.altcha.value || typeof tendSolve !== "function") return;
  var solved = false, waiting = null;
  tendSolve(JSON.parse(raw), function (payload) {
    solved = true;
    if (payload) form.elements.altcha.value = payload;
    if (waiting) {
      var submitter = waiting;
      waiting = null;
      if (form.requestSubmit) form.requestSubmit(submitter.form ? submitter : undefined); else form.submit();
    }
  });
  form.addEventListener("submit", function (event) {
    if (solved) return;
    event.preventDefault();
    waiting = event.submitter || {};
    form.setAttribute("aria-busy", "true");
  });
})();
