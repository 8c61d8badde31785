// The top bar's bell: the unread count and a panel of the latest unread notices, acknowledged in place.
// Reads GET /api/v1/staff-notifications/mine with the portal session; acknowledges with the session's CSRF token.
(function () {
  "use strict";
  var bell = document.getElementById("bell");
  var count = document.getElementById("bell-count");
  var panel = document.getElementById("bell-panel");
  var list = document.getElementById("bell-list");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!bell || !count || !panel || !list) return;

  function show(data) {
    var unread = data.unread_count;
    count.textContent = unread > 99 ? "99+" : String(unread);
    count.hidden = unread === 0;
    bell.setAttribute("aria-label", "Notifications: " + unread + " unread");
    list.textContent = "";
    if (data.items.length === 0) {
      var none = document.createElement("li");
      none.className = "empty";
      none.textContent = "Nothing unread.";
      list.appendChild(none);
    }
    data.items.forEach(function (n) {
      var li = document.createElement("li");
      li.className = "bell-item priority-" + n.priority.toLowerCase();
      var head = document.createElement("strong");
      head.textContent = "[" + n.priority + "] " + n.title;
      var body = document.createElement("p");
      body.textContent = n.body;
      var ack = document.createElement("button");
      ack.type = "button";
      ack.textContent = "Acknowledge";
      ack.setAttribute("data-ack", n.id);
      ack.addEventListener("click", function () { acknowledge(n.id, ack); });
      li.appendChild(head);
      li.appendChild(body);
      li.appendChild(ack);
      list.appendChild(li);
    });
  }

  function load() {
    return fetch("/api/v1/staff-notifications/mine?unread=true&limit=5", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) show(data); })
      .catch(function () { /* the link still leads to /notifications */ });
  }

  function acknowledge(id, button) {
    button.disabled = true;
    fetch("/api/v1/staff-notifications/" + encodeURIComponent(id) + "/ack", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": meta ? meta.getAttribute("content") : "" },
    }).then(load, function () { button.disabled = false; });
  }

  bell.addEventListener("click", function (event) {
    event.preventDefault();
    panel.hidden = !panel.hidden;
    bell.setAttribute("aria-expanded", String(!panel.hidden));
  });
  load();
})();
