/* AgentPay web chat widget: vanilla JS over WS /ws/chat/<org>/<session>.
 * Renders the reply components documented in apps/conversations/platforms/webchat.py.
 * The session id lives in localStorage, so a refresh reconnects to the same
 * conversation and the server replays its history. */
(function () {
  "use strict";
  var root = document.getElementById("chat");
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var statusEl = document.getElementById("chat-status");
  var org = root.dataset.org;
  var qrUrl = root.dataset.qrUrl;
  var storageKey = "agentpay.webchat.session." + org;

  function newSessionId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "s" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  var sessionId = localStorage.getItem(storageKey);
  if (!sessionId || !/^[A-Za-z0-9_-]{8,64}$/.test(sessionId)) {
    sessionId = newSessionId();
    localStorage.setItem(storageKey, sessionId);
  }

  var socket = null;
  var retry = 0;
  var outbox = [];

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    else outbox.push(frame);
  }

  function note(text, isError) {
    var li = el("li", "msg note" + (isError ? " error" : ""), text);
    log.appendChild(li);
    scrollDown();
  }

  function findById(id) {
    return id ? log.querySelector('[data-id="' + CSS.escape(String(id)) + '"]') : null;
  }

  function renderButtons(component, li) {
    var box = el("div", "buttons");
    (component.buttons || []).forEach(function (b) {
      var button = el("button", b.style || "", b.label);
      button.type = "button";
      button.dataset.token = b.token;
      button.dataset.action = b.action || "";
      button.addEventListener("click", function () {
        li.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        send({ type: "action", token: b.token });
      });
      box.appendChild(button);
    });
    return box;
  }

  function renderOptions(component, li) {
    var box = el("div", "options");
    if (component.title) box.appendChild(el("div", "title", component.title));
    (component.options || []).forEach(function (o) {
      var button = el("button", "option");
      button.type = "button";
      button.dataset.token = o.token;
      button.appendChild(el("span", "", o.title));
      if (o.description) button.appendChild(el("small", "", o.description));
      button.addEventListener("click", function () {
        li.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        send({ type: "action", token: o.token });
      });
      box.appendChild(button);
    });
    return box;
  }

  function renderQr(component) {
    var box = el("div", "qr");
    var img = el("img");
    img.alt = "PIX QR code";
    img.className = "qr-image";
    img.src = component.image || (qrUrl + "?data=" + encodeURIComponent(component.data || ""));
    box.appendChild(img);
    if (component.data) {
      var code = el("code", "qr-payload", component.data);
      code.title = "PIX copia e cola";
      box.appendChild(code);
    }
    return box;
  }

  function renderReceipt(component) {
    var box = el("dl", "receipt");
    var rows = [
      ["Amount", (component.currency || "") + " " + (component.amount || "")],
      ["Status", component.status], ["Rail", component.rail], ["To", component.payee],
      ["Reference", component.reference || component.payment_id]
    ];
    rows.forEach(function (r) {
      if (!r[1] || !String(r[1]).trim()) return;
      box.appendChild(el("dt", "", r[0]));
      box.appendChild(el("dd", "", r[1]));
    });
    box.dataset.status = component.status || "";
    return box;
  }

  function renderLink(component) {
    var a = el("a", "link", component.label || component.url);
    a.href = component.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  function renderReply(data, li) {
    var components = data.components && data.components.length ? data.components : [{ type: "text", text: data.text }];
    components.forEach(function (c) {
      if (c.type === "text") li.appendChild(el("div", "text", c.text));
      else if (c.type === "buttons") li.appendChild(renderButtons(c, li));
      else if (c.type === "options") li.appendChild(renderOptions(c, li));
      else if (c.type === "qr") li.appendChild(renderQr(c));
      else if (c.type === "receipt") li.appendChild(renderReceipt(c));
      else if (c.type === "link" && /^https?:\/\//.test(c.url || "")) li.appendChild(renderLink(c));
    });
  }

  function showOutbound(data) {
    var id = data.message_id || data.id;
    if (findById(id)) return;
    var li = el("li", "msg outbound");
    li.dataset.id = id;
    renderReply(data, li);
    var old = findById(data.replaces);
    if (old) old.replaceWith(li); else log.appendChild(li);
    scrollDown();
  }

  function showInbound(data) {
    if (findById(data.id)) return;
    var pending = data.client_id ? log.querySelector('[data-client-id="' + CSS.escape(data.client_id) + '"]') : null;
    var li = pending || el("li", "msg inbound", data.text);
    li.classList.remove("pending");
    li.dataset.id = data.id;
    if (!pending) log.appendChild(li);
    scrollDown();
  }

  function showHistory(messages) {
    messages.forEach(function (m) {
      if (m.direction === "inbound") showInbound(m);
      else showOutbound({ message_id: m.id, text: m.text, components: m.components, replaces: m.replaces });
    });
  }

  var paymentNotes = {
    payment_initiated: "Payment initiated",
    payment_completed: "Payment completed",
    payment_failed: "Payment failed",
    payment_on_hold: "Payment under review",
    payment_blocked: "Payment blocked"
  };

  function onFrame(frame) {
    var data = frame.data || {};
    if (frame.type === "history") showHistory(data.messages || []);
    else if (frame.type === "message") showInbound(data);
    else if (frame.type === "reply") showOutbound(data);
    else if (frame.type === "error") note(data.message || "Something went wrong.", true);
    else if (paymentNotes[frame.type]) {
      var li = el("li", "msg note payment-status", paymentNotes[frame.type] + (data.rail ? " · " + data.rail : ""));
      li.dataset.event = frame.type;
      log.appendChild(li);
      scrollDown();
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/chat/" + encodeURIComponent(org) + "/" + encodeURIComponent(sessionId));
    setStatus("connecting", "connecting…");
    socket.onopen = function () {
      retry = 0;
      setStatus("open", "online");
      while (outbox.length) socket.send(JSON.stringify(outbox.shift()));
    };
    socket.onmessage = function (ev) {
      try { onFrame(JSON.parse(ev.data)); } catch (e) { /* a malformed frame is skipped */ }
    };
    socket.onclose = function (ev) {
      setStatus("closed", "offline");
      if (ev.code === 4404 || ev.code === 4400) { note("This chat is not available.", true); return; }
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 300 * Math.pow(2, retry));
    };
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    var clientId = newSessionId();
    var li = el("li", "msg inbound pending", text);
    li.dataset.clientId = clientId;
    log.appendChild(li);
    scrollDown();
    send({ type: "message", text: text, client_id: clientId });
    input.value = "";
  });

  connect();
})();
