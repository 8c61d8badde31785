// The top bar's global search: debounced suggestions from GET /api/v1/search (the portal session's cookie),
// grouped "Borrowers", "Loans", "Staff"; a click (or Enter on a highlighted row) opens the profile. Without this
// script the box is a plain form to /search. No build step; built with DOM calls only (no HTML from data).
(function () {
  "use strict";
  var DELAY = 250, MIN = 2;
  var input = document.getElementById("global-search-input");
  var box = document.getElementById("global-search-results");
  if (!input || !box) { return; }
  var timer = null, latest = 0, links = [], active = -1;

  function clear() { box.hidden = true; box.textContent = ""; links = []; active = -1; }

  function line(text, cls) {
    var span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    return span;
  }

  function group(title, items, describe) {
    var section = document.createElement("div");
    section.className = "search-group";
    section.setAttribute("data-group", title.toLowerCase());
    var h = document.createElement("h3");
    h.textContent = title;
    section.appendChild(h);
    if (!items.length) { section.appendChild(line("No match", "muted")); return section; }
    items.forEach(function (item) {
      var d = describe(item);
      if (item.opens === false) {  // a page the reader's role does not open: shown, not linked
        var shown = document.createElement("div");
        shown.className = "hit-unlinked";
        shown.appendChild(line(d[0], "hit-title"));
        shown.appendChild(line(d[1], "hit-detail"));
        section.appendChild(shown);
        return;
      }
      var a = document.createElement("a");
      a.href = item.url;
      a.setAttribute("role", "option");
      a.appendChild(line(d[0], "hit-title"));
      a.appendChild(line(d[1], "hit-detail"));
      section.appendChild(a);
      links.push(a);
    });
    return section;
  }

  function show(data) {
    box.textContent = "";
    links = []; active = -1;
    box.appendChild(group("Borrowers", data.borrowers, function (b) {
      return [b.name, [b.number, b.phone, b.email].filter(Boolean).join(" · ")];
    }));
    box.appendChild(group("Loans", data.loans, function (l) {
      return [l.loan_number, [l.status, l.borrower_name].filter(Boolean).join(" · ")];
    }));
    box.appendChild(group("Staff", data.staff, function (s) { return [s.name, s.email]; }));
    box.hidden = false;
  }

  function search() {
    var q = input.value.trim().replace(/\s+/g, " ");
    if (q.length < MIN) { clear(); return; }
    var ticket = ++latest;
    fetch("/api/v1/search?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && ticket === latest) { show(data); } })
      .catch(function () { /* the form still works */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, DELAY);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { clear(); return; }
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && links.length) {
      e.preventDefault();
      if (active >= 0) { links[active].classList.remove("active"); }
      active = (active + (e.key === "ArrowDown" ? 1 : links.length - 1)) % links.length;
      links[active].classList.add("active");
    } else if (e.key === "Enter" && active >= 0) {
      e.preventDefault();
      window.location.href = links[active].href;
    }
  });
  document.addEventListener("click", function (e) {
    if (!box.contains(e.target) && e.target !== input) { box.hidden = true; }
  });
})();
