// Drives a running Likeness server with the official Node client (@fal-ai/client), configured as a user would:
// `proxyUrl` with `when: "always"` (every call goes to our URL with the fal URL in `x-fal-target-url`).
// Usage: FAL_CLIENT_DIR=<dir with node_modules/@fal-ai/client> node conformance.cjs <config.json>
// Prints one JSON line with what each call returned; the JUnit test (NodeClientConformanceTest) checks it.
"use strict";
const fs = require("fs");
const path = require("path");
const { createFalClient, ApiError } = require(path.join(process.env.FAL_CLIENT_DIR, "node_modules", "@fal-ai/client"));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const fal = createFalClient({
  credentials: cfg.key,
  proxyUrl: { url: cfg.base + "/api/fal/proxy", when: "always" },
});
const EP = cfg.endpoint;
const out = {};

function error(e) {
  if (e instanceof ApiError) return { name: e.name, status: e.status, body: e.body, requestId: e.requestId };
  return { name: e && e.name, message: String(e && e.message) };
}

async function waitFor(requestId, wanted) {
  for (let i = 0; i < 400; i++) {
    const s = await fal.queue.status(EP, { requestId, logs: false });
    if (s.status === wanted) return s;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`request ${requestId} never reached ${wanted}`);
}

async function main() {
  // storage.upload: initiate through the proxy, PUT to the upload_url we hand out
  const png = fs.readFileSync(cfg.reference);
  const url = await fal.storage.upload(new Blob([png], { type: "image/png" }));
  out.upload = { url };
  const input = { ...cfg.input, image_url: url };
  const slowInput = { ...cfg.slow_input, image_url: url };

  // subscribe (polling) with queue updates and logs
  const updates = [];
  const sub = await fal.subscribe(EP, {
    input, logs: true, pollInterval: 100,
    onQueueUpdate: (u) => updates.push(u),
  });
  out.subscribe = { requestId: sub.requestId, data: sub.data, updates };

  // subscribe in streaming mode, on the sub-path endpoint id
  const streamUpdates = [];
  const subStream = await fal.subscribe(cfg.subpath_endpoint, {
    input, logs: true, mode: "streaming",
    onQueueUpdate: (u) => streamUpdates.push(u),
  });
  out.subscribe_streaming = { requestId: subStream.requestId, data: subStream.data, updates: streamUpdates };

  // queue.submit / status / streamStatus / result — the request followed waits behind a slow one
  const slow = await fal.queue.submit(EP, { input: slowInput });
  const submitted = await fal.queue.submit(EP, { input });
  const queued = await fal.queue.status(EP, { requestId: submitted.request_id, logs: true });
  const stream = await fal.queue.streamStatus(EP, { requestId: submitted.request_id, logs: true });
  const events = [];
  stream.on("data", (d) => events.push(d));
  const done = await stream.done();
  const completed = await fal.queue.status(EP, { requestId: submitted.request_id, logs: true });
  const result = await fal.queue.result(EP, { requestId: submitted.request_id });
  out.queue = { slow, submitted, queued, events, done, completed, result };

  // cancel: a queued request (behind a running slow one), the running one, then an already completed one
  const running = await fal.queue.submit(EP, { input: slowInput });
  await waitFor(running.request_id, "IN_PROGRESS");
  const waiting = await fal.queue.submit(EP, { input });
  const cancel = {};
  await fal.queue.cancel(EP, { requestId: waiting.request_id });
  cancel.queued = { requestId: waiting.request_id, status: await waitFor(waiting.request_id, "COMPLETED") };
  try {
    cancel.queued.result = await fal.queue.result(EP, { requestId: waiting.request_id });
  } catch (e) {
    cancel.queued.result_error = error(e);
  }
  await fal.queue.cancel(EP, { requestId: running.request_id });
  cancel.running = { requestId: running.request_id, status: await waitFor(running.request_id, "COMPLETED") };
  try {
    cancel.running.result = await fal.queue.result(EP, { requestId: running.request_id });
  } catch (e) {
    cancel.running.result_error = error(e);
  }
  try {
    await fal.queue.cancel(EP, { requestId: submitted.request_id });
    cancel.completed = { accepted: true };
  } catch (e) {
    cancel.completed = { error: error(e) };
  }
  out.cancel = cancel;

  // run (synchronous)
  const run = await fal.run(EP, { input });
  out.run = { requestId: run.requestId, data: run.data };

  // a validation error
  try {
    await fal.run(EP, { input: { ...input, image_size: "huge" } });
    out.invalid = { accepted: true };
  } catch (e) {
    out.invalid = error(e);
  }

  // fal-ai/ideogram/character: subscribe (polled at the owner/app URL fal-ai/ideogram), run, a conflicting field
  const IEP = cfg.ideogram_endpoint;
  const ideoInput = { ...cfg.ideogram_input, reference_image_urls: [url] };
  const ideoUpdates = [];
  const ideoSub = await fal.subscribe(IEP, {
    input: ideoInput, logs: true, pollInterval: 100,
    onQueueUpdate: (u) => ideoUpdates.push(u),
  });
  const ideoRun = await fal.run(IEP, { input: ideoInput });
  const ideogram = {
    subscribe: { requestId: ideoSub.requestId, data: ideoSub.data, updates: ideoUpdates },
    run: { requestId: ideoRun.requestId, data: ideoRun.data },
  };
  try {
    await fal.run(IEP, { input: { ...cfg.ideogram_conflict, reference_image_urls: [url] } });
    ideogram.conflict = { accepted: true };
  } catch (e) {
    ideogram.conflict = error(e);
  }
  out.ideogram = ideogram;
  process.stdout.write("\n" + JSON.stringify(out) + "\n");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e, e && e.body ? JSON.stringify(e.body) : "");
  process.stdout.write("\n" + JSON.stringify({ failed: String(e && e.message), partial: out, error: error(e) }) + "\n");
  process.exit(1);
});
