// Campaign progress: poll the progress JSON every second while the campaign can still move,
// and write the numbers into the page. Without this script the page shows them as loaded.
(function () {
  var card = document.getElementById("campaign-progress");
  if (!card) return;
  var url = card.getAttribute("data-progress");
  var moving = { draft: true, scheduled: true, running: true, paused: true };
  var shown = card.getAttribute("data-status");
  function set(name, value) {
    var node = card.querySelector('[data-field="' + name + '"]');
    if (node) node.textContent = value === null ? "—" : String(value);
  }
  function tick() {
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (p) {
        set("done", p.done); set("total", p.total); set("percent", p.percent);
        set("answered", p.answered); set("response_rate", p.response_rate);
        var bar = card.querySelector('[data-field="bar"]');
        bar.max = p.total || 1; bar.value = p.done;
        var cells = card.querySelectorAll("[data-count]");
        for (var i = 0; i < cells.length; i++) {
          cells[i].textContent = String(p.counts[cells[i].getAttribute("data-count")] || 0);
        }
        if (p.status !== shown) location.reload();  // the state changed: so do the buttons
        else setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  if (moving[shown]) setTimeout(tick, 1000);
})();
