// pxe-suite console: live updates from /console/events (server-sent events) and the
// power buttons. Text from the server is only ever set as textContent.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var live = document.getElementById("live");
  var heading = document.querySelector("[data-page-machine]");

  function update(m) {
    var rows = document.querySelectorAll("tr[data-machine]");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (row.getAttribute("data-machine") !== m.name) continue;
      var st = row.querySelector("td.state");
      st.textContent = m.state;
      st.className = "state " + m.state;
      row.querySelector("td.last-seen").textContent = m.last_seen || "–";
      row.querySelector("td.last-event").textContent = (m.last_event || "").split("\n")[0];
      row.classList.add("flash");
    }
    if (heading && heading.getAttribute("data-page-machine") === m.name) {
      var s = document.getElementById("machine-state");
      s.textContent = m.state;
      s.className = "state " + m.state;
      // The newest timeline entry, added at the end of the list (a change of state
      // alone repeats the last entry: not added twice).
      var list = document.getElementById("timeline");
      var entry = (m.last_seen || "") + " " + (m.last_event || "");
      if (list && m.last_event && list.getAttribute("data-last") !== entry) {
        var li = document.createElement("li");
        li.className = "live";
        li.textContent = entry;
        list.appendChild(li);
        list.setAttribute("data-last", entry);
      }
    }
  }

  if (window.EventSource && live) {
    var es = new EventSource("/console/events");
    es.addEventListener("hello", function () {
      live.textContent = "live";
      live.className = "on";
    });
    es.addEventListener("machine", function (ev) {
      try { update(JSON.parse(ev.data)); } catch (e) { /* a malformed event is skipped */ }
    });
    es.addEventListener("counts", function (ev) {
      try {
        var c = JSON.parse(ev.data);
        ["pending", "installing", "installed", "failed"].forEach(function (k) {
          var span = document.getElementById("count-" + k);
          if (span) span.textContent = String(c[k]);
        });
      } catch (e) { /* a malformed event is skipped */ }
    });
    es.addEventListener("reload", function () { location.reload(); });
    es.onerror = function () {
      live.textContent = "reconnecting";
      live.className = "off";
    };
  }

  var buttons = document.querySelectorAll("button[data-power]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (ev) {
      var b = ev.currentTarget;
      var out = document.getElementById("power-result");
      out.textContent = "power " + b.getAttribute("data-power") + "…";
      fetch(b.getAttribute("data-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ action: b.getAttribute("data-power") })
      }).then(function (r) {
        return r.text().then(function (t) { out.textContent = r.status + " " + t; });
      }).catch(function (e) { out.textContent = "failed: " + e; });
    });
  }
})();
