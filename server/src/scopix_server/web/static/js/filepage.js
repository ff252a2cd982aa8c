// One file: the picture with its text regions and faces drawn over it, what the server found
// (description, tags, visible text, labels, metadata), its variants, actions (download,
// describe again, delete) and similar files; documents show pages, text and chunks.

import { blob, call, local, text } from "./api.js";
import { card, statusOf } from "./cards.js";
import { announce, confirmDialog, formatBytes, formatDate, h, percent, replace, sleep } from "./dom.js";
import { overlay } from "./overlay.js";
import { pollDelay } from "./state.js";

function section(title, ...content) {
  const id = `section-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "facet", "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

function viewer(file) {
  const source = file.medium_url || file.full_url || file.thumbnail_url;
  if (!source) {
    return h("div", { class: "viewer empty" }, h("p", {}, file.is_terminal ? "No preview." : "The preview appears when processing ends."));
  }
  const onPicture = file.media_type === "image";
  const regions = (file.text_regions || []).filter((r) => onPicture || !r.page || r.page === 1);
  const faces = onPicture ? file.faces || [] : [];
  const img = h("img", {
    id: "preview",
    src: local(source),
    alt: file.description ? `Preview: ${file.description}` : `Preview of ${file.filename}`,
  });
  const stage = h("div", { class: "stage" }, img, overlay(regions, faces));
  const toggles = h(
    "div",
    { class: "toggles" },
    toggle("show-regions", `Text boxes (${regions.length})`, stage, "hide-regions"),
    toggle("show-faces", `Faces (${faces.length})`, stage, "hide-faces"),
  );
  return h("figure", { class: "viewer" }, stage, h("figcaption", {}, toggles));
}

function toggle(id, label, stage, hiddenClass) {
  const box = h("input", { type: "checkbox", id, checked: true });
  box.addEventListener("change", () => stage.classList.toggle(hiddenClass, !box.checked));
  return h("span", {}, box, h("label", { for: id }, label));
}

function tagEditor(file, problem) {
  let tags = [...(file.user_tags || [])];
  const list = h("ul", { class: "chips", id: "tag-list", "aria-label": "Your tags" });
  const input = h("input", { id: "new-tag", type: "text", maxlength: 50, autocomplete: "off" });
  const status = h("span", { class: "help", role: "status" });

  async function save(next) {
    try {
      const changed = await call("PATCH", `/files/${file.id}`, { json: { tags: next } });
      tags = next;
      file.tags = changed.tags;
      draw();
      status.textContent = "Saved.";
      problem.textContent = "";
    } catch (error) {
      problem.textContent = `The tags were not saved: ${error.message}`;
    }
  }
  function draw() {
    replace(
      list,
      tags.map((tag) =>
        h(
          "li",
          { class: "chip" },
          h("span", {}, tag),
          h(
            "button",
            { type: "button", class: "remove", "aria-label": `Remove tag ${tag}`, onclick: () => save(tags.filter((t) => t !== tag)) },
            "×",
          ),
        ),
      ),
    );
  }
  draw();
  const form = h(
    "form",
    { class: "row", id: "tag-form" },
    h("label", { for: "new-tag" }, "Add a tag"),
    input,
    h("button", { type: "submit" }, "Add"),
    status,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const tag = input.value.trim();
    if (!tag || tags.includes(tag)) return;
    input.value = "";
    save([...tags, tag]);
  });
  const suggested = (file.tags || []).filter((t) => !tags.includes(t));
  return [
    list,
    form,
    suggested.length ? h("p", { class: "help" }, "Found by the analyser: ", suggested.join(", ")) : null,
  ];
}

function metadata(file) {
  const rows = [
    ["File name", file.filename],
    ["Type", `${file.media_type} (${file.content_type})`],
    ["Size", formatBytes(file.size_bytes)],
    ["Dimensions", file.dimensions ? `${file.dimensions.width} × ${file.dimensions.height}` : null],
    ["Format", file.format],
    ["Pages", file.page_count],
    ["Taken", formatDate(file.content_created_at)],
    ["Uploaded", formatDate(file.created_at)],
    ["Content hash", file.content_hash],
    ["Processing", file.status],
    ["Description", file.description_status],
    ["Variants", file.variant_status],
    ["Text extraction", file.text_extraction_status],
    ["Search index", file.embedding_status],
    ["Analysis", file.analysis_level],
    ["Safety score", file.safety_score === null || file.safety_score === undefined ? null : percent(file.safety_score)],
    ["Id", file.id],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  return h("dl", { class: "meta" }, rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))]));
}

function variants(file) {
  const links = [
    ["Thumbnail", file.thumbnail_url],
    ["Medium (750 px)", file.medium_url],
    ["Large (1,024 px)", file.full_url],
    ["Original", file.original_url],
  ].filter(([, url]) => url);
  return h(
    "ul",
    { class: "plain" },
    links.map(([name, url]) => h("li", {}, h("a", { href: local(url), target: "_blank", rel: "noopener noreferrer" }, name))),
  );
}

async function documentParts(file, signal) {
  const box = h("div", { id: "document" });
  if (file.text_extraction_status !== "completed") {
    box.append(h("p", {}, `Text extraction: ${file.text_extraction_status || "pending"}.`));
    return box;
  }
  try {
    const [full, chunks] = await Promise.all([
      text(`/files/${file.id}/text`),
      call("GET", `/files/${file.id}/chunks`, { query: { limit: 20 }, signal }),
    ]);
    const shown = full.length > 20000 ? `${full.slice(0, 20000)}…` : full;
    box.append(
      h("h3", {}, "Text"),
      h("pre", { class: "text", tabindex: 0, "aria-label": "Document text" }, shown),
      h("h3", {}, `Chunks (${chunks.total_count})`),
      h(
        "ol",
        { class: "chunks" },
        chunks.items.map((chunk) =>
          h(
            "li",
            {},
            h("span", { class: "pages" }, chunk.page_numbers?.length ? `Page ${chunk.page_numbers.join(", ")}` : ""),
            h("p", {}, chunk.text.length > 600 ? `${chunk.text.slice(0, 600)}…` : chunk.text),
          ),
        ),
      ),
    );
  } catch (error) {
    box.append(h("p", { class: "error" }, error.message));
  }
  return box;
}

async function similar(file, signal) {
  const box = h("ul", { class: "grid small", id: "similar" });
  try {
    const found = await call("GET", `/files/${file.id}/similar`, { query: { limit: 8 }, signal });
    const items = found.items || found.results || [];
    if (!items.length) return h("p", {}, "Nothing similar yet.");
    box.append(...items.map((item) => card({ is_terminal: true, status: "completed", ...item, id: item.id || item.image_id })));
  } catch (error) {
    if (error.name === "AbortError") return null;
    return h("p", { class: "error" }, error.message);
  }
  return box;
}

function actions(file, problem) {
  const download = h("button", { type: "button", id: "download" }, "Download");
  download.addEventListener("click", async () => {
    try {
      const data = await blob(`/files/${file.id}/download`);
      const url = URL.createObjectURL(data);
      const a = h("a", { href: url, download: file.filename });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      problem.textContent = `Download failed: ${error.message}`;
    }
  });
  const again = h("button", { type: "button", id: "describe-again", class: "secondary" }, "Describe again");
  again.addEventListener("click", async () => {
    try {
      await call("POST", `/files/${file.id}/describe`, { json: {} });
      announce("Describing again.");
      // drawn again as a new route: this view's polling ends, the new one follows the work
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  const remove = h("button", { type: "button", id: "delete", class: "danger" }, "Delete");
  remove.addEventListener("click", async () => {
    if (!(await confirmDialog(`Delete ${file.filename}? It can be restored by an operator for 30 days.`))) return;
    try {
      await call("DELETE", `/files/${file.id}`);
      announce(`${file.filename} deleted.`);
      location.hash = "#/";
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  return h("div", { class: "row actions" }, download, again, remove);
}

export async function showFile(main, id, signal) {
  let file;
  try {
    file = await call("GET", `/files/${id}`, { signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    replace(
      main,
      h("p", { class: "error", role: "alert" }, error.status === 404 ? "This file does not exist (or was deleted)." : error.message),
      h("a", { href: "#/" }, "Back to the library"),
    );
    return;
  }
  const name = file.title || file.filename;
  document.title = `${name} · Scopix console`;
  const status = statusOf(file);
  const problem = h("p", { class: "error", role: "alert" });
  const facts = [
    actions(file, problem),
    problem,
    section(
      "Description",
      file.description ? h("p", { id: "description" }, file.description) : h("p", {}, `Description: ${file.description_status}.`),
      file.description_error ? h("p", { class: "error" }, file.description_error) : null,
    ),
    section("Tags", ...tagEditor(file, problem)),
    file.visible_text ? section("Visible text", h("pre", { class: "text", id: "visible-text" }, file.visible_text)) : null,
    file.labels?.length
      ? section(
          "Labels",
          h("ul", { class: "plain labels" }, file.labels.map((l) => h("li", {}, `${l.label} (${percent(l.confidence)})`))),
        )
      : null,
    file.text_regions?.length
      ? section(
          "Text regions",
          h(
            "table",
            { class: "regions" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Text"), h("th", { scope: "col" }, "Confidence"), h("th", { scope: "col" }, "Page"))),
            h(
              "tbody",
              {},
              file.text_regions.map((r) => h("tr", {}, h("td", {}, r.text), h("td", {}, percent(r.confidence)), h("td", {}, r.page ?? ""))),
            ),
          ),
        )
      : null,
    section("Details", metadata(file)),
    section("Variants", variants(file)),
  ];
  const similarBox = h("div", {}, h("p", {}, "Looking for similar files…"));
  const page = [
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Library"), " / ", h("span", { "aria-current": "page" }, name)),
    h("h1", {}, name, " ", h("span", { class: `badge status-${status.state}`, id: "file-status" }, status.label)),
    h("div", { class: "file-layout" }, viewer(file), h("div", { class: "facts" }, facts)),
  ];
  if (file.media_type === "document") page.push(section("Document", await documentParts(file, signal)));
  page.push(section("Similar files", similarBox));
  if (signal.aborted) return;
  document.getElementById("tooltip").hidden = true; // (its box may be gone with the old page)
  replace(main, ...page);
  main.dataset.fileId = file.id;
  similar(file, signal).then((found) => found && replace(similarBox, found));
  if (!file.is_terminal) follow(main, file, signal);
}

/** Until processing ends, the status is asked for; then the page is drawn again. */
async function follow(main, file, signal) {
  while (!signal.aborted) {
    await sleep(pollDelay(1500), signal);
    if (signal.aborted) return;
    try {
      const status = await call("GET", `/files/${file.id}/status`, { signal });
      if (status.is_terminal) {
        announce(`${file.filename}: processing finished.`);
        return showFile(main, file.id, signal);
      }
    } catch {
      // next round
    }
  }
}
