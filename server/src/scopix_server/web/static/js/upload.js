// Drag-and-drop upload of many files: a queue with a progress bar per file, a few uploads at
// a time, large files as direct uploads (in parts), and each file's outcome in words: done,
// already in the library, or refused with the server's own message.

import { call, directUpload, uploadFile, watchFiles } from "./api.js";
import { announce, formatBytes, h, replace } from "./dom.js";
import { session } from "./state.js";

const meta = (name, fallback) => Number(document.querySelector(`meta[name="${name}"]`)?.content || fallback);
const DIRECT_FROM = meta("scopix-direct-upload-bytes", 32 * 1024 * 1024);
const MAX_UPLOAD = meta("scopix-max-upload-bytes", 100 * 1024 * 1024);

function row(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
  const state = h("span", { class: "state" }, "Waiting");
  const item = h(
    "li",
    { class: "upload", dataset: { state: "waiting", name: file.name } },
    h("span", { class: "name" }, file.name),
    h("span", { class: "size" }, formatBytes(file.size)),
    progress,
    state,
  );
  return {
    item,
    set(stateName, message, link = null) {
      item.dataset.state = stateName;
      replace(state, message, link ? [" ", h("a", { href: `#/files/${link}` }, "Open")] : []);
    },
    progress(loaded, total) {
      progress.value = total ? Math.round((100 * loaded) / total) : 0;
    },
  };
}

// The panel lives as long as the signed-in session: uploads go on while the user looks at a
// file; signing out cancels them and forgets the queue.
let panel = null;
let notify = null;
let lifetime = new AbortController();

/** The upload panel; ``onFinished`` is called when a round of uploads ends. */
export function uploadPanel({ onFinished }) {
  notify = onFinished;
  panel ||= build(lifetime.signal, () => notify?.());
  return panel;
}

/** Cancel every upload and forget the queue (sign-out, a refused key). */
export function resetUploads() {
  lifetime.abort();
  lifetime = new AbortController();
  panel = null;
  notify = null;
}

