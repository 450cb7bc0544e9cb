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
  // A new or overdue ticket: a sound and a desktop notification, each if the agent asked.
  var alerts = document.getElementById("alerts");
  function setting(name) { try { return localStorage.getItem("otklik-alert-" + name) === "1"; } catch (e) { return false; } }
  function remember(name, on) { try { localStorage.setItem("otklik-alert-" + name, on ? "1" : "0"); } catch (e) { /* kept for this page */ } }
  if (alerts) {
    alerts.hidden = false;
    [["sound", "alert-sound"], ["desktop", "alert-desktop"]].forEach(function (pair) {
      var box = document.getElementById(pair[1]);
      box.checked = setting(pair[0]);
      box.addEventListener("change", function () {
        remember(pair[0], box.checked);
        if (pair[0] === "desktop" && box.checked && window.Notification && Notification.permission !== "granted") {
          Notification.requestPermission().then(function (answer) {
            if (answer !== "granted") { box.checked = false; remember("desktop", false); }
          });
        }
      });
    });
  }
  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    var audio = new Context();
    var tone = audio.createOscillator();
    var gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.1;
    tone.connect(gain);
    gain.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.2);
  }
  function tell(kind) {
    if (!alerts) return;
    if (setting("sound")) beep();
    if (setting("desktop") && window.Notification && Notification.permission === "granted") {
      new Notification(alerts.getAttribute(kind === "overdue" ? "data-overdue" : "data-new"), { tag: "otklik-" + kind });
    }
  }
  function counted(doc, view) {
    var found = doc.querySelector('#views [data-view="' + view + '"]');
    return found ? Number(found.textContent) : 0;
  }
  function refreshQueue() {
    var open = counted(document, "all_open");
    var overdue = counted(document, "overdue");
    fetchPage().then(function (fresh) {
      if (counted(fresh, "all_open") > open) tell("new");
      else if (counted(fresh, "overdue") > overdue) tell("overdue");
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
  // Time makes tickets overdue without any change to tell of: look again each minute.
  if (ticket === null && document.getElementById("queue")) setInterval(refreshQueue, 60000);
})();
