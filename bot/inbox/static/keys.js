// A keyboard-first inbox. Shortcuts on the queue and on a ticket (? lists them); Ctrl+Enter
// sends; "/" at the start of a reply opens the canned replies, one is inserted to be edited
// before sending; what is typed is kept per ticket in this browser until it is sent. Every
// page works without this script.
(function () {
  var body = document.body;
  var ticket = body.getAttribute("data-ticket");
  var overlay = document.getElementById("shortcuts");
  var current = -1;

  function typingIn(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function send(form) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }
  function help(show) {
    if (!overlay) return;
    overlay.hidden = !show;
    if (show) document.getElementById("shortcuts-close").focus();
  }
  if (overlay) {
    document.getElementById("shortcuts-close").addEventListener("click", function () { help(false); });
  }

  // -- on a phone the console's navigation folds behind a menu button ------------------------
  var menu = document.getElementById("menu-button");
  if (menu) {
    document.documentElement.classList.add("has-menu");
    menu.addEventListener("click", function () {
      var open = menu.getAttribute("aria-expanded") !== "true";
      menu.setAttribute("aria-expanded", open ? "true" : "false");
      document.getElementById("site-nav").classList.toggle("open", open);
    });
  }

  // -- what an action did is said once: a reload neither repeats it nor drops a draft --------
  var query = new URLSearchParams(location.search);
  var done = query.get("done");  // read before it leaves the address
  if ((query.has("done") || query.has("error")) && history.replaceState) {
    query.delete("done");
    query.delete("error");
    var rest = query.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  }

  // -- destructive and mass actions ask first: a form (or its button) with data-confirm ------
  document.addEventListener("submit", function (event) {
    var ask = event.target.getAttribute("data-confirm");
    if (event.submitter && event.submitter.getAttribute("data-confirm")) ask = event.submitter.getAttribute("data-confirm");
    if (ask && !window.confirm(ask)) event.preventDefault();
  }, true);

  // -- the queue: j/k choose a row, o or Enter opens it, t takes it, e resolves it -----------
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr")); }
  function choose(index) {
    var all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, n) {
      row.classList.toggle("selected", n === current);
      row.setAttribute("aria-selected", n === current ? "true" : "false");
    });
    all[current].scrollIntoView({ block: "nearest" });
  }
  function chosenLink() {
    var all = rows();
    return current >= 0 && all[current] ? all[current].querySelector("a") : null;
  }
  function post(path) {  // a real form POST with the page's CSRF token, as a button sends it
    var token = document.querySelector("input[name=csrf]");
    var form = document.createElement("form");
    form.method = "post";
    form.action = path;
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "csrf";
    field.value = token ? token.value : "";
    form.appendChild(field);
    body.appendChild(form);
    form.submit();
  }
  document.addEventListener("otklik:queue", function () { if (current >= 0) choose(current); });

  // -- a ticket's reply box: canned replies after "/", drafts kept -------------------------
  var reply = document.getElementById("reply");
  var picker = document.getElementById("canned-picker");
  var canned = [];
  var shown = [];
  var active = 0;
  var data = document.getElementById("canned-data");
  if (data) { try { canned = JSON.parse(data.textContent || "[]"); } catch (e) { canned = []; } }
  Array.prototype.forEach.call(document.querySelectorAll(".no-script"), function (el) {
    el.hidden = true;
    var select = el.querySelector("select");
    if (select) select.removeAttribute("name");  // the picker inserts instead: nothing unseen
  });

  function renderPicker() {
    picker.innerHTML = "";
    if (!shown.length) {
      var none = document.createElement("div");
      none.className = "meta";
      none.textContent = picker.getAttribute("data-none") || "—";
      picker.appendChild(none);
    }
    shown.forEach(function (item, n) {
      var option = document.createElement("div");
      option.setAttribute("role", "option");
      option.className = "option" + (n === active ? " on" : "");
      option.setAttribute("aria-selected", n === active ? "true" : "false");
      var name = document.createElement("strong");
      name.textContent = "/" + item.name;
      var text = document.createElement("span");
      text.className = "meta";
      text.textContent = " " + item.text.slice(0, 90);
      option.appendChild(name);
      option.appendChild(text);
      option.addEventListener("mousedown", function (event) { event.preventDefault(); insert(item); });
      picker.appendChild(option);
    });
    picker.hidden = false;
  }
  function closePicker() { if (picker) picker.hidden = true; shown = []; }
  function insert(item) {
    reply.value = item.text;
    closePicker();
    reply.focus();
    reply.setSelectionRange(reply.value.length, reply.value.length);
    keep(reply);
  }
  function updatePicker() {
    var value = reply.value;
    if (!picker || !canned.length || value.charAt(0) !== "/" || value.indexOf("\n") >= 0) {
      closePicker();
      return;
    }
    var query = value.slice(1).toLowerCase();
    shown = canned.filter(function (item) {
      return item.name.toLowerCase().indexOf(query) >= 0 || item.text.toLowerCase().indexOf(query) >= 0;
    }).slice(0, 8);
    active = 0;
    renderPicker();
  }

  function draftKey(box) { return "otklik-draft:" + ticket + ":" + box.id; }
  function keep(box) {
    try {
      if (box.value.trim()) localStorage.setItem(draftKey(box), box.value);
      else localStorage.removeItem(draftKey(box));
    } catch (e) { /* storage refused: the box still holds the text */ }
  }
  if (ticket) {
    ["reply", "note"].forEach(function (id) {
      var box = document.getElementById(id);
      if (!box) return;
      var sent = (id === "reply" && done === "sent") || (id === "note" && done === "noted");
      try {
        if (sent) localStorage.removeItem(draftKey(box));
        else if (!box.value) box.value = localStorage.getItem(draftKey(box)) || "";
      } catch (e) { /* no storage: nothing kept */ }
      box.addEventListener("input", function () { keep(box); });
    });

    if (reply) {
      if (picker) picker.setAttribute("data-none", reply.getAttribute("data-none") || "—");
      reply.addEventListener("input", updatePicker);
      reply.addEventListener("blur", function () { setTimeout(closePicker, 150); });
      reply.addEventListener("keydown", function (event) {
        if (!picker || picker.hidden || !shown.length) return;
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
          renderPicker();
        } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
          event.preventDefault();
          insert(shown[active]);
        } else if (event.key === "Escape") {
          event.preventDefault();
          event.stopPropagation();
          closePicker();
        }
      });
    }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.tagName === "TEXTAREA") {
      event.preventDefault();
      closePicker();
      send(target.form);
      return;
    }
    if (event.key === "Escape") {
      if (overlay && !overlay.hidden) { help(false); return; }
      if (typingIn(target)) { target.blur(); return; }
      if (ticket) location.href = "/inbox";
      return;
    }
    if (typingIn(target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") { event.preventDefault(); help(overlay ? overlay.hidden : false); return; }
    if (overlay && !overlay.hidden) return;
    if (ticket) {
      if (event.key === "r" && reply) { event.preventDefault(); reply.focus(); }
      else if (event.key === "n" && document.getElementById("note")) { event.preventDefault(); document.getElementById("note").focus(); }
      else if (event.key === "t") send(document.getElementById("take-form"));
      else if (event.key === "e") send(document.getElementById("resolve-form"));
      else if (event.key === "u") location.href = "/inbox";
    } else if (document.getElementById("queue")) {
      if (event.key === "j") { event.preventDefault(); choose(current + 1); }
      else if (event.key === "k") { event.preventDefault(); choose(current - 1); }
      else if (event.key === "o" || event.key === "Enter") { var open = chosenLink(); if (open) location.href = open.href; }
      else if (event.key === "t" || event.key === "e") {
        var link = chosenLink();
        if (link) post(link.getAttribute("href") + (event.key === "t" ? "/take" : "/resolve"));
      }
    }
  });
})();
