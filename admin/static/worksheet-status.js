// The worksheet page: while the PDF is rebuilt, ask every two seconds how it stands and say
// so in place, without reloading the page (the form keeps what is being typed).
(function () {
  var box = document.getElementById("build-status");
  if (!box || box.dataset.state !== "building" || !window.fetch) return;
  var words = {
    ready: function (s) { return "ready: readers get version " + s.version + "."; },
    failed: function (s) { return "the rebuild for version " + s.version + " failed. Readers still get the one before it."; }
  };
  function ask() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s || s.state === "building") { setTimeout(ask, 2000); return; }
        box.className = "build " + s.state;
        box.dataset.state = s.state;
        box.querySelector(".state").textContent = words[s.state] ? words[s.state](s) : s.state;
        box.querySelector(".error-text").textContent = s.error || "";
      })
      .catch(function () { setTimeout(ask, 5000); });
  }
  setTimeout(ask, 2000);
})();
