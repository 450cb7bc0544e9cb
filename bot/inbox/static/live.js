// Live inbox: the server says which tickets changed; the queue refreshes its table, a ticket
// page reloads when its own ticket changed and nothing is being typed. Pages work without it.
(function () {
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var ticket = document.body.getAttribute("data-ticket");
  var retry = 1000;
  function typing() {
    var boxes = document.querySelectorAll("textarea");
    for (var i = 0; i < boxes.length; i++) if (boxes[i].value.trim()) return true;
    return false;
  }
  function refreshQueue() {
    fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("queue");
        var here = document.getElementById("queue");
        if (fresh && here) here.replaceWith(fresh);
      });
  }
  function connect() {
    var socket = new WebSocket(scheme + location.host + "/inbox/live");
    socket.onopen = function () { retry = 1000; };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type !== "tickets") return;
      if (ticket === null) refreshQueue();
      else if (frame.ids.indexOf(Number(ticket)) >= 0 && !typing()) location.reload();
    };
    socket.onclose = function () { setTimeout(connect, retry); retry = Math.min(retry * 2, 30000); };
  }
  connect();
})();
