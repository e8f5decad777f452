// The work page over WebSockets (docs/protocol.md). Without it the page's plain forms
// still work. Answers go to an outbox in localStorage first and leave it only when the
// server acknowledges them (or refuses them for good), so a dropped connection loses
// nothing, and the submission_id makes a resend harmless.
const root = document.getElementById("work");
const T = JSON.parse(document.getElementById("work-strings").textContent);
const F = document.getElementById("feedback-strings").dataset; // training feedback, set list
// One outbox per worker: phones are shared at centres, and one worker's answers must
// never be sent (and refused) under another's session.
const OUTBOX = "work-outbox-" + root.dataset.user;
const MAX_MESSAGE_BYTES = 16000;
const RETRYABLE = new Set(["rate_limited"]);
let ws = null;
let delay = 1000;
let current = null; // the task message on screen
const answered = new Map(); // assignment -> its task, until the answer is settled
let shownAt = 0;
let bytes = 0;
let sending = null; // the outbox entry awaiting its ack
let pongTimer = null;
const sets = new Map(); // id -> the set as `welcome`/`sets` describe it
// Training feedback waiting to be read, oldest first. While one is on screen nothing
// replaces it: what arrives meanwhile (the next task) waits for Continue.
const feedbacks = [];
let afterFeedback = null;
const later = (show) => { if (feedbacks.length) afterFeedback = show; else show(); };
const shown = (v) => Array.isArray(v) ? v.join(", ") || "—" : String(v ?? "—");
const badge = (set) => set && set.training ? el("span", { class: "status" }, F.training) : "";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children);
  return node;
};
const outbox = () => JSON.parse(localStorage.getItem(OUTBOX) || "[]");
const saveOutbox = (items) => localStorage.setItem(OUTBOX, JSON.stringify(items));
const uuid = () =>
  crypto.randomUUID ? crypto.randomUUID() :
  "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
    (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));

function status(text) {
  const net = document.getElementById("net");
  const waiting = outbox().length;
  net.hidden = false;
  net.textContent = `${text} · ${T.data}: ${(bytes / 1024).toFixed(1)} KB` +
    (waiting ? ` · ${T.waiting}: ${waiting}` : "");
}

function send(message) {
  if (!ws || ws.readyState !== 1) return false;
  const text = JSON.stringify(message);
  bytes += text.length;
  ws.send(text);
  return true;
}

function showEarnings(rows) {
  const box = document.getElementById("earnings");
  const net = document.getElementById("net");
  box.replaceChildren(...rows.flatMap((e) => [
    el("span", {}, `${T.today}: ${e.today.display} (${e.today_count})`), " · ",
    el("span", {}, `${T.pending}: ${e.pending.display}`), el("br"),
  ]), net);
}

function showSets(list, all) {
  if (all) sets.clear();
  for (const s of list) s.available ? sets.set(s.id, s) : sets.delete(s.id);
  const items = [...sets.values()].map((s) => el("li", {}, `${s.title} · ${s.reward.display} `, badge(s)));
  document.getElementById("sets").replaceChildren(...(items.length ? items : [el("li", {}, F.none)]));
}

// A transcription is judged character by character: the trainee sees the expected
// text and their own one above the other, right or wrong, to find the difference.
function compared(expected, answer) {
  return el("dl", { class: "compare" },
    el("dt", {}, F.expected), el("dd", { class: "expected" }, shown(expected)),
    el("dt", {}, F.yours), el("dd", { class: "yours" }, shown(answer)));
}

function showFeedback() {
  const { feedback, task, answer } = feedbacks[0];
  const credit = feedback.credit_permille;
  const text = task && task.kind === "transcription";
  const cont = el("button", { class: "big", onclick: nextFeedback }, F.continue);
  root.replaceChildren(el("div", { class: "card feedback", role: "status" },
    task ? task.payload.image ? el("img", { class: "task-image", src: task.payload.image, alt: T.image })
      : el("blockquote", { class: "task-text" }, task.payload.text) : "",
    el("p", {}, el("strong", {}, feedback.correct ? F.right : text ? F.notQuite : `${F.wrong} ${shown(feedback.right_answer)}`),
      credit > 0 && credit < 1000 ? ` (${F.partial.replace("{p}", Math.floor(credit / 10))})` : ""),
    text ? compared(feedback.right_answer, answer)
      : answer === undefined ? "" : el("p", {}, `${F.yours} ${shown(answer)}`),
    feedback.explanation ? el("p", { class: "explanation" }, feedback.explanation) : "",
    cont));
  cont.focus();
}

function nextFeedback() {
  feedbacks.shift();
  if (feedbacks.length) return showFeedback();
  const show = afterFeedback;
  afterFeedback = null;
  if (show) show();
  else root.replaceChildren(el("p", { class: "card" }, T.saved));
}

