// A file as a card (gallery, similar files), and its status badge.

import { local } from "./api.js";
import { placeholder } from "./blurhash.js";
import { h, replace } from "./dom.js";

/** The badge of a list item or details: Processing, Failed or Ready. */
export function statusOf(file) {
  if (!file.is_terminal) return { state: "processing", label: "Processing" };
  if (file.status === "failed" || file.description_status === "failed") {
    return { state: "failed", label: "Failed" };
  }
  return { state: "ready", label: "Ready" };
}

const ICONS = { document: "DOC", video: "VIDEO", link: "LINK" };

function thumbnail(file) {
  const box = h("div", { class: "thumb" });
  const painted = placeholder(file.blur_hash);
  if (painted) box.append(painted);
  if (file.thumbnail_url) {
    const img = h("img", { src: local(file.thumbnail_url), alt: "", loading: "lazy", decoding: "async" });
    img.addEventListener("load", () => box.classList.add("loaded"));
    box.append(img);
  } else if (!painted) {
    box.append(h("span", { class: "icon", "aria-hidden": "true" }, ICONS[file.media_type] || "FILE"));
  }
  return box;
}

export function card(file) {
  const status = statusOf(file);
  const name = file.title || file.filename;
  const item = h(
    "li",
    { class: "file-card", dataset: { id: file.id, state: status.state } },
    h(
      "a",
      { href: `#/files/${file.id}`, class: "file-link" },
      thumbnail(file),
      h("span", { class: "file-name" }, name),
      h(
        "span",
        { class: "file-meta" },
        h("span", { class: `badge status-${status.state}` }, status.label),
        h("span", { class: "media-type" }, file.media_type),
      ),
    ),
  );
  return item;
}

/** Put ``file``'s new state into its card (processing ended, a thumbnail appeared). */
export function refresh(item, file) {
  const status = statusOf(file);
  if (item.dataset.state === status.state && item.querySelector("img")) return;
  const fresh = card(file);
  item.dataset.state = status.state;
  replace(item, ...fresh.childNodes);
}
