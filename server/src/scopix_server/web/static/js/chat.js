// Ask the library: a conversation with the server's chat (a language model with tools over
// the library, or retrieval mode without one), its answer streamed as it is written, the files
// it cites as links to their pages. Sessions are the API's; the address names the open one.

import { ApiError, call, events } from "./api.js";
import { announce, formatDate, h, replace } from "./dom.js";

// (the server's rule: spaces and tabs inside, no other white space, ASCII digits)
const CITATION = /\[file:[ \t]*([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})(?:[ \t]*p\.?[ \t]*([0-9]{1,6}))?[ \t]*\]/g;

/** The answer's text, its citations as links to the files' pages: only those the server
 * checked (the answer's `citations`); anything else that looks like one stays plain text. */
function withLinks(text, citations) {
  const names = new Map((citations || []).map((c) => [c.file_id.toLowerCase(), c.filename]));
  const out = [];
  let last = 0;
  for (const match of text.matchAll(CITATION)) {
    const id = match[1].toLowerCase();
    if (!names.has(id)) continue;
    out.push(text.slice(last, match.index));
    const page = match[2] ? `, p. ${match[2]}` : "";
    out.push(h("a", { class: "citation", href: `#/files/${id}` }, `[${names.get(id) || "file"}${page}]`));
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  return out;
}

function sources(citations) {
  if (!citations?.length) return null;
  return h(
    "div",
    { class: "sources" },
    h("h3", {}, "Sources"),
    h(
      "ul",
      {},
      citations.map((c) =>
        h(
          "li",
          {},
          h("a", { class: "citation", href: `#/files/${c.file_id}` }, c.filename || c.file_id),
          c.pages?.length ? ` (p. ${c.pages.join(", ")})` : "",
        ),
      ),
    ),
  );
}

function message(role, text, citations = [], state = "complete") {
  const body = h("div", { class: "text" }, role === "assistant" ? withLinks(text, citations) : text);
  return h(
    "li",
    { class: `message ${role}`, "data-state": state },
    h("p", { class: "who" }, role === "user" ? "You" : "Scopix"),
    body,
    role === "assistant" ? sources(citations) : null,
  );
}

function sessionList(sessions, current) {
  return h(
    "nav",
    { class: "card chat-sessions", "aria-label": "Conversations" },
    h("h2", {}, "Conversations"),
    h("p", {}, h("a", { href: "#/chat", id: "new-chat" }, "New conversation")),
    sessions.length
      ? h(
          "ul",
          {},
          sessions.map((s) =>
            h(
              "li",
              {},
              h(
                "a",
                { href: `#/chat/${s.id}`, "aria-current": s.id === current ? "page" : null },
                s.title,
              ),
              h("span", { class: "help" }, ` · ${formatDate(s.last_message_at || s.created_at)}`),
            ),
          ),
        )
      : h("p", { class: "help" }, "None yet."),
  );
}

export async function showChat(main, signal, sessionId = null) {
  document.title = "Ask · Scopix console";
  let current = sessionId;
  let sessions = [];
  let earlier = [];
  try {
    const listed = await call("GET", "/chat/sessions", { query: { limit: 20 }, signal });
    sessions = listed.sessions;
    if (current) earlier = (await call("GET", `/chat/sessions/${current}`, { signal })).messages;
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error.status !== 404) {
      replace(main, h("p", { class: "error", role: "alert" }, error.message));
      return;
    }
    current = null; // (a session that is gone: start a new one)
  }
  const log = h(
    "ol",
    { id: "chat-log", class: "chat-log", "aria-label": "Conversation" },
    earlier.map((m) => message(m.role, m.content, m.metadata?.citations)),
  );
  const status = h("p", { id: "chat-status", class: "help", role: "status" });
  const question = h("textarea", {
    id: "chat-question",
    name: "question",
    rows: 3,
    maxlength: 10000,
    required: true,
    "aria-describedby": "chat-help",
  });
  const ask = h("button", { type: "submit", id: "chat-ask" }, "Ask");
  const form = h(
    "form",
    { class: "chat-form", "aria-label": "Ask a question" },
    h("label", { for: "chat-question" }, "Your question"),
    question,
    h(
      "p",
      { id: "chat-help", class: "help" },
      "Answers come from your own files and cite them. Ctrl+Enter sends.",
    ),
    h("div", { class: "row" }, ask, status),
  );
  let list = sessionList(sessions, current);
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const asked = question.value.trim();
    if (!asked) return;
    ask.disabled = true;
    try {
      if (!current) {
        current = (await call("POST", "/chat/sessions", { json: {}, signal })).session_id;
        history.replaceState(null, "", `#/chat/${current}`); // (no new route: this view goes on)
      }
      log.append(message("user", asked));
      question.value = "";
      await answer(current, asked, log, status, signal);
      const listed = await call("GET", "/chat/sessions", { query: { limit: 20 }, signal });
      list.replaceWith((list = sessionList(listed.sessions, current)));
    } catch (error) {
      if (error.name !== "AbortError") {
        status.textContent = "";
        log.append(h("li", { class: "message error", role: "alert" }, error.message));
      }
    } finally {
      ask.disabled = false;
      if (!signal.aborted) question.focus();
    }
  });
  replace(
    main,
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/" }, "Library"),
      " / ",
      h("span", { "aria-current": "page" }, "Ask"),
    ),
    h("h1", {}, "Ask your library"),
    h(
      "div",
      { class: "chat" },
      h("section", { class: "card chat-main", "aria-label": "Conversation" }, log, form),
      list,
    ),
  );
  question.focus();
}

async function answer(sessionId, asked, log, status, signal) {
  const text = h("div", { class: "text" });
  const item = h("li", { class: "message assistant", "data-state": "streaming" }, h("p", { class: "who" }, "Scopix"), text);
  log.append(item);
  let written = "";
  status.textContent = "Thinking…";
  for await (const token of events(`/chat/sessions/${sessionId}/messages/stream`, { message: asked }, signal)) {
    if (token.type === "token") {
      written += token.content || "";
      text.textContent = written;
    } else if (token.type === "status" && token.content) {
      status.textContent = token.content;
    } else if (token.type === "tool_invocation") {
      status.textContent = `Using ${token.data?.name || "a tool"}…`;
    } else if (token.type === "complete") {
      const citations = token.data?.citations || [];
      replace(text, withLinks(written, citations));
      const listed = sources(citations);
      if (listed) item.append(listed);
      item.dataset.state = "complete";
      status.textContent = "";
      announce("The answer is complete.");
      return;
    } else if (token.type === "error") {
      item.dataset.state = "error";
      item.append(h("p", { class: "error", role: "alert" }, token.data?.message || "The answer failed."));
      status.textContent = "";
      return;
    }
  }
  item.dataset.state = "error";
  throw new ApiError(0, "STREAM_CUT", "The answer was cut off; ask again.");
}
