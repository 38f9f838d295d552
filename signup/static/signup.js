// Fills what only the browser knows: the reader's time zone and the page around the form.
(function () {
  var form = document.getElementById("signup-form");
  if (!form) return;
  try {
    form.elements.timezone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) { /* no Intl: the server uses its default zone */ }
  if (!form.elements.page.value) form.elements.page.value = document.referrer || window.location.href;
  if (window.self !== window.top) document.body.classList.add("framed");
  var summary = document.getElementById("form-banner");
  if (summary) summary.focus();
})();
