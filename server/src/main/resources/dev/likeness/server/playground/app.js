// The playground page: pick an endpoint, fill the form built from its schema, run it through the queue and watch
// the status stream, see the images next to the references, copy the request as code, revisit past requests.
import * as api from "./api.js";
import { buildForm } from "./form.js";
import { snippets } from "./snippets.js";

const $ = (id) => document.getElementById(id);
const HISTORY_MAX = 25;
let endpoint = null;
let form = null;
let current = null; // {endpoint, id, abort}
let language = "curl";

function historyKey() {
  return `likeness.history.${api.keyId()}`;
}

function loadHistory() {
  try {
    return JSON.parse(localStorage.getItem(historyKey()) || "[]");
  } catch {
    return [];
  }
}

function saveHistory(entry) {
  const list = loadHistory().filter((e) => e.id !== entry.id);
  list.unshift(entry);
  localStorage.setItem(historyKey(), JSON.stringify(list.slice(0, HISTORY_MAX)));
  renderHistory();
}

function updateHistory(id, patch) {
  const list = loadHistory();
  const e = list.find((x) => x.id === id);
  if (!e) return;
  Object.assign(e, patch);
  localStorage.setItem(historyKey(), JSON.stringify(list));
  renderHistory();
}

function renderHistory() {
  const ol = $("history");
  ol.replaceChildren();
  for (const e of loadHistory()) {
    const li = document.createElement("li");
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = `${new Date(e.at).toLocaleString()} · ${e.endpoint}`;
    open.setAttribute("aria-label", `Open request ${e.id} (${e.endpoint}, ${e.state})`);
    open.addEventListener("click", () => reopen(e));
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = e.state;
    li.append(open, " ", badge, e.prompt ? ` ${e.prompt.slice(0, 60)}` : "");
    ol.append(li);
  }
}

async function reopen(e) {
  if (e.endpoint !== endpoint) await selectEndpoint(e.endpoint, false);
  form.set(e.input);
  updateSnippet();
  clearOutput();
  setStatus(`Request ${e.id}`);
  if (e.state === "IN_QUEUE" || e.state === "IN_PROGRESS") follow(e.endpoint, e.id, e.input);
  else showResult(e.endpoint, e.id, e.input, await api.result(e.endpoint, e.id));
}

// ---- status ------------------------------------------------------------------------------------------------

function setStatus(text, cls = "") {
  const s = $("status");
  s.textContent = text;
  s.className = cls;
}

function clearOutput() {
  $("result").replaceChildren();
  $("logs").textContent = "";
  $("progress").hidden = true;
  $("progress").value = 0;
  $("preview-figure").hidden = true;
  $("form-error").textContent = "";
  form?.clearErrors();
}

function appendLogs(logs) {
  if (!logs || !logs.length) return;
  const pre = $("logs");
  for (const l of logs) {
    pre.textContent += `${l.level ? l.level + " " : ""}${l.message}\n`;
    const step = /^step (\d+)\/(\d+)/.exec(l.message);
    if (step) {
      const [i, n] = [Number(step[1]), Number(step[2])];
      $("progress").hidden = false;
      $("progress").max = n;
      $("progress").value = i;
      setStatus(`Running: step ${i} of ${n}`);
    }
  }
  pre.scrollTop = pre.scrollHeight;
}

/** A step preview from the status stream: the latents through the VAE's latent-to-RGB approximation. */
function showPreview(p) {
  if (!/^data:image\/png;base64,/.test(p.image)) return;
  $("preview").src = p.image;
  $("preview-caption").textContent = `Step ${p.step} of ${p.steps} (latent preview, approximate colours)`;
  $("preview-figure").hidden = false;
}

// ---- running ------------------------------------------------------------------------------------------------

async function run(ev) {
  ev.preventDefault();
  const input = form.collect();
  clearOutput();
  $("run").disabled = true;
  setStatus("Submitting…");
  try {
    const sub = await api.submit(endpoint, input);
    saveHistory({ id: sub.request_id, endpoint, at: Date.now(), input, state: "IN_QUEUE", prompt: input.prompt || "" });
    await follow(endpoint, sub.request_id, input);
  } catch (e) {
    failed(e);
  } finally {
    $("run").disabled = false;
  }
}

function failed(e) {
  if (e instanceof api.ApiError && e.status === 401) {
    setStatus("This server needs an API key: enter it above.", "failed");
    $("key-panel").open = true;
    $("api-key").focus();
  } else {
    setStatus(`Failed: ${e.message}`, "failed");
  }
}

