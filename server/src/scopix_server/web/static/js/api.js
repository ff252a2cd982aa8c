// The console's API client: the key from session storage as a bearer token, errors as
// ApiError with the server's code and message, uploads with progress (XMLHttpRequest).

import { sleep } from "./dom.js";
import { pollDelay } from "./state.js";

const BASE = "/api/v2";
const KEY = "scopix.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, requestId = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

/** Links the server signed for itself, made relative to the page's own address: the server
 * may know itself by another name (127.0.0.1 where the browser says localhost). */
export function local(url) {
  if (!url) return url;
  try {
    const parsed = new URL(url, location.href);
    if (parsed.pathname.startsWith(`${BASE}/storage/`) && !parsed.searchParams.has("X-Amz-Signature")) {
      return parsed.pathname + parsed.search;
    }
    return parsed.href;
  } catch {
    return url;
  }
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function errorOf(response) {
  let code = "SERVER_ERROR";
  let message = `${response.status} ${response.statusText}`;
  let requestId = response.headers.get("X-Request-ID");
  try {
    const body = await response.json();
    if (body?.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      requestId = body.request_id || requestId;
    }
  } catch {
    // not JSON: keep the status line
  }
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, code, message, requestId, Number.isFinite(retry) ? retry : null);
}

function headers(extra = {}) {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : { ...extra };
}

/** Listeners told of every 401 (the key was revoked or is wrong: back to sign-in). */
const unauthorised = new Set();
export function onUnauthorised(listener) {
  unauthorised.add(listener);
}

/**
 * Until `signal` aborts, every `ms` (or longer: pollDelay) while the page is visible, the files
 * that `ids()` names (a hundred at most) are asked for in one call, and `seen(byId, asked)` is
 * told what came back (an id asked for and missing: deleted meanwhile). A failed call is tried
 * again the next round.
 */
export async function watchFiles(ids, seen, ms, signal) {
  while (!signal.aborted) {
    await sleep(pollDelay(ms), signal);
    if (signal.aborted || document.hidden) continue;
    const asked = ids().slice(0, 100);
    if (asked.length === 0) continue;
    let page;
    try {
      page = await call("GET", "/files", { query: { ids: asked.join(","), limit: 100 }, signal });
    } catch {
      continue;
    }
    await seen(new Map(page.items.map((file) => [file.id, file])), asked);
  }
}

/** One call: JSON in and out; throws ApiError. Rate-limited calls wait and try again (twice). */
export async function call(method, path, { query, json, signal } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const init = { method, headers: headers(), signal };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(BASE + path + queryString(query), init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "NETWORK_ERROR", "The server cannot be reached; check that it is running.");
    }
    if (response.ok) {
      return response.status === 204 ? null : response.json();
    }
    const error = await errorOf(response);
    if (response.status === 401) unauthorised.forEach((listener) => listener(error));
    if (response.status === 429 && attempt < 2) {
      await sleep(1000 * Math.min(error.retryAfter || 1, 30), signal); // (aborted: fetch says so)
      continue;
    }
    throw error;
  }
}

export async function text(path) {
  const response = await fetch(BASE + path, { headers: headers() });
  if (!response.ok) throw await errorOf(response);
  return response.text();
}

export async function blob(path) {
  const response = await fetch(BASE + path, { headers: headers() });
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}

function xhrError(xhr) {
  let code = "SERVER_ERROR";
  let message = xhr.status ? `${xhr.status} ${xhr.statusText}` : "The upload was cut off (network).";
  let requestId = xhr.getResponseHeader("X-Request-ID");
  try {
    const body = JSON.parse(xhr.responseText);
    if (body?.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      requestId = body.request_id || requestId;
    }
  } catch {
    // not JSON
  }
  const retry = Number(xhr.getResponseHeader("Retry-After"));
  return new ApiError(xhr.status, code, message, requestId, Number.isFinite(retry) ? retry : null);
}

