// The email editor's live preview: a moment after the words change (or at once when the
// reader state does), the unsaved fields go to the preview endpoint with the page's CSRF
// token, and the answer fills the sandboxed frame, the subject and the text part. Nothing
// is stored. Problems are shown next to their field, as the server names them. Without
// this script the Preview button does the same through the server.
(function () {
  "use strict";
  var form = document.getElementById("editor");
  if (!form || !window.fetch || !window.FormData) return;
  var frame = document.getElementById("preview-frame");
  var subject = document.querySelector(".preview dd.subject");
  var text = document.querySelector(".preview pre.email-text");
  var what = document.getElementById("preview-what");
  var stateLabel = document.getElementById("preview-state");
  var reader = document.getElementById("reader");
  var WORDS = ["subject", "preheader", "body", "offset"];
  var timer = null;
  var asked = 0;

  function showErrors(errors) {
    form.querySelectorAll("[data-error-for]").forEach(function (slot) {
      var name = slot.getAttribute("data-error-for");
      var field = document.getElementById(name);
      var messages = errors[name] || [];
      slot.textContent = "";
      messages.forEach(function (message) {  // each problem its own line
        var line = document.createElement("p");
        line.textContent = message;
        slot.appendChild(line);
      });
      slot.hidden = messages.length === 0;
      if (field) {
        if (messages.length) field.setAttribute("aria-invalid", "true");
        else field.removeAttribute("aria-invalid");
      }
    });
  }

  function update() {
    clearTimeout(timer);
    var mine = ++asked;
    fetch(form.getAttribute("data-preview"), {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().then(function (answer) {
          return { status: response.status, answer: answer };
        });
      })
      .then(function (result) {
        if (mine !== asked) return; // a newer preview is on its way
        var answer = result.answer;
        if (result.status === 200) {
          showErrors({});
          frame.srcdoc = answer.html;
          subject.textContent = answer.subject;
          text.textContent = answer.text;
          what.textContent = "Your unsaved words";
        } else if (result.status === 422) {
          showErrors(answer.errors || {});
          var other = (answer.errors && answer.errors.state) || [];
          what.textContent = other.length
            ? other.join(" ")
            : "The last words that could be shown (fix the problems marked first)";
        } else {
          what.textContent = "The preview could not be updated: this page has expired. Copy your words, then reload the page";
        }
      })
      .catch(function () {
        if (mine === asked) what.textContent = "The preview could not be updated (no answer from Tend)";
      });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(update, 400);
  }

  WORDS.forEach(function (name) {
    var field = document.getElementById(name);
    if (field) field.addEventListener("input", soon);
  });
  if (reader) {
    reader.addEventListener("change", function () {
      stateLabel.textContent = reader.options[reader.selectedIndex].text;
      update();
    });
  }
  // The Preview button needs no trip through the server here.
  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.hasAttribute("data-preview-button")) {
      event.preventDefault();
      update();
    }
  });
})();
