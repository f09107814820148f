package dev.likeness.engine.torch;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuStorage;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * torch.save checkpoints written by tools/reference/goldens/ops_torch_checkpoint.py: every tensor of basic.pt (and
 * of its protocol-5 and ZIP64 twins) must equal, bit for bit, the value PyTorch recorded in the golden
 * torch_checkpoint.safetensors; malicious, truncated and legacy files must be refused with clear errors.
 */
class TorchCheckpointTest {
    private static final CpuBackend CPU = new CpuBackend(1);
    private static final Map<String, DType> TORCH_DTYPES = Map.of("bfloat16", DType.BF16, "float32", DType.F32,
            "float16", DType.F16, "int64", DType.I64);

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Path fixture(String name) {
        try {
            return Path.of(TorchCheckpointTest.class.getResource("/golden/ops/torch/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new AssertionError("fixture golden/ops/torch/" + name + " is missing: run tools/reference/run.sh "
                    + "torch_checkpoint", e);
        }
    }

    /** The raw bits of every element, read through the view's strides and offset, in row-major order. */
    private static long[] bits(Tensor t) {
        MemorySegment seg = ((CpuStorage) t.storage()).segment();
        int size = t.dtype().byteSize();
        long[] out = new long[Math.toIntExact(t.numel())];
        int[] idx = new int[t.dim()];
        for (int i = 0; i < out.length; i++) {
            long e = t.offset();
            for (int d = 0; d < idx.length; d++) {
                e += idx[d] * t.stride(d);
            }
            long at = e * size;
            out[i] = switch (size) {
                case 1 -> seg.get(ValueLayout.JAVA_BYTE, at);
                case 2 -> seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), at);
                case 4 -> seg.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), at);
                default -> seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), at);
            };
            for (int d = idx.length - 1; d >= 0 && ++idx[d] == t.size(d); d--) {
                idx[d] = 0;
            }
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"basic.pt", "basic_p5.pt", "basic_zip64.pt"})
    void everyTensorMatchesTheGoldenBitForBit(String file) {
        Golden golden = Golden.load("torch_checkpoint", CPU);
        Golden.Case c = golden.cases().get(0);
        JsonNode expected = c.params().get("tensors");
        List<String> names = new ArrayList<>();
        c.params().get("order").forEach(n -> names.add(n.textValue()));
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(fixture(file))) {
            assertEquals(names, List.copyOf(ckpt.names()), "tensor names in pickle order");
            for (String name : names) {
                DType dtype = TORCH_DTYPES.get(expected.get(name).get("dtype").textValue());
                int[] shape = new int[expected.get(name).get("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = expected.get(name).get("shape").get(i).intValue();
                }
                Tensor t = ckpt.tensor(name, CPU, dtype, shape);
                Tensor ref = c.tensor(name);
                assertEquals(ref.dtype(), t.dtype(), name);
                assertArrayEquals(ref.shape(), t.shape(), name);
                assertArrayEquals(bits(ref), bits(t), name + ": stored bits");
                if (dtype.isFloatingPoint()) {
                    assertArrayEquals(ref.toFloatArray(), t.toFloatArray(), name + ": values read by the engine");
                }
                assertTrue(((CpuStorage) t.storage()).segment().isMapped(), name + " is a view of the mapped file");
            }
        }
    }

    @Test
    void viewsKeepStridesOffsetsAndSharedStorage() {
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(fixture("basic.pt"))) {
            Tensor transposed = ckpt.tensor("ip_adapter.0.transposed", CPU);
            assertArrayEquals(new int[] {6, 5}, transposed.shape());
            assertArrayEquals(new long[] {1, 6}, transposed.strides());
            assertFalse(transposed.isContiguous());

            Tensor head = ckpt.tensor("ip_adapter.1.shared_head", CPU);
            Tensor rows = ckpt.tensor("ip_adapter.1.shared_rows", CPU);
            assertEquals(2, head.offset());
            assertEquals(6, rows.offset());
            assertArrayEquals(new long[] {6, 2}, rows.strides());
            MemorySegment a = ((CpuStorage) head.storage()).segment();
            MemorySegment b = ((CpuStorage) rows.storage()).segment();
            assertEquals(a.address(), b.address(), "both views read the one saved storage");
            // shared = arange(24) * 0.25 - 3: element k is k/4 - 3
            assertArrayEquals(new float[] {-2.5f, -2.25f, -2f, -1.75f, -1.5f}, head.toFloatArray());
            assertArrayEquals(new float[] {-1.5f, -1f, -0.5f, 0f, 0.5f, 1f}, rows.toFloatArray());

            assertEquals(0, ckpt.tensor("ip_adapter.1.empty", CPU, DType.F32, 0, 3).numel());
            assertArrayEquals(new int[0], ckpt.shape("ip_adapter.deep.deeper.scalar"));
            assertEquals(DType.BF16, ckpt.dtype("image_proj.latents"));
            assertTrue(ckpt.contains("image_proj.layers.1.weight"), "list items and a Parameter are named by index");
            assertFalse(ckpt.contains("epoch"), "non-tensor leaves are not tensors");
            assertFalse(ckpt.contains("note"));
        }
    }

    private static String refusal(String file) {
        Path p = fixture(file);
        TorchCheckpointException e = assertThrows(TorchCheckpointException.class, () -> TorchCheckpoint.open(p));
        assertTrue(e.getMessage().contains(p.toString()), "the error names the file: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void aPickleCallingOsSystemIsRefusedAtItsGlobal() {
        String m = refusal("evil_system.pt");
        // os.system pickles as posix.system on Linux
        assertTrue(m.contains("refused global 'posix.system'") || m.contains("refused global 'os.system'"), m);
        assertTrue(m.contains("evil/data.pkl"), m);
        assertFalse(Files.exists(Path.of("/tmp/likeness-pwned")), "nothing was executed");
    }

    @Test
    void aPickleCallingEvalIsRefused() {
        String m = refusal("evil_eval.pt");
        // protocol 2 writes builtins as __builtin__ (Python 2 names)
        assertTrue(m.contains("refused global '__builtin__.eval'") || m.contains("refused global 'builtins.eval'"), m);
    }

    @Test
    void allowedGlobalsAreNotCallableBeyondTheirRole() {
        String call = refusal("evil_call_storage.pt");
        assertTrue(call.contains("REDUCE calls torch.FloatStorage, which is not a function"), call);
        String newobj = refusal("evil_newobj.pt");
        assertTrue(newobj.contains("creates an instance of a class; refused"), newobj);
    }

    @Test
    void aMissingStorageRecordNamesTheTensor() {
        Path p = fixture("missing_storage.pt");
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(p)) {
            assertEquals(DType.F32, ckpt.tensor("image_proj.norm_out.bias", CPU).dtype(), "other tensors still load");
            String m = assertThrows(TorchCheckpointException.class,
                    () -> ckpt.tensor("image_proj.latents", CPU)).getMessage();
            assertTrue(m.contains(p.toString()) && m.contains("tensor 'image_proj.latents'")
                    && m.contains("storage record 'basic/data/0' is missing"), m);
        }
    }

    @Test
    void aTruncatedArchiveIsRefused() {
        String m = refusal("truncated.pt");
        assertTrue(m.contains("truncated"), m);
    }

    @Test
    void aTruncatedPickleIsRefused() {
        String m = refusal("bad_pickle.pt");
        assertTrue(m.contains("bad/data.pkl") && m.contains("truncated"), m);
    }

    @Test
    void theLegacyFormatIsRefusedWithAClearMessage() {
        String m = refusal("legacy.pt");
        assertTrue(m.contains("legacy (pre-1.6, non-zip) torch.save file"), m);
    }

    @Test
    void aMissingFileIsNamed() {
        Path p = Path.of("no/such/adapter.bin");
        TorchCheckpointException e = assertThrows(TorchCheckpointException.class, () -> TorchCheckpoint.open(p));
        assertTrue(e.getMessage().contains("no/such/adapter.bin") && e.getMessage().contains("no such file"),
                e.getMessage());
    }

    @Test
    void wrongNamesShapesAndDtypesNameFileAndTensor() {
        Path p = fixture("basic.pt");
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(p)) {
            String missing = assertThrows(TorchCheckpointException.class,
                    () -> ckpt.tensor("ip_adapter.9.to_v_ip.weight", CPU)).getMessage();
            assertTrue(missing.contains(p.toString()) && missing.contains("'ip_adapter.9.to_v_ip.weight'"), missing);
            String shape = assertThrows(TorchCheckpointException.class,
                    () -> ckpt.tensor("image_proj.proj_in.weight", CPU, DType.BF16, 6, 8)).getMessage();
            assertTrue(shape.contains("'image_proj.proj_in.weight' has shape [8, 6], expected [6, 8]"), shape);
            String dtype = assertThrows(TorchCheckpointException.class,
                    () -> ckpt.tensor("image_proj.proj_in.weight", CPU, DType.F32, 8, 6)).getMessage();
            assertTrue(dtype.contains("'image_proj.proj_in.weight' is BF16[8, 6], expected F32"), dtype);
        }
    }

    @Test
    void tensorsAreRefusedAfterClose() {
        TorchCheckpoint ckpt = TorchCheckpoint.open(fixture("basic.pt"));
        ckpt.close();
        ckpt.close();
        assertThrows(TorchCheckpointException.class, () -> ckpt.tensor("image_proj.latents", CPU));
    }
}
