// The console's entry: sign-in, the header, and the routes (in the fragment, so that nothing
// but a file id ever appears in an address; the key never does).

import { call, forgetKey, onUnauthorised, storedKey, storeKey } from "./api.js";
import { showChat } from "./chat.js";
import { announce, h, replace } from "./dom.js";
import { showFile } from "./filepage.js";
import { showGallery } from "./gallery.js";
import { session } from "./state.js";
import { resetUploads } from "./upload.js";
import { showUsage } from "./usage.js";

const main = document.getElementById("main");
let leaving = null; // aborts the current view's polling when the route changes

function signIn(message = "") {
  leaving?.abort(); // (a view still loading must not draw over the form)
  leaving = null;
  session.tenant = null;
  document.getElementById("account").hidden = true;
  const error = h("p", { class: "error", id: "sign-in-error", role: "alert" }, message);
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "api-key-help sign-in-error",
  });
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h(
      "p",
      { id: "api-key-help", class: "help" },
      "A key looks like scopix_xxxxxxxx_…. Make one with ",
      h("code", {}, "scopix-server keys create"),
      ". It is kept in this tab's session storage only and sent as a header, never in an address.",
    ),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!/^scopix_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{32,}$/.test(key)) {
      error.textContent = "That is not an API key: it should look like scopix_xxxxxxxx_ followed by a long secret.";
      input.focus();
      return;
    }
    storeKey(key);
    try {
      await loadTenant();
      route();
    } catch (problem) {
      forgetKey();
      error.textContent =
        problem.status === 401 ? "The server does not know this key (or it was revoked)." : problem.message;
      input.focus();
    }
  });
  replace(main, form);
  document.title = "Sign in · Scopix console";
  input.focus();
}

async function loadTenant() {
  const tenant = await call("GET", "/tenant");
  session.tenant = tenant;
  const label = document.getElementById("tenant");
  replace(
    label,
    h("span", { class: "tenant-name" }, tenant.name),
    " ",
    h("span", { class: "badge tier", title: "Subscription tier" }, tenant.subscription_tier),
  );
  document.getElementById("account").hidden = false;
}

let routed = false;

async function route() {
  // (other fragments, e.g. the skip link's #main, are places in the page, not routes)
  if (location.hash && !location.hash.startsWith("#/")) return;
  leaving?.abort();
  if (routed) main.focus({ preventScroll: false }); // a new view: the reader starts at its top
  routed = true;
  document.getElementById("tooltip").hidden = true;
  const here = new AbortController();
  leaving = here;
  if (!storedKey()) return signIn();
  if (!session.tenant) {
    try {
      await loadTenant();
    } catch (problem) {
      if (here.signal.aborted) return;
      if (problem.status === 401) return signIn("The key was refused; sign in again.");
      replace(main, h("p", { class: "error", role: "alert" }, problem.message));
      return;
    }
    if (here.signal.aborted) return; // (another route began meanwhile: it draws the page)
  }
  const path = location.hash.replace(/^#/, "") || "/";
  const file = path.match(/^\/files\/([0-9a-fA-F-]{36})$/);
  if (file) return showFile(main, file[1], here.signal);
  if (path === "/usage") return showUsage(main, here.signal);
  const chat = path.match(/^\/chat(?:\/([0-9a-fA-F-]{36}))?$/);
  if (chat) return showChat(main, here.signal, chat[1] || null);
  return showGallery(main, here.signal);
}

document.getElementById("sign-out").addEventListener("click", () => {
  resetUploads(); // (nothing queued under this key goes on under the next one)
  forgetKey();
  announce("Signed out.");
  location.hash = "#/";
  signIn();
});
onUnauthorised(() => {
  if (!session.tenant) return; // (signing in: the form says why)
  resetUploads();
  forgetKey();
  signIn("The server refused the key (revoked or expired?); sign in again.");
});
document.querySelector("a.skip").addEventListener("click", (event) => {
  event.preventDefault(); // (the address keeps its route)
  main.focus();
});
window.addEventListener("hashchange", route);
route();
