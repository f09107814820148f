package dev.likeness.engine;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cuda.CudaBackend;
import dev.likeness.engine.cuda.CudaLibraries;
import dev.likeness.engine.cuda.CudaUnavailableException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendsTest {
    private String savedPath;

    @AfterEach
    void restorePath() {
        if (savedPath == null) {
            System.clearProperty(CudaLibraries.PATH_PROPERTY);
        } else {
            System.setProperty(CudaLibraries.PATH_PROPERTY, savedPath);
        }
    }

    /** Points the library search at an empty folder first; returns why CUDA is unavailable, or aborts on a GPU host. */
    private String noCuda(Path empty) {
        savedPath = System.getProperty(CudaLibraries.PATH_PROPERTY);
        System.setProperty(CudaLibraries.PATH_PROPERTY, empty.toString());
        try (CudaBackend gpu = CudaBackend.open(0)) {
            System.out.println("[GPU present] BackendsTest: CUDA is usable here (" + gpu.gpuName()
                    + "), the no-CUDA paths are not exercised");
            Assumptions.abort("CUDA is available on this host");
            return null;
        } catch (CudaUnavailableException e) {
            return e.getMessage();
        }
    }

    @Test
    void cpuIsTheCpuBackendWithTheGivenThreads() {
        try (Backend b = Backends.open("cpu", 3, line -> {
            throw new AssertionError("unexpected log line: " + line);
        })) {
            assertInstanceOf(CpuBackend.class, b);
            assertEquals(3, b.threads());
            assertEquals("cpu (3 threads)", Backends.describe(b));
        }
        try (Backend b = Backends.open(" CPU ", 1, line -> { })) {
            assertEquals("cpu (1 thread)", Backends.describe(b));
        }
    }

    @Test
    void autoFallsBackToTheCpuWithOneLine(@TempDir Path empty) {
        String reason = noCuda(empty);
        List<String> lines = new ArrayList<>();
        try (Backend b = Backends.open("auto", 2, lines::add)) {
            assertInstanceOf(CpuBackend.class, b);
            assertEquals(2, b.threads());
        }
        assertEquals(1, lines.size(), lines.toString());
        String line = lines.getFirst();
        assertTrue(line.startsWith("CUDA not available ("), line);
        assertTrue(line.endsWith("); using the CPU backend"), line);
        assertTrue(line.contains(reason), line + " should give the reason " + reason);
        assertFalse(line.contains("\n"), line);
        // null and blank mean auto too
        List<String> more = new ArrayList<>();
        try (Backend b = Backends.open(null, 1, more::add)) {
            assertInstanceOf(CpuBackend.class, b);
        }
        assertEquals(1, more.size());
    }

    @Test
    void cudaFailsWithOneLineNamingTheFlag(@TempDir Path empty) {
        String reason = noCuda(empty);
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                () -> Backends.open("cuda", null, line -> { }));
        assertTrue(e.getMessage().startsWith("--device cuda: "), e.getMessage());
        assertEquals("--device cuda: " + reason, e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        CudaUnavailableException e1 = assertThrows(CudaUnavailableException.class,
                () -> Backends.open("CUDA:1", null, line -> { }));
        assertTrue(e1.getMessage().startsWith("--device cuda:1: "), e1.getMessage());
    }

    @Test
    void aMissingDriverListsThePlacesTried(@TempDir Path empty) {
        String reason = noCuda(empty);
        assertTrue(reason.contains("libcuda"), reason);
        assertTrue(reason.contains("(tried " + empty), reason + " should list " + empty + " first");
        assertTrue(reason.contains("libcuda.so.1 (dynamic loader)"), reason);
        assertTrue(reason.contains("set " + CudaLibraries.PATH_ENV), reason);
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                () -> Backends.open("cuda", null, line -> { }));
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
    }

    @Test
    void unknownDevicesNameTheAllowedValues() {
        for (String bad : List.of("gpu", "cuda:", "cuda:x", "cuda:-1", "cuda0", "metal")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Backends.open(bad, null, line -> { }), bad);
            assertEquals("unknown device '" + bad + "': use " + Backends.ALLOWED, e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Backends.open("cpu", 0, line -> { }));
        assertEquals("cuda:12", Backends.validate(" CUDA:12 "));
        assertEquals("auto", Backends.validate(null));
        assertEquals("cpu", Backends.validate("cpu"));
        assertEquals("unknown device 'tpu': use " + Backends.ALLOWED,
                assertThrows(IllegalArgumentException.class, () -> Backends.validate("tpu")).getMessage());
    }

    @Test
    void theFlagWinsOverTheEnvironment() {
        assertEquals("cpu", Backends.device("cpu", "cuda"));
        assertEquals("cuda", Backends.device(null, " cuda "));
        assertEquals("cuda", Backends.device("  ", "cuda"));
        assertEquals("auto", Backends.device(null, null));
        assertEquals("auto", Backends.device("", ""));
    }

    /** A tensor of another (non-CPU, non-CUDA) backend reaches the CPU through its f32 values. */
    @Test
    void cpuTransferFromAForeignBackendCopiesTheValues() {
        float[] values = {1.5f, -2f, 3.25f, 4f, 5f, 6f};
        Backend foreign = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "name" -> "foreign";
                    case "toFloatArray" -> values.clone();
                    case "hashCode" -> System.identityHashCode(proxy);
                    case "equals" -> proxy == args[0];
                    default -> throw new UnsupportedOperationException(method.getName());
                });
        Storage storage = new Storage() {
            public Backend backend() {
                return foreign;
            }

            public long byteSize() {
                return values.length * 2L;
            }
        };
        Tensor t = new Tensor(storage, DType.BF16, 2, 3);
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor h = cpu.transfer(t);
            assertEquals(cpu, h.backend());
            assertArrayEquals(new int[] {2, 3}, h.shape());
            assertArrayEquals(values, cpu.toFloatArray(h));
        }
    }

    /** Another CPU backend's tensor keeps its dtype and memory (re-homed view). */
    @Test
    void cpuTransferBetweenCpuBackendsKeepsTheDtype() {
        try (CpuBackend a = new CpuBackend(1); CpuBackend b = new CpuBackend(2)) {
            Tensor t = a.to(a.fromFloats(new float[] {1, 2, 3, 4}, 2, 2), DType.BF16);
            Tensor u = b.transfer(t);
            assertEquals(b, u.backend());
            assertEquals(DType.BF16, u.dtype());
            assertArrayEquals(new float[] {1, 2, 3, 4}, b.toFloatArray(u));
        }
    }
}
