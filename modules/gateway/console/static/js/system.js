// The system view (admins): modules and the processes running them (the gateway's
// status read model, fed by heartbeats), events per minute per type over the last
// 15 minutes, outbox backlog and dead letters per module, operator links.
//
// Each module answers for itself at `<its primary prefix>/admin/...` (the kernel's
// operations API), so in the split shape Traefik takes each request to the process
// that owns the module; the console never reaches one module through another.

import { api } from "./api.js";
import { formatTime, h, replace, showError, svg } from "./dom.js";

// Module -> its primary prefix (its first path prefix under /api/). A test checks
// this against the module descriptors.
export const ADMIN_PATHS = {
  gateway: "/api/v1/dashboard/admin",
  auth: "/api/v1/auth/admin",
  project: "/api/v1/projects/admin",
  billing: "/api/v1/billing/admin",
  notification: "/api/v1/notifications/admin",
  analytics: "/api/v1/analytics/admin",
};
const MINUTES = 15;
const REFRESH_MS = 5000;
// Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

let timer = null;

export function stopSystem() {
  clearInterval(timer);
  timer = null;
}

export async function showSystem(main) {
  stopSystem();
  const overview = h("p", { id: "system-overview", class: "muted" }, "Loading…");
  const modules = h("div", { id: "system-modules" });
  const chart = h("figure", { id: "event-chart", class: "chart" });
  const links = h("ul", { id: "operator-links", class: "operator-links" });
  replace(
    main,
    h(
      "div",
      { class: "system" },
      h("h1", {}, "System"),
      overview,
      h("section", { "aria-labelledby": "modules-title" }, h("h2", { id: "modules-title" }, "Modules and processes"), modules),
      h("section", { "aria-labelledby": "chart-title" }, h("h2", { id: "chart-title" }, `Events per minute (last ${MINUTES} minutes)`), chart),
      h("section", { "aria-labelledby": "links-title" }, h("h2", { id: "links-title" }, "Observability"), links),
    ),
  );
  loadLinks(links);
  const refresh = () => Promise.all([loadStatus(overview, modules), loadChart(chart)]);
  await refresh();
  timer = setInterval(() => {
    if (!document.body.contains(modules)) stopSystem();
    else refresh();
  }, REFRESH_MS);
}

async function loadStatus(overview, container) {
  let status;
  try {
    status = await api("GET", "/api/v1/status");
  } catch (error) {
    replace(overview, error.message);
    return;
  }
  const byModule = new Map();
  for (const process of status.modules) {
    if (!byModule.has(process.module)) byModule.set(process.module, []);
    byModule.get(process.module).push(process);
  }
  const buses = [...new Set(status.modules.map((p) => p.bus))].join(", ") || "unknown";
  const processes = new Set(status.modules.map((p) => p.process)).size;
  replace(
    overview,
    h("span", { id: "system-mode" }, `Shape: ${status.mode}`),
    " · ",
    h("span", { id: "system-bus" }, `bus: ${buses}`),
    " · ",
    `${byModule.size} modules in ${processes} process${processes === 1 ? "" : "es"}`,
  );
  const rows = [...byModule.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([module, list]) => moduleRow(module, list));
  // Keep an open replay result visible across refreshes.
  const results = new Map([...container.querySelectorAll("[data-replay-result]")].map((e) => [e.dataset.replayResult, e.textContent]));
  replace(
    container,
    h(
      "table",
      { class: "modules-table" },
      h("caption", { class: "visually-hidden" }, "Modules, their processes, outbox backlog and dead letters"),
      h(
        "thead",
        {},
        h("tr", {}, ["Module", "Processes", "Version", "Bus", "Last seen", "Outbox backlog", "Dead letters", ""].map((t) => h("th", { scope: "col" }, t))),
      ),
      h("tbody", {}, rows),
    ),
  );
  for (const [module, text] of results) {
    const cell = container.querySelector(`[data-replay-result="${module}"]`);
    if (cell) cell.textContent = text;
  }
}

function moduleRow(module, processes) {
  const alive = processes.filter((p) => p.alive);
  const backlog = processes.reduce((sum, p) => sum + p.outbox_backlog, 0);
  // Every process of a module reads the same dead-letter table: show the freshest figure.
  const latest = processes.reduce((a, b) => (a.last_seen > b.last_seen ? a : b));
  const deadLetters = latest.dead_letters;
  const result = h("span", { class: "replay-result", dataset: { replayResult: module }, role: "status" });
  const replay = h(
    "button",
    { type: "button", class: "secondary", disabled: deadLetters === 0 || !ADMIN_PATHS[module] },
    "Replay",
    h("span", { class: "visually-hidden" }, ` dead letters of ${module}`),
  );
  replay.addEventListener("click", async () => {
    replay.disabled = true;
    try {
      const answer = await api("POST", `${ADMIN_PATHS[module]}/dead-letters/replay`);
      const failed = Object.keys(answer.failed).length;
      result.textContent = `replayed ${answer.replayed.length}${failed ? `, ${failed} failed again` : ""}`;
    } catch (error) {
      showError(error.message);
    }
  });
  return h(
    "tr",
    { dataset: { module } },
    h("th", { scope: "row" }, module, alive.length ? null : h("span", { class: "pill down" }, "down")),
    h("td", {}, h("ul", { class: "plain" }, processes.map((p) => h("li", { class: p.alive ? "" : "muted" }, p.process)))),
    h("td", {}, [...new Set(processes.map((p) => p.version))].join(", ")),
    h("td", {}, [...new Set(processes.map((p) => p.bus))].join(", ")),
    h("td", {}, formatTime(latest.last_seen)),
    h("td", { class: "number", dataset: { backlog: backlog } }, String(backlog)),
    h("td", { class: "number", dataset: { deadLetters } }, String(deadLetters)),
    h("td", {}, replay, " ", result),
  );
}

