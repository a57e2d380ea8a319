// The live journal: new rows arrive as server-sent events whose data is the row's HTML,
// rendered and escaped by the server. Everything else in the console works without this.
"use strict";
(function () {
  var list = document.getElementById("journal");
  if (!list || !window.EventSource) { return; }
  var status = document.getElementById("live");
  var empty = document.getElementById("journal-empty");
  var MAX_ROWS = 500; // keep a long-open tab light
  var url = list.dataset.events + "&after=" + encodeURIComponent(list.dataset.after || "0");
  var source = new EventSource(url);
  source.addEventListener("open", function () {
    status.textContent = "Live: new entries appear at the top as they happen.";
    status.classList.remove("down");
  });
  source.addEventListener("error", function () {
    status.textContent = "Live updates interrupted; reconnecting…";
    status.classList.add("down");
  });
  source.addEventListener("entry", function (e) {
    if (empty) { empty.remove(); empty = null; }
    list.insertAdjacentHTML("afterbegin", e.data);
    while (list.children.length > MAX_ROWS) { list.lastElementChild.remove(); }
  });
})();
