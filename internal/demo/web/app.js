// The demo's channel page. The server sends every message, ephemeral reply
// and file as an item whose body is HTML it rendered from Block Kit; this
// script places items in their channel and thread, keeps messages that
// change in place, shows ephemeral replies only to their viewer, and
// sends what the visitor types and clicks back to the server, which signs
// it and posts it to Hoist as Slack would.
"use strict";

const state = {
  setup: null,
  me: null, // the person the visitor is
  channel: null, // the channel shown
  items: new Map(), // item id -> item
  unread: new Map(), // channel id -> count
};

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function post(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!resp.ok) {
    let message = resp.statusText;
    try { message = (await resp.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
}

function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

// --- who and where -------------------------------------------------------

function person(id) {
  if (id === state.setup.bot_id) return { name: state.setup.bot_name, bot: true };
  if (id === "USLACKBOT") return { name: "Slackbot", bot: true };
  return state.setup.people.find((p) => p.id === id) || { name: id };
}

function initials(name) {
  return name.slice(0, 1).toUpperCase();
}

function renderPeople() {
  const box = $("people");
  box.replaceChildren();
  for (const p of state.setup.people) {
    const b = el("button", "person" + (p.id === state.me ? " current" : ""));
    b.type = "button";
    b.dataset.user = p.id;
    b.setAttribute("aria-pressed", p.id === state.me ? "true" : "false");
    b.append(el("span", "avatar avatar-" + p.name, initials(p.name)), el("span", "person-title", p.title));
    b.addEventListener("click", () => becomePerson(p.id));
    box.append(b);
  }
}

function becomePerson(id) {
  state.me = id;
  localStorage.setItem("hoist-demo-me", id);
  document.body.dataset.me = id;
  renderPeople();
  for (const item of state.items.values()) placeItem(item);
  markMentions(document);
  updateComposer();
}

function renderChannels() {
  const list = $("channels");
  list.replaceChildren();
  for (const c of state.setup.channels) {
    const li = el("li", "sidebar-channel" + (c.id === state.channel ? " current" : ""));
    li.dataset.channel = c.id;
    li.append(el("span", "hash", "#"), el("span", "sidebar-channel-name", c.name));
    const n = state.unread.get(c.id) || 0;
    if (n > 0 && c.id !== state.channel) li.append(el("span", "badge", String(n)));
    li.addEventListener("click", () => showChannel(c.id));
    list.append(li);
  }
}

function showChannel(id) {
  state.channel = id;
  state.unread.set(id, 0);
  const c = state.setup.channels.find((ch) => ch.id === id);
  $("channel-name").textContent = "# " + c.name;
  $("channel-topic").textContent = c.topic;
  for (const pane of document.querySelectorAll(".pane")) pane.hidden = pane.dataset.channel !== id;
  renderChannels();
  updateComposer();
  scrollToEnd(true);
}

function pane(channel) {
  let p = document.querySelector(`.pane[data-channel="${CSS.escape(channel)}"]`);
  if (!p) {
    p = el("div", "pane");
    p.dataset.channel = channel;
    p.hidden = channel !== state.channel;
    $("messages").append(p);
  }
  return p;
}

// --- items ---------------------------------------------------------------

function visible(item) {
  return item.kind !== "ephemeral" || item.viewer === state.me;
}

function domID(id) {
  return "item-" + id;
}

function formatTime(at) {
  const d = new Date(at);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

function renderItem(item) {
  const box = el("div", "msg msg-" + item.kind);
  box.id = domID(item.id);
  if (item.ts) box.dataset.ts = item.ts;
  box.dataset.channel = item.channel;
  box.dataset.edits = String(item.edits);
  const author = person(item.author);
  const main = el("div", "msg-main");
  main.append(el("div", "avatar " + (author.bot ? "avatar-bot" : "avatar-" + author.name), author.bot ? "⬆" : initials(author.name)));
  const content = el("div", "msg-content");
  if (item.kind === "ephemeral") content.append(el("div", "only-you", "👁 Only visible to you"));
  const head = el("div", "msg-head");
  head.append(el("span", "msg-author", author.name));
  if (author.bot) head.append(el("span", "app-badge", "APP"));
  head.append(el("span", "msg-time", formatTime(item.at)));
  content.append(head);
  if (item.command) content.append(el("div", "msg-command", item.command));
  const body = el("div", "msg-body");
  if (item.kind === "file") {
    body.append(fileCard(item.file));
  } else {
    body.innerHTML = item.html; // rendered and escaped by the server
  }
  content.append(body);
  main.append(content);
  box.append(main);
  return box;
}

function fileCard(file) {
  const card = el("div", "file-card");
  card.append(el("span", "file-icon", "📄"));
  const info = el("div", "file-info");
  info.append(el("div", "file-name", file.name), el("div", "file-meta", `Plain text · ${formatSize(file.size)}`));
  card.append(info);
  const view = el("button", "bk-button file-view", "View");
  view.type = "button";
  view.dataset.file = file.id;
  view.addEventListener("click", () => viewFile(file));
  card.append(view);
  return card;
}

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  return `${(n / 1024).toFixed(1)} KB`;
}

async function viewFile(file) {
  const resp = await fetch(`/demo/files/${encodeURIComponent(file.id)}`);
  if (!resp.ok) {
    toast("The file is not there any more.");
    return;
  }
  $("file-viewer-name").textContent = file.name;
  $("file-viewer-content").textContent = await resp.text();
  $("file-viewer").showModal();
}

// placeItem puts an item where it belongs: replaced in place when it is
// shown already, else at the end of its channel or of its thread.
function placeItem(item) {
  const old = document.getElementById(domID(item.id));
  if (!visible(item)) {
    if (old) old.remove();
    return;
  }
  const fresh = renderItem(item);
  if (old) {
    const thread = old.querySelector(":scope > .thread");
    if (thread) fresh.append(thread);
    old.replaceWith(fresh);
    return;
  }
  if (item.thread_ts) {
    const parent = document.getElementById(domID(`msg-${item.channel}-${item.thread_ts}`));
    if (parent) {
      let thread = parent.querySelector(":scope > .thread");
      if (!thread) {
        thread = el("div", "thread");
        thread.append(el("div", "thread-head", "Thread"));
        parent.append(thread);
      }
      thread.append(fresh);
      const n = thread.querySelectorAll(":scope > .msg").length;
      thread.firstChild.textContent = n === 1 ? "1 reply" : `${n} replies`;
      return;
    }
  }
  const p = pane(item.channel);
  // Keep arrival order when items come back after an identity switch.
  const next = [...p.children].find((c) => orderOf(c.id) > orderOf(domID(item.id)));
  p.insertBefore(fresh, next || null);
}

function orderOf(elementID) {
  return state.order.get(elementID.slice("item-".length)) ?? Infinity;
}

function upsert(item) {
  const isNew = !state.items.has(item.id);
  state.items.set(item.id, item);
  if (isNew) state.order.set(item.id, state.order.size);
  const nearEnd = isNearEnd();
  placeItem(item);
  const shown = document.getElementById(domID(item.id));
  if (shown) {
    markMentions(shown);
    // A log tail ends with its newest line: show that end.
    for (const pre of shown.querySelectorAll(".bk-pre")) pre.scrollTop = pre.scrollHeight;
  }
  if (isNew && visible(item) && item.channel !== state.channel) {
    state.unread.set(item.channel, (state.unread.get(item.channel) || 0) + 1);
    renderChannels();
  }
  if (nearEnd) scrollToEnd(false);
}

function markMentions(root) {
  for (const m of root.querySelectorAll(".bk-mention[data-user]")) {
    m.classList.toggle("me", m.dataset.user === state.me);
  }
}

function isNearEnd() {
  const m = $("messages");
  return m.scrollHeight - m.scrollTop - m.clientHeight < 120;
}

function scrollToEnd(now) {
  const m = $("messages");
  if (now) m.scrollTop = m.scrollHeight;
  else requestAnimationFrame(() => { m.scrollTop = m.scrollHeight; });
}

function reset(items) {
  state.items.clear();
  state.order = new Map();
  $("messages").replaceChildren();
  for (const item of items) upsert(item);
  state.unread.clear();
  renderChannels();
  scrollToEnd(true);
}

// --- what the visitor does ----------------------------------------------

async function clickButton(button) {
  const msg = button.closest(".msg");
  if (!msg || !msg.dataset.ts) return;
  button.disabled = true;
  button.classList.add("busy");
  try {
    await post("/demo/action", {
      user: state.me,
      channel: msg.dataset.channel,
      message_ts: msg.dataset.ts,
      action_id: button.dataset.actionId,
      value: button.dataset.value,
    });
  } catch (e) {
    toast(e.message);
  } finally {
    button.disabled = false;
    button.classList.remove("busy");
  }
}

function onClick(event) {
  const link = event.target.closest("a.bk-link");
  if (link && openPermalink(link.href)) {
    event.preventDefault();
    return;
  }
  if (link && link.href.startsWith(state.setup.jenkins_url)) {
    event.preventDefault();
    toast("This Jenkins is simulated by the demo and has no pages: the build's log is in the thread, and uploaded when the build ends.");
    return;
  }
  const button = event.target.closest("button.bk-button[data-action-id]");
  if (!button) return;
  if (button.hasAttribute("data-confirm")) {
    const dialog = button.nextElementSibling;
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "confirm") clickButton(button);
    }, { once: true });
    dialog.showModal();
    return;
  }
  clickButton(button);
}

