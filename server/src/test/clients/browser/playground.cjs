// Drives the playground page in Debian's Chromium with playwright-core (PlaywrightBrowserTest runs it).
// Argument: a JSON config {base, key, chromium, reference, screenshots}. Prints progress lines, then one JSON line
// {checks: [...], failures: [...], screenshot}.
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(process.env.PLAYWRIGHT_DIR, "node_modules/playwright-core"));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const checks = [];
const failures = [];
function check(name, ok, detail) {
  checks.push(name);
  if (!ok) failures.push(`${name}: ${detail === undefined ? "" : JSON.stringify(detail)}`);
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok || detail === undefined ? "" : " " + JSON.stringify(detail)}`);
}
const T = 20000;

async function api(method, p, body) {
  const r = await fetch(cfg.base + p, {
    method, headers: { Authorization: `Key ${cfg.key}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function main() {
  const browser = await chromium.launch({
    executablePath: cfg.chromium, headless: true, chromiumSandbox: false,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-default-apps", "--no-first-run", "--disable-domain-reliability", "--metrics-recording-only"],
  });
  let screenshot = null;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const foreign = [];
    page.on("request", (r) => { if (!r.url().startsWith(cfg.base) && !/^(data|blob):/.test(r.url())) foreign.push(r.url()); });
    const consoleErrors = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));

    // ---- the page and its form, from the schema
    await page.goto(cfg.base + "/", { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=true]", { timeout: T });
    const steps = page.locator("#f-num_inference_steps");
    check("form: steps field with its range and default",
      (await steps.getAttribute("min")) === "1" && (await steps.getAttribute("max")) === "50" && (await steps.getAttribute("placeholder")) === "28",
      [await steps.getAttribute("min"), await steps.getAttribute("max"), await steps.getAttribute("placeholder")]);
    const formats = await page.locator("#f-output_format option").allTextContents();
    check("form: output_format enum with its default selected",
      formats.join() === "jpeg,png" && (await page.inputValue("#f-output_format")) === "jpeg", [formats, await page.inputValue("#f-output_format")]);
    check("form: every field has a label", await page.evaluate(() =>
      [...document.querySelectorAll("#fields input:not([type=file]), #fields select, #fields textarea")]
        .every((e) => e.labels && e.labels.length > 0)), null);
    const sizes = await page.locator("#f-image_size option").allTextContents();
    check("form: image_size presets and custom", sizes.includes("square_hd") && sizes.includes("custom (width × height)"), sizes);
    check("form: custom size inputs hidden until 'custom' is chosen", !(await page.isVisible("#f-image_size-width")), null);

    // ---- no key yet: the server asks for one; the key is entered once
    await page.fill("#f-prompt", "a knight in armour");
    await page.click("#run");
    await page.waitForFunction(() => /needs an API key/.test(document.getElementById("status").textContent), null, { timeout: T });
    check("no key: the page asks for one", await page.locator("#api-key").evaluate((e) => e === document.activeElement), null);
    await page.fill("#api-key", cfg.key);
    await page.keyboard.press("Enter");
    check("key stored in the browser", (await page.evaluate(() => localStorage.getItem("likeness.key"))) === cfg.key, null);

    // ---- a validation error at its field (num_inference_steps 0; the reference missing)
    await page.fill("#f-num_inference_steps", "0");
    await page.click("#run");
    await page.waitForFunction(() => document.querySelector("[data-error-for=num_inference_steps]").textContent !== "", null, { timeout: T });
    const stepsErr = await page.textContent("[data-error-for=num_inference_steps]");
    check("validation: error shown at num_inference_steps", /greater than or equal to 1/.test(stepsErr), stepsErr);
    check("validation: the field is marked invalid", (await steps.getAttribute("aria-invalid")) === "true", null);
    const refErr = await page.textContent("[data-error-for=image_url]");
    check("validation: missing reference shown at image_url", /required/i.test(refErr), refErr);

    // ---- upload the reference by drag-and-drop (storage flow), then run on the tiny model
    const b64 = fs.readFileSync(cfg.reference).toString("base64");
    const dt = await page.evaluateHandle((data) => {
      const bin = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const t = new DataTransfer();
      t.items.add(new File([bin], "reference.png", { type: "image/png" }));
      return t;
    }, b64);
    await page.dispatchEvent("[data-field=image_url] .drop", "drop", { dataTransfer: dt });
    await page.waitForFunction(() => /\/files\//.test(document.getElementById("f-image_url").value), null, { timeout: T });
    const fileUrl = await page.inputValue("#f-image_url");
    const fetched = await fetch(fileUrl);
    check("upload: the file URL serves the dropped bytes", Buffer.from(await fetched.arrayBuffer()).equals(fs.readFileSync(cfg.reference)), fileUrl);

    await page.fill("#f-num_inference_steps", "4");
    await page.selectOption("#f-image_size", "custom");
    check("form: custom size inputs shown for 'custom'", await page.isVisible("#f-image_size-width"), null);
    await page.fill("#f-image_size-width", "64");
    await page.fill("#f-image_size-height", "64");
    await page.fill("#f-seed", "7");
    const snippet = await page.textContent("#snippet");
    check("snippet: curl for the exact request", snippet.includes(`${cfg.base}/queue/fal-ai/instant-character`)
      && snippet.includes('"num_inference_steps":4') && snippet.includes('"image_size":{"width":64,"height":64}') && !snippet.includes(cfg.key), snippet);
    await page.evaluate(() => {
      window.__statuses = [];
      window.__previews = [];
      new MutationObserver(() => window.__statuses.push(document.getElementById("status").textContent))
        .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
      const preview = document.getElementById("preview");
      preview.addEventListener("load", () => window.__previews.push([preview.naturalWidth, preview.naturalHeight,
        document.getElementById("preview-caption").textContent, preview.src.slice(0, 22)]));
    });
    await page.click("#run");
    await page.waitForFunction(() => /^(Done|Failed|Cancelled)/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
    const final = await page.textContent("#status");
    if (!/^Done/.test(final)) throw new Error(`the run did not succeed: ${final} ${await page.textContent("#form-error")} ${await page.textContent("#logs")}`);
    const statuses = await page.evaluate(() => window.__statuses);
    check("progress: step i of N shown while running", statuses.some((s) => /step \d of 4/.test(s)), statuses);
    const previews = await page.evaluate(() => window.__previews);
    check("live preview: a latent image of the step (8x8 for 64x64) over the status stream", previews.length > 0
      && previews.every((p) => p[0] === 8 && p[1] === 8 && /^Step \d of 4/.test(p[2]) && p[3] === "data:image/png;base64,"), previews);
    const img = page.locator("#result .compare figure").nth(1).locator("img");
    await img.evaluate((e) => e.complete && e.naturalWidth ? null : new Promise((r) => { e.onload = r; }));
    const dims = await img.evaluate((e) => [e.naturalWidth, e.naturalHeight]);
    check("result: the image is shown at 64x64", dims[0] === 64 && dims[1] === 64, dims);
    check("result: reference beside the result", (await page.locator("#result .compare figure").count()) === 2, null);
    check("result: seed shown", /Seed 7/.test(await page.textContent("#result-seed")), await page.textContent("#result-seed"));
    check("result: timings shown", (await page.locator("table.timings tr").count()) >= 2, null);
    check("logs: step lines received", /step 4\/4/.test(await page.textContent("#logs")), null);
    screenshot = path.join(cfg.screenshots, "finished-run.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot: ${screenshot}`);

    for (const lang of ["JavaScript", "Python", "Java"]) {
      await page.click(`#tab-${lang}`);
      const code = await page.textContent("#snippet");
      check(`snippet: ${lang}`, code.includes('"fal-ai/instant-character"') && code.includes("num_inference_steps"), code);
    }
    await page.focus("#tab-Java");
    await page.keyboard.press("ArrowRight");
    check("snippet tabs: arrow keys move between languages", (await page.getAttribute("#tab-curl", "aria-selected")) === "true", null);

    const history = await page.locator("#history li").allTextContents();
    check("history: both requests of this key", history.length === 2 && /done/.test(history[0]), history);

    // ---- cancel a queued request: another request holds the only worker
    const blocker = await api("POST", "/queue/fal-ai/instant-character",
      { prompt: "blocker", image_url: fileUrl, image_size: { width: 512, height: 512 }, num_inference_steps: 50 });
    for (let i = 0; i < 100; i++) {
      const s = await api("GET", `/queue/fal-ai/instant-character/requests/${blocker.body.request_id}/status`);
      if (s.body.status !== "IN_QUEUE") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await page.click("#run");
    await page.waitForFunction(() => /^In queue/.test(document.getElementById("status").textContent), null, { timeout: T });
    check("queue: position shown", /In queue: 0 request\(s\) ahead/.test(await page.textContent("#status")), await page.textContent("#status"));
    await page.click("#cancel");
    await page.waitForFunction(() => /^Cancelled/.test(document.getElementById("status").textContent), null, { timeout: T });
    check("cancel: the queued request ends cancelled", true);
    const cancelBlocker = await api("PUT", `/queue/fal-ai/instant-character/requests/${blocker.body.request_id}/cancel`);
    check("blocker still running when the queued one was cancelled", cancelBlocker.status === 202, cancelBlocker);
    const h2 = await page.locator("#history li").first().textContent();
    check("history: the cancelled request", /cancelled/.test(h2), h2);
    await page.locator("#history li button").nth(1).click();   // the finished run: its input and result again
    await page.waitForFunction(() => /^Done/.test(document.getElementById("status").textContent), null, { timeout: T });
    check("history: reopening a request shows its input and result",
      (await page.inputValue("#f-seed")) === "7" && (await page.locator("#result .compare img").count()) === 2,
      [await page.inputValue("#f-seed"), await page.textContent("#status")]);

    // ---- the other endpoint's form
    await page.click("a[data-endpoint='fal-ai/ideogram/character']");
    await page.waitForSelector("#f-reference_image_urls", { timeout: T });
    check("ideogram: URL and heading", page.url().endsWith("/playground/fal-ai/ideogram/character")
      && /ideogram/.test(await page.textContent("#endpoint-name")), page.url());
    const speeds = await page.locator("#f-rendering_speed option").allTextContents();
    check("ideogram: rendering_speed enum", speeds.join() === "TURBO,BALANCED,QUALITY", speeds);
    check("ideogram: image list fields", (await page.locator("[data-field=reference_mask_urls] .drop").count()) === 1, null);
    await page.goto(cfg.base + "/playground/fal-ai/ideogram/character");
    await page.waitForSelector("body[data-ready=true]", { timeout: T });
    check("ideogram: direct link opens its form", (await page.locator("#f-rendering_speed").count()) === 1, null);

    // ---- responsive: a phone-sized viewport has no horizontal scroll
    await page.setViewportSize({ width: 390, height: 800 });
    check("responsive: no horizontal overflow at 390 px",
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1),
      await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]));
    const mobile = path.join(cfg.screenshots, "ideogram-390px.png");
    await page.screenshot({ path: mobile, fullPage: true });
    console.log(`screenshot: ${mobile}`);

    check("no request to another origin", foreign.length === 0, foreign);
    check("no script errors", consoleErrors.length === 0, consoleErrors);
  } catch (e) {
    failures.push(`aborted: ${e.stack || e}`);
    console.log(`FAIL aborted: ${e.stack || e}`);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ checks, failures, screenshot }));
}

main();
