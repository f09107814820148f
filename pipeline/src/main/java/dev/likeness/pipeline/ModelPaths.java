package dev.likeness.pipeline;

import dev.likeness.engine.Backend;
import dev.likeness.models.AutoencoderKL;
import dev.likeness.models.ClipTextModel;
import dev.likeness.models.Dinov2Model;
import dev.likeness.models.FluxTransformer;
import dev.likeness.models.InstantCharacterAdapter;
import dev.likeness.models.ModelConfig;
import dev.likeness.models.SiglipVisionModel;
import dev.likeness.models.T5EncoderModel;
import dev.likeness.models.scheduler.FlowMatchEulerScheduler;
import dev.likeness.models.tokenizers.ClipTokenizer;
import dev.likeness.models.tokenizers.T5Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where the InstantCharacter pipeline's published weights live, as downloaded from their Hugging Face repositories:
 *
 * <ul>
 *   <li>{@code flux}: the {@code black-forest-labs/FLUX.1-dev} diffusers folder ({@code transformer/}, {@code vae/},
 *       {@code text_encoder/}, {@code tokenizer/}, {@code text_encoder_2/}, {@code tokenizer_2/},
 *       {@code scheduler/}); instead of {@code transformer/} it may hold Black Forest Labs' single file
 *       {@code flux1-dev.safetensors};</li>
 *   <li>{@code siglip}: {@code google/siglip-so400m-patch14-384};</li>
 *   <li>{@code dinov2}: {@code facebook/dinov2-giant};</li>
 *   <li>{@code adapter}: {@code tencent/InstantCharacter}'s {@code instantcharacter_ip-adapter.bin} (or a folder
 *       holding it).</li>
 * </ul>
 *
 * {@link #fromRoot} finds all four under one directory by their repository names. Every missing piece is reported
 * at once, each with the path that was looked for.
 */
public record ModelPaths(Path flux, Path siglip, Path dinov2, Path adapter) {
    /** The folder names {@link #fromRoot} looks for, as the Hugging Face repositories are called. */
    public static final String FLUX_DIR = "FLUX.1-dev";
    public static final String SIGLIP_DIR = "siglip-so400m-patch14-384";
    public static final String DINOV2_DIR = "dinov2-giant";
    public static final String ADAPTER_DIR = "InstantCharacter";
    public static final String ADAPTER_FILE = "instantcharacter_ip-adapter.bin";
    public static final String ADAPTER_SAFETENSORS = "instantcharacter_ip-adapter.safetensors";
    public static final String BFL_SINGLE_FILE = "flux1-dev.safetensors";

    /** {@code root/FLUX.1-dev}, {@code root/siglip-so400m-patch14-384}, {@code root/dinov2-giant}, {@code root/InstantCharacter}. */
    public static ModelPaths fromRoot(Path root) {
        if (!Files.isDirectory(root)) {
            throw new IllegalArgumentException("model directory " + root + " does not exist or is not a directory");
        }
        return new ModelPaths(root.resolve(FLUX_DIR), root.resolve(SIGLIP_DIR), root.resolve(DINOV2_DIR),
                root.resolve(ADAPTER_DIR));
    }

    /**
     * The adapter checkpoint file: {@link #adapter} itself, or inside it {@value #ADAPTER_FILE} (the published torch
     * file) or, failing that, {@value #ADAPTER_SAFETENSORS} (the same tensors as safetensors).
     */
    public Path adapterFile() {
        if (!Files.isDirectory(adapter)) {
            return adapter;
        }
        Path bin = adapter.resolve(ADAPTER_FILE);
        Path safetensors = adapter.resolve(ADAPTER_SAFETENSORS);
        return !Files.isRegularFile(bin) && Files.isRegularFile(safetensors) ? safetensors : bin;
    }

    /** Every required file or folder that is missing, described; empty when all are there. */
    public List<String> missing() {
        List<String> out = new ArrayList<>();
        boolean bfl = Files.isRegularFile(flux.resolve(BFL_SINGLE_FILE));
        requireConfig(out, flux.resolve("transformer"), bfl ? null : "FLUX transformer (or " + BFL_SINGLE_FILE
                + " in " + flux + ")");
        requireConfig(out, flux.resolve("vae"), "FLUX VAE");
        requireConfig(out, flux.resolve("text_encoder"), "CLIP-L text encoder");
        requireConfig(out, flux.resolve("text_encoder_2"), "T5 text encoder");
        requireDir(out, flux.resolve("tokenizer"), "CLIP tokenizer");
        requireDir(out, flux.resolve("tokenizer_2"), "T5 tokenizer");
        requireDir(out, flux.resolve("scheduler"), "scheduler config");
        requireConfig(out, siglip, "SigLIP vision encoder");
        requireConfig(out, dinov2, "DINOv2 encoder");
        if (!Files.isRegularFile(adapterFile())) {
            out.add("InstantCharacter adapter: no file " + adapterFile());
        }
        return out;
    }

    private static void requireConfig(List<String> out, Path dir, String what) {
        if (what == null) {
            return;
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            out.add(what + ": no " + dir.resolve("config.json"));
        }
    }

    private static void requireDir(List<String> out, Path dir, String what) {
        if (!Files.isDirectory(dir)) {
            out.add(what + ": no directory " + dir);
        }
    }

    /** {@link #load(Backend, boolean)} releasing the encoders between their phases (what a big model needs). */
    public InstantCharacterPipeline load(Backend backend) {
        return load(backend, true);
    }

    /**
     * Maps every model (nothing is copied: weights stay memory-mapped in their stored dtype) and builds the pipeline.
     * Missing pieces are listed together in one error. With {@code releaseEncoders} the text and image encoders are
     * unmapped after their phase of each request and mapped again for the next one.
     */
    public InstantCharacterPipeline load(Backend backend, boolean releaseEncoders) {
        return load(backend, releaseEncoders, false);
    }

    /**
     * {@link #load(Backend, boolean)}; with {@code fp8Transformer} the FLUX transformer's block weights are quantized
     * to float8 e4m3 (per-output-channel scales) as they are loaded: about 12 GB instead of 24 GB, and fp8 GEMMs on
     * GPUs that have them.
     */
    public InstantCharacterPipeline load(Backend backend, boolean releaseEncoders, boolean fp8Transformer) {
        List<String> missing = missing();
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("incomplete model directory:\n  - " + String.join("\n  - ", missing));
        }
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            ClipTokenizer clipTokenizer = ClipTokenizer.fromDirectory(flux.resolve("tokenizer"));
            T5Tokenizer t5Tokenizer = T5Tokenizer.fromDirectory(flux.resolve("tokenizer_2"));
            boolean keep = !releaseEncoders;
            Resident<ClipTextModel> clip = keep(opened, new Resident<>("CLIP text encoder",
                    () -> ClipTextModel.load(flux.resolve("text_encoder"), backend), keep));
            Resident<T5EncoderModel> t5 = keep(opened, new Resident<>("T5 encoder",
                    () -> T5EncoderModel.load(flux.resolve("text_encoder_2"), backend), keep));
            FluxTransformer transformer = keep(opened, loadTransformer(backend, fp8Transformer));
            AutoencoderKL vae = keep(opened, AutoencoderKL.load(flux.resolve("vae"), backend));
            FlowMatchEulerScheduler scheduler = FlowMatchEulerScheduler.fromConfig(schedulerConfig());
            Resident<SiglipVisionModel> siglip = keep(opened, new Resident<>("SigLIP encoder",
                    () -> SiglipVisionModel.load(siglip(), backend), keep));
            Resident<Dinov2Model> dinov2 = keep(opened, new Resident<>("DINOv2 encoder",
                    () -> Dinov2Model.load(dinov2(), backend), keep));
            InstantCharacterAdapter adapter = keep(opened, InstantCharacterAdapter.load(adapterFile(), backend));
            return new InstantCharacterPipeline(new InstantCharacterPipeline.Components(clipTokenizer, clip,
                    t5Tokenizer, t5, transformer, vae, scheduler, siglip, dinov2, adapter), backend);
        } catch (RuntimeException e) {
            for (AutoCloseable c : opened) {
                try {
                    c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    FluxTransformer loadTransformer(Backend backend) {
        return loadTransformer(backend, false);
    }

    FluxTransformer loadTransformer(Backend backend, boolean fp8) {
        Path folder = flux.resolve("transformer");
        if (Files.isRegularFile(folder.resolve("config.json"))) {
            return FluxTransformer.load(folder, backend, fp8);
        }
        // the BFL single file carries no config: FLUX.1-dev's architecture (the diffusers defaults)
        FluxTransformer.Config dev = FluxTransformer.Config.from(ModelConfig.parse("{\"guidance_embeds\": true}",
                flux.resolve(BFL_SINGLE_FILE)));
        return FluxTransformer.loadSingleFile(flux.resolve(BFL_SINGLE_FILE), dev, backend, fp8);
    }

    private Path schedulerConfig() {
        Path dir = flux.resolve("scheduler");
        Path file = dir.resolve("scheduler_config.json");
        if (Files.isRegularFile(file)) {
            return file;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".json")).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("scheduler config: no " + file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    private static <T extends AutoCloseable> T keep(List<AutoCloseable> opened, T model) {
        opened.add(model);
        return model;
    }
}