// openPermalink shows the message a Slack permalink points at, when it is
// one of this workspace's, and reports whether it did.
function openPermalink(href) {
  const m = /\/archives\/([A-Z0-9]+)\/p(\d+)(\d{6})/.exec(href);
  if (!m || !state.setup.channels.some((c) => c.id === m[1])) return false;
  showChannel(m[1]);
  const target = document.querySelector(`.msg[data-channel="${m[1]}"][data-ts="${m[2]}.${m[3]}"]`);
  if (target) {
    target.scrollIntoView({ block: "center" });
    target.classList.add("highlight");
    setTimeout(() => target.classList.remove("highlight"), 2000);
  }
  return true;
}

async function onSubmit(event) {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  try {
    await post("/demo/command", { user: state.me, channel: state.channel, text });
  } catch (e) {
    input.value = text;
    toast(e.message);
  }
}

function updateComposer() {
  const c = state.setup.channels.find((ch) => ch.id === state.channel);
  const me = state.setup.people.find((p) => p.id === state.me);
  $("composer-input").placeholder = `Message #${c.name} as ${me.name}: try /deploy demo master`;
  $("composer-hint").textContent = me.admin
    ? `${me.name} is an admin: she can approve releases to staging and production.`
    : `${me.name} is a developer: he can deploy and bring up test environments, but not approve.`;
}

