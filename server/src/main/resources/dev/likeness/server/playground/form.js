// Builds the input form of an endpoint from its OpenAPI document: one field per property of the input schema, in
// the schema's x-fal-order-properties order, each with its title, description, default, range and enum.
import { upload } from "./api.js";

/** Resolves "#/components/schemas/Name". */
function deref(doc, s) {
  let seen = 0;
  while (s && s.$ref && seen++ < 10) s = doc.components.schemas[s.$ref.split("/").pop()];
  return s;
}

/** The input schema of the endpoint's submit operation. */
export function inputSchema(doc, endpoint) {
  const op = doc.paths[`/${endpoint}`].post;
  return deref(doc, op.requestBody.content["application/json"].schema);
}

/** What kind of control a property gets. */
function kindOf(doc, name, p) {
  if (p.anyOf) {
    const obj = p.anyOf.map((a) => deref(doc, a)).find((a) => a.type === "object");
    const str = p.anyOf.find((a) => a.type === "string" && a.enum);
    if (obj && str && obj.properties?.width && obj.properties?.height) return { kind: "size", presets: str.enum, object: obj };
  }
  if (p.allOf && p.allOf.length === 1) return { kind: "json", schema: deref(doc, p.allOf[0]) };
  if (p.type === "string" && /(^|_)(image|mask)_url$/.test(name)) return { kind: "image" };
  if (p.type === "array" && p.items?.type === "string" && /_urls$/.test(name)) return { kind: "images" };
  if (p.type === "array" && p.items?.type === "string") return { kind: "list" };
  if (p.type === "string" && p.enum) return { kind: "enum" };
  if (p.type === "string") return { kind: /prompt/.test(name) ? "textarea" : "text" };
  if (p.type === "integer" || p.type === "number") return { kind: "number" };
  if (p.type === "boolean") return { kind: "boolean" };
  return { kind: "json" };
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function rangeText(p) {
  const parts = [];
  const lo = p.minimum ?? (p.exclusiveMinimum !== undefined ? `>${p.exclusiveMinimum}` : undefined);
  const hi = p.maximum ?? (p.exclusiveMaximum !== undefined ? `<${p.exclusiveMaximum}` : undefined);
  if (lo !== undefined && hi !== undefined) parts.push(`range ${lo} – ${hi}`);
  else if (lo !== undefined) parts.push(`minimum ${lo}`);
  else if (hi !== undefined) parts.push(`maximum ${hi}`);
  if (p.default !== undefined) parts.push(`default ${JSON.stringify(p.default)}`);
  return parts.join(", ");
}

/** A number input's value: a number when it parses, the raw text otherwise (the server then says why). */
function numberValue(input) {
  const raw = input.value.trim();
  if (raw === "") return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

function numberInput(id, p, describedBy) {
  return el("input", {
    id, type: "number", inputmode: p.type === "integer" ? "numeric" : "decimal",
    step: p.type === "integer" ? "1" : "any", min: p.minimum, max: p.maximum,
    placeholder: p.default !== undefined ? String(p.default) : (p.nullable ? "random" : ""),
    "aria-describedby": describedBy,
  });
}

/**
 * One image: a drop zone (drag-and-drop or click / Enter to pick a file, uploaded through the storage flow) and the
 * URL field that holds the value (an uploaded file's URL, or any URL or data URI typed in).
 */
function imageInput(id, label, describedBy, onChange) {
  const url = el("input", { id, type: "url", placeholder: "https://… or drop a file", "aria-describedby": describedBy, autocomplete: "off" });
  const file = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/*", hidden: true, "aria-hidden": "true", tabindex: "-1" });
  const drop = el("div", { class: "drop", role: "button", tabindex: "0", "aria-label": `Upload a file for ${label}` },
    "Drop an image here, or click to choose a file");
  const state = el("span", { class: "upload-state", "aria-live": "polite" });
  const thumb = el("img", { class: "thumb", alt: `${label} preview`, hidden: true });
  const wrap = el("div", { class: "image-input" }, drop, file, url, state, thumb);
  const showThumb = (src) => {
    thumb.hidden = !src;
    if (src) thumb.src = src;
  };
  async function take(f) {
    if (!f) return;
    state.textContent = `Uploading ${f.name}…`;
    showThumb(URL.createObjectURL(f));
    try {
      url.value = await upload(f);
      state.textContent = `Uploaded ${f.name} (${f.size < 1024 ? f.size + " bytes" : Math.round(f.size / 1024) + " KB"})`;
      onChange();
    } catch (e) {
      state.textContent = `Upload failed: ${e.message}`;
    }
  }
  drop.addEventListener("click", () => file.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); file.click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    take(e.dataTransfer.files[0]);
  });
  file.addEventListener("change", () => take(file.files[0]));
  url.addEventListener("change", () => {
    showThumb(/^(https?:|data:image\/)/.test(url.value) ? url.value : "");
    state.textContent = "";
    onChange();
  });
  return { wrap, url, set(v) { url.value = v || ""; showThumb(v || ""); state.textContent = ""; } };
}

/**
 * Builds the form into `container`. Returns {collect, set, reset, showErrors, clearErrors, references, focusFirst}.
 * `collect()` gives the request body: the required fields and every field whose value differs from its default.
 */
export function buildForm(container, doc, endpoint, onChange = () => {}) {
  const schema = inputSchema(doc, endpoint);
  const required = new Set(schema.required || []);
  const order = schema["x-fal-order-properties"] || Object.keys(schema.properties);
  const fields = new Map();
  container.replaceChildren();

  for (const name of order) {
    const p = schema.properties[name];
    if (!p) continue;
    const k = kindOf(doc, name, p);
    const id = `f-${name}`;
    const descId = `${id}-desc`, errId = `${id}-err`;
    const describedBy = `${descId} ${errId}`;
    const title = p.title || name;
    const box = el("div", { class: "field", "data-field": name });
    const desc = el("small", { id: descId, text: [p.description, rangeText(p)].filter(Boolean).join(" · ") });
    const err = el("p", { id: errId, class: "error", "data-error-for": name });
    const label = el("label", { for: id }, title, required.has(name) ? el("span", { class: "req", text: " *", "aria-hidden": "true" }) : null);
    const reqAttr = required.has(name) ? { "aria-required": "true" } : {};
    let f;

    if (k.kind === "textarea" || k.kind === "text") {
      const input = el(k.kind === "textarea" ? "textarea" : "input", { id, type: k.kind === "text" ? "text" : undefined,
        "aria-describedby": describedBy, placeholder: p.examples?.[0] ?? "", ...reqAttr });
      box.append(label, input);
      f = { focus: input, get: () => input.value, set: (v) => { input.value = v ?? ""; }, isDefault: (v) => v === (p.default ?? "") && !required.has(name) };
    } else if (k.kind === "number") {
      const input = numberInput(id, p, describedBy);
      Object.entries(reqAttr).forEach(([a, v]) => input.setAttribute(a, v));
      box.append(label, input);
      f = { focus: input, get: () => numberValue(input), set: (v) => { input.value = v ?? ""; }, isDefault: (v) => v === undefined || v === p.default };
    } else if (k.kind === "boolean") {
      const input = el("input", { id, type: "checkbox", "aria-describedby": describedBy });
      box.append(el("div", { class: "inline" }, input, label));
      f = { focus: input, get: () => input.checked, set: (v) => { input.checked = v ?? !!p.default; }, isDefault: (v) => v === !!p.default };
    } else if (k.kind === "enum") {
      const input = el("select", { id, "aria-describedby": describedBy });
      for (const v of p.enum) input.append(el("option", { value: v, text: v }));
      box.append(label, input);
      f = { focus: input, get: () => input.value, set: (v) => { input.value = v ?? p.default ?? p.enum[0]; }, isDefault: (v) => v === p.default };
    } else if (k.kind === "size") {
      const sel = el("select", { id, "aria-describedby": describedBy });
      for (const v of k.presets) sel.append(el("option", { value: v, text: v }));
      sel.append(el("option", { value: "custom", text: "custom (width × height)" }));
      const wp = k.object.properties.width, hp = k.object.properties.height;
      const w = numberInput(`${id}-width`, wp, describedBy), h = numberInput(`${id}-height`, hp, describedBy);
      const custom = el("div", { class: "inline", hidden: true },
        el("label", { for: `${id}-width`, text: "Width" }), w, el("label", { for: `${id}-height`, text: "Height" }), h);
      const sync = () => { custom.hidden = sel.value !== "custom"; };
      sel.addEventListener("change", sync);
      box.append(label, sel, custom);
      f = {
        focus: sel,
        get: () => sel.value !== "custom" ? sel.value : { width: numberValue(w) ?? wp.default, height: numberValue(h) ?? hp.default },
        set: (v) => {
          if (v && typeof v === "object") { sel.value = "custom"; w.value = v.width ?? ""; h.value = v.height ?? ""; }
          else sel.value = v ?? p.default;
          sync();
        },
        isDefault: (v) => v === p.default,
      };
    } else if (k.kind === "image") {
      const img = imageInput(id, title, describedBy, onChange);
      Object.entries(reqAttr).forEach(([a, v]) => img.url.setAttribute(a, v));
      box.append(label, img.wrap);
      f = { focus: img.url, image: true, get: () => img.url.value.trim(), set: (v) => img.set(v), isDefault: (v) => v === "" };
    } else if (k.kind === "images") {
      const fs = el("fieldset", { "aria-describedby": describedBy }, el("legend", {}, title, required.has(name) ? el("span", { class: "req", text: " *", "aria-hidden": "true" }) : null));
      const list = el("div");
      const items = [];
      const add = (v = "") => {
        const n = items.length;
        const img = imageInput(n === 0 ? id : `${id}-${n}`, `${title} ${n + 1}`, describedBy, onChange);
        img.set(v);
        items.push(img);
        list.append(img.wrap);
        return img;
      };
      const more = el("button", { type: "button", text: `Add another image to ${title}` });
      more.addEventListener("click", () => add().url.focus());
      fs.append(list, more);
      box.append(fs);
      add();
      f = {
        focus: items[0].url, image: true,
        get: () => { const v = items.map((i) => i.url.value.trim()).filter(Boolean); return v.length ? v : undefined; },
        set: (v) => { items.splice(0); list.replaceChildren(); (v && v.length ? v : [""]).forEach((u) => add(u)); f.focus = items[0].url; },
        isDefault: (v) => v === undefined,
        all: () => items.map((i) => i.url),
      };
    } else if (k.kind === "list") {
      const input = el("input", { id, type: "text", placeholder: "comma separated", "aria-describedby": describedBy });
      box.append(label, input);
      f = {
        focus: input,
        get: () => { const v = input.value.split(",").map((s) => s.trim()).filter(Boolean); return v.length ? v : undefined; },
        set: (v) => { input.value = Array.isArray(v) ? v.join(", ") : ""; }, isDefault: (v) => v === undefined,
      };
    } else {
      const input = el("textarea", { id, "aria-describedby": describedBy, placeholder: k.schema ? `JSON: ${k.schema.title || "object"}` : "JSON" });
      box.append(label, input);
      f = {
        focus: input,
        get: () => { const t = input.value.trim(); if (!t) return undefined; try { return JSON.parse(t); } catch { return t; } },
        set: (v) => { input.value = v === undefined || v === null ? "" : JSON.stringify(v); }, isDefault: (v) => v === undefined,
      };
    }
    box.append(desc, err);
    container.append(box);
    f.box = box; f.err = err; f.p = p;
    f.set(p.default);
    fields.set(name, f);
  }
  container.addEventListener("input", onChange);
  container.addEventListener("change", onChange);

  return {
    collect() {
      const out = {};
      for (const [name, f] of fields) {
        const v = f.get();
        if (v === undefined || v === "") continue;
        if (f.isDefault(v) && !required.has(name)) continue;
        out[name] = v;
      }
      return out;
    },
    set(input) {
      for (const [name, f] of fields) f.set(input && name in input ? input[name] : f.p.default);
      onChange();
    },
    reset() { this.set({}); },
    /** The image inputs' values, for the side-by-side of references and results. */
    references(input) {
      const refs = [];
      for (const [name, f] of fields) {
        if (!f.image || !(name in input)) continue;
        for (const u of [].concat(input[name])) refs.push({ field: name, url: u });
      }
      return refs;
    },
    clearErrors() {
      for (const f of fields.values()) {
        f.err.textContent = "";
        f.box.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
      }
    },
    /** Shows FastAPI-style error items at their fields; returns the messages that belong to no field. */
    showErrors(items) {
      const rest = [];
      let first = null;
      for (const it of items) {
        const loc = Array.isArray(it.loc) ? it.loc.filter((s) => s !== "body") : [];
        const f = fields.get(loc[0]);
        const msg = it.msg || JSON.stringify(it);
        if (!f) { rest.push(loc.length ? `${loc.join(".")}: ${msg}` : msg); continue; }
        const where = loc.length > 1 ? ` (${loc.slice(1).join(".")})` : "";
        f.err.textContent = (f.err.textContent ? f.err.textContent + " " : "") + msg + where;
        f.focus.setAttribute("aria-invalid", "true");
        if (!first) first = f.focus;
      }
      if (first) first.focus();
      return rest;
    },
    focusFirst() { fields.values().next().value?.focus.focus(); },
  };
}