async function follow(ep, id, input) {
  const abort = new AbortController();
  current = { endpoint: ep, id, abort };
  $("cancel").hidden = false;
  $("cancel").disabled = false;
  let done = false;
  try {
    for await (const s of api.statusStream(ep, id, abort.signal)) {
      if (s.status === "IN_QUEUE") setStatus(`In queue: ${s.queue_position ?? 0} request(s) ahead`);
      else if (s.status === "IN_PROGRESS" && $("progress").hidden) setStatus("Running…");
      if (s.status !== "IN_QUEUE") updateHistory(id, { state: s.status === "COMPLETED" ? "done" : s.status });
      appendLogs(s.logs);
      if (s.preview) showPreview(s.preview);
      if (s.status === "COMPLETED") done = true;
    }
    // the stream closed early (a proxy, a restart): poll until the request completes
    while (!done && !abort.signal.aborted) {
      const s = await api.status(ep, id);
      if (s.status === "COMPLETED") done = true;
      else await new Promise((r) => setTimeout(r, 700));
    }
  } catch (e) {
    if (!abort.signal.aborted) failed(e);
  } finally {
    $("cancel").hidden = true;
    if (current && current.id === id) current = null;
  }
  if (done) showResult(ep, id, input, await api.result(ep, id));
}

async function cancelCurrent() {
  if (!current) return;
  $("cancel").disabled = true;
  try {
    const r = await api.cancel(current.endpoint, current.id);
    setStatus(r.status === "CANCELLATION_REQUESTED" ? "Cancelling…" : r.status);
  } catch (e) {
    setStatus(`Cancel failed: ${e.body?.status || e.message}`, "failed");
  }
}

function figure(src, caption, alt) {
  const f = document.createElement("figure");
  const img = document.createElement("img");
  img.src = src;
  img.alt = alt;
  img.loading = "lazy";
  const c = document.createElement("figcaption");
  c.textContent = caption;
  const a = document.createElement("a");
  a.href = src;
  a.target = "_blank";
  a.rel = "noopener";
  a.append(img);
  f.append(a, c);
  return f;
}

function showResult(ep, id, input, r) {
  const out = $("result");
  out.replaceChildren();
  $("progress").hidden = true;
  $("preview-figure").hidden = true;
  if (!r.ok) {
    const cancelled = r.status === 499;
    setStatus(cancelled ? "Cancelled." : `Failed (${r.status}${r.errorType ? " " + r.errorType : ""})`, "failed");
    updateHistory(id, { state: cancelled ? "cancelled" : `error ${r.status}` });
    const detail = r.body?.detail;
    if (Array.isArray(detail) && ep === endpoint) {
      const rest = form.showErrors(detail);
      $("form-error").textContent = rest.length ? rest.join("; ") : "The input has errors: see the marked fields.";
    } else if (!cancelled) {
      $("form-error").textContent = typeof detail === "string" ? detail : JSON.stringify(r.body);
    }
    return;
  }
  const data = r.body;
  setStatus(`Done: ${data.images?.length ?? 0} image(s), seed ${data.seed}`, "done");
  updateHistory(id, { state: "done", thumb: data.images?.[0]?.url, seed: data.seed });
  const grid = document.createElement("div");
  grid.className = "compare";
  grid.setAttribute("aria-label", "References and results side by side");
  for (const ref of form.references(input)) grid.append(figure(ref.url, `reference (${ref.field})`, `Reference image (${ref.field})`));
  (data.images || []).forEach((im, i) => {
    const size = im.width ? `${im.width}×${im.height}` : "";
    grid.append(figure(im.url, `result ${i + 1} ${size} ${im.content_type || ""}`.trim(), `Result image ${i + 1}`));
  });
  const facts = document.createElement("p");
  facts.id = "result-seed";
  facts.textContent = `Seed ${data.seed}` + (data.has_nsfw_concepts ? ` · NSFW flags: ${data.has_nsfw_concepts.join(", ")}` : "");
  out.append(grid, facts);
  const t = data.timings || (r.body?.metrics ? { inference: r.body.metrics.inference_time } : null);
  if (t && Object.keys(t).length) {
    const table = document.createElement("table");
    table.className = "timings";
    table.innerHTML = "<caption>Timings (s)</caption>";
    for (const [k, v] of Object.entries(t)) {
      const tr = table.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = typeof v === "number" ? v.toFixed(3) : String(v);
    }
    out.append(table);
  }
  const raw = document.createElement("details");
  raw.innerHTML = "<summary>Response JSON</summary>";
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(data, (k, v) => (typeof v === "string" && v.length > 200 ? v.slice(0, 200) + "…" : v), 2);
  raw.append(pre);
  out.append(raw);
}

