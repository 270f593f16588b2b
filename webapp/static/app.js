// Haetae's web page: a chat client that speaks the public API (API.md) of any node it knows.
//
// Like the Go client it keeps a list of endpoints (the page's own node, then those GET /v1/endpoints
// names), moves to the next one on connection errors, time-outs and 502/503/504, retries a send with the
// same client_id (so a retry never posts twice), and resumes the live feed from its cursor (so nothing is
// missed and nothing shown twice). Retries are bounded three ways, so that clients cannot multiply a
// surge: a time budget per call, a retry budget (retries at most 10% of calls, plus a small reserve), and
// the adaptive throttle of Google's SRE book, which refuses calls locally when the servers accept too
// few of them. Everything is shown with textContent: no message can inject markup.
"use strict";

const ATTEMPT_MS = 10000;        // one HTTP attempt
const BUDGET_MS = 30000;         // one call, retries included
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5000;
const THROTTLE_WINDOW_MS = 120000;
const THROTTLE_K = 2;            // the SRE book's K: accept up to K requests per server accept
const THROTTLE_MIN = 10;         // requests in the window before it refuses any: a lone call's retries pass
const ROOMS_EVERY_MS = 15000;
const MAX_ENDPOINTS = 32;
const STORE = "haetae.web";

const $ = (id) => document.getElementById(id);

const state = {
  endpoints: [location.origin],
  cur: 0,
  token: "",
  name: "",
  room: null,        // the open room
  cursor: 0,         // seq of the last message shown in the open room
  shown: new Map(),  // client_id -> <li> of the open room's messages sent from this page
  ws: null,
  wsFailures: 0,
  discoveredAt: 0,
};

class APIError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// ---- bounded retries ------------------------------------------------------------------------------

// throttle is the adaptive client-side throttle: over the last two minutes, a call is refused locally
// with probability max(0, (requests - K*accepts) / (requests + 1)) once it counts THROTTLE_MIN requests
// (on fewer, the rule would hold back a lone call's retries). An answer of any kind but 503 (or no
// answer at all) counts as an accept.
const throttle = {
  events: [], // {t, accepted}
  prune(now) {
    while (this.events.length && now - this.events[0].t > THROTTLE_WINDOW_MS) this.events.shift();
  },
  allow() {
    const now = Date.now();
    this.prune(now);
    const requests = this.events.length;
    if (requests < THROTTLE_MIN) return true;
    const accepts = this.events.filter((e) => e.accepted).length;
    const p = Math.max(0, (requests - THROTTLE_K * accepts) / (requests + 1));
    return Math.random() >= p;
  },
  record(accepted) {
    this.events.push({ t: Date.now(), accepted });
    if (this.events.length > 10000) this.events.shift();
  },
};

// retryBudget lets retries be at most a tenth of calls: each call earns 0.1 token, each retry spends one.
const retryBudget = {
  tokens: 10,
  earn() { this.tokens = Math.min(10, this.tokens + 0.1); },
  spend() {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  },
};

