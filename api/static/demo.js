// The demo storefront's one script: post the shopper's clicks, carts and purchases through the
// public API (POST /v1/events, with the write key the page was given), then show the updated
// page. Demo only: the key is visible to anyone who can load /demo (docs/pages.md).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="recsys-demo-key"]');
  var key = meta ? meta.content : "";

  function eventOf(el, type) {
    var ev = { user_id: el.dataset.user, item_id: el.dataset.item, type: type };
    if (el.dataset.rid) {  // only when the answer carried one (with its 0-based position)
      ev.recommendation_id = el.dataset.rid;
      if (el.dataset.pos) { ev.position = parseInt(el.dataset.pos, 10); }
    }
    return ev;
  }

  function post(ev) {
    return fetch("/v1/events", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
      body: JSON.stringify(ev)
    }).then(function (r) {
      if (!r.ok) {
        return r.text().then(function (t) { throw new Error(r.status + ": " + t); });
      }
      return r.json();
    });
  }

  function say(text) {
    var box = document.getElementById("demo-status");
    if (box) { box.textContent = text; box.hidden = false; }
  }

  document.addEventListener("click", function (e) {
    var link = e.target.closest("a.rec-link");
    if (link && link.dataset.user && key) {
      e.preventDefault();
      post(eventOf(link, "click"))
        .catch(function (err) { console.warn("click not recorded", err); })
        .then(function () { window.location.href = link.href; });
      return;
    }
    var button = e.target.closest("button[data-event]");
    if (button && key) {
      e.preventDefault();
      button.disabled = true;
      post(eventOf(button, button.dataset.event)).then(
        function () { window.location.href = button.dataset.next; },
        function (err) { say("Could not record it: " + err.message); button.disabled = false; }
      );
    }
  });
})();
