// An email's score link opens the page with that score chosen. A person who sees it has
// answered, so the score is sent once the page has been visible for a moment; a mail scanner
// that fetches the page records nothing (it runs no script, or never shows the page). The
// button does the same without script.
(function () {
  "use strict";
  var form = document.getElementById("answer");
  var send = document.getElementById("send");
  if (!form || !send || !form.dataset.chosen) { return; }
  var VISIBLE_MS = 1500;
  var shown = 0, since = null, done = false;
  function tick() {
    if (done) { return; }
    var now = Date.now();
    if (document.visibilityState === "visible") {
      if (since !== null) { shown += now - since; }
      since = now;
    } else {
      since = null;
    }
    if (shown >= VISIBLE_MS) {
      done = true;
      document.getElementById("sending").hidden = false;
      if (form.requestSubmit) { form.requestSubmit(send); } else { send.click(); }
      return;
    }
    setTimeout(tick, 250);
  }
  document.addEventListener("visibilitychange", tick);
  form.addEventListener("submit", function () { done = true; });
  tick();
})();