// ---- snippets -----------------------------------------------------------------------------------------------

function updateSnippet() {
  if (!form) return;
  const all = snippets(location.origin, endpoint, form.collect());
  const tabs = $("code-tabs");
  if (!tabs.children.length) {
    for (const lang of Object.keys(all)) {
      const b = document.createElement("button");
      b.type = "button";
      b.role = "tab";
      b.id = `tab-${lang}`;
      b.textContent = lang;
      b.setAttribute("aria-controls", "code-panel-body");
      b.addEventListener("click", () => { language = lang; updateSnippet(); });
      b.addEventListener("keydown", (e) => {
        const list = [...tabs.children];
        const i = list.indexOf(b);
        const next = e.key === "ArrowRight" ? list[(i + 1) % list.length] : e.key === "ArrowLeft" ? list[(i + list.length - 1) % list.length] : null;
        if (next) { e.preventDefault(); next.focus(); next.click(); }
      });
      tabs.append(b);
    }
  }
  for (const b of tabs.children) {
    const on = b.textContent === language;
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
  }
  $("code-panel-body").setAttribute("aria-labelledby", `tab-${language}`);
  $("snippet").textContent = all[language];
}

// ---- endpoints and keys -------------------------------------------------------------------------------------

async function selectEndpoint(id, push = true) {
  endpoint = id;
  document.title = `${id} · Likeness playground`;
  for (const a of $("endpoints").querySelectorAll("a")) {
    if (a.dataset.endpoint === id) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (push && location.pathname !== `/playground/${id}`) history.pushState({}, "", `/playground/${id}`);
  $("endpoint-name").textContent = id;
  const doc = await api.openapi(id);
  $("endpoint-description").textContent = doc.info?.description || "";
  form = buildForm($("fields"), doc, id, updateSnippet);
  clearOutput();
  setStatus("Ready.");
  updateSnippet();
}

function showKeyState() {
  const k = api.getKey();
  $("key-state").textContent = k ? `(key ${api.keyId()})` : "(none: open mode)";
  renderHistory();
}

async function main() {
  $("run-form").addEventListener("submit", run);
  $("reset").addEventListener("click", () => { form.reset(); clearOutput(); });
  $("cancel").addEventListener("click", cancelCurrent);
  $("copy-snippet").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("snippet").textContent);
      $("copy-snippet").textContent = "Copied";
    } catch {
      getSelection().selectAllChildren($("snippet"));
      $("copy-snippet").textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { $("copy-snippet").textContent = "Copy"; }, 1500);
  });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    api.setKey($("api-key").value.trim());
    $("api-key").value = "";
    $("key-panel").open = false;
    showKeyState();
    setStatus(api.getKey() ? "Key saved." : "No key: open mode.");
  });
  $("key-forget").addEventListener("click", () => { api.setKey(""); showKeyState(); setStatus("Key forgotten: open mode."); });
  $("history-clear").addEventListener("click", () => { localStorage.removeItem(historyKey()); renderHistory(); });
  window.addEventListener("popstate", () => {
    const id = location.pathname.replace(/^\/playground\/?/, "");
    if (id && id !== endpoint) selectEndpoint(id, false);
  });
  showKeyState();

  const { endpoints } = await api.endpoints();
  for (const id of endpoints) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/playground/${id}`;
    a.dataset.endpoint = id;
    a.textContent = id;
    a.addEventListener("click", (e) => { e.preventDefault(); selectEndpoint(id); });
    li.append(a);
    $("endpoints").append(li);
  }
  const wanted = location.pathname.replace(/^\/playground\/?/, "").replace(/^\/$/, "");
  const first = endpoints.includes(wanted) ? wanted
    : endpoints.includes("fal-ai/instant-character") ? "fal-ai/instant-character" : endpoints[0];
  await selectEndpoint(first, false);
  document.body.dataset.ready = "true";
}

main().catch((e) => setStatus(`The playground could not start: ${e.message}`, "failed"));
