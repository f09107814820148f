package dev.likeness.engine.safetensors;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checkpoints: a single file or shards tied by an index, mapped lazily, with errors naming index, shard, tensor. */
class CheckpointTest {
    private static final CpuBackend CPU = new CpuBackend(1);
    private static final String S1 = "model-00001-of-00003.safetensors";
    private static final String S2 = "model-00002-of-00003.safetensors";
    private static final String S3 = "model-00003-of-00003.safetensors";

    @TempDir
    Path dir;

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Tensor values(float first, int... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            v[i] = first + i;
        }
        return CPU.wrap(v, shape);
    }

    /**
     * Three shards and an index: a.* in shard 1, b.* in shard 2, c.* in shard 3 (one in bf16, one a transposed
     * view). Returns the values written, by tensor name.
     */
    private Map<String, Tensor> sharded() {
        Map<String, Tensor> all = new LinkedHashMap<>();
        all.put("a.weight", values(0, 3, 4));
        all.put("a.bias", values(100, 3));
        all.put("b.weight", CPU.to(values(-5, 2, 5), DType.BF16));
        all.put("c.weight", values(7, 4, 2).transpose(0, 1));
        all.put("c.bias", values(1000, 2));
        Map<String, String> weightMap = new LinkedHashMap<>();
        long total = 0;
        for (String shard : List.of(S1, S2, S3)) {
            String prefix = shard.equals(S1) ? "a." : shard.equals(S2) ? "b." : "c.";
            Map<String, Tensor> part = new LinkedHashMap<>();
            all.forEach((n, t) -> {
                if (n.startsWith(prefix)) {
                    part.put(n, t);
                    weightMap.put(n, shard);
                }
            });
            SafetensorsWriter.write(dir.resolve(shard), part, Map.of("format", "pt"));
            for (Tensor t : part.values()) {
                total += t.numel() * t.dtype().byteSize();
            }
        }
        SafetensorsWriter.writeIndex(dir.resolve("model.safetensors.index.json"), weightMap, total);
        return all;
    }

    @Test
    void shardedRoundTripMapsShardsLazily() throws IOException {
        Map<String, Tensor> all = sharded();
        // shard 2 is made unreadable: as long as nothing from it is asked for, it must never be opened
        Files.write(dir.resolve(S2), new byte[] {1, 2, 3});
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertTrue(c.isSharded());
            assertEquals(dir.resolve("model.safetensors.index.json").toAbsolutePath(), c.path().toAbsolutePath());
            assertEquals(List.of("a.bias", "a.weight", "b.weight", "c.bias", "c.weight"), List.copyOf(c.names()));
            assertEquals("120", c.metadata().get("total_size"), "4 * (12 + 3 + 8 + 2) + 2 * 10 bytes");
            assertEquals(3, c.shards().size());
            assertTrue(c.contains("b.weight") && !c.contains("b.bias"));
            assertEquals(Set.of(), c.mappedShards(), "opening maps nothing");
            assertArrayEquals(all.get("a.weight").toFloatArray(), c.tensor("a.weight", CPU).toFloatArray());
            assertEquals(Set.of(dir.resolve(S1)), c.mappedShards());
            assertArrayEquals(new int[] {2, 4}, c.info("c.weight").shape());
            assertEquals(Set.of(dir.resolve(S1), dir.resolve(S3)), c.mappedShards());
            Tensor cw = c.tensor("c.weight", CPU, DType.F32, 2, 4);
            assertArrayEquals(all.get("c.weight").toFloatArray(), cw.toFloatArray());
            assertTrue(cw.isContiguous(), "a view is written contiguous");
            assertArrayEquals(all.get("c.bias").toFloatArray(), c.tensor("c.bias", CPU).toFloatArray());
            assertArrayEquals(all.get("a.bias").toFloatArray(), c.tensor("a.bias", CPU).toFloatArray());
            assertEquals(Set.of(dir.resolve(S1), dir.resolve(S3)), c.mappedShards(), "shard 2 never opened");
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> c.tensor("b.weight", CPU));
            assertTrue(e.getMessage().contains(S2) && e.getMessage().contains("truncated"), e.getMessage());
        }
        sharded();
        try (Checkpoint c = Checkpoint.open(dir.resolve("model.safetensors.index.json"))) {
            Tensor b = c.tensor("b.weight", CPU);
            assertEquals(DType.BF16, b.dtype());
            assertArrayEquals(all.get("b.weight").toFloatArray(), b.toFloatArray());
            assertEquals(Set.of(dir.resolve(S2)), c.mappedShards());
            assertEquals(dir.resolve(S2), c.shardOf("b.weight"));
        }
    }

    @Test
    void closeUnmapsEveryShard() {
        sharded();
        Checkpoint c = Checkpoint.open(dir);
        Tensor a = c.tensor("a.weight", CPU);
        Tensor b = c.tensor("b.weight", CPU);
        assertEquals(2, c.mappedShards().size());
        c.close();
        c.close();
        assertEquals(Set.of(), c.mappedShards());
        assertThrows(IllegalStateException.class, a::toFloatArray, "shard 1 is unmapped");
        assertThrows(IllegalStateException.class, b::toFloatArray, "shard 2 is unmapped");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> c.tensor("c.bias", CPU));
        assertTrue(e.getMessage().contains("closed") && e.getMessage().contains("'c.bias'"), e.getMessage());
    }

    @Test
    void mismatchAndMissingTensorErrorsNameFileAndTensor() {
        sharded();
        try (Checkpoint c = Checkpoint.open(dir)) {
            SafetensorsException e = assertThrows(SafetensorsException.class,
                    () -> c.tensor("a.weight", CPU, DType.F32, 4, 3));
            assertTrue(e.getMessage().contains(S1) && e.getMessage().contains("'a.weight'")
                    && e.getMessage().contains("[3, 4]") && e.getMessage().contains("[4, 3]"), e.getMessage());
            e = assertThrows(SafetensorsException.class, () -> c.tensor("b.weight", CPU, DType.F16, 2, 5));
            assertTrue(e.getMessage().contains(S2) && e.getMessage().contains("'b.weight'")
                    && e.getMessage().contains("BF16") && e.getMessage().contains("F16"), e.getMessage());
            e = assertThrows(SafetensorsException.class, () -> c.tensor("d.weight", CPU));
            assertTrue(e.getMessage().contains("model.safetensors.index.json")
                    && e.getMessage().contains("'d.weight'"), e.getMessage());
        }
    }

    @Test
    void indexPointingToAMissingShard() throws IOException {
        sharded();
        Files.delete(dir.resolve(S3));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("model.safetensors.index.json") && e.getMessage().contains(S3)
                && e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void tensorListedInTheIndexButAbsentFromItsShard() {
        sharded();
        SafetensorsWriter.writeIndex(dir.resolve("model.safetensors.index.json"),
                Map.of("a.weight", S1, "a.extra", S1), 0);
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertTrue(c.contains("a.extra"));
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> c.tensor("a.extra", CPU));
            assertTrue(e.getMessage().contains("model.safetensors.index.json") && e.getMessage().contains(S1)
                    && e.getMessage().contains("'a.extra'"), e.getMessage());
        }
    }

    @Test
    void badIndexes() throws IOException {
        sharded();
        Path index = dir.resolve("model.safetensors.index.json");
        for (String[] bad : new String[][] {
                {"{not json", "cannot read"},
                {"[1]", "not a JSON object"},
                {"{\"metadata\": {}}", "weight_map"},
                {"{\"weight_map\": [1]}", "weight_map"},
                {"{\"weight_map\": {\"a.weight\": 3}}", "'a.weight'"},
                {"{\"weight_map\": {\"a.weight\": \"../" + S1 + "\"}}", "not a plain file name"},
                {"{\"weight_map\": {\"a.weight\": \"/tmp/" + S1 + "\"}}", "not a plain file name"},
                {"{\"metadata\": 5, \"weight_map\": {}}", "metadata"},
                {"{\"weight_map\": {\"a\": \"" + S1 + "\", \"a\": \"" + S2 + "\"}}", "cannot read"}}) {
            Files.writeString(index, bad[0]);
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(index), bad[0]);
            assertTrue(e.getMessage().contains(index.toString()) && e.getMessage().contains(bad[1]),
                    bad[0] + " -> " + e.getMessage());
        }
    }

    @Test
    void directoriesAndSingleFiles() throws IOException {
        Path single = dir.resolve("one");
        Files.createDirectories(single);
        SafetensorsWriter.write(single.resolve("model.safetensors"), Map.of("w", values(1, 2, 2)), Map.of("k", "v"));
        try (Checkpoint c = Checkpoint.open(single)) {
            assertFalse(c.isSharded());
            assertEquals(Map.of("k", "v"), c.metadata());
            assertEquals(Set.of("w"), c.names());
            assertEquals(List.of(single.resolve("model.safetensors")), c.shards());
            assertArrayEquals(new float[] {1, 2, 3, 4}, c.tensor("w", CPU).toFloatArray());
        }
        try (Checkpoint c = Checkpoint.open(single.resolve("model.safetensors"))) {
            assertEquals(Set.of(single.resolve("model.safetensors")), c.mappedShards());
            assertArrayEquals(new float[] {1, 2, 3, 4}, c.tensor("w", CPU, DType.F32, 2, 2).toFloatArray());
        }
        SafetensorsWriter.write(single.resolve("other.safetensors"), Map.of(), Map.of());
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(single));
        assertTrue(e.getMessage().contains("several") && e.getMessage().contains("other.safetensors"), e.getMessage());

        Path empty = dir.resolve("empty");
        Files.createDirectories(empty);
        e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(empty));
        assertTrue(e.getMessage().contains(empty.toString()) && e.getMessage().contains("no"), e.getMessage());

        sharded();
        Files.writeString(dir.resolve("ema.safetensors.index.json"), "{\"weight_map\": {}}");
        e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("ema.safetensors.index.json")
                && e.getMessage().contains("model.safetensors.index.json"), e.getMessage());
        try (Checkpoint c = Checkpoint.open(dir.resolve("ema.safetensors.index.json"))) {
            assertTrue(c.names().isEmpty());
        }
    }
}
