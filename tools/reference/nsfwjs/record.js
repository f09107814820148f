// Records what nsfwjs 4.4.0's own TF.js runtime outputs on a few generated images: the golden that
// pipeline/src/test/java/dev/likeness/pipeline/safety/NsfwjsClassifierTest.java checks the Java port against.
//
//   cd tools/reference/nsfwjs && npm install && node record.js ../../../pipeline/src/test/resources/dev/likeness/pipeline/safety/nsfwjs
//
// Each image is drawn here from a formula (seeded PRNG where it is noisy), written as an RGB PNG, and classified
// exactly as nsfwjs does: an int32 [H, W, 3] pixel tensor (what tf.browser.fromPixels gives) passed to infer(), which
// divides by 255 and resizes bilinearly (align corners) to 224 unless the image already is 224 x 224. We record the
// five probabilities, the 1280 pooled features (endpoint flatten_1) and classify()'s own answer.
"use strict";
const fs = require("fs");
const path = require("path");
const tf = require("@tensorflow/tfjs");
const nsfwjs = require("nsfwjs");
const { PNG } = require("pngjs");

function mulberry32(seed) {
  return function () {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function draw(width, height, pixel) {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const i = (y * width + x) * 3;
      rgb[i] = Math.max(0, Math.min(255, Math.round(r)));
      rgb[i + 1] = Math.max(0, Math.min(255, Math.round(g)));
      rgb[i + 2] = Math.max(0, Math.min(255, Math.round(b)));
    }
  }
  return { width, height, rgb };
}

function images() {
  const noise = mulberry32(7);
  return [
    // exactly 224 x 224: nsfwjs skips the resize
    ["gradient_224", draw(224, 224, (x, y) => [x * 255 / 223, y * 255 / 223, 128 + 100 * Math.sin(x / 17 + y / 23)])],
    // a skin-toned figure (head, body, arms) on a blue backdrop
    ["figure_160x200", draw(160, 200, (x, y) => {
      const head = ((x - 80) / 24) ** 2 + ((y - 45) / 28) ** 2 < 1;
      const body = ((x - 80) / 38) ** 2 + ((y - 130) / 62) ** 2 < 1;
      const arm = Math.abs(y - 105 - 0.4 * Math.abs(x - 80)) < 8 && Math.abs(x - 80) < 70;
      if (head || body || arm) return [224 - y / 8, 172 - y / 10, 140 - y / 12];
      return [40 + x / 4, 70 + y / 5, 160];
    })],
    // seeded noise, upscaled by nsfwjs
    ["noise_96x72", draw(96, 72, () => [255 * noise(), 255 * noise(), 255 * noise()])],
    // stripes and a disc, downscaled by nsfwjs
    ["stripes_300x180", draw(300, 180, (x, y) => {
      const disc = (x - 210) ** 2 + (y - 90) ** 2 < 60 ** 2;
      if (disc) return [230, 200, 40];
      return ((x + y) >> 4) % 2 ? [20, 20, 30] : [240, 240, 235];
    })],
    // one flat skin colour
    ["flat_skin_64", draw(64, 64, () => [222, 170, 140])],
  ];
}

async function main() {
  const out = process.argv[2];
  if (!out) throw new Error("usage: node record.js OUTPUT_DIR");
  fs.mkdirSync(out, { recursive: true });
  await tf.setBackend("cpu");
  const model = await nsfwjs.load("MobileNetV2");
  const cases = [];
  for (const [name, img] of images()) {
    const png = new PNG({ width: img.width, height: img.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
    png.data = Buffer.from(img.rgb);
    const file = name + ".png";
    fs.writeFileSync(path.join(out, file), PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
    const pixels = tf.tensor3d(Int32Array.from(img.rgb), [img.height, img.width, 3], "int32");
    const probs = Array.from(await model.infer(pixels).data());
    const features = Array.from(await model.infer(pixels, "flatten_1").data());
    const classified = await model.classify(pixels, 5);
    pixels.dispose();
    cases.push({ name, file, width: img.width, height: img.height, probs, features, classify: classified });
    console.log(name, probs.map((p) => p.toFixed(6)).join(" "));
  }
  const golden = {
    source: "nsfwjs@4.4.0 MobileNetV2 (dist/models/mobilenet_v2), @tensorflow/tfjs@4.22.0 cpu backend, node " + process.version,
    classes: ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"],
    cases,
  };
  fs.writeFileSync(path.join(out, "golden.json"), JSON.stringify(golden, null, 1) + "\n");
}

main().catch((e) => { console.error(e); process.exit(1); });
