// cloudlease serve: copy buttons, countdowns and live status. The pages work without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("[data-copy]") : null;
    if (!b) return;
    var text = b.getAttribute("data-copy");
    var done = function () {
      b.textContent = "Copied";
      setTimeout(function () { b.textContent = "Copy"; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text, done); });
    } else {
      fallback(text, done);
    }
  });

  function fallback(text, done) {
    var t = document.createElement("textarea");
    t.value = text;
    t.setAttribute("readonly", "");
    t.className = "offscreen";
    document.body.appendChild(t);
    t.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* select it by hand */ }
    document.body.removeChild(t);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function show(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? h + " h " + pad(m) + " min" : pad(m) + ":" + pad(s);
  }

  function tick() {
    var now = Date.now();
    var all = document.querySelectorAll("[data-deadline]");
    for (var i = 0; i < all.length; i++) {
      var at = Date.parse(all[i].getAttribute("data-deadline"));
      if (!isNaN(at)) all[i].textContent = show((at - now) / 1000);
    }
  }
  setInterval(tick, 1000);
  tick();

  function signature(s) {
    var l = s.lease || {}, p = s.payment || {}, m = s.machine || {};
    return [l.status, l.ends_at, p.id, p.status, p.paid_sats, m.state, m.login]
      .map(function (x) { return x === null || x === undefined ? "None" : String(x); })
      .join("|");
  }

  var main = document.getElementById("main");
  var source = main && main.getAttribute("data-events");
  if (!source || !window.EventSource) return;
  var busy = false, again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.pathname, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        if (fresh) {
          main.replaceWith(fresh);
          main = fresh;
          tick();
        }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var events = new EventSource(source);
  events.addEventListener("status", function (ev) {
    var s;
    try { s = JSON.parse(ev.data); } catch (e) { return; }
    if (signature(s) !== main.getAttribute("data-state")) refresh();
  });
})();
