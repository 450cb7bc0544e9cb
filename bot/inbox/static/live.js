// Live inbox: the server says which tickets changed. The queue refreshes its table; a ticket
// page replaces only the parts that changed (messages, status line, actions, rating), never
// a form being typed in, and marks messages that arrived while the agent was typing.
// Pages work without it.
(function () {
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var ticket = document.body.getAttribute("data-ticket");
  var retry = 1000;
  var PARTS = ["messages", "ticket-meta", "actions", "csat"];
  function typing() {
    var boxes = document.querySelectorAll("textarea");
    for (var i = 0; i < boxes.length; i++) if (boxes[i].value.trim() || document.activeElement === boxes[i]) return true;
    return false;
  }
  function fetchPage() {
    return fetch(location.pathname + location.search.replace(/([?&])done=[^&]*&?/, "$1"), { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
  }
  function refreshQueue() {
    fetchPage().then(function (fresh) {
      var table = fresh.getElementById("queue");
      var here = document.getElementById("queue");
      if (table && here) here.replaceWith(table);
      var counts = fresh.getElementById("views");
      var ours = document.getElementById("views");
      if (counts && ours) ours.replaceWith(counts);
      document.title = fresh.title;
      document.dispatchEvent(new Event("otklik:queue"));
    });
  }
  function refreshTicket() {
    var before = document.querySelectorAll("#messages .msg").length;
    var busy = typing();
    fetchPage().then(function (fresh) {
      PARTS.forEach(function (id) {
        var part = fresh.getElementById(id);
        var here = document.getElementById(id);
        if (part && here) here.replaceWith(part);
      });
      var all = document.querySelectorAll("#messages .msg");
      if (busy && all.length > before) {
        for (var i = before; i < all.length; i++) all[i].classList.add("new");
        var mark = document.getElementById("new-mark");
        if (mark) mark.hidden = false;
      }
    });
  }
  var mark = document.getElementById("new-mark");
  if (mark) mark.addEventListener("click", function () { mark.hidden = true; });
  function connect() {
    var socket = new WebSocket(scheme + location.host + "/inbox/live");
    socket.onopen = function () { retry = 1000; };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type !== "tickets") return;
      if (ticket === null) refreshQueue();
      else if (frame.ids.indexOf(Number(ticket)) >= 0) refreshTicket();
    };
    socket.onclose = function () { setTimeout(connect, retry); retry = Math.min(retry * 2, 30000); };
  }
  connect();
})();
