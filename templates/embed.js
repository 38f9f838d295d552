/* Tend signup embed: paste
 *   <div data-tend-signup><a href="https://YOUR-TEND/signup">Get the worksheet</a></div>
 *   <script src="https://YOUR-TEND/embed.js" async></script>
 * The link stays for readers without JavaScript; with it, the form renders in place.
 * Beside an <iframe src="https://YOUR-TEND/signup">, it sizes the frame to the form instead
 * (the snippet's one-line script before it names the post in ?page=, see the README). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src, window.location.href).origin;
  var MSG = {{ messages | tojson }};
  var POW = {{ challenge_on | tojson }};
{{ solver }}
  var CONSENT = {{ texts.fine_print | tojson }};
  var WORDS = {{ {"button": texts.form.button, "heading": texts.thanks.heading, "text": texts.thanks.text} | tojson }};
  var MAX = {{ field_max | tojson }};
  // Lengths are px and em, never rem: the blog's root font size must not reach the form.
  // .tend resets every inherited property the blog's body would otherwise hand down.
  var CSS = [
    ":host{display:block;max-width:560px}",
    "*,*::before,*::after{box-sizing:border-box}",
    ".tend{all:initial;display:block;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#23302a}",
    "form,.done{display:block;margin:0;padding:1.25em;background:#fbfaf6;border:1px solid #dfe4df;border-radius:8px}",
    "h2{all:unset;display:block;font:400 1.35em/1.3 Georgia,serif;margin:0 0 .5em}",
    "p{margin:0 0 .9em}",
    ".done p{margin:0}",
    ".field{margin:0 0 1em}",
    "label{display:block;font-weight:600;font-size:.95em;margin:0 0 .3em}",
    "input{all:unset;display:block;box-sizing:border-box;width:100%;padding:.65em .75em;font:1em/1.3 system-ui,sans-serif;color:#23302a;background:#fff;border:2px solid #cfd6d0;border-radius:6px}",
    "input[aria-invalid=true]{border-color:#a1261b}",
    "input:focus-visible,button:focus-visible,.banner:focus-visible{outline:3px solid #e0a800;outline-offset:2px}",
    ".error{color:#a1261b;font-weight:600;font-size:.9em;margin:.3em 0 0}",
    ".banner{border-left:4px solid #a1261b;background:#fdeeec;color:#a1261b;font-weight:600;padding:.7em .9em;margin:0 0 1em;border-radius:4px}",
    "button{all:unset;display:inline-block;cursor:pointer;background:#2f6b4f;color:#fff;font:700 1em/1.2 system-ui,sans-serif;padding:.8em 1.3em;border-radius:6px;min-height:44px;box-sizing:border-box;text-align:center}",
    "button[disabled]{opacity:.6;cursor:progress}",
    ".fine{color:#5d6b63;font-size:.85em;margin:.9em 0 0}",
    ".trap{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}",
    ".hint{font-size:.9em;margin:.3em 0 0}",
    ".hint button{all:unset;cursor:pointer;font-weight:700;color:#2f6b4f;text-decoration:underline}",
    "[hidden]{display:none!important}"
  ].join("\n");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function field(name, label, type, autocomplete, max) {
    var wrap = el("div", { "class": "field" });
    wrap.appendChild(el("label", { "for": "tend-" + name }, label));
    var input = el("input", { id: "tend-" + name, name: name, type: type, autocomplete: autocomplete, maxlength: String(max), required: "" });
    var error = el("p", { "class": "error", id: "tend-" + name + "-error", hidden: "" });
    wrap.appendChild(input);
    wrap.appendChild(error);
    return { wrap: wrap, input: input, error: error };
  }

  function mount(container) {
    var shadow;
    // No shadow DOM (an old browser, or an element that cannot host one): keep the plain
    // link, since the form's styles must never land in the blog's own page.
    try { shadow = container.attachShadow({ mode: "open" }); } catch (e) { return; }
    shadow.appendChild(el("style", {}, CSS));
    var root = el("div", { "class": "tend" });
    shadow.appendChild(root);
    var form = el("form", { novalidate: "" });
    var banner = el("div", { "class": "banner", role: "alert", tabindex: "-1", hidden: "" }, MSG.banner);
    var name = field("name", "Your name", "text", "name", MAX.name);
    var email = field("email", "Your email", "email", "email", MAX.email);
    var trap = el("div", { "class": "trap", "aria-hidden": "true" });
    var website = el("input", { name: "website", type: "text", tabindex: "-1", autocomplete: "off" });
    trap.appendChild(website);
    var button = el("button", { type: "submit" }, WORDS.button);
    form.appendChild(banner);
    form.appendChild(name.wrap);
    form.appendChild(email.wrap);
    form.appendChild(trap);
    form.appendChild(button);
    form.appendChild(el("p", { "class": "fine" }, CONSENT));
    var done = el("div", { "class": "done", role: "status", tabindex: "-1", hidden: "" });
    done.appendChild(el("h2", {}, WORDS.heading));
    if (WORDS.text) done.appendChild(el("p", {}, WORDS.text));
    while (container.firstChild) container.removeChild(container.firstChild);
    root.appendChild(form);
    root.appendChild(done);

    // The proof of work: fetched and solved as the form appears, so it is ready by the
    // time the reader presses the button (a press before that waits for it).
    var solution = null, solving = null, pending = null, refusal = null;
    // Tend refuses a page whose origin may not post (EMBED_ALLOWED_ORIGINS): the reader
    // gets the banner, and the blog's owner the reason, in the browser's console.
    function refused(j) {
      if (!j || j.reason !== "origin") return false;
      refusal = j.detail || "This page's origin may not post signups to Tend (EMBED_ALLOWED_ORIGINS).";
      if (window.console) console.error("Tend: " + refusal);
      return true;
    }
    // A refused cross-origin post fails without a readable answer: ask the challenge URL,
    // which says why in words this page may read.
    function diagnose() {
      return fetch(base + "/api/challenge", { credentials: "omit" })
        .then(function (r) { return r.status === 403 ? r.json() : null; })
        .then(refused)
        .catch(function () { return false; });
    }
    function prepare() {
      if (!POW || refusal) return;
      solution = null;
      solving = fetch(base + "/api/challenge", { credentials: "omit" })
        .then(function (r) {
          if (r.status === 403) return r.json().then(function (j) { refused(j); throw j; });
          return r.json();
        })
        .then(function (ch) {
          return new Promise(function (resolve) { tendSolve(ch, resolve); });
        })
        .then(function (payload) { solution = payload; solving = null; if (pending) pending(); })
        .catch(function () { solving = null; if (pending) pending(); });
    }
    prepare();
    var checked = null;

    function show(f, message) {
      f.error.textContent = message || "";
      f.error.hidden = !message;
      if (message) {
        f.input.setAttribute("aria-invalid", "true");
        f.input.setAttribute("aria-describedby", f.error.id);
      } else {
        f.input.removeAttribute("aria-invalid");
        f.input.removeAttribute("aria-describedby");
      }
    }

    var hint = el("p", { "class": "hint", id: "tend-email-hint", role: "status", hidden: "" });
    email.wrap.appendChild(hint);
    function suggest(address) {
      while (hint.firstChild) hint.removeChild(hint.firstChild);
      hint.hidden = !address;
      if (!address) return;
      var take = el("button", { type: "button" }, address);
      take.addEventListener("click", function () { email.input.value = address; send(); });
      hint.appendChild(document.createTextNode(MSG.suggest[0]));
      hint.appendChild(take);
      hint.appendChild(document.createTextNode(MSG.suggest[1]));
      if (!email.input.getAttribute("aria-invalid")) email.input.setAttribute("aria-describedby", hint.id);
    }

    function fail(errors, message) {
      errors = errors || {};
      suggest(null);
      show(name, (errors.name || [])[0]);
      show(email, (errors.email || [])[0]);
      banner.textContent = message || MSG.banner;
      banner.hidden = false;
      banner.focus();
      button.disabled = false;
      // A refusal that is not about the fields may have used the solution up.
      if (!errors.name && !errors.email) prepare();
    }

    function send() {
      button.disabled = true;
      if (solving) { pending = function () { pending = null; send(); }; return; }
      if (refusal) {
        if (window.console) console.error("Tend: " + refusal);
        fail({});
        return;
      }
      var zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
      var body = {
        name: name.input.value, email: email.input.value, website: website.value,
        timezone: zone, page: window.location.href, email_checked: checked || ""
      };
      if (solution) body.altcha = solution;
      fetch(base + "/api/subscribe", {
        method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (r.status === 202) {
            form.hidden = true;
            done.hidden = false;
            done.focus();
          } else if (r.status === 200 && j.suggestion) {
            checked = body.email;
            banner.hidden = true;
            show(name, null);
            show(email, null);
            suggest(j.suggestion);
            button.disabled = false;
            hint.querySelector("button").focus();
          } else {
            fail(j.errors, j.message);
          }
        });
      }).catch(function () { diagnose().then(function () { fail({}); }); });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });
  }

  // Iframe mode: each frame showing our form reports its height; the frame takes it.
  var frames = Array.prototype.filter.call(document.getElementsByTagName("iframe"), function (f) {
    try { return new URL(f.src, window.location.href).origin === base; } catch (e) { return false; }
  });
  if (frames.length && !window.__tendFrames) {
    window.__tendFrames = true;
    window.addEventListener("message", function (event) {
      if (event.origin !== base || !event.data || typeof event.data.tendHeight !== "number") return;
      Array.prototype.forEach.call(document.getElementsByTagName("iframe"), function (f) {
        if (f.contentWindow === event.source) f.style.height = Math.ceil(event.data.tendHeight) + "px";
      });
    });
  }
  frames.forEach(function (f) {
    // Ask only a frame that shows Tend: one still loading is a blank page of the blog's own
    // origin, and a message to it would be refused with an error in the blog's console.
    var ask = function () {
      var w = f.contentWindow, there = base;
      if (!w) return;
      try { there = w.location.origin; } catch (e) { /* another origin: Tend's own */ }
      if (there === base) w.postMessage("tend:height?", base);
    };
    f.addEventListener("load", ask);
    ask();
  });

  var targets = document.querySelectorAll("[data-tend-signup]");
  if (!targets.length && frames.length) return;
  if (!targets.length) {
    var holder = document.createElement("div");
    script.parentNode.insertBefore(holder, script);
    targets = [holder];
  }
  Array.prototype.forEach.call(targets, function (t) {
    if (!t.getAttribute("data-tend-mounted")) { t.setAttribute("data-tend-mounted", "1"); mount(t); }
  });
})();