async function loadChart(figure) {
  const answers = await Promise.all(
    Object.entries(ADMIN_PATHS).map(([module, path]) =>
      api("GET", `${path}/events?minutes=${MINUTES}`).catch((error) => ({ module, error, per_minute: [] })),
    ),
  );
  const unreachable = answers.filter((a) => a.error).map((a) => a.module);
  const now = new Date();
  now.setSeconds(0, 0);
  const minutes = Array.from({ length: MINUTES }, (_, i) => new Date(now.getTime() - (MINUTES - 1 - i) * 60000));
  const counts = new Map(); // type -> number[MINUTES]
  for (const answer of answers) {
    for (const { minute, type, count } of answer.per_minute) {
      const index = minutes.findIndex((m) => m.getTime() === new Date(minute).getTime());
      if (index === -1) continue;
      const short = type.replace(/^cloudtaskhub\./, "").replace(/\.v\d+$/, "");
      if (!counts.has(short)) counts.set(short, new Array(MINUTES).fill(0));
      counts.get(short)[index] += count;
    }
  }
  const types = [...counts.keys()].sort();
  const totals = minutes.map((_, i) => types.reduce((sum, t) => sum + counts.get(t)[i], 0));
  const peak = Math.max(1, ...totals);
  const width = 600;
  const height = 180;
  const pad = { left: 32, bottom: 22, top: 8, right: 8 };
  const barWidth = (width - pad.left - pad.right) / MINUTES;
  const scale = (height - pad.top - pad.bottom) / peak;
  const bars = [];
  minutes.forEach((minute, i) => {
    let y = height - pad.bottom;
    types.forEach((type, t) => {
      const value = counts.get(type)[i];
      if (!value) return;
      const barHeight = value * scale;
      y -= barHeight;
      bars.push(
        svg(
          "rect",
          { x: pad.left + i * barWidth + 2, y, width: barWidth - 4, height: barHeight, fill: PALETTE[t % PALETTE.length] },
          svg("title", {}, `${minute.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })} ${type}: ${value}`),
        ),
      );
    });
  });
  const axis = [
    svg("line", { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom, class: "axis" }),
    svg("text", { x: pad.left - 4, y: pad.top + 10, "text-anchor": "end", class: "tick" }, String(peak)),
    svg("text", { x: pad.left - 4, y: height - pad.bottom, "text-anchor": "end", class: "tick" }, "0"),
    ...[0, Math.floor(MINUTES / 2), MINUTES - 1].map((i) =>
      svg(
        "text",
        { x: pad.left + i * barWidth + barWidth / 2, y: height - 6, "text-anchor": "middle", class: "tick" },
        minutes[i].toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      ),
    ),
  ];
  const total = totals.reduce((a, b) => a + b, 0);
  replace(
    figure,
    svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-caption", class: "chart-svg" },
      axis,
      bars,
    ),
    h(
      "ul",
      { class: "legend", "aria-label": "Event types" },
      types.length
        ? types.map((type, t) =>
            h(
              "li",
              { dataset: { eventType: type } },
              swatch(PALETTE[t % PALETTE.length]),
              `${type}: ${counts.get(type).reduce((a, b) => a + b, 0)}`,
            ),
          )
        : h("li", { class: "muted" }, "No events in the last 15 minutes."),
    ),
    h(
      "figcaption",
      { id: "chart-caption" },
      `${total} events in the last ${MINUTES} minutes, stacked by type.`,
      unreachable.length ? ` Not reachable: ${unreachable.join(", ")}.` : "",
    ),
  );
}

function swatch(colour) {
  return svg("svg", { width: 12, height: 12, "aria-hidden": "true", class: "swatch" }, svg("rect", { width: 12, height: 12, fill: colour }));
}

async function loadLinks(list) {
  try {
    const links = await api("GET", "/console/links.json");
    const entries = [
      ["Grafana", links.grafana],
      ["Jaeger", links.jaeger],
      ["Prometheus", links.prometheus],
    ];
    replace(
      list,
      entries.map(([name, url]) =>
        h(
          "li",
          {},
          url
            ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, name)
            : h("span", { class: "muted" }, `${name}: not configured`),
        ),
      ),
    );
  } catch (error) {
    replace(list, h("li", { class: "error" }, error.message));
  }
}
