// Live notifications: the unread count, a panel, and the SSE stream.
//
// EventSource cannot send an Authorization header, and a token in the URL would
// end up in logs. So the stream is read with fetch() and a ReadableStream, which
// sends the bearer token like every other call; the server needs nothing special.

import { ApiError, accessToken, api, refresh } from "./api.js";
import { formatTime, h, replace } from "./dom.js";

const STREAM = "/api/v1/notifications/stream";
let controller = null;
let unread = 0;
let retryDelay = 1000;
const subscribers = new Set();

export function onNotification(callback) {
  subscribers.add(callback);
}

export function start() {
  stop();
  controller = new AbortController();
  retryDelay = 1000;
  refreshUnread();
  listen(controller.signal);
}

export function stop() {
  if (controller) controller.abort();
  controller = null;
}

async function refreshUnread() {
  try {
    const page = await api("GET", "/api/v1/notifications?unread=true&limit=100");
    setUnread(page.items.length, Boolean(page.next_cursor));
  } catch {
    setUnread(unread, false); // keep what we had; the stream or the next open corrects it
  }
}

function setUnread(count, more = false) {
  unread = count;
  const badge = document.getElementById("unread");
  badge.textContent = more ? `${count}+` : String(count);
  badge.dataset.count = String(count);
}

async function listen(signal) {
  while (!signal.aborted) {
    try {
      await readStream(signal);
      retryDelay = 1000; // the server closed a healthy stream: reconnect promptly
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) {
        try {
          await refresh();
          continue;
        } catch {
          return; // signed out
        }
      }
      retryDelay = Math.min(retryDelay * 2, 15000);
    }
    await new Promise((resolve) => setTimeout(resolve, retryDelay));
  }
}

async function readStream(signal) {
  const response = await fetch(STREAM, {
    headers: { Accept: "text/event-stream", Authorization: `Bearer ${accessToken()}` },
    cache: "no-store",
    signal,
  });
  if (!response.ok || !response.body) {
    const problem = await response.json().catch(() => null);
    throw new ApiError(response.status, problem);
  }
  // Notifications created while we were not connected count too.
  refreshUnread();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop();
    for (const block of blocks) dispatch(parseEvent(block));
  }
}

// One SSE event block -> {event, data}; comment lines (": keep-alive") are dropped.
export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
  }
  return { event, data: data.join("\n") };
}

function dispatch({ event, data }) {
  if (!data) return;
  let notification;
  try {
    notification = JSON.parse(data);
  } catch {
    return;
  }
  if (!notification || !notification.id || (event !== "message" && event !== "notification")) return;
  if (!notification.read_at) setUnread(unread + 1);
  toast(notification);
  prepend(notification);
  for (const callback of subscribers) callback(notification);
}

function toast(notification) {
  const toasts = document.getElementById("toasts");
  const item = h(
    "div",
    { class: "toast", dataset: { notificationId: notification.id } },
    h("strong", {}, notification.title || "New notification"),
    notification.body ? h("span", {}, notification.body) : null,
  );
  toasts.append(item);
  setTimeout(() => item.remove(), 8000);
}

function row(notification) {
  const markRead = async () => {
    await api("POST", `/api/v1/notifications/${notification.id}/read`).catch(() => {});
    notification.read_at = new Date().toISOString();
    item.classList.add("read");
    button.remove();
    refreshUnread();
  };
  const button = notification.read_at
    ? null
    : h("button", { type: "button", class: "link", onclick: markRead }, "Mark read");
  const item = h(
    "li",
    { class: notification.read_at ? "read" : "unread", dataset: { notificationId: notification.id } },
    h("strong", {}, notification.title),
    notification.body ? h("p", {}, notification.body) : null,
    h("small", {}, formatTime(notification.created_at)),
    button,
  );
  return item;
}

function prepend(notification) {
  const list = document.getElementById("notification-list");
  list.querySelector(".empty")?.remove();
  list.prepend(row(notification));
}

async function loadPanel() {
  const list = document.getElementById("notification-list");
  try {
    const page = await api("GET", "/api/v1/notifications?limit=30");
    replace(list, page.items.length ? page.items.map(row) : h("li", { class: "empty" }, "Nothing yet."));
  } catch (error) {
    replace(list, h("li", { class: "error" }, error.message));
  }
}

export function wirePanel() {
  const bell = document.getElementById("bell");
  const panel = document.getElementById("notifications-panel");
  bell.addEventListener("click", () => {
    const open = panel.hidden;
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) loadPanel();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      panel.hidden = true;
      bell.setAttribute("aria-expanded", "false");
      bell.focus();
    }
  });
  document.getElementById("read-all").addEventListener("click", async () => {
    await api("POST", "/api/v1/notifications/read-all").catch(() => {});
    setUnread(0);
    loadPanel();
  });
}