function backoff(round) {
  const d = Math.min(BACKOFF_BASE_MS * 2 ** Math.max(round - 1, 0), BACKOFF_MAX_MS);
  return d / 2 + Math.random() * (d / 2); // jitter over the upper half
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function retryAfterMs(resp) {
  const v = resp.headers.get("Retry-After");
  const s = v ? parseInt(v, 10) : 0;
  return Number.isFinite(s) && s > 0 ? Math.min(s, 30) * 1000 : 0;
}

// api makes one call of the API, failing over between endpoints. headers may carry an Idempotency-Key;
// bodies of sends carry their client_id, so retrying is safe.
async function api(method, path, body, headers = {}) {
  if (!throttle.allow()) {
    throw new APIError(0, "throttled", "too many calls are failing; waiting before trying again");
  }
  retryBudget.earn();
  const deadline = Date.now() + BUDGET_MS;
  const eps = state.endpoints.slice();
  const start = state.cur % eps.length;
  let last = null;
  let retryAfter = 0;
  for (let attempt = 0; ; attempt++) {
    const i = (start + attempt) % eps.length;
    if (attempt > 0 && !retryBudget.spend()) break;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), ATTEMPT_MS);
    try {
      const h = { Accept: "application/json", ...headers };
      if (body !== undefined) h["Content-Type"] = "application/json";
      if (state.token) h.Authorization = "Bearer " + state.token;
      const resp = await fetch(eps[i] + path, {
        method, headers: h, signal: ctl.signal,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await resp.text();
      const data = text ? JSON.parse(text) : null;
      if (resp.ok) {
        throttle.record(true);
        state.cur = state.endpoints.indexOf(eps[i]);
        discover(eps[i]);
        return data;
      }
      const err = new APIError(resp.status, data?.error?.code || "http_" + resp.status, data?.error?.message);
      if (![502, 503, 504].includes(resp.status)) {
        throttle.record(true); // the server answered; the request was the problem
        throw err;
      }
      throttle.record(false);
      last = err;
      retryAfter = Math.max(retryAfter, retryAfterMs(resp));
    } catch (e) {
      if (e instanceof APIError && ![502, 503, 504].includes(e.status)) throw e;
      if (!(e instanceof APIError)) {
        throttle.record(false);
        last = new APIError(0, "unavailable", "no answer from " + eps[i]);
      }
    } finally {
      clearTimeout(timer);
    }
    if ((attempt + 1) % eps.length === 0) {
      const wait = Math.max(backoff((attempt + 1) / eps.length), retryAfter);
      retryAfter = 0;
      if (Date.now() + wait > deadline) break;
      await sleep(wait);
    }
  }
  throw last || new APIError(0, "unavailable", "no server answered");
}

// discover learns the cluster's other endpoints from the node that just answered, at most every five
// minutes, and keeps them after the page's own node.
async function discover(base) {
  if (Date.now() - state.discoveredAt < 300000) return;
  state.discoveredAt = Date.now();
  try {
    const resp = await fetch(base + "/v1/endpoints", { headers: { Accept: "application/json" } });
    if (!resp.ok) return;
    const { endpoints } = await resp.json();
    for (const e of endpoints || []) {
      let u;
      try { u = new URL(e.url); } catch { continue; }
      if (u.protocol !== "http:" && u.protocol !== "https:") continue;
      const origin = u.origin;
      if (!state.endpoints.includes(origin) && state.endpoints.length < MAX_ENDPOINTS) {
        state.endpoints.push(origin);
      }
    }
    save();
  } catch { /* the list stays as it is */ }
}

function newClientID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ---- session ----------------------------------------------------------------------------------------

function save() {
  localStorage.setItem(STORE, JSON.stringify({ token: state.token, name: state.name, endpoints: state.endpoints }));
}

function load() {
  try {
    const s = JSON.parse(localStorage.getItem(STORE) || "{}");
    state.token = s.token || "";
    state.name = s.name || "";
    for (const e of s.endpoints || []) if (!state.endpoints.includes(e)) state.endpoints.push(e);
  } catch { /* a broken entry is a logged-out page */ }
}

function showError(e) {
  const el = $("error");
  if (!e) { el.hidden = true; el.textContent = ""; return; }
  el.textContent = e.code ? `${e.code}: ${e.message}` : String(e);
  el.hidden = false;
  if (e.code === "unauthorized") logout();
}

function setConn(text, cls) {
  const el = $("conn");
  el.textContent = text;
  el.className = "conn " + (cls || "");
}

async function credentials(register) {
  const name = $("name").value.trim();
  const password = $("password").value;
  try {
    if (register) await api("POST", "/v1/users", { name, password });
    const s = await api("POST", "/v1/sessions", { name, password });
    state.token = s.token;
    state.name = name;
    save();
    showError(null);
    enter();
  } catch (e) {
    showError(e);
  }
}

function logout() {
  state.token = "";
  save();
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
  $("chat-view").hidden = true;
  $("login-view").hidden = false;
  $("logout").hidden = true;
  setConn("not connected");
}

// ---- rooms and messages -----------------------------------------------------------------------------

async function refreshRooms() {
  if (!state.token) return;
  try {
    const { rooms } = await api("GET", "/v1/rooms");
    const ul = $("rooms");
    ul.replaceChildren();
    for (const r of rooms) {
      const li = document.createElement("li");
      li.dataset.room = r.id;
      if (state.room && state.room.id === r.id) li.className = "active";
      const title = document.createElement("span");
      title.textContent = r.title || r.members.filter((m) => m !== state.name).join(", ") || r.id;
      li.append(title);
      if (r.unread > 0 && !(state.room && state.room.id === r.id)) {
        const u = document.createElement("span");
        u.className = "unread";
        u.textContent = r.unread;
        li.append(u);
      }
      li.addEventListener("click", () => openRoom(r));
      ul.append(li);
    }
  } catch (e) {
    showError(e);
  }
}

function render(m, li) {
  li = li || document.createElement("li");
  li.className = m.kind || "text";
  li.dataset.seq = m.seq;
  li.dataset.clientId = m.client_id;
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = m.from;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = m.text;
  const at = document.createElement("span");
  at.className = "at";
  at.textContent = m.sent_at ? new Date(m.sent_at).toLocaleTimeString() : "sending…";
  li.replaceChildren(from, text, at);
  return li;
}

// show adds a committed message of the open room once, in seq order, moving the cursor.
function show(m) {
  if (!state.room || m.room !== state.room.id || m.seq <= state.cursor) return;
  state.cursor = m.seq;
  const mine = state.shown.get(m.client_id);
  const ol = $("messages");
  if (mine && m.from === state.name) {
    render(m, mine);
    ol.append(mine); // committed order wins over the order of typing
  } else {
    ol.append(render(m));
  }
  ol.scrollTop = ol.scrollHeight;
}

async function openRoom(r) {
  state.room = r;
  state.cursor = 0;
  state.shown.clear();
  $("room-name").textContent = r.title || r.members.join(", ");
  $("messages").replaceChildren();
  $("send-form").hidden = false;
  try {
    // The last page: the server caps a huge `before` at the room's end.
    const page = await api("GET", `/v1/rooms/${encodeURIComponent(r.id)}/messages?before=9007199254740991&limit=50`);
    if (state.room !== r) return;
    for (const m of page.messages) show(m);
    if (state.cursor > 0) api("POST", `/v1/rooms/${encodeURIComponent(r.id)}/read`, { seq: state.cursor }).catch(() => {});
  } catch (e) {
    showError(e);
  }
  connectLive();
  refreshRooms();
}

async function send(text) {
  const room = state.room;
  const clientID = newClientID();
  const li = render({ from: state.name, text, client_id: clientID, kind: "text" });
  li.classList.add("pending");
  state.shown.set(clientID, li);
  $("messages").append(li);
  try {
    // The same client_id on every retry: the server stores the message once.
    const m = await api("POST", `/v1/rooms/${encodeURIComponent(room.id)}/messages`, { client_id: clientID, text });
    li.classList.remove("pending");
    show(m);
    api("POST", `/v1/rooms/${encodeURIComponent(room.id)}/read`, { seq: m.seq }).catch(() => {});
    showError(null);
  } catch (e) {
    li.classList.add("failed");
    showError(e);
  }
}

// ---- live delivery ----------------------------------------------------------------------------------

// connectLive (re)opens the WebSocket on the current endpoint and subscribes to the open room from the
// cursor. When it ends it moves to the next endpoint and tries again after a backoff; the server sends
// every message after the cursor and show() drops anything at or below it, so there is no gap and no
// duplicate.
function connectLive() {
  if (state.ws) { const old = state.ws; state.ws = null; old.close(); }
  if (!state.token || !state.room) return;
  const base = state.endpoints[state.cur % state.endpoints.length];
  const url = base.replace(/^http/, "ws") + "/v1/live?token=" + encodeURIComponent(state.token);
  let ws;
  try { ws = new WebSocket(url); } catch { return retryLive(); }
  state.ws = ws;
  const room = state.room;
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: "subscribe", room: room.id, after: state.cursor }));
    setConn("live via " + new URL(base).host, "ok");
  };
  ws.onmessage = (ev) => {
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    if (f.type === "message" && f.message) {
      state.wsFailures = 0;
      show(f.message);
    } else if (f.type === "error" && f.error) {
      if (["not_found", "unauthorized", "invalid"].includes(f.error.code)) {
        showError(new APIError(0, f.error.code, f.error.message));
      }
    }
  };
  ws.onclose = () => {
    if (state.ws !== ws) return; // replaced on purpose
    state.ws = null;
    setConn("reconnecting…", "bad");
    retryLive();
  };
}

function retryLive() {
  state.wsFailures++;
  state.cur = (state.cur + 1) % state.endpoints.length;
  setTimeout(connectLive, backoff(state.wsFailures));
}

// ---- wiring -----------------------------------------------------------------------------------------

function enter() {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("logout").hidden = false;
  setConn("connected as " + state.name, "ok");
  refreshRooms();
}

$("login-form").addEventListener("submit", (e) => { e.preventDefault(); credentials(false); });
$("register").addEventListener("click", () => credentials(true));
$("logout").addEventListener("click", logout);
$("new-room").addEventListener("submit", async (e) => {
  e.preventDefault();
  const members = $("room-members").value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    const r = await api("POST", "/v1/rooms", { title: $("room-title").value.trim(), members }, { "Idempotency-Key": newClientID() });
    $("room-title").value = "";
    $("room-members").value = "";
    await openRoom(r);
  } catch (err) {
    showError(err);
  }
});
$("send-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("text").value;
  if (!t.trim()) return;
  $("text").value = "";
  send(t);
});
setInterval(() => { if (!document.hidden) refreshRooms(); }, ROOMS_EVERY_MS);

load();
if (state.token) enter();
