package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.engine.safetensors.SafetensorsWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.likeness.models.ModelGoldens.relativeError;
import static dev.likeness.models.ModelGoldens.resource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link FluxTransformer} at FLUX.1-dev's real width (24 heads × 128 = 3072, T5 states of 4096, pooled 768, rotary
 * axes (16, 56, 56)) with one double-stream and one single-stream block, against diffusers 0.33.1
 * ({@code tools/reference/goldens/models_flux_fullwidth.py}), to catch what tiny configs cannot: shape assumptions
 * that only break at the real sizes.
 *
 * <p>Its 0.55 G parameters are not committed: {@link DeterministicWeights} generates them from their names, exactly
 * as the Python script did (each tensor's checksums in the golden confirm it), writes them as a bf16 diffusers folder
 * in three shards with an index (as the real checkpoint is laid out) into a temporary directory, and the model loads
 * that folder through {@link FluxTransformer#load}, memory-mapped. The generated values are exact in bf16, and the
 * timestep and guidance are chosen so that diffusers' bf16 rounding of 1000 t and 1000 g is exact, so the reference
 * is torch's f32 forward pass and the output and the states after each stack must match at 1e-4 relative error.
 * One shard's tensors at a time are held in memory (at most the double-stream block, 0.68 GB).
 */
class FluxFullWidthTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);
    private static final String SET = "flux_fullwidth";
    private static final String CASE = "fullwidth";
    private static final int SHARDS = 3;
    private static final SafetensorsFile GOLDEN = SafetensorsFile.open(resource(SET, "outputs.safetensors"));

    @TempDir
    Path tmp;

    @AfterAll
    static void close() {
        GOLDEN.close();
        BACKEND.close();
    }

    /** The shard (1-based) a diffusers key goes to: embedders and output layer, double block, single block. */
    private static int shardOf(String name) {
        if (name.startsWith("transformer_blocks.")) {
            return 2;
        }
        return name.startsWith("single_transformer_blocks.") ? 3 : 1;
    }

    private static String shardName(int shard) {
        return String.format("diffusion_pytorch_model-%05d-of-%05d.safetensors", shard, SHARDS);
    }

    /**
     * Writes the generated checkpoint of every tensor the golden lists into {@code folder}, one shard at a time,
     * checking each tensor's checksums against the Python generator's.
     */
    private static void writeCheckpoint(JsonNode tensors, Path folder) {
        Map<String, String> weightMap = new LinkedHashMap<>();
        long totalBytes = 0;
        for (int shard = 1; shard <= SHARDS; shard++) {
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            for (Map.Entry<String, JsonNode> t : tensors.properties()) {
                String name = t.getKey();
                if (shardOf(name) != shard) {
                    continue;
                }
                int[] shape = ints(t.getValue().get("shape"));
                DeterministicWeights.Generated g = DeterministicWeights.bf16(BACKEND, name, shape);
                checkGenerator(name, t.getValue(), g);
                writer.add(name, g.tensor());
                weightMap.put(name, shardName(shard));
                totalBytes += 2 * Tensor.numel(shape);
            }
            writer.write(folder.resolve(shardName(shard)));
        }
        SafetensorsWriter.writeIndex(folder.resolve("diffusion_pytorch_model.safetensors.index.json"), weightMap,
                totalBytes);
    }

    private static void checkGenerator(String name, JsonNode expected, DeterministicWeights.Generated g) {
        int exponent = expected.get("exponent").asInt();
        long sum = expected.get("sum").asLong();
        int[] first = ints(expected.get("first"));
        if (g.exponent() != exponent || g.sum() != sum || !Arrays.equals(g.first(), first)) {
            fail("DeterministicWeights differs from the Python generator (models_flux_fullwidth.py) on tensor "
                    + name + ": Java gives exponent " + g.exponent() + ", sum " + g.sum() + ", first "
                    + Arrays.toString(g.first()) + "; Python gave exponent " + exponent + ", sum " + sum + ", first "
                    + Arrays.toString(first));
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    private static double assertClose(String what, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double err = relativeError(BACKEND.toFloatArray(actual), BACKEND.toFloatArray(expected));
        System.out.printf("flux full width %s relative error %.3g%n", what, err);
        assertTrue(err <= ModelGoldens.F32_TOLERANCE, what + ": relative error " + err + " > 1e-4");
        return err;
    }

    /** The case's parameters: the config file and, per tensor, its shape and the generator's checksums. */
    private static JsonNode params() {
        for (Map.Entry<String, JsonNode> c : ModelGoldens.cases(GOLDEN)) {
            if (c.getKey().equals(CASE)) {
                return c.getValue();
            }
        }
        return fail("no case " + CASE + " in " + GOLDEN.path());
    }

    @Test
    void oneBlockOfEachKindAtTheRealWidthMatchesDiffusers() throws IOException {
        JsonNode params = params();
        long start = System.nanoTime();
        Files.copy(resource(SET, params.get("config").asText()), tmp.resolve("config.json"));
        writeCheckpoint(params.get("tensors"), tmp);
        long written = System.nanoTime();

        try (FluxTransformer model = FluxTransformer.load(tmp, BACKEND)) {
            assertEquals(3072, model.config().innerDim(), "the golden's model must have FLUX.1's width");
            long loaded = System.nanoTime();
            FluxTransformer.Result r = model.forward(golden("hidden_states"), golden("encoder_hidden_states"),
                    golden("pooled_projections"), golden("timestep"), golden("guidance"), golden("img_ids"),
                    golden("txt_ids"), null);
            long ran = System.nanoTime();
            assertClose("sample", golden("sample"), r.sample());
            assertClose("double_img", golden("double_img"), r.doubleStreamImage());
            assertClose("double_txt", golden("double_txt"), r.doubleStreamText());
            assertClose("single", golden("single"), r.singleStream());
            System.out.printf("flux full width: generated and wrote %.2f GB in %.1f s, loaded in %.2f s, forward "
                            + "%.1f s%n", bytes(tmp) / 1e9, (written - start) / 1e9, (loaded - written) / 1e9,
                    (ran - loaded) / 1e9);
        }
    }

    @Test
    void aGeneratorThatDriftedIsReportedAsSuch() {
        String name = "context_embedder.bias";
        JsonNode expected = params().get("tensors").get(name);
        assertArrayEquals(new int[] {3072}, ints(expected.get("shape")), name + " shape");
        checkGenerator(name, expected, DeterministicWeights.bf16(BACKEND, name, 3072));
        // another tensor's values (same shape and exponent, different name) stand for a generator that changed
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> checkGenerator(name, expected,
                DeterministicWeights.bf16(BACKEND, "x_embedder.bias", 3072)));
        assertTrue(e.getMessage().contains("DeterministicWeights differs from the Python generator")
                && e.getMessage().contains(name), e.getMessage());
    }

    private static Tensor golden(String role) {
        return GOLDEN.tensor(CASE + "/" + role, BACKEND);
    }

    private static long bytes(Path folder) throws IOException {
        long total = 0;
        try (var files = Files.list(folder)) {
            for (Path p : files.toList()) {
                total += Files.size(p);
            }
        }
        return total;
    }
}