function build(signal, onFinished) {
  // (the label "choose files" is the control keyboards reach; the input itself is not a stop)
  const input = h("input", { id: "file-input", type: "file", multiple: true, class: "visually-hidden", tabindex: -1 });
  const queue = h("ol", { class: "queue", id: "upload-queue", "aria-label": "Uploads" });
  const skip = h("input", { id: "skip-duplicates", type: "checkbox", checked: true });
  const describe = h("input", { id: "auto-describe", type: "checkbox", checked: true });
  const tags = h("input", { id: "upload-tags", type: "text", placeholder: "optional, comma-separated" });
  const zone = h(
    "section",
    { class: "dropzone", id: "dropzone", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Upload"),
    h(
      "p",
      {},
      "Drop files here, or ",
      h("label", { for: "file-input", class: "button", tabindex: 0, id: "choose-files" }, "choose files"),
      input,
      ". Pictures, PDFs, Word documents, text and videos.",
    ),
    h(
      "div",
      { class: "options" },
      h("span", {}, skip, h("label", { for: "skip-duplicates" }, "Skip files already in the library")),
      h("span", {}, describe, h("label", { for: "auto-describe" }, "Describe and tag")),
      h("span", {}, h("label", { for: "upload-tags" }, "Tags"), tags),
    ),
    queue,
  );

  const pending = [];
  let running = 0;
  const following = new Map(); // file id -> row, processing after its upload

  function options() {
    const list = tags.value
      .split(",")
      .map((tag) => tag.trim())
      .filter(Boolean);
    return { skip: skip.checked, describe: describe.checked, tags: list };
  }
  window.addEventListener(
    "beforeunload",
    (event) => {
      if (running || pending.length) event.preventDefault(); // (the browser asks to confirm)
    },
    { signal },
  );

  async function one(file, view, chosen) {
    if (signal.aborted) return;
    view.set("uploading", "Uploading");
    const onProgress = (loaded, total) => view.progress(loaded, total);
    try {
      let record;
      const fields = { skip_duplicates: chosen.skip, auto_describe: chosen.describe };
      if (chosen.tags.length) fields.tags = chosen.tags.join(",");
      if (file.size >= DIRECT_FROM) {
        try {
          record = await directUpload(
            file,
            {
              skip_duplicates: chosen.skip,
              auto_describe: chosen.describe,
              tags: chosen.tags.length ? chosen.tags : undefined,
            },
            onProgress,
            signal,
          );
        } catch (error) {
          if (error.code !== "STORAGE_UNREACHABLE") throw error;
          // the storage does not accept this page's requests (see "Direct uploads from the
          // console" in the server's README): the bytes go through the server instead
          if (file.size > MAX_UPLOAD) {
            error.message =
              "the storage refused the browser (does the bucket have a CORS rule for this page?), " +
              `and the file is over the server's ${formatBytes(MAX_UPLOAD)} limit for other uploads`;
            throw error;
          }
          view.set("uploading", "Uploading (through the server: the storage refused the browser)");
          record = await uploadFile(file, fields, onProgress, signal);
        }
      } else {
        record = await uploadFile(file, fields, onProgress, signal);
      }
      view.progress(1, 1);
      if (record.skipped || record.deduplicated) {
        const existing = record.skipped_existing_image_id || record.image_id;
        view.set("duplicate", "Already in your library", existing);
      } else if (record.status === "processing") {
        view.set("processing", "Processing", record.image_id);
        following.set(record.image_id, view);
      } else {
        view.set(record.status === "failed" ? "failed" : "done", record.status === "failed" ? "Failed" : "Done", record.image_id);
      }
    } catch (error) {
      if (error.code === "CANCELLED") return view.set("failed", "Cancelled");
      const refused = error.status >= 400 && error.status < 500;
      view.set(refused ? "refused" : "failed", `${refused ? "Refused" : "Failed"}: ${error.message}`);
    }
  }

  async function pump() {
    if (signal.aborted) {
      pending.length = 0;
      return;
    }
    const limit = Math.max(1, Math.min(session.tenant?.limits?.concurrent_uploads || 3, 3));
    while (running < limit && pending.length) {
      const [file, view, chosen] = pending.shift();
      running += 1;
      one(file, view, chosen).finally(() => {
        running -= 1;
        if (signal.aborted) return;
        if (!pending.length && running === 0) finished();
        else pump();
      });
    }
  }

  function finished() {
    const states = [...queue.children].map((item) => item.dataset.state);
    const refused = states.filter((s) => s === "refused" || s === "failed").length;
    announce(`Uploads sent${refused ? `; ${refused} refused or failed` : ""}.`);
    onFinished?.();
  }

  function add(files) {
    const chosen = options();
    for (const file of files) {
      const view = row(file);
      queue.prepend(view.item);
      pending.push([file, view, chosen]);
    }
    announce(`${files.length} file${files.length === 1 ? "" : "s"} queued for upload.`);
    pump();
  }

  input.addEventListener("change", () => {
    if (input.files.length) add([...input.files]);
    input.value = "";
  });
  zone.querySelector("#choose-files").addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...(event.dataTransfer?.files || [])];
    if (files.length) add(files);
  });

  followProcessing(following, signal);
  return zone;
}

/** Until each uploaded file's processing ends: Done, or Failed with the reason. (The gallery
 * follows its own cards.) */
function followProcessing(following, signal) {
  const seen = async (found, ids) => {
    for (const id of ids) {
      const file = found.get(id);
      const view = following.get(id);
      if (!view) continue;
      if (!file) {
        following.delete(id);
        view.set("failed", "Deleted before its processing ended");
        continue;
      }
      if (!file.is_terminal) continue;
      following.delete(id);
      if (file.status === "failed" || file.description_status === "failed") {
        let reason = "processing failed";
        try {
          const status = await call("GET", `/files/${id}/status`, { signal });
          reason = status.description_error || reason;
        } catch {
          // the generic reason; the file's page shows the details
        }
        view.set("failed", `Failed: ${reason}`, id);
      } else {
        view.set("done", "Done", id);
      }
    }
  };
  watchFiles(() => [...following.keys()], seen, 1500, signal);
}

// A file dropped outside the drop zone must not replace the console with the file itself.
for (const name of ["dragover", "drop"]) {
  window.addEventListener(name, (event) => {
    if (!event.target.closest?.("#dropzone")) event.preventDefault();
  });
}
