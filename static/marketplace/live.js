// Live updates for the signed-in user: notifications (vetting decisions and the like)
// and, on a requester's set page, its progress. Reconnects with capped exponential
// backoff; the page works without it.
(function () {
  "use strict";
  var list = document.getElementById("notifications");
  var progress = document.getElementById("progress");
  var box = list || progress;
  if (!box || !window.WebSocket) return;
  var delay = 1000;
  function show(msg) {
    var empty = document.getElementById("no-notifications");
    if (empty) empty.remove();
    var li = document.createElement("li");
    li.className = "card";
    var strong = document.createElement("strong");
    strong.textContent = msg.subject;
    li.appendChild(strong);
    li.appendChild(document.createElement("br"));
    li.appendChild(document.createTextNode(msg.body));
    list.insertBefore(li, list.firstChild);
    var status = document.getElementById("worker-status");
    if (status && msg.worker_status) {
      status.className = "status status-" + msg.worker_status;
      status.textContent = msg.worker_status_label || msg.worker_status;
    }
  }
  function showProgress(msg) {
    document.getElementById("progress-submitted").textContent = msg.submitted;
    document.getElementById("progress-needed").textContent = msg.needed;
    document.getElementById("progress-tasks-done").textContent = msg.tasks_done;
    var bar = document.getElementById("progress-bar");
    bar.max = msg.needed;
    bar.value = msg.submitted;
  }
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/events/");
    ws.onopen = function () { ws.opened = true; delay = 1000; box.dataset.live = "open"; };
    ws.onmessage = function (e) {
      var msg = JSON.parse(e.data);
      if (msg.type === "notification" && list) show(msg);
      if (msg.type === "progress" && progress && String(msg.task_set) === progress.dataset.set) showProgress(msg);
    };
    ws.onclose = function (e) {
      box.dataset.live = "closed";
      // Signed out (here or in another tab), or the password changed: reload, so the page
      // no longer shows the account. Refused at the start: do not retry.
      if (e.code === 4401) { if (ws.opened) location.reload(); return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 60000);
    };
  }
  connect();
})();