function showMessage(text, cls = "card") {
  root.replaceChildren(el("div", { class: cls }, el("p", {}, text),
    el("button", { class: "big", onclick: claim }, T.getTask)));
}

function showTask(task) {
  current = task;
  shownAt = Date.now();
  const chosen = new Set();
  const deadline = Date.now() + task.expires_in * 1000;
  const clock = el("span", { id: "clock" });
  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    clock.textContent = `${T.timeLeft}: ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    if (current === task && left > 0) setTimeout(tick, 1000);
  };
  tick();
  let body;
  if (task.payload.image) {
    body = el("img", { class: "task-image", src: task.payload.image, alt: T.image });
    body.addEventListener("load", () => {
      const entry = performance.getEntriesByName(body.src).pop();
      bytes += entry ? entry.transferSize || entry.encodedBodySize || 0 : 0;
    });
  } else body = el("blockquote", { class: "task-text" }, task.payload.text);
  let answerArea;
  let submitButton = null;
  if (task.kind === "transcription") {
    const text = el("textarea", { id: "answer", rows: 3, maxlength: 5000, "aria-label": T.typeText });
    answerArea = el("div", {}, el("label", { for: "answer" }, T.typeText), text);
    submitButton = el("button", { onclick: () => text.value.trim() && submit(text.value) }, T.submit);
  } else {
    const buttons = task.options.map((option, i) => el("button", {
      class: "option", type: "button", "aria-pressed": "false", "data-key": i + 1,
      onclick: (e) => {
        if (task.kind === "label") return submit(option);
        chosen.has(option) ? chosen.delete(option) : chosen.add(option);
        e.currentTarget.setAttribute("aria-pressed", chosen.has(option));
      },
    }, `${i < 9 ? i + 1 + ". " : ""}${option}`));
    answerArea = el("div", { role: "group" },
      el("p", {}, task.kind === "label" ? T.chooseOne : T.chooseAll), ...buttons);
    if (task.kind === "multilabel") {
      submitButton = el("button", { onclick: () => submit(task.options.filter((o) => chosen.has(o))) }, T.submit);
    }
  }
  const release = (reason) => () => send({ type: "release", assignment: task.assignment, reason, next: true });
  root.replaceChildren(el("div", { class: "card task", "data-assignment": task.assignment },
    el("p", { class: "meta" },
      el("span", {}, el("strong", {}, task.set.title), " ", badge(sets.get(task.set.id)), " · ",
        el("a", { href: task.set.instructions, target: "_blank" }, T.instructions)),
      el("span", {}, `${T.reward}: ${task.reward.display}`), clock),
    body, answerArea, submitButton || "",
    el("div", { class: "release" },
      el("button", { class: "secondary", onclick: release("skip") }, T.skip),
      el("button", { class: "secondary", onclick: release("broken") }, T.broken),
      el("button", { class: "secondary", onclick: release("disturbing") }, T.disturbing)),
    el("p", { class: "small helptext" }, T.keys)));
}

function submit(answer) {
  if (!current) return;
  const entry = {
    type: "submit", assignment: current.assignment, answer, submission_id: uuid(),
    seconds: Math.round((Date.now() - shownAt) / 1000),
  };
  if (new Blob([JSON.stringify(entry)]).size > MAX_MESSAGE_BYTES) return showBanner(T.tooLong);
  saveOutbox([...outbox(), entry]); // kept before anything is sent
  answered.set(current.assignment, current);
  current = null;
  root.replaceChildren(el("p", { class: "card" }, T.saved));
  flush(true);
}

// One outbox entry in flight at a time, oldest first; the last one asks for the next task.
function flush(wantNext) {
  const items = outbox();
  if (sending || !ws || ws.readyState !== 1) return status(ws && ws.readyState === 1 ? T.live : T.offline);
  if (!items.length) return wantNext && !current ? claim() : status(T.live);
  sending = items[0];
  send({ ...sending, next: items.length === 1 && !current });
  status(T.live);
}

function settle(submissionId) {
  const items = outbox();
  const done = items.find((e) => e.submission_id === submissionId);
  if (done) answered.delete(done.assignment);
  saveOutbox(items.filter((e) => e.submission_id !== submissionId));
  sending = null;
}

function claim() { send({ type: "claim" }); }

function onMessage(msg) {
  switch (msg.type) {
    case "welcome":
      showEarnings(msg.worker.earnings);
      showSets(msg.sets, true);
      // Resume the held task unless its answer is already waiting in the outbox.
      if (msg.assignment && !outbox().some((e) => e.assignment === msg.assignment.assignment)) later(() => showTask(msg.assignment));
      flush(true);
      break;
    case "task": later(() => showTask(msg)); break;
    case "no_task": later(() => { current = null; showMessage(msg.message); }); break;
    case "submitted":
      showEarnings(msg.earnings);
      if (msg.feedback) {
        // Training only: show it before anything else, and hold what comes next.
        const entry = outbox().find((e) => e.submission_id === msg.submission_id);
        feedbacks.push({ feedback: msg.feedback, answer: entry?.answer, task: entry && answered.get(entry.assignment) });
        if (current) { const held = current; current = null; afterFeedback = () => showTask(held); }
        if (feedbacks.length === 1) showFeedback();
      }
      settle(msg.submission_id);
      flush(false);
      break;
    case "released": current = null; break;
    case "revoked":
      if (current && current.assignment === msg.assignment) { current = null; showMessage(T.revoked); }
      break;
    case "sets":
      showSets(msg.sets, false);
      if (!current && !feedbacks.length && msg.sets.some((s) => s.available)) showMessage(T.setsOpen);
      break;
    case "error": {
      // Refusals name their message; an unnamed one while an answer is in flight is
      // that answer's (refused before it could be read).
      const mine = sending && (msg.submission_id ? msg.submission_id === sending.submission_id : !msg.assignment);
      if (mine && RETRYABLE.has(msg.code)) {
        sending = null;
        setTimeout(() => flush(false), 2000);
      } else if (mine) {
        const task = answered.get(sending.assignment);
        settle(sending.submission_id);
        // A wrong answer leaves the task yours: show it again. Otherwise move on.
        if (msg.code === "invalid_answer" && task && !current) showTask(task);
        flush(!current);
      } else if (RETRYABLE.has(msg.code) && !current) {
        setTimeout(claim, 2000);
      }
      showBanner(msg.message);
      break;
    }
    case "pong": clearTimeout(pongTimer); break;
  }
}

function showBanner(text) {
  const banner = el("p", { class: "banner", role: "alert" }, text);
  root.prepend(banner);
  setTimeout(() => banner.remove(), 8000);
}

function connect() {
  clearTimeout(pongTimer);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.ws;
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => {
    sock.opened = true;
    delay = 1000;
    send({ type: "hello", version: 1, auto_next: true, lang: document.documentElement.lang });
  };
  sock.onmessage = (e) => {
    bytes += e.data.length;
    onMessage(JSON.parse(e.data));
  };
  sock.onclose = (e) => {
    if (sock !== ws) return; // an old socket, already replaced
    sending = null;
    status(T.offline);
    if (e.code === 4403) { // suspended (or no longer vetted): stop, and say where to look
      current = null;
      root.replaceChildren(el("div", { class: "card", id: "stopped" }, el("p", {}, T.stopped),
        el("a", { class: "button", href: root.dataset.home }, T.myWork)));
      return;
    }
    // Signed out, or the password changed, after the socket was open (perhaps on another
    // phone): load the page again, so a shared phone shows the sign-in page and not the
    // previous worker's task. Refused at the start, stop (no reload loop).
    if (e.code === 4401) { if (sock.opened) location.reload(); return; }
    if (!navigator.onLine) return; // the "online" event reconnects: no wasted retries
    setTimeout(connect, delay + Math.random() * 1000);
    delay = Math.min(delay * 2, 30000);
  };
}

// A dead connection on a flaky network can look open for minutes: ping, and reconnect
// if nothing comes back.
setInterval(() => {
  // A silent connection: replace it at once (closing a dead one can take a minute).
  if (send({ type: "ping" })) {
    pongTimer = setTimeout(() => { const old = ws; sending = null; connect(); old.close(); }, 10000);
  }
}, 25000);
addEventListener("online", () => { if (!ws || ws.readyState > 1) { delay = 1000; connect(); } });
// The phone says the network is gone: a socket that looks open is likely dead, and
// answers must go to the outbox rather than into it.
addEventListener("offline", () => { if (ws) ws.close(); status(T.offline); });
addEventListener("keydown", (e) => {
  if (feedbacks.length) {
    if (e.key === "Enter") { e.preventDefault(); nextFeedback(); }
    return;
  }
  if (!current || e.target.tagName === "TEXTAREA" && !(e.key === "Enter" && e.ctrlKey)) return;
  const card = root.querySelector(".task");
  if (/^[1-9]$/.test(e.key)) card.querySelector(`[data-key="${e.key}"]`)?.click();
  else if (e.key === "Enter") [...card.querySelectorAll(":scope > button")].pop()?.click();
  else if (e.key === "s" || e.key === "S") card.querySelector(".release button")?.click();
});
if (window.WebSocket) connect();