/** Send ``body`` with XMLHttpRequest (fetch has no upload progress); resolves the XHR. */
export function send(method, url, body, { headers: extra = {}, onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(extra)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded, event.total);
    });
    const cancel = () => xhr.abort();
    const settle = (outcome, value) => {
      signal?.removeEventListener("abort", cancel);
      outcome(value);
    };
    xhr.addEventListener("load", () => (xhr.status < 300 ? settle(resolve, xhr) : settle(reject, xhrError(xhr))));
    xhr.addEventListener("error", () => settle(reject, xhrError(xhr)));
    xhr.addEventListener("abort", () => settle(reject, new ApiError(0, "CANCELLED", "Cancelled.")));
    if (signal?.aborted) return reject(new ApiError(0, "CANCELLED", "Cancelled."));
    signal?.addEventListener("abort", cancel, { once: true });
    xhr.send(body);
  });
}

/** POST /files/upload with the file and options; resolves the upload record. */
export async function uploadFile(file, options, onProgress, signal) {
  const form = new FormData();
  form.append("file", file, file.name);
  for (const [name, value] of Object.entries(options)) form.append(name, String(value));
  const idempotency = crypto.randomUUID();
  for (let attempt = 0; ; attempt += 1) {
    try {
      const xhr = await send("POST", `${BASE}/files/upload`, form, {
        headers: headers({ "Idempotency-Key": idempotency }),
        onProgress,
        signal,
      });
      return JSON.parse(xhr.responseText);
    } catch (error) {
      const again = error.status === 429 || error.status === 503 || error.status === 0;
      if (!again || error.code === "CANCELLED" || attempt >= 2) throw error;
      await sleep(1000 * Math.min(error.retryAfter || 2, 30), signal);
    }
  }
}

/** A direct upload (POST /files/direct-uploads, PUT the bytes or each part, complete). */
export async function directUpload(file, options, onProgress, signal) {
  const plan = await call("POST", "/files/direct-uploads", {
    json: {
      filename: file.name,
      size_bytes: file.size,
      content_type: file.type || undefined,
      ...options,
    },
    signal,
  });
  if (plan.deduplicated) {
    return call("POST", `/files/direct-uploads/${plan.upload_id}/complete`, { json: {}, signal });
  }
  // a PUT the browser could not make: the storage is unreachable, or the bucket has no CORS
  // rule for this page (told apart from the server's own answers, which are not relabelled)
  const put = (url, body, options) =>
    send("PUT", local(url), body, options).catch((error) => {
      if (error.status === 0 && error.code !== "CANCELLED") error.code = "STORAGE_UNREACHABLE";
      throw error;
    });
  try {
    if (plan.method === "single") {
      await put(plan.upload_url, file, {
        headers: plan.upload_headers || {},
        onProgress,
        signal,
      });
      return await call("POST", `/files/direct-uploads/${plan.upload_id}/complete`, { json: {}, signal });
    }
    const sent = new Array(plan.parts.length).fill(0);
    const parts = [];
    for (const part of plan.parts) {
      const start = (part.part_number - 1) * plan.part_size;
      const slice = file.slice(start, Math.min(start + plan.part_size, file.size));
      const xhr = await put(part.upload_url, slice, {
        onProgress: (loaded) => {
          sent[part.part_number - 1] = loaded;
          onProgress?.(sent.reduce((a, b) => a + b, 0), file.size);
        },
        signal,
      });
      // (a bucket whose CORS rule does not expose ETag hides it: the server lists the parts itself)
      const etag = xhr.getResponseHeader("ETag");
      if (etag) parts.push({ part_number: part.part_number, etag });
    }
    return await call("POST", `/files/direct-uploads/${plan.upload_id}/complete`, {
      json: parts.length === plan.parts.length ? { parts } : {},
      signal,
    });
  } catch (error) {
    // free the parts already stored; the error that stopped us is the one to show
    call("DELETE", `/files/direct-uploads/${plan.upload_id}`).catch(() => {});
    throw error;
  }
}

/**
 * POST ``json`` to a server-sent-events route; yields each event's JSON data ({type, content,
 * data}) as it arrives. Refusals before the stream starts throw ApiError, like ``call``.
 */
export async function* events(path, json, signal) {
  let response;
  try {
    response = await fetch(BASE + path, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(json),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "NETWORK_ERROR", "The server cannot be reached; check that it is running.");
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) unauthorised.forEach((listener) => listener(error));
    throw error;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      let end;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
