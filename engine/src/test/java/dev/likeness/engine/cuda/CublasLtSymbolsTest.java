package dev.likeness.engine.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The cuBLASLt bindings against a real libcublasLt, without a GPU: every symbol resolves, and the host-side
 * descriptor calls accept each attribute with the value size the backend passes (cuBLASLt rejects a size that does
 * not match the attribute's type, so this checks the attribute numbers and types against the library). Needs
 * libcublasLt.so.13 or .12 where {@link CudaLibraries} finds it (e.g. {@code LIKENESS_CUDA_PATH} pointing at the
 * {@code nvidia/cu13/lib} of the nvidia-cublas wheel); skips with a visible line otherwise.
 */
class CublasLtSymbolsTest {
    private static CudaLibraries.Loaded loaded;
    private static CublasLt.Api api;

    @BeforeAll
    static void load() {
        try {
            loaded = CudaLibraries.load(CudaLibraries.CUBLASLT);
        } catch (CudaUnavailableException e) {
            if ("1".equals(System.getenv("LIKENESS_REQUIRE_CUBLASLT"))) {
                fail("LIKENESS_REQUIRE_CUBLASLT=1 but " + e.getMessage());
            }
            System.out.println("[no cuBLASLt] CublasLtSymbolsTest skipped: " + e.getMessage());
            Assumptions.abort("no cuBLASLt: " + e.getMessage());
        }
        api = new CublasLt.Api(loaded);
        System.out.println("cuBLASLt " + api.version() + " from " + api.from());
    }

    @Test
    void everySymbolResolves() {
        for (String name : CublasLt.symbols()) {
            assertTrue(loaded.symbols().find(name).isPresent(), name + " missing from " + loaded.from());
        }
        assertTrue(api.version() >= 120000, "version " + api.version());
        assertEquals("CUBLAS_STATUS_SUCCESS", api.statusName(0));
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", api.statusName(CublasLt.STATUS_NOT_SUPPORTED));
    }

    private static CublasLt.Matmul problem(boolean bias, boolean fp8, int batch) {
        GemmPlan.Operand a = new GemmPlan.Operand(true, 64, 32, 64);
        GemmPlan.Operand b = new GemmPlan.Operand(false, 64, 48, 64);
        int ab = fp8 ? CublasLt.CUDA_R_8F_E4M3 : CublasLt.CUDA_R_16BF;
        return new CublasLt.Matmul(32, 48, 64, ab, ab, CublasLt.CUDA_R_16BF, a, b, 32, batch, batch > 1 ? 2048 : 0,
                batch > 1 ? 3072 : 0, batch > 1 ? 1536 : 0, 0x10000, 0x20000, 0x30000, bias ? 0x40000 : 0,
                bias ? CublasLt.CUDA_R_16BF : -1, fp8 ? 0x50000 : 0, fp8 ? 0x50100 : 0, 1f);
    }

    @Test
    void descriptorsAcceptEveryAttributeTheBackendSets() {
        for (boolean bias : new boolean[] {false, true}) {
            for (boolean fp8 : new boolean[] {false, true}) {
                for (int batch : new int[] {1, 3}) {
                    MemorySegment[] d = CublasLt.describe(api, problem(bias, fp8, batch));
                    for (MemorySegment s : d) {
                        assertTrue(s != null && s.address() != 0, "descriptor created");
                    }
                    CublasLt.release(api, d);
                }
            }
        }
        MemorySegment pref = api.createPreference();
        api.setPreference(pref, CublasLt.WORKSPACE_BYTES, 16, 2, 256, 256);
        api.destroyPreference(pref);
    }

    @Test
    void aWronglySizedAttributeIsRejected() throws Throwable {
        // the check above means something only if cuBLASLt really validates sizes: TRANSA is int32_t, not 8 bytes
        MemorySegment desc = api.createMatmulDesc(CublasLt.CUBLAS_COMPUTE_32F, CublasLt.CUDA_R_32F);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            int rc = (int) api.cublasLtMatmulDescSetAttribute.invokeExact(desc, CublasLt.DESC_TRANSA, v, 8L);
            assertEquals(7, rc, "CUBLAS_STATUS_INVALID_VALUE expected");
            MemorySegment i = a.allocate(JAVA_INT);
            rc = (int) api.cublasLtMatmulDescSetAttribute.invokeExact(desc, CublasLt.DESC_BIAS_POINTER, i, 4L);
            assertEquals(7, rc, "the bias pointer is 8 bytes");
        } finally {
            api.destroyMatmulDesc(desc);
        }
        MemorySegment desc2 = api.createMatmulDesc(CublasLt.CUBLAS_COMPUTE_32F, CublasLt.CUDA_R_32F);
        try {
            CudaException e = assertThrows(CudaException.class,
                    () -> api.setDescInt(desc2, CublasLt.DESC_BIAS_POINTER, 0));
            assertTrue(e.getMessage().contains("CUBLAS_STATUS_INVALID_VALUE"), e.getMessage());
        } finally {
            api.destroyMatmulDesc(desc2);
        }
    }

    @Test
    void alignmentOfPointers() {
        assertEquals(256, CublasLt.alignment(0x7f0000001000L));
        assertEquals(2, CublasLt.alignment(0x7f0000001002L));
        assertEquals(16, CublasLt.alignment(0x7f0000001010L));
        assertEquals(256, CublasLt.alignment(0));
        // a strided batch is only as aligned as the step between its matrices: bf16 matrices 3 elements apart
        // start 6 bytes apart, so batch 1 is 2-byte aligned even when batch 0 is 256-byte aligned
        assertEquals(2, CublasLt.alignment(0x7f0000001000L, CublasLt.CUDA_R_16BF, 4, 3));
        assertEquals(16, CublasLt.alignment(0x7f0000001000L, CublasLt.CUDA_R_16BF, 4, 8 * 1089));
        assertEquals(4, CublasLt.alignment(0x7f0000001000L, CublasLt.CUDA_R_32F, 2, 1089));
        assertEquals(256, CublasLt.alignment(0x7f0000001000L, CublasLt.CUDA_R_16BF, 4, 0), "stride 0: one matrix");
        assertEquals(256, CublasLt.alignment(0x7f0000001000L, CublasLt.CUDA_R_16BF, 1, 3), "no batch");
        assertEquals(8, CublasLt.alignment(0x7f0000001008L, CublasLt.CUDA_R_8F_E4M3, 2, 4096));
    }
}
