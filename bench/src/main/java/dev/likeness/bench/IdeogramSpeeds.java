package dev.likeness.bench;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.pipeline.ideogram.ColorPalette;
import dev.likeness.pipeline.ideogram.IdeogramCharacter;
import dev.likeness.pipeline.ideogram.RenderingSpeed;
import dev.likeness.pipeline.ideogram.Style;
import dev.likeness.pipeline.ideogram.StyleCode;
import dev.likeness.pipeline.image.ImageDecoder;
import dev.likeness.pipeline.image.RgbImage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Time per image of each {@code rendering_speed} of {@code fal-ai/ideogram/character} on the built-in tiny model at
 * {@code square_hd} (and the cost of a palette and a style code), for pipeline/README.md. Run from the repository
 * root: {@code java ... -cp bench/target/classes:... dev.likeness.bench.IdeogramSpeeds [size]} (bench/run.sh builds the
 * class path the same way).
 */
public final class IdeogramSpeeds {
    private IdeogramSpeeds() {
    }

    public static void main(String[] args) throws Exception {
        CpuBackend backend = new CpuBackend();
        try (InstantCharacterPipeline p = TinyModel.materialize().load(backend)) {
            IdeogramCharacter ic = new IdeogramCharacter(p, backend);
            RgbImage subject = new ImageDecoder().decode(Files.readAllBytes(Path.of("examples", "character.png")),
                    "subject");
            int size = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
            // warm-up
            run(ic, subject, RenderingSpeed.TURBO, null, List.of(), 256);
            for (RenderingSpeed speed : RenderingSpeed.values()) {
                report(speed + " (" + speed.steps() + " steps)", run(ic, subject, speed, null, List.of(), size));
            }
            report("BALANCED + palette EMBER", run(ic, subject, RenderingSpeed.BALANCED,
                    ColorPalette.preset("EMBER"), List.of(), size));
            report("BALANCED + style code", run(ic, subject, RenderingSpeed.BALANCED, null,
                    List.of(StyleCode.parse("AAFF5733")), size));
        }
    }

    private static Map<String, Double> run(IdeogramCharacter ic, RgbImage subject, RenderingSpeed speed,
                                           ColorPalette palette, List<StyleCode> codes, int size) {
        long t0 = System.nanoTime();
        List<Long> steps = new java.util.ArrayList<>();
        IdeogramCharacter.Result r = ic.generate(new IdeogramCharacter.Request("a girl playing a guitar", "", subject,
                null, List.of(), codes, Style.AUTO, speed, palette, true, size, size, 1, 1), new InstantCharacterPipeline
                .Listener() {
                    @Override
                    public void phase(String name, long nanos) {
                        if (name.startsWith("step ")) {
                            steps.add(nanos);
                        }
                    }
                }, () -> false);
        Map<String, Double> t = new java.util.LinkedHashMap<>(r.result().timings());
        t.put("total", (System.nanoTime() - t0) / 1e9);
        // the host is shared: the median step is the robust figure; total at the median = the rest + steps × median
        List<Long> sorted = steps.stream().sorted().toList();
        double median = sorted.get(sorted.size() / 2) / 1e9;
        t.put("median step", median);
        t.put("total at median", t.get("total") - t.get("denoise") + steps.size() * median);
        return t;
    }

    private static void report(String what, Map<String, Double> t) {
        StringBuilder sb = new StringBuilder(String.format("timing %-28s", what));
        t.forEach((k, v) -> sb.append(String.format(" %s %.2f s", k, v)));
        System.out.println(sb);
    }
}
