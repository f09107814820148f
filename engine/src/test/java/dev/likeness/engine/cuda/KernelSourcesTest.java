package dev.likeness.engine.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every kernel module compiles with NVRTC for the GPU generations Likeness supports (Turing sm_75, Ampere sm_80,
 * Ada sm_89, Hopper sm_90) with no register spills. NVRTC needs no GPU: CI gets it from the pinned
 * {@code nvidia-cuda-nvrtc} wheel ({@code scripts/test.sh} sets {@code LIKENESS_CUDA_PATH} and
 * {@code LIKENESS_REQUIRE_NVRTC=1}, so there this test cannot skip).
 */
class KernelSourcesTest {
    static final int[] ARCHS = {75, 80, 89, 90};
    private static Nvrtc nvrtc;

    @BeforeAll
    static void load() {
        try {
            nvrtc = Nvrtc.get();
        } catch (CudaUnavailableException e) {
            if ("1".equals(System.getenv("LIKENESS_REQUIRE_NVRTC"))) {
                fail("LIKENESS_REQUIRE_NVRTC=1 but " + e.getMessage());
            }
            System.out.println("[no NVRTC] kernel compile checks skipped: " + e.getMessage());
            Assumptions.abort("no NVRTC: " + e.getMessage());
        }
        System.out.println("NVRTC " + nvrtc.version()[0] + "." + nvrtc.version()[1] + " from " + nvrtc.from());
    }

    @Test
    void everyModuleCompilesForEverySupportedArchitectureWithoutSpills() {
        List<String> problems = new ArrayList<>();
        for (String module : Kernels.MODULES) {
            for (int arch : ARCHS) {
                List<String> options = new ArrayList<>(Kernels.options("sm_" + arch));
                options.add("--ptxas-options=-v");
                try {
                    Nvrtc.Output out = nvrtc.compile(module + ".cu", Kernels.source(module), Kernels.headers(),
                            options);
                    assertTrue(out.cubin() && out.image().length > 0, module + " sm_" + arch + ": no cubin");
                    problems.addAll(spills(module, arch, out.log()));
                    if (arch == 90) {
                        System.out.println(summary(module, out.log()));
                    }
                } catch (Nvrtc.CompileException e) {
                    problems.add(module + " sm_" + arch + ":\n" + e.log());
                }
            }
        }
        assertEquals(List.of(), problems);
    }

    @Test
    void aBrokenSourceFailsWithTheCompilerLog() {
        try {
            nvrtc.compile("broken.cu", "extern \"C\" __global__ void k(float* p) { p[0] = undefined_name; }",
                    Kernels.headers(), Kernels.options("sm_80"));
            fail("compiled");
        } catch (Nvrtc.CompileException e) {
            assertTrue(e.getMessage().contains("broken.cu") && e.log().contains("undefined_name"), e.getMessage());
        }
    }

    @Test
    void ptxForAnArchitectureNewerThanNvrtcKnows() {
        int[] supported = nvrtc.supportedArchitectures();
        int newest = supported[supported.length - 1];
        assertEquals("compute_" + newest, Kernels.target(supported, newest + 1));
        Nvrtc.Output out = nvrtc.compile("copy.cu", Kernels.source("copy"), Kernels.headers(),
                Kernels.options("compute_" + newest));
        String ptx = new String(out.image(), java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(!out.cubin() && ptx.contains(".entry lk_convert"), ptx.substring(0, Math.min(400, ptx.length())));
    }

    @Test
    void compiledModulesAreCachedOnDiskAndReused(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        Kernels k = new Kernels(null, nvrtc, 90, dir);
        byte[] first = k.compileCached("copy");
        java.util.List<java.nio.file.Path> files;
        try (var s = java.nio.file.Files.list(dir)) {
            files = s.toList();
        }
        assertEquals(1, files.size(), files.toString());
        assertTrue(files.getFirst().getFileName().toString().matches("copy-[0-9a-f]{24}\\.cubin"), files.toString());
        // the cached file is what the second call returns: overwrite it and see the change come back
        byte[] marker = "cached".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        java.nio.file.Files.write(files.getFirst(), marker);
        org.junit.jupiter.api.Assertions.assertArrayEquals(marker, k.compileCached("copy"));
        assertTrue(first.length > 1000 && first[0] == 0x7f && first[1] == 'E', "a cubin is an ELF image");
    }

    private static final Pattern FUNCTION = Pattern.compile("Function properties for (\\w+)\\s*\\n[^\\n]*?"
            + "(\\d+) bytes spill stores, (\\d+) bytes spill loads");

    static List<String> spills(String module, int arch, String log) {
        List<String> out = new ArrayList<>();
        Matcher m = FUNCTION.matcher(log);
        int functions = 0;
        while (m.find()) {
            functions++;
            if (!m.group(2).equals("0") || !m.group(3).equals("0")) {
                out.add(module + " sm_" + arch + " " + m.group(1) + " spills: " + m.group(0).replace('\n', ' '));
            }
        }
        if (functions == 0) {
            out.add(module + " sm_" + arch + ": no ptxas report in the log:\n" + log);
        }
        return out;
    }

    private static String summary(String module, String log) {
        StringBuilder sb = new StringBuilder(module + " (sm_90):");
        Matcher m = Pattern.compile("Compiling entry function '(\\w+)'[\\s\\S]*?Used (\\d+) registers").matcher(log);
        while (m.find()) {
            sb.append(' ').append(m.group(1)).append('=').append(m.group(2)).append("regs");
        }
        return sb.toString();
    }
}
