// The task board: the caller's projects; per project a summary, members, a new-task
// form, filters, and columns todo / in progress / done. Cards move by drag and drop
// or with their status menu (keyboard); every change is a PATCH with If-Match, and a
// 412 means someone else changed the task first: the card says so and reloads.

import { ApiError, api } from "./api.js";
import { field, formatDuration, h, replace, showError } from "./dom.js";
import { onNotification } from "./notifications.js";

const COLUMNS = [
  ["todo", "To do"],
  ["in_progress", "In progress"],
  ["done", "Done"],
];
const PRIORITIES = ["low", "medium", "high", "urgent"];
const SUMMARY_EVERY_MS = 3000;

let state = null; // {projectId, members, tasks, filters}
let summaryTimer = null;

onNotification(() => {
  if (state && state.projectId) loadTasks();
});

export async function showBoard(main, projectId) {
  clearInterval(summaryTimer);
  state = { projectId, members: [], tasks: new Map(), filters: { assignee_id: "", priority: "", label: "" } };
  const projectList = h("ul", { class: "project-list", id: "project-list" });
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 200 });
  const create = h(
    "form",
    { class: "inline-form", id: "new-project", "aria-label": "Create a project" },
    field("New project", name),
    h("button", { type: "submit" }, "Create"),
  );
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const project = await api("POST", "/api/v1/projects", { body: { name: name.value.trim() } });
      name.value = "";
      location.hash = `#/board/${project.id}`;
    } catch (error) {
      showError(error.message);
    }
  });
  const detail = h("section", { class: "project-detail", id: "project-detail", "aria-live": "off" });
  replace(
    main,
    h(
      "div",
      { class: "board-layout" },
      h("nav", { class: "projects", "aria-label": "Projects" }, h("h2", {}, "Projects"), projectList, create),
      detail,
    ),
  );
  await loadProjects(projectList);
  if (projectId) await showProject(detail, projectId);
  else replace(detail, h("p", { class: "muted" }, "Choose a project, or create one."));
}

async function loadProjects(list) {
  try {
    const page = await api("GET", "/api/v1/projects?limit=100");
    replace(
      list,
      page.items.length
        ? page.items.map((p) =>
            h(
              "li",
              {},
              h(
                "a",
                { href: `#/board/${p.id}`, "aria-current": p.id === state.projectId ? "page" : null },
                p.name,
              ),
            ),
          )
        : h("li", { class: "muted" }, "No projects yet."),
    );
  } catch (error) {
    replace(list, h("li", { class: "error" }, error.message));
  }
}

async function showProject(detail, projectId) {
  let project;
  try {
    [project, state.members] = await Promise.all([
      api("GET", `/api/v1/projects/${projectId}`),
      api("GET", `/api/v1/projects/${projectId}/members?limit=100`).then((page) => page.items),
    ]);
  } catch (error) {
    replace(detail, h("p", { class: "error" }, error.message));
    return;
  }
  const summary = h("dl", { class: "summary", id: "project-summary", "aria-live": "polite" });
  replace(
    detail,
    h("h1", { id: "project-title" }, project.name),
    project.description ? h("p", { class: "muted" }, project.description) : null,
    summary,
    membersSection(projectId),
    newTaskForm(projectId),
    filtersForm(),
    h(
      "div",
      { class: "columns", id: "columns" },
      COLUMNS.map(([status, title]) => column(status, title)),
    ),
  );
  await loadTasks();
  loadSummary(summary, projectId);
  summaryTimer = setInterval(() => {
    if (!document.body.contains(summary)) clearInterval(summaryTimer);
    else loadSummary(summary, projectId);
  }, SUMMARY_EVERY_MS);
}

async function loadSummary(summary, projectId) {
  try {
    const figures = await api("GET", `/api/v1/analytics/projects/${projectId}/summary`);
    const count = (s) => figures.tasks_by_status[s] || 0;
    const entries = [
      ["To do", count("todo"), "todo"],
      ["In progress", count("in_progress"), "in_progress"],
      ["Done", count("done"), "done"],
      ["Overdue", figures.overdue, "overdue"],
      ["Avg lead time", formatDuration(figures.avg_lead_time_seconds), "lead"],
    ];
    replace(
      summary,
      entries.map(([label, value, key]) =>
        h("div", { dataset: { figure: key } }, h("dt", {}, label), h("dd", {}, String(value))),
      ),
    );
  } catch (error) {
    // Analytics learns about a new project from events; until then it answers 404.
    if (!summary.childElementCount) {
      replace(summary, h("div", {}, h("dt", {}, "Summary"), h("dd", { class: "muted" }, error instanceof ApiError && error.status === 404 ? "catching up…" : error.message)));
    }
  }
}

