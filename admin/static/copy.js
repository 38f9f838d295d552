// Copy buttons for the embed snippets: shown only when the clipboard can be used.
document.querySelectorAll("[data-copy-target]").forEach(function (button) {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var field = document.getElementById(button.dataset.copyTarget);
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });
});
document.querySelectorAll("textarea[data-copy]").forEach(function (field) {
  field.addEventListener("focus", function () { field.select(); });
});
