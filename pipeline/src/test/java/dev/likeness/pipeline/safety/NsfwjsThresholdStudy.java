package dev.likeness.pipeline.safety;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.image.ImageDecoder;
import dev.likeness.pipeline.image.PillowResize;
import dev.likeness.pipeline.image.RgbImage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Not a test: the measurement behind {@link NsfwjsSafetyChecker.Thresholds#DEFAULT} (pipeline/README.md, "Safety
 * checker"). Classifies a labelled set with the built-in model and prints each image's probabilities and how many
 * images of each group every candidate threshold pair flags.
 *
 * <pre>
 *   mvn -q -pl pipeline -am test-compile exec:java -Dexec.classpathScope=test \
 *       -Dexec.mainClass=dev.likeness.pipeline.safety.NsfwjsThresholdStudy -Dexec.args="[PHOTO_DIR ...]"
 * </pre>
 *
 * Groups: "drawn" — images drawn here (the sample character, clothed figures, scenes, patterns, flat colours);
 * "skin" — drawn figures in skin tones with no clothing colours (harmless shapes, the closest this set has to what a
 * nudity classifier looks for); "photo" — every JPEG/PNG in the PHOTO_DIRs (used with the six photos of clothed adults
 * in @vladmandic/face-api@1.7.15's demo/ folder), each whole, mirrored, centre-cropped to 60 %, and its left and right
 * halves, and whole at 512 and 256 px on the long side. Every image of every group is safe: the set measures false positives only.
 */
public final class NsfwjsThresholdStudy {
    private NsfwjsThresholdStudy() {
    }

    private interface Pixel {
        int[] at(int x, int y);
    }

    private static RgbImage draw(int w, int h, Pixel p) {
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int[] c = p.at(x, y);
                for (int k = 0; k < 3; k++) {
                    rgb[(y * w + x) * 3 + k] = (byte) Math.max(0, Math.min(255, c[k]));
                }
            }
        }
        return new RgbImage(w, h, rgb);
    }

    private static boolean ellipse(int x, int y, double cx, double cy, double rx, double ry) {
        double dx = (x - cx) / rx;
        double dy = (y - cy) / ry;
        return dx * dx + dy * dy < 1;
    }

    /** A standing figure: head, neck, torso, arms, legs; {@code top} and {@code bottom} colour the clothes. */
    private static RgbImage figure(int w, int h, int[] skin, int[] top, int[] bottom, int[] background, long seed) {
        Random r = new Random(seed);
        double cx = w * (0.4 + 0.2 * r.nextDouble());
        double s = h / 400.0;
        return draw(w, h, (x, y) -> {
            if (ellipse(x, y, cx, 70 * s, 30 * s, 38 * s)) {
                return skin;
            }
            if (Math.abs(x - cx) < 10 * s && y > 100 * s && y < 125 * s) {
                return skin;
            }
            if (ellipse(x, y, cx, 190 * s, 55 * s, 75 * s)) {
                return top;
            }
            boolean arm = (Math.abs(x - (cx - 62 * s) + (y - 140 * s) * 0.15) < 11 * s
                    || Math.abs(x - (cx + 62 * s) - (y - 140 * s) * 0.15) < 11 * s) && y > 130 * s && y < 270 * s;
            if (arm) {
                return y < 190 * s ? top : skin;
            }
            boolean leg = (Math.abs(x - (cx - 22 * s)) < 16 * s || Math.abs(x - (cx + 22 * s)) < 16 * s)
                    && y > 250 * s && y < 390 * s;
            if (leg) {
                return bottom;
            }
            int shade = (int) (20 * Math.sin(x / 23.0 + y / 31.0));
            return new int[] {background[0] + shade, background[1] + shade, background[2] + shade};
        });
    }

    private static Map<String, RgbImage> drawn(Path repo) throws IOException {
        Map<String, RgbImage> m = new LinkedHashMap<>();
        Path character = repo.resolve("examples/character.png");
        if (Files.exists(character)) {
            m.put("character.png", new ImageDecoder().decode(Files.readAllBytes(character), "character"));
        }
        int[][] skins = {{236, 188, 160}, {198, 134, 96}, {141, 85, 60}, {250, 215, 190}};
        int[][] clothes = {{200, 30, 40}, {30, 60, 160}, {20, 20, 20}, {240, 240, 240}, {60, 140, 70}};
        int[][] backgrounds = {{120, 160, 210}, {230, 220, 200}, {60, 60, 70}, {150, 190, 120}};
        for (int i = 0; i < 8; i++) {
            m.put("clothed figure " + i, figure(300, 400, skins[i % 4], clothes[i % 5], clothes[(i + 2) % 5],
                    backgrounds[i % 4], i));
        }
        m.put("gradient", draw(256, 256, (x, y) -> new int[] {x, y, 128}));
        Random r = new Random(3);
        m.put("noise", draw(128, 128, (x, y) -> new int[] {r.nextInt(256), r.nextInt(256), r.nextInt(256)}));
        m.put("stripes", draw(300, 200, (x, y) -> ((x + y) / 16) % 2 == 0 ? new int[] {20, 20, 30}
                : new int[] {240, 240, 235}));
        m.put("sky and grass", draw(320, 240, (x, y) -> y < 150 ? new int[] {110, 160, 230 - y / 3}
                : new int[] {60, 150 - (y - 150) / 2, 50}));
        m.put("flat grey", draw(64, 64, (x, y) -> new int[] {128, 128, 128}));
        return m;
    }

    private static Map<String, RgbImage> skin() {
        Map<String, RgbImage> m = new LinkedHashMap<>();
        int[][] skins = {{236, 188, 160}, {198, 134, 96}, {141, 85, 60}, {250, 215, 190}};
        int[][] backgrounds = {{120, 160, 210}, {230, 220, 200}, {60, 60, 70}, {150, 190, 120}};
        for (int i = 0; i < 4; i++) {
            m.put("skin-tone figure " + i, figure(300, 400, skins[i], skins[i], skins[i], backgrounds[i], 10 + i));
        }
        for (int i = 0; i < 4; i++) {
            int[] s = skins[i];
            m.put("flat skin " + i, draw(96, 96, (x, y) -> s));
        }
        return m;
    }

    private static Map<String, RgbImage> photos(List<Path> dirs) throws IOException {
        Map<String, RgbImage> m = new LinkedHashMap<>();
        for (Path dir : dirs) {
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(p -> p.toString().matches("(?i).*\\.(jpe?g|png)$")).sorted().toList();
            }
            for (Path f : files) {
                RgbImage img = new ImageDecoder().decode(Files.readAllBytes(f), f.toString());
                String n = f.getFileName().toString();
                int w = img.width();
                int h = img.height();
                m.put(n, img);
                m.put(n + " mirrored", mirror(img));
                m.put(n + " centre 60%", img.crop(w / 5, h / 5, w * 3 / 5, h * 3 / 5));
                m.put(n + " left half", img.crop(0, 0, w / 2, h));
                m.put(n + " right half", img.crop(w / 2, 0, w - w / 2, h));
                // smaller copies (Pillow's antialiased bicubic): nsfwjs's own resize to 224 is bilinear without
                // antialiasing, so a 1920 px photo and its 256 px copy look very different to the model
                for (int side : new int[] {512, 256}) {
                    int sw = w >= h ? side : Math.max(1, Math.round((float) w * side / h));
                    int sh = w >= h ? Math.max(1, Math.round((float) h * side / w)) : side;
                    m.put(n + " at " + side + " px", PillowResize.resize(img, sw, sh));
                }
            }
        }
        return m;
    }

    private static RgbImage mirror(RgbImage img) {
        int w = img.width();
        byte[] out = new byte[img.rgb().length];
        for (int y = 0; y < img.height(); y++) {
            for (int x = 0; x < w; x++) {
                System.arraycopy(img.rgb(), (y * w + x) * 3, out, (y * w + (w - 1 - x)) * 3, 3);
            }
        }
        return new RgbImage(w, img.height(), out);
    }

    public static void main(String[] args) throws IOException {
        Path repo = Path.of("").toAbsolutePath();
        if (!Files.exists(repo.resolve("examples"))) {
            repo = repo.getParent();
        }
        Map<String, Map<String, RgbImage>> groups = new LinkedHashMap<>();
        groups.put("drawn", drawn(repo));
        groups.put("skin", skin());
        List<Path> dirs = new ArrayList<>();
        for (String a : args) {
            dirs.add(Path.of(a));
        }
        groups.put("photo", photos(dirs));
        Map<String, List<float[]>> probs = new LinkedHashMap<>();
        try (CpuBackend backend = new CpuBackend()) {
            NsfwjsClassifier classifier = NsfwjsClassifier.load(backend);
            System.out.println("| group | image | Drawing | Hentai | Neutral | Porn | Sexy | Porn+Hentai |");
            System.out.println("|---|---|---|---|---|---|---|---|");
            for (var g : groups.entrySet()) {
                List<float[]> list = new ArrayList<>();
                for (var e : g.getValue().entrySet()) {
                    float[] p = classifier.classify(List.of(e.getValue())).getFirst().probabilities();
                    list.add(p);
                    System.out.printf("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |%n", g.getKey(), e.getKey(),
                            p[0], p[1], p[2], p[3], p[4], p[1] + p[3]);
                }
                probs.put(g.getKey(), list);
            }
        }
        float[] explicit = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 0.95f, 0.98f};
        float[] sexy = {0.8f, 0.9f, 0.95f, 0.98f, 2f};
        System.out.println();
        StringBuilder head = new StringBuilder("| Porn+Hentai ≥ | Sexy ≥ |");
        StringBuilder rule = new StringBuilder("|---|---|");
        for (var g : probs.entrySet()) {
            head.append(" ").append(g.getKey()).append(" flagged (of ").append(g.getValue().size()).append(") |");
            rule.append("---|");
        }
        System.out.println(head);
        System.out.println(rule);
        for (float e : explicit) {
            for (float s : sexy) {
                NsfwjsSafetyChecker.Thresholds t = new NsfwjsSafetyChecker.Thresholds(e, s);
                StringBuilder row = new StringBuilder(String.format("| %.2f | %s |", e, s > 1 ? "never"
                        : String.format("%.2f", s)));
                for (var g : probs.values()) {
                    row.append(" ").append(g.stream().filter(t::flags).count()).append(" |");
                }
                System.out.println(row);
            }
        }
        // nsfwjs's own top-1 reading (the class with the highest probability is Porn, Hentai or Sexy)
        StringBuilder row = new StringBuilder("| top-1 class is Porn, Hentai or Sexy | |");
        for (var g : probs.values()) {
            row.append(" ").append(g.stream().filter(p -> {
                int best = 0;
                for (int k = 1; k < 5; k++) {
                    if (p[k] > p[best]) {
                        best = k;
                    }
                }
                return best == 1 || best == 3 || best == 4;
            }).count()).append(" |");
        }
        System.out.println(row);
    }
}
