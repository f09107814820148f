package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The host-side parts of the CUDA backend that need no GPU: library search, layouts, argument packing, targets. */
class CudaFoundationTest {

    @Test
    void missingLibraryNamesEveryPlaceTriedAndTheVariable(@TempDir Path empty) {
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                () -> CudaLibraries.load(CudaLibraries.DRIVER, List.of(empty), List.of(), false));
        assertTrue(e.getMessage().startsWith("CUDA driver (libcuda"), e.getMessage());
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("LIKENESS_CUDA_PATH"), e.getMessage());
    }

    @Test
    void aFileThatIsNotALibraryIsReportedAsPresentButNotLoadable(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("libcuda.so.1"), "not an ELF file");
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class,
                () -> CudaLibraries.load(CudaLibraries.DRIVER, List.of(dir), List.of(), false));
        assertTrue(e.getMessage().contains("present but not loadable") && e.getMessage().contains("libcuda.so.1"),
                e.getMessage());
    }

    @Test
    void userDirectoriesComeFirstAndAnyLoadableFileIsTaken(@TempDir Path dir) throws Exception {
        // any real shared object stands in for the file name: the search must pick the user's directory first
        Path libc = Path.of("/lib/x86_64-linux-gnu/libc.so.6");
        if (!Files.exists(libc)) {
            return;
        }
        Files.copy(libc, dir.resolve("libnvrtc.so.13"));
        CudaLibraries.Loaded l = CudaLibraries.load(CudaLibraries.NVRTC, List.of(dir), List.of(), false);
        assertEquals(dir.resolve("libnvrtc.so.13").toString(), l.from());
    }

    @Test
    void pythonWheelDirectoriesAreSearched(@TempDir Path home) throws Exception {
        Path venv = home.resolve("venv");
        Path lib = Files.createDirectories(venv.resolve("lib/python3.11/site-packages/nvidia/cu13/lib"));
        Path cublas = Files.createDirectories(home.resolve(".local/lib/python3.12/site-packages/nvidia/cublas/lib"));
        List<Path> dirs = CudaLibraries.defaultDirectories(Map.of("VIRTUAL_ENV", venv.toString()), home);
        assertTrue(dirs.contains(lib), dirs.toString());
        assertTrue(dirs.contains(cublas), dirs.toString());
        assertTrue(dirs.indexOf(lib) > dirs.indexOf(Path.of("/usr/lib/x86_64-linux-gnu"))
                || !Files.isDirectory(Path.of("/usr/lib/x86_64-linux-gnu")), "system directories come first");
    }

    @Test
    void stridedLayoutMergesContiguousDimensionsAndKeepsBroadcasts() {
        CpuBackend cpu = new CpuBackend(1);
        Tensor t = cpu.zeros(DType.F32, 2, 3, 4, 5);
        StridedLayout c = StridedLayout.of(t);
        assertArrayEquals(new int[] {120}, c.shape());
        assertTrue(c.contiguous());

        Tensor p = t.permute(0, 2, 1, 3); // [2,4,3,5]
        StridedLayout pl = StridedLayout.of(p);
        for (long i = 0; i < p.numel(); i++) {
            assertEquals(reference(p, i), pl.elementOffset(i), "permuted element " + i);
        }
        Tensor row = cpu.zeros(DType.F32, 1, 5);
        StridedLayout bl = StridedLayout.of(row, new int[] {2, 3, 4, 5});
        assertEquals(0, bl.strides()[0]);
        Tensor bx = row.expand(2, 3, 4, 5);
        for (long i = 0; i < bx.numel(); i++) {
            assertEquals(reference(bx, i), bl.elementOffset(i), "broadcast element " + i);
        }
        Tensor narrowed = t.narrow(3, 1, 3); // offset 1, rows of 3 in steps of 5
        StridedLayout nl = StridedLayout.of(narrowed);
        assertEquals(1, nl.offset());
        for (long i = 0; i < narrowed.numel(); i++) {
            assertEquals(reference(narrowed, i), nl.elementOffset(i), "narrowed element " + i);
        }
    }

    @Test
    void stridedLayoutStructBytesMatchTheCStruct() {
        StridedLayout l = new StridedLayout(new int[] {7, 9}, new long[] {1, 7}, 42);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = l.toStruct(a);
            assertEquals(112, s.byteSize());
            assertEquals(2, s.get(JAVA_INT, 0));
            assertEquals(42L, s.get(JAVA_LONG, 8));
            assertEquals(7, s.get(JAVA_INT, 16));
            assertEquals(9, s.get(JAVA_INT, 20));
            assertEquals(1L, s.get(JAVA_LONG, 48));
            assertEquals(7L, s.get(JAVA_LONG, 56));
        }
    }

    @Test
    void tooManyUnmergeableDimensionsAreRefusedWithTheShape() {
        int[] shape = {2, 2, 2, 2, 2, 2, 2, 2, 2};
        long[] strides = {1 << 16, 1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StridedLayout.coalesce(shape, strides, 0));
        assertTrue(e.getMessage().contains("at most 8"), e.getMessage());
    }

    @Test
    void kernelArgumentsArePackedAsPointersToTheirValues() {
        try (Arena a = Arena.ofConfined()) {
            KernelArgs k = new KernelArgs(a).ptr(0x1234_5678_9abcL).i32(-7).i64(1L << 40).f32(1.5f);
            MemorySegment arr = k.array();
            assertEquals(4, k.count());
            assertEquals(0x1234_5678_9abcL, arr.getAtIndex(ADDRESS, 0).reinterpret(8).get(JAVA_LONG, 0));
            assertEquals(-7, arr.getAtIndex(ADDRESS, 1).reinterpret(4).get(JAVA_INT, 0));
            assertEquals(1L << 40, arr.getAtIndex(ADDRESS, 2).reinterpret(8).get(JAVA_LONG, 0));
            assertEquals(1.5f, arr.getAtIndex(ADDRESS, 3).reinterpret(4).get(JAVA_FLOAT, 0));
        }
    }

    @Test
    void compileTargetIsTheDeviceOwnSmOrPtxForTheNewestOlderOne() {
        int[] supported = {75, 80, 86, 89, 90, 100, 120};
        assertEquals("sm_90", Kernels.target(supported, 90));
        assertEquals("compute_120", Kernels.target(supported, 121));
        assertEquals("compute_86", Kernels.target(supported, 87));
        assertThrows(CudaUnavailableException.class, () -> Kernels.target(supported, 70));
    }

    @Test
    void cacheKeyChangesWithSourceOptionsAndCompilerVersion() {
        Map<String, String> h = Map.of("common.cuh", "x");
        String k = Kernels.cacheKey("m", "src", h, List.of("--gpu-architecture=sm_90"), new int[] {13, 0});
        assertEquals(k, Kernels.cacheKey("m", "src", h, List.of("--gpu-architecture=sm_90"), new int[] {13, 0}));
        assertTrue(!k.equals(Kernels.cacheKey("m", "src2", h, List.of("--gpu-architecture=sm_90"), new int[] {13, 0})));
        assertTrue(!k.equals(Kernels.cacheKey("m", "src", Map.of("common.cuh", "y"), List.of("--gpu-architecture=sm_90"),
                new int[] {13, 0})));
        assertTrue(!k.equals(Kernels.cacheKey("m", "src", h, List.of("--gpu-architecture=sm_80"), new int[] {13, 0})));
        assertTrue(!k.equals(Kernels.cacheKey("m", "src", h, List.of("--gpu-architecture=sm_90"), new int[] {13, 1})));
    }

    @Test
    void everyListedModuleIsInTheJar() {
        for (String m : Kernels.MODULES) {
            assertTrue(Kernels.source(m).contains("__global__"), m);
        }
        assertTrue(Kernels.headers().get("common.cuh").contains("struct Layout"));
        assertThrows(IllegalStateException.class, () -> Kernels.source("no-such-module"));
    }

    private static long reference(Tensor t, long i) {
        long off = t.offset();
        int[] sh = t.shape();
        long[] st = t.strides();
        for (int d = sh.length - 1; d >= 0; d--) {
            off += (i % sh[d]) * st[d];
            i /= sh[d];
        }
        return off;
    }
}
