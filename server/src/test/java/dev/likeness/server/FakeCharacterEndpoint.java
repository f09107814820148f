package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;

/**
 * TEST ONLY: an endpoint with the real {@code fal-ai/instant-character} input validation whose run, instead of a
 * model, decodes the reference image, logs one line per step and draws flat images of the requested size (colour
 * from the seed and the reference's first pixel) through the server's storage. Optional: a per-step delay and a gate
 * the run waits on, so tests can hold a request IN_PROGRESS.
 */
final class FakeCharacterEndpoint implements Endpoint {
    private final String id;
    volatile long stepMillis;
    volatile CountDownLatch gate;
    final AtomicInteger runs = new AtomicInteger();
    final CountDownLatch started = new CountDownLatch(1);

    FakeCharacterEndpoint(String id) {
        this.id = id;
    }

    FakeCharacterEndpoint() {
        this(InstantCharacterInput.ENDPOINT_ID);
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public JsonNode validate(JsonNode input) throws InputError {
        return InstantCharacterInput.parse(input).toJson();
    }

    @Override
    public JsonNode run(JsonNode validated, RunContext ctx) throws Exception {
        runs.incrementAndGet();
        started.countDown();
        long t0 = System.nanoTime();
        InstantCharacterInput in = InstantCharacterInput.parse(validated);
        byte[] ref = ctx.readInputFile("image_url", in.imageUrl());
        BufferedImage reference = ImageIO.read(new ByteArrayInputStream(ref));
        if (reference == null) {
            throw EndpointException.fieldError("image_url", "image_load_error", "Failed to load the image.", null, null);
        }
        ctx.log("reference " + reference.getWidth() + "x" + reference.getHeight());
        CountDownLatch g = gate;
        if (g != null) {
            while (!g.await(20, TimeUnit.MILLISECONDS)) ctx.checkCancelled();
        }
        for (int i = 1; i <= in.numInferenceSteps(); i++) {
            if (stepMillis > 0) Thread.sleep(stepMillis);
            ctx.progress("step", i, in.numInferenceSteps());
        }
        long seed = in.seed() != null ? in.seed() : 42;
        ObjectNode out = Json.object();
        var images = out.putArray("images");
        var nsfw = out.putArray("has_nsfw_concepts");
        for (int k = 0; k < in.numImages(); k++) {
            int w = in.width(), h = in.height();
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            int rgb = (int) ((seed * 2654435761L + k) & 0xffffff) ^ (reference.getRGB(0, 0) & 0xffffff);
            var gfx = img.createGraphics();
            gfx.setColor(new Color(rgb));
            gfx.fillRect(0, 0, w, h);
            gfx.dispose();
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            if (!ImageIO.write(img, in.outputFormat().equals("png") ? "png" : "jpeg", bytes)) throw new IOException("no writer");
            images.add(ctx.storeImage(bytes.toByteArray(), in.outputContentType(), w, h, in.syncMode()));
            nsfw.add(false);
        }
        out.putObject("timings").put("inference", (System.nanoTime() - t0) / 1e9);
        out.put("seed", seed);
        out.put("prompt", in.prompt());
        return out;
    }

    /** Test pricing: $0.05 per image. */
    @Override
    public Charge charge(JsonNode validatedInput, JsonNode output) {
        return new Charge("images", output.path("images").size(), 0.05);
    }

    /** A small PNG as bytes. */
    static byte[] png(int w, int h, int rgb) throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, rgb);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    /** A small PNG as a data URI. */
    static String pngDataUri() throws IOException {
        return FileStore.dataUri(png(4, 4, 0x336699), "image/png");
    }
}
