/* Staff live feed: WS /api/v1/stream (or one conversation's stream), session-authenticated. */
(function () {
  "use strict";
  var root = document.getElementById("live");
  var body = document.getElementById("live-events");
  var statusEl = document.getElementById("live-status");
  var conversation = root.dataset.conversation;
  var path = conversation ? "/api/v1/conversations/" + encodeURIComponent(conversation) + "/stream" : "/api/v1/stream";
  var retry = 0;
  var MAX_ROWS = 500;

  function cell(text, code) {
    var td = document.createElement("td");
    if (code) { var c = document.createElement("code"); c.textContent = text; td.appendChild(c); }
    else td.textContent = text;
    return td;
  }

  function add(frame) {
    var tr = document.createElement("tr");
    tr.dataset.event = frame.type;
    var data = frame.data || {};
    tr.appendChild(cell(new Date().toLocaleTimeString()));
    tr.appendChild(cell(frame.type));
    tr.appendChild(cell(data.conversation_id || ""));
    tr.appendChild(cell(JSON.stringify(data), true));
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + path + "?organization=" + encodeURIComponent(root.dataset.orgSlug));
    ws.onopen = function () { retry = 0; statusEl.dataset.state = "open"; statusEl.textContent = "live"; };
    ws.onmessage = function (ev) {
      var frame = JSON.parse(ev.data);
      if (frame.type !== "subscribed" && frame.type !== "pong") add(frame);
    };
    ws.onclose = function (ev) {
      statusEl.dataset.state = "closed";
      statusEl.textContent = "disconnected (" + ev.code + ")";
      if (ev.code >= 4400 && ev.code < 4500) return;
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 300 * Math.pow(2, retry));
    };
  }
  connect();
})();
