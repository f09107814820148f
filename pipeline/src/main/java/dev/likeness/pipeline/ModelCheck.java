package dev.likeness.pipeline;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.models.AutoencoderKL;
import dev.likeness.models.ClipTextModel;
import dev.likeness.models.Dinov2Model;
import dev.likeness.models.FluxTransformer;
import dev.likeness.models.InstantCharacterAdapter;
import dev.likeness.models.SiglipVisionModel;
import dev.likeness.models.T5EncoderModel;
import dev.likeness.models.Weights;
import dev.likeness.models.scheduler.FlowMatchEulerScheduler;
import dev.likeness.models.tokenizers.ClipTokenizer;
import dev.likeness.models.tokenizers.T5Tokenizer;
import dev.likeness.pipeline.safety.ClipSafetyChecker;
import dev.likeness.pipeline.safety.SafetyCheckers;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code likeness models check}: opens every component of a real-weights folder the way the pipeline does, in
 * {@link Weights#audit audit mode}, so that every missing file, missing tensor, wrong shape and non-floating dtype
 * is reported at once, each with the file expected and the repository that publishes it. Nothing is computed; the
 * weights are only mapped.
 */
public final class ModelCheck {
    private ModelCheck() {
    }

    /** One component's verdict: what was checked, where it comes from, and its problems. */
    public record Component(String name, Path path, String publishedAt, List<String> problems, List<String> notes) {
        public boolean ok() {
            return problems.isEmpty();
        }
    }

    /** All components' verdicts. */
    public record Report(List<Component> components) {
        public boolean ok() {
            return components.stream().allMatch(Component::ok);
        }

        /** A plain-text report: one line per component, its problems indented beneath. */
        public String format() {
            StringBuilder b = new StringBuilder();
            for (Component c : components) {
                b.append(c.ok() ? "ok       " : "PROBLEM  ").append(c.name()).append("  (").append(c.path())
                        .append(")\n");
                for (String p : c.problems()) {
                    b.append("           - ").append(p).append('\n');
                }
                for (String n : c.notes()) {
                    b.append("           note: ").append(n).append('\n');
                }
                if (!c.ok()) {
                    b.append("           published at ").append(c.publishedAt()).append('\n');
                }
            }
            b.append(ok() ? "all components present and well-formed\n" : "the folder is not usable as it is\n");
            return b.toString();
        }
    }

    private static final String FLUX_REPO = "https://huggingface.co/black-forest-labs/FLUX.1-dev (gated: accept "
            + "the licence, then download the whole repository into " + ModelPaths.FLUX_DIR + "/)";
    private static final String SIGLIP_REPO = "https://huggingface.co/google/siglip-so400m-patch14-384 (into "
            + ModelPaths.SIGLIP_DIR + "/)";
    private static final String DINOV2_REPO = "https://huggingface.co/facebook/dinov2-giant (into "
            + ModelPaths.DINOV2_DIR + "/)";
    private static final String SD_CHECKER_REPO = "https://huggingface.co/CompVis/stable-diffusion-safety-checker "
            + "(into " + SafetyCheckers.SD_CHECKER_DIR + "/)";
    private static final String ADAPTER_REPO = "https://huggingface.co/tencent/InstantCharacter, file "
            + ModelPaths.ADAPTER_FILE + " (into " + ModelPaths.ADAPTER_DIR + "/)";

    /** Checks every component of {@code paths}. */
    public static Report check(ModelPaths paths) {
        CpuBackend backend = new CpuBackend(1);
        Path flux = paths.flux();
        List<Component> out = new ArrayList<>();
        Path bfl = flux.resolve(ModelPaths.BFL_SINGLE_FILE);
        if (!Files.isDirectory(flux.resolve("transformer")) && Files.isRegularFile(bfl)) {
            out.add(component("FLUX transformer (Black Forest Labs single file)", bfl, FLUX_REPO, List.of(bfl),
                    () -> paths.loadTransformer(backend)));
        } else {
            out.add(component("FLUX transformer", flux.resolve("transformer"), FLUX_REPO,
                    List.of(flux.resolve("transformer/config.json")),
                    () -> FluxTransformer.load(flux.resolve("transformer"), backend)));
        }
        out.add(component("FLUX VAE", flux.resolve("vae"), FLUX_REPO, List.of(flux.resolve("vae/config.json")),
                () -> AutoencoderKL.load(flux.resolve("vae"), backend)));
        out.add(component("CLIP-L text encoder", flux.resolve("text_encoder"), FLUX_REPO,
                List.of(flux.resolve("text_encoder/config.json")),
                () -> ClipTextModel.load(flux.resolve("text_encoder"), backend)));
        out.add(component("CLIP tokenizer", flux.resolve("tokenizer"), FLUX_REPO, List.of(flux.resolve("tokenizer")),
                () -> {
                    ClipTokenizer.fromDirectory(flux.resolve("tokenizer"));
                    return null;
                }));
        out.add(component("T5 text encoder", flux.resolve("text_encoder_2"), FLUX_REPO,
                List.of(flux.resolve("text_encoder_2/config.json")),
                () -> T5EncoderModel.load(flux.resolve("text_encoder_2"), backend)));
        out.add(component("T5 tokenizer", flux.resolve("tokenizer_2"), FLUX_REPO,
                List.of(flux.resolve("tokenizer_2")), () -> {
                    T5Tokenizer.fromDirectory(flux.resolve("tokenizer_2"));
                    return null;
                }));
        out.add(component("scheduler", flux.resolve("scheduler"), FLUX_REPO,
                List.of(flux.resolve("scheduler/scheduler_config.json")), () -> {
                    FlowMatchEulerScheduler.fromConfig(flux.resolve("scheduler/scheduler_config.json"));
                    return null;
                }));
        out.add(component("SigLIP vision encoder", paths.siglip(), SIGLIP_REPO,
                List.of(paths.siglip().resolve("config.json")),
                () -> SiglipVisionModel.load(paths.siglip(), backend)));
        out.add(component("DINOv2 encoder", paths.dinov2(), DINOV2_REPO, List.of(paths.dinov2().resolve("config.json")),
                () -> Dinov2Model.load(paths.dinov2(), backend)));
        out.add(component("InstantCharacter adapter", paths.adapterFile(), ADAPTER_REPO, List.of(paths.adapterFile()),
                () -> InstantCharacterAdapter.load(paths.adapterFile(), backend)));
        // optional: the Stable Diffusion safety checker replaces the built-in nsfwjs one when its folder is present
        Path sd = flux.toAbsolutePath().getParent().resolve(SafetyCheckers.SD_CHECKER_DIR);
        if (Files.isDirectory(sd)) {
            out.add(component("Stable Diffusion safety checker (optional)", sd, SD_CHECKER_REPO,
                    List.of(sd.resolve("config.json")), () -> ClipSafetyChecker.load(sd, backend)));
        }
        return new Report(out);
    }

    /**
     * Checks that the {@code required} files exist, then loads the component in audit mode and closes it again.
     */
    private static Component component(String name, Path path, String publishedAt, List<Path> required,
                                       Callable<?> load) {
        List<String> problems = new ArrayList<>();
        for (Path p : required) {
            if (!Files.exists(p)) {
                problems.add("missing " + p);
            }
        }
        if (!problems.isEmpty()) {
            return new Component(name, path, publishedAt, problems, List.of());
        }
        Weights.Audit audit = new Weights.Audit();
        try {
            Object model = Weights.audit(audit, load);
            if (model instanceof AutoCloseable c) {
                c.close();
            }
        } catch (Exception e) {
            audit.problem(e.getMessage() == null ? e.toString() : e.getMessage());
        }
        return new Component(name, path, publishedAt, audit.problems(), audit.unused());
    }
}