function memberName(userId) {
  const member = state.members.find((m) => m.user_id === userId);
  return member ? member.display_name || member.email || userId : "someone";
}

function memberOptions(selected, emptyLabel) {
  return [
    h("option", { value: "", selected: !selected }, emptyLabel),
    ...state.members.map((m) =>
      h("option", { value: m.user_id, selected: m.user_id === selected }, m.display_name || m.email),
    ),
  ];
}

function membersSection(projectId) {
  const list = h(
    "ul",
    { class: "members" },
    state.members.map((m) => h("li", {}, `${m.display_name || m.email} (${m.role})`)),
  );
  const email = h("input", { type: "email", name: "email", required: true });
  const form = h(
    "form",
    { class: "inline-form", id: "add-member" },
    field("Add member by email", email),
    h("button", { type: "submit" }, "Add"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", `/api/v1/projects/${projectId}/members`, {
        body: { email: email.value.trim(), role: "member" },
      });
      email.value = "";
      state.members = (await api("GET", `/api/v1/projects/${projectId}/members?limit=100`)).items;
      replace(list, state.members.map((m) => h("li", {}, `${m.display_name || m.email} (${m.role})`)));
      for (const select of document.querySelectorAll("select[data-assignees]")) {
        const value = select.value;
        replace(select, memberOptions(value, select.dataset.assignees));
      }
    } catch (error) {
      showError(error.message);
    }
  });
  return h("details", { class: "members-box" }, h("summary", {}, "Members"), list, form);
}

function newTaskForm(projectId) {
  const title = h("input", { type: "text", name: "title", required: true, maxlength: 200 });
  const priority = h(
    "select",
    { name: "priority" },
    PRIORITIES.map((p) => h("option", { value: p, selected: p === "medium" }, p)),
  );
  const assignee = h("select", { name: "assignee", dataset: { assignees: "Unassigned" } }, memberOptions("", "Unassigned"));
  const labels = h("input", { type: "text", name: "labels", placeholder: "e.g. docs, backend" });
  const form = h(
    "form",
    { class: "task-form", id: "new-task", "aria-label": "Create a task" },
    field("Task title", title),
    field("Priority", priority),
    field("Assignee", assignee),
    field("Labels", labels, "Comma-separated"),
    h("button", { type: "submit" }, "Add task"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      title: title.value.trim(),
      priority: priority.value,
      labels: labels.value.split(",").map((l) => l.trim()).filter(Boolean),
    };
    if (assignee.value) body.assignee_id = assignee.value;
    try {
      await api("POST", `/api/v1/projects/${projectId}/tasks`, { body });
      title.value = "";
      labels.value = "";
      showError("");
      await loadTasks();
    } catch (error) {
      showError(error.message);
    }
  });
  return form;
}

function filtersForm() {
  const assignee = h("select", { name: "assignee_id", dataset: { assignees: "Anyone" } }, memberOptions("", "Anyone"));
  const priority = h(
    "select",
    { name: "priority" },
    h("option", { value: "" }, "Any"),
    PRIORITIES.map((p) => h("option", { value: p }, p)),
  );
  const label = h("input", { type: "search", name: "label", maxlength: 50 });
  const form = h(
    "form",
    { class: "filters", id: "filters", role: "search", "aria-label": "Filter tasks" },
    field("Assignee", assignee),
    field("Priority", priority),
    field("Label", label),
  );
  const apply = () => {
    state.filters = { assignee_id: assignee.value, priority: priority.value, label: label.value.trim() };
    loadTasks();
  };
  assignee.addEventListener("change", apply);
  priority.addEventListener("change", apply);
  label.addEventListener("change", apply);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  return form;
}

function column(status, title) {
  const list = h("ul", { class: "cards", dataset: { status }, "aria-labelledby": `col-${status}` });
  const section = h(
    "section",
    { class: "column", dataset: { status }, "aria-labelledby": `col-${status}` },
    h("h2", { id: `col-${status}` }, title, " ", h("span", { class: "count", dataset: { countFor: status } }, "0")),
    list,
  );
  section.addEventListener("dragover", (event) => {
    event.preventDefault();
    section.classList.add("drop-target");
  });
  section.addEventListener("dragleave", () => section.classList.remove("drop-target"));
  section.addEventListener("drop", (event) => {
    event.preventDefault();
    section.classList.remove("drop-target");
    const taskId = event.dataTransfer.getData("text/plain");
    if (taskId) changeTask(taskId, { status });
  });
  return section;
}

