(() => {
  "use strict";
  const log = document.getElementById("log");
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const status = document.getElementById("status");
  const language = (navigator.language || "ru").slice(0, 2);
  const T = language === "ru"
    ? {new: "Новые сообщения", reconnecting: "Переподключение…", lost: "Нет связи, повторите",
       elsewhere: "в ", placeholder: "Ваш вопрос"}
    : {new: "New messages", reconnecting: "Reconnecting…", lost: "Connection lost, try again",
       elsewhere: "in ", placeholder: "Your question"};
  input.placeholder = T.placeholder;
  let session = localStorage.getItem("otklik-session");
  if (!session) {
    session = Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("otklik-session", session);
  }
  let socket = null;
  let counter = 0;
  let lastId = 0;            // the newest transcript line shown: the cursor for catching up
  const shown = new Set();   // lines already on the page (a catch-up may repeat some)

  function toBottom(element) { element.scrollIntoView({block: "end"}); log.scrollTop = log.scrollHeight; }
  // Every string from the server goes through textContent: customer and FAQ text is never HTML.
  function bubble(kind, title, text, note) {
    const div = document.createElement("div");
    div.className = "msg " + kind;
    if (note) { const small = document.createElement("small"); small.className = "note"; small.textContent = note; div.appendChild(small); }
    if (title) { const b = document.createElement("b"); b.textContent = title; div.appendChild(b); }
    div.appendChild(document.createTextNode(text));
    log.appendChild(div);
    toBottom(div);
    return div;
  }
  function showError(text) {
    const div = document.createElement("div");
    div.className = "error";
    div.textContent = text;
    log.appendChild(div);
    toBottom(div);
  }
  function divider(text) {
    const div = document.createElement("div");
    div.className = "divider";
    div.textContent = text;
    log.appendChild(div);
  }
  function buttons(div, list) {
    const box = document.createElement("div");
    box.className = "buttons";
    const rows = [];
    for (const button of list) (rows[button.row || 0] = rows[button.row || 0] || []).push(button);
    for (const row of rows.filter(Boolean)) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const el = document.createElement("button");
        el.type = "button";
        el.textContent = button.text;
        el.addEventListener("click", () => {
          bubble("me", null, button.text);
          send({type: "button", data: button.data, label: button.text});
        });
        line.appendChild(el);
      }
      box.appendChild(line);
    }
    div.appendChild(box);
    toBottom(box);  // after the buttons are in: the newest reply's buttons stay in view
  }
  function remember(id) {
    if (typeof id !== "number") return false;
    if (shown.has(id)) return true;
    shown.add(id);
    lastId = Math.max(lastId, id);
    return false;
  }
  function render(replies) {
    for (const reply of replies) {
      if (remember(reply.id)) continue;
      const div = bubble("bot", reply.title, reply.text);
      if (reply.buttons && reply.buttons.length) buttons(div, reply.buttons);
    }
  }
  // The conversation as the server keeps it: on load, and after every reconnect, whatever
  // arrived while the page was closed or the socket was down, marked as new.
  async function restore() {
    const response = await fetch(`/api/v1/chat/history?after=${lastId}`, {headers: {"X-Otklik-Session": session}});
    if (!response.ok) return null;
    const messages = (await response.json()).messages;
    let marked = false;
    for (const m of messages) {
      if (remember(m.id)) continue;
      if (m.new && !marked) { divider(T.new); marked = true; }
      const note = m.channel && m.channel !== "webchat" ? T.elsewhere + m.channel : null;
      const div = bubble(m.direction === "in" ? "me" : "bot", m.title, m.text, note);
      if (m.new) div.classList.add("new");
      if (m.buttons && m.buttons.length) buttons(div, m.buttons);
    }
    seen();
    return messages;
  }
  // Tell the server what this page has shown: only then is a message that waited for the
  // visitor (a staff reply, a survey) delivered.
  function seen() {
    if (!lastId) return;
    const frame = {type: "seen", session, upto: lastId};
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); return; }
    fetch("/api/v1/chat/seen", {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify(frame)}).catch(() => {});
  }
  async function viaHttp(frame) {
    const path = frame.type === "button" ? "/api/v1/chat/buttons" : "/api/v1/chat/messages";
    const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify(frame)});
    const body = await response.json();
    if (!response.ok) { showError(body.error || response.statusText); return; }
    render(body.replies);
  }
  function send(frame) {
    frame.session = session;
    frame.language = language;
    if (frame.type === "message") frame.id = Date.now() + "-" + (counter++);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    else viaHttp(frame).catch(() => showError(T.lost));
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/chat/ws`);
    // Nothing to say while connected ("online" read as "an agent is here"); a lost connection
    // is said, and what came meanwhile is fetched once it is back.
    socket.onopen = () => {
      socket.send(JSON.stringify({type: "hello", session}));  // never in the URL: it is the key
      if (status.textContent) restore().catch(() => {});
      status.textContent = "";
    };
    socket.onclose = () => { status.textContent = T.reconnecting; setTimeout(connect, 3000); };
    socket.onmessage = event => {
      const frame = JSON.parse(event.data);
      if (frame.type === "replies") { render(frame.replies); seen(); }
      else if (frame.type === "error") showError(frame.error);
    };
  }
  form.addEventListener("submit", event => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    bubble("me", null, text);
    send({type: "message", text});
    input.value = "";
  });
  input.addEventListener("keydown", event => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  restore()
    .then(messages => { if (messages && !messages.length) send({type: "message", text: "/start"}); })
    .catch(() => {})
    .finally(connect);
})();