function renderSuggestions() {
  const box = $("suggestions");
  for (const s of ["/deploy demo master", "/env up demo feature/login", "/deploy demo latest", "/hoist status", "/env list", "/hoist help"]) {
    const b = el("button", "suggestion", s);
    b.type = "button";
    b.addEventListener("click", () => {
      const input = $("composer-input");
      input.value = s;
      input.focus();
    });
    box.append(b);
  }
}

function connect() {
  const events = new EventSource("/demo/events");
  events.addEventListener("reset", (e) => {
    $("connection").hidden = true;
    reset(JSON.parse(e.data));
  });
  events.addEventListener("item", (e) => upsert(JSON.parse(e.data)));
  events.addEventListener("error", () => { $("connection").hidden = false; });
}

async function start() {
  state.order = new Map();
  state.setup = await (await fetch("/demo/setup")).json();
  $("team").textContent = state.setup.team;
  const asked = new URLSearchParams(location.search).get("as");
  const byName = state.setup.people.find((p) => p.name === asked);
  const saved = localStorage.getItem("hoist-demo-me");
  state.me = byName ? byName.id
    : state.setup.people.some((p) => p.id === saved) ? saved : state.setup.people[0].id;
  document.body.dataset.me = state.me;
  renderPeople();
  renderSuggestions();
  showChannel(state.setup.channels[0].id);
  $("messages").addEventListener("click", onClick);
  $("composer").addEventListener("submit", onSubmit);
  connect();
  document.body.dataset.ready = "true";
}

start().catch((e) => toast("The demo did not start: " + e.message));