async function loadTasks() {
  if (!state.projectId || !document.getElementById("columns")) return;
  const query = new URLSearchParams({ limit: "100" });
  for (const [key, value] of Object.entries(state.filters)) if (value) query.set(key, value);
  const tasks = [];
  try {
    let cursor = null;
    do {
      if (cursor) query.set("cursor", cursor);
      const page = await api("GET", `/api/v1/projects/${state.projectId}/tasks?${query}`);
      tasks.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && tasks.length < 1000);
  } catch (error) {
    showError(error.message);
    return;
  }
  state.tasks = new Map(tasks.map((t) => [t.id, t]));
  for (const [status] of COLUMNS) {
    const list = document.querySelector(`ul.cards[data-status="${status}"]`);
    const own = tasks.filter((t) => t.status === status);
    replace(list, own.length ? own.map(card) : h("li", { class: "empty muted" }, "Nothing here."));
    document.querySelector(`[data-count-for="${status}"]`).textContent = String(own.length);
  }
}

function card(task, notice) {
  const status = h(
    "select",
    { "aria-label": `Status of ${task.title}`, class: "status-select", name: "status" },
    COLUMNS.map(([value, title]) => h("option", { value, selected: value === task.status }, title)),
  );
  status.addEventListener("change", () => changeTask(task.id, { status: status.value }));
  const assignee = h(
    "select",
    { "aria-label": `Assignee of ${task.title}`, class: "assignee-select", name: "assignee", dataset: { assignees: "Unassigned" } },
    memberOptions(task.assignee_id, "Unassigned"),
  );
  assignee.addEventListener("change", () => changeTask(task.id, { assignee_id: assignee.value || null }));
  const item = h(
    "li",
    {
      class: `card priority-${task.priority}`,
      draggable: "true",
      dataset: { taskId: task.id, version: task.version },
      "aria-label": task.title,
    },
    h("h3", {}, task.title),
    h(
      "p",
      { class: "meta" },
      h("span", { class: `pill priority-${task.priority}` }, task.priority),
      task.labels.map((l) => h("span", { class: "pill label" }, l)),
    ),
    h("p", { class: "assignee" }, task.assignee_id ? `Assigned to ${memberName(task.assignee_id)}` : "Unassigned"),
    h("div", { class: "card-controls" }, assignee, status),
    notice ? h("p", { class: "card-notice", role: "status" }, notice) : null,
  );
  item.addEventListener("dragstart", (event) => {
    event.dataTransfer.setData("text/plain", task.id);
    event.dataTransfer.effectAllowed = "move";
  });
  return item;
}

async function changeTask(taskId, changes) {
  const task = state.tasks.get(taskId);
  if (!task) return;
  try {
    const updated = await api("PATCH", `/api/v1/tasks/${taskId}`, {
      body: changes,
      headers: { "If-Match": `"${task.version}"` },
    });
    showError("");
    placeCard(updated);
  } catch (error) {
    if (error instanceof ApiError && error.status === 412) {
      // Someone changed it after we loaded it: show theirs, say so, let the user retry.
      try {
        const fresh = await api("GET", `/api/v1/tasks/${taskId}`);
        placeCard(fresh, "Changed elsewhere — reloaded. Try again if you still want your change.");
      } catch (reload) {
        showError(reload.message);
      }
    } else {
      showError(error.message);
      placeCard(task); // put the card back as it was
    }
  }
}

function placeCard(task, notice) {
  state.tasks.set(task.id, task);
  document.querySelector(`li.card[data-task-id="${task.id}"]`)?.remove();
  const list = document.querySelector(`ul.cards[data-status="${task.status}"]`);
  if (!list) return;
  list.querySelector(".empty")?.remove();
  list.prepend(card(task, notice));
  for (const [status] of COLUMNS) {
    const column = document.querySelector(`ul.cards[data-status="${status}"]`);
    const cards = column.querySelectorAll("li.card").length;
    if (!cards && !column.querySelector(".empty")) column.append(h("li", { class: "empty muted" }, "Nothing here."));
    document.querySelector(`[data-count-for="${status}"]`).textContent = String(cards);
  }
  const summary = document.getElementById("project-summary");
  if (summary && state.projectId) setTimeout(() => loadSummary(summary, state.projectId), 300);
}
