// The server's public API as the page uses it: the same routes and headers as any fal client, on this origin.

const KEY = "likeness.key";

/** The stored key ("id:secret"), or "" in open mode. */
export function getKey() {
  return localStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

/** A short, non-secret name for the key (its id), used to keep one history per key. */
export function keyId() {
  const k = getKey();
  return k ? k.split(":")[0] : "open";
}

/** An HTTP error with the server's status and JSON body. */
export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body.detail === "string" ? body.detail : `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}) {
  const h = { ...extra };
  const k = getKey();
  if (k) h.Authorization = `Key ${k}`;
  return h;
}

async function json(resp) {
  const text = await resp.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return { detail: text };
  }
}

async function call(method, path, body, signal) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }), signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await fetch(path, init);
  const data = await json(resp);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** The owner/app part of an endpoint id, under which its requests are polled. */
export function appOf(endpoint) {
  const parts = endpoint.split("/");
  return parts.length <= 2 ? endpoint : `${parts[0]}/${parts[1]}`;
}

export const endpoints = () => call("GET", "/playground/endpoints.json");
export const openapi = (endpoint) => call("GET", `/${endpoint}/openapi.json`);
export const submit = (endpoint, input) => call("POST", `/queue/${endpoint}`, input);
export const status = (endpoint, id) => call("GET", `/queue/${appOf(endpoint)}/requests/${id}/status?logs=1`);
export const cancel = (endpoint, id) => call("PUT", `/queue/${appOf(endpoint)}/requests/${id}/cancel`);

/** The stored result: {ok, status, body} (a failed request's result is its error status and body). */
export async function result(endpoint, id) {
  const resp = await fetch(`/queue/${appOf(endpoint)}/requests/${id}`, { headers: headers() });
  return { ok: resp.ok, status: resp.status, errorType: resp.headers.get("x-fal-error-type"), body: await json(resp) };
}

/**
 * Uploads a file through the storage flow fal-js uses: POST /storage/upload/initiate, then PUT the bytes to the
 * upload URL. Returns the file URL to use as input.
 */
export async function upload(file) {
  const contentType = file.type || "application/octet-stream";
  const init = await call("POST", "/storage/upload/initiate", { content_type: contentType, file_name: file.name });
  const put = await fetch(sameOrigin(init.upload_url), { method: "PUT", headers: { "Content-Type": contentType }, body: file });
  if (!put.ok) throw new ApiError(put.status, await json(put));
  return init.file_url;
}

/** A URL of this server made relative, so the page only ever talks to its own origin (a public URL may differ). */
function sameOrigin(url) {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
}

/**
 * The request's status stream (SSE over fetch, so the key can be sent as a header), as an async iterator of status
 * objects; each carries only the new log lines, and (previews=1, our extension) the latest step preview when there is
 * a new one. Ends after COMPLETED or when the connection closes.
 */
export async function* statusStream(endpoint, id, signal) {
  const resp = await fetch(`/queue/${appOf(endpoint)}/requests/${id}/status/stream?logs=1&previews=1`,
    { headers: headers({ Accept: "text/event-stream" }), signal });
  if (!resp.ok) throw new ApiError(resp.status, await json(resp));
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (!data) continue; // a keep-alive comment
      const event = JSON.parse(data);
      yield event;
      if (event.status === "COMPLETED") return;
    }
  }
}
