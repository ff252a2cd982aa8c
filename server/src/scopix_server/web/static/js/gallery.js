// The library: upload panel, search and filters, a grid of cards with infinite scroll, and
// live status for the files still being processed (polled, a hundred ids per call).

import { call, watchFiles } from "./api.js";
import { card, refresh } from "./cards.js";
import { announce, h, replace } from "./dom.js";
import { filters } from "./state.js";
import { uploadPanel } from "./upload.js";

const PAGE = 48;
const POLL_MS = 2000;

function query(offset) {
  const q = {
    limit: PAGE,
    offset,
    media_types: filters.media_types,
    status: filters.status,
    date_from: filters.date_from ? `${filters.date_from}T00:00:00Z` : "",
    date_to: filters.date_to ? `${filters.date_to}T23:59:59Z` : "",
    tags: filters.tags
      .split(",")
      .map((tag) => tag.trim())
      .filter(Boolean),
  };
  if (filters.search.trim()) {
    q.search = filters.search.trim();
    q.search_mode = "hybrid";
  }
  return q;
}

function select(id, label, value, options) {
  return [
    h("label", { for: id }, label),
    h(
      "select",
      { id, name: id },
      options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
    ),
  ];
}

function filterForm(onApply) {
  const field = (id, label, type, value, extra = {}) => [
    h("label", { for: id }, label),
    h("input", { id, name: id, type, value, ...extra }),
  ];
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Search and filter the library" },
    h(
      "div",
      { class: "search-row" },
      ...field("search", "Search", "search", filters.search, {
        placeholder: "Words, visible text or a description…",
        maxlength: 500,
      }),
      h("button", { type: "submit" }, "Search"),
    ),
    h(
      "div",
      { class: "filter-row" },
      h(
        "div",
        {},
        ...select("media_types", "Type", filters.media_types, [
          ["", "All types"],
          ["image", "Images"],
          ["document", "Documents"],
          ["video", "Videos"],
        ]),
      ),
      h(
        "div",
        {},
        ...select("status", "Status", filters.status, [
          ["", "Any status"],
          ["processing", "Processing"],
          ["completed", "Ready"],
          ["failed", "Failed"],
        ]),
      ),
      h("div", {}, ...field("tags", "Tags (all of)", "text", filters.tags, { placeholder: "e.g. invoice, 2025" })),
      h("div", {}, ...field("date_from", "Uploaded from", "date", filters.date_from)),
      h("div", {}, ...field("date_to", "Uploaded to", "date", filters.date_to)),
      h("button", { type: "button", class: "secondary", id: "clear-filters" }, "Clear"),
    ),
  );
  const read = () => {
    for (const name of Object.keys(filters)) filters[name] = form.elements[name].value;
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    read();
    onApply();
  });
  form.addEventListener("change", (event) => {
    if (event.target.name !== "search") {
      read();
      onApply();
    }
  });
  form.querySelector("#clear-filters").addEventListener("click", () => {
    for (const name of Object.keys(filters)) {
      filters[name] = "";
      form.elements[name].value = "";
    }
    onApply();
  });
  return form;
}

export function showGallery(main, signal) {
  document.title = "Library · Scopix console";
  const grid = h("ul", { class: "grid", id: "gallery", "aria-labelledby": "library-title" });
  const count = h("p", { class: "count", id: "result-count" });
  const more = h("button", { type: "button", class: "secondary more", hidden: true }, "Load more");
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const problem = h("p", { class: "error", role: "alert" });
  let offset = 0;
  let loading = null;
  let generation = 0;
  let tickets = 0; // (only the newest load may say that no load is running)

  async function load(reset) {
    if (reset) {
      generation += 1;
      offset = 0;
      more.hidden = true; // (no "more" of a list being replaced)
    } else if (loading) {
      return loading;
    }
    const mine = generation;
    const ticket = ++tickets;
    loading = (async () => {
      try {
        const page = await call("GET", "/files", { query: query(offset), signal });
        if (mine !== generation) return;
        if (reset) grid.replaceChildren();
        problem.textContent = "";
        grid.append(...page.items.map(card));
        offset += page.items.length;
        more.hidden = !page.has_more;
        const total = page.total_count;
        count.textContent =
          total === 0
            ? filters.search || Object.values(filters).some(Boolean)
              ? "Nothing matches."
              : "Your library is empty: drop files above to start."
            : `${total} file${total === 1 ? "" : "s"}${filters.search ? ` matching “${filters.search}”` : ""}`;
        if (reset) {
          announce(count.textContent);
          performance.mark("scopix:gallery-painted");
          document.body.dataset.galleryReady = "true";
        }
      } catch (error) {
        if (error.name !== "AbortError") problem.textContent = error.message;
      } finally {
        if (ticket === tickets) loading = null;
      }
    })();
    return loading;
  }

  more.addEventListener("click", () => load(false));
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && !more.hidden) load(false);
  });
  observer.observe(sentinel);
  signal.addEventListener("abort", () => observer.disconnect());

  replace(
    main,
    h("h1", { id: "library-title" }, "Library"),
    uploadPanel({ onFinished: () => load(true) }),
    filterForm(() => load(true)),
    problem,
    count,
    grid,
    more,
    sentinel,
  );
  load(true);
  poll(grid, signal);
}

/** Every two seconds, the cards still processing are asked for again (in one call). */
function poll(grid, signal) {
  const processing = () => [...grid.querySelectorAll('.file-card[data-state="processing"]')];
  const seen = (byId, asked) => {
    for (const item of processing().filter((card) => asked.includes(card.dataset.id))) {
      const file = byId.get(item.dataset.id);
      if (file) refresh(item, file);
      else item.remove(); // deleted meanwhile
    }
  };
  watchFiles(() => processing().map((item) => item.dataset.id), seen, POLL_MS, signal);
}
