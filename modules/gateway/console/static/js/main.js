// Boot: session state, the sign-in page, and hash routes (#/board, #/board/<id>, #/system).

import { api, isAdmin, isSignedIn, login, logout, onSessionChange, register } from "./api.js";
import { showBoard } from "./board.js";
import { field, h, replace, showError } from "./dom.js";
import * as notifications from "./notifications.js";
import { showSystem, stopSystem } from "./system.js";

const main = document.getElementById("main");

function signInPage() {
  showError("");
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", {
    type: "password", name: "password", autocomplete: "current-password", required: true, minlength: 1,
  });
  const displayName = h("input", { type: "text", name: "display_name", autocomplete: "name", maxlength: 100 });
  const nameField = field("Display name", displayName);
  nameField.hidden = true;
  let registering = false;
  const submit = h("button", { type: "submit" }, "Sign in");
  const toggle = h("button", { type: "button", class: "link" }, "New here? Create an account");
  toggle.addEventListener("click", () => {
    registering = !registering;
    nameField.hidden = !registering;
    displayName.required = registering;
    password.autocomplete = registering ? "new-password" : "current-password";
    submit.textContent = registering ? "Create account" : "Sign in";
    toggle.textContent = registering ? "Have an account? Sign in" : "New here? Create an account";
  });
  const form = h(
    "form",
    { class: "card-panel sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in to CloudTaskHub"),
    field("Email", email),
    field("Password", password, "At least 10 characters for a new account."),
    nameField,
    h("div", { class: "actions" }, submit, toggle),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      if (registering) await register(email.value.trim(), password.value, displayName.value.trim());
      else await login(email.value.trim(), password.value);
    } catch (error) {
      showError(error.message);
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, form);
  email.focus();
}

async function fillHeader() {
  document.getElementById("nav").hidden = false;
  document.getElementById("session").hidden = false;
  document.getElementById("nav-system").hidden = !isAdmin();
  try {
    const me = await api("GET", "/api/v1/auth/me");
    document.getElementById("whoami").textContent = me.display_name || me.email;
  } catch {
    document.getElementById("whoami").textContent = "";
  }
}

function route() {
  showError("");
  stopSystem();
  if (!isSignedIn()) {
    signInPage();
    return;
  }
  const [section, id] = location.hash.replace(/^#\/?/, "").split("/");
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.section === (section || "board")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (section === "system" && isAdmin()) showSystem(main);
  else showBoard(main, id || null);
}

function enter() {
  fillHeader();
  notifications.start();
  route();
}

function leave() {
  notifications.stop();
  stopSystem();
  document.getElementById("nav").hidden = true;
  document.getElementById("session").hidden = true;
  document.getElementById("notifications-panel").hidden = true;
  signInPage();
}

onSessionChange((signedIn) => {
  const wasShowingSignIn = Boolean(main.querySelector(".sign-in"));
  if (signedIn && wasShowingSignIn) enter();
  else if (!signedIn) leave();
});

document.getElementById("logout").addEventListener("click", () => logout());
window.addEventListener("hashchange", route);
notifications.wirePanel();

if (isSignedIn()) enter();
else leave();
