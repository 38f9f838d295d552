// The hosted form's helpers: what only the browser knows (time zone, the page around the
// form), the proof of work, and, inside an iframe, the page's height for the blog around it.
(function () {
  "use strict";
  // In a frame: tell the embedding page how tall this page is, whenever that changes, so
  // the frame fits it (embed.js listens). Only the page around the frame hears it, and only
  // if its origin may frame us: posting to any other origin is refused by the browser, with
  // an error in the blog's console.
  if (window.self !== window.top) {
    document.body.classList.add("framed");
    var allowed = (document.body.getAttribute("data-frame-origins") || "").split(" ").filter(Boolean);
    allowed.push(window.location.origin);
    // The parent's origin, when the browser tells it (Chromium, Safari); embed.js's question
    // tells it too. Until then (Firefox), each allowed origin is tried.
    var parentOrigin = null;
    try {
      var ancestors = window.location.ancestorOrigins;
      if (ancestors && ancestors.length) parentOrigin = ancestors[0];
    } catch (e) { /* not told */ }
    var targets = function () {
      if (parentOrigin === null) return allowed;
      return allowed.indexOf(parentOrigin) >= 0 ? [parentOrigin] : [];
    };
    var last = 0;
    var tell = function (force) {
      var height = Math.ceil(document.body.getBoundingClientRect().height);
      if (!force && height === last) return;
      last = height;
      targets().forEach(function (o) { window.parent.postMessage({ tendHeight: height }, o); });
    };
    if (window.ResizeObserver) new ResizeObserver(function () { tell(false); }).observe(document.body);
    window.addEventListener("load", function () { tell(true); });
    window.addEventListener("message", function (event) {
      if (event.source !== window.parent || event.data !== "tend:height?" || allowed.indexOf(event.origin) < 0) return;
      parentOrigin = event.origin;
      tell(true);
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
