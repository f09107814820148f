package dev.likeness.cli;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Backends;
import dev.likeness.engine.cuda.CudaUnavailableException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --device} and {@code $LIKENESS_DEVICE} of {@code generate} and {@code serve}. */
class DeviceOptionTest {
    private static final Path CHARACTER = Path.of("..", "examples", "character.png");

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Likeness.commandLine(new PrintWriter(out, true), new PrintWriter(err, true)).execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** Why {@code --device cuda} cannot work here; aborts the calling test (visibly) on a host with a usable GPU. */
    private static String noCudaReason(String test) {
        try (Backend gpu = Backends.open("cuda", 1, line -> { })) {
            System.out.println("[GPU present] DeviceOptionTest." + test + " skipped: " + Backends.describe(gpu)
                    + " opened, the no-GPU error path cannot be shown here");
            Assumptions.abort("CUDA is usable on this host");
            return null;
        } catch (CudaUnavailableException e) {
            return e.getMessage();
        }
    }

    @Test
    void generateWithDeviceCudaAndNoGpuExits1WithOneLine(@TempDir Path dir) {
        String reason = noCudaReason("generateWithDeviceCudaAndNoGpuExits1WithOneLine");
        Run r = run("generate", "--image", CHARACTER.toString(), "--prompt", "p", "--size", "32x32", "--steps", "1",
                "--device", "cuda", "--out", dir.toString());
        assertEquals(Likeness.FAILURE, r.exit(), r.err());
        // the last line, and the only one about the device (before it: the built-in model's notice)
        List<String> lines = r.err().lines().toList();
        assertEquals("likeness: " + reason, lines.getLast(), r.err());
        assertEquals(1, lines.stream().filter(l -> l.contains("--device") || l.contains("backend")).count(), r.err());
        assertTrue(reason.startsWith("--device cuda: "), reason);
        assertEquals("", r.out());
    }

    @Test
    void serveWithDeviceCudaAndNoGpuExits1BeforeLoadingModels(@TempDir Path dir) {
        String reason = noCudaReason("serveWithDeviceCudaAndNoGpuExits1BeforeLoadingModels");
        Run r = run("serve", "--port", "0", "--data-dir", dir.resolve("data").toString(), "--device", "cuda:0");
        assertEquals(Likeness.FAILURE, r.exit(), r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.getFirst().startsWith("likeness: --device cuda:0: "), r.err());
        assertTrue(lines.getFirst().endsWith(reason.substring("--device cuda: ".length())), r.err());
    }

    @Test
    void unknownDevicesAreUsageErrors(@TempDir Path dir) {
        String allowed = "use cpu, cuda, cuda:N (GPU number N) or auto";
        Run g = run("generate", "--image", CHARACTER.toString(), "--prompt", "p", "--device", "gpu", "--out",
                dir.toString());
        assertEquals(Likeness.USAGE, g.exit(), g.err());
        assertEquals(List.of("likeness: --device: unknown device 'gpu': " + allowed), g.err().lines().toList());
        Run s = run("serve", "--port", "0", "--data-dir", dir.resolve("data").toString(), "--device", "cuda:x");
        assertEquals(Likeness.USAGE, s.exit(), s.err());
        assertEquals(List.of("likeness: --device: unknown device 'cuda:x': " + allowed), s.err().lines().toList());
    }

    @Test
    void theHelpNamesTheFlag() {
        for (String command : List.of("generate", "serve")) {
            Run r = run(command, "--help");
            assertEquals(0, r.exit());
            String help = r.out().replaceAll("\\s+", " ");
            assertTrue(help.contains("--device=DEVICE Where the engine runs: cpu, cuda, cuda:N (GPU N) or auto."),
                    r.out());
            assertTrue(help.contains("Default: $LIKENESS_DEVICE, else auto."), r.out());
        }
    }

    @Test
    void generateOnTheCpuSaysSo(@TempDir Path dir) {
        Run r = run("generate", "--image", CHARACTER.toString(), "--prompt", "p", "--size", "32x32", "--steps", "1",
                "--device", "cpu", "--threads", "2", "--no-safety-checker", "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        List<String> backendLines = r.err().lines().filter(l -> l.contains("backend: ")).toList();
        assertEquals(List.of("likeness: backend: cpu (2 threads)"), backendLines, r.err());
        assertTrue(!r.err().contains("CUDA not available"), r.err());
    }

    /** {@code $LIKENESS_DEVICE} in a fresh JVM (the variable cannot be set in-process): the flag's checks apply. */
    @Test
    void theEnvironmentVariableChoosesTheDevice(@TempDir Path dir) throws Exception {
        Child bad = child(dir, "tpu", "serve", "--port", "0", "--data-dir", dir.resolve("d1").toString());
        assertEquals(Likeness.USAGE, bad.exit(), bad.output());
        assertTrue(bad.output().lines().anyMatch(l -> l.equals("likeness: LIKENESS_DEVICE: unknown device 'tpu': use "
                + "cpu, cuda, cuda:N (GPU number N) or auto")), bad.output());

        // the flag wins over the variable
        Child flag = child(dir, "tpu", "generate", "--image", CHARACTER.toString(), "--prompt", "p", "--size",
                "32x32", "--steps", "1", "--device", "cpu", "--threads", "1", "--no-safety-checker", "--out",
                dir.resolve("o1").toString());
        assertEquals(0, flag.exit(), flag.output());
        assertTrue(flag.output().lines().anyMatch(l -> l.equals("likeness: backend: cpu (1 thread)")), flag.output());

        String reason = noCudaReason("theEnvironmentVariableChoosesTheDevice");
        Child cuda = child(dir, "cuda", "generate", "--image", CHARACTER.toString(), "--prompt", "p", "--size",
                "32x32", "--steps", "1", "--out", dir.resolve("o2").toString());
        assertEquals(Likeness.FAILURE, cuda.exit(), cuda.output());
        List<String> lines = cuda.output().lines().filter(l -> !l.startsWith("WARNING")).toList();
        assertEquals("likeness: " + reason, lines.getLast(), cuda.output());
    }

    private record Child(int exit, String output) {
    }

    private static Child child(Path dir, String deviceEnv, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-modules") || a.startsWith("--enable-native-access")) {
                cmd.add(a);
            }
        }
        if (System.getProperty("likeness.cache") != null) {
            cmd.add("-Dlikeness.cache=" + System.getProperty("likeness.cache"));
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Likeness.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put(Backends.DEVICE_ENV, deviceEnv);
        pb.environment().remove("LIKENESS_MODELS");
        pb.environment().put("LIKENESS_CONFIG", dir.resolve("no-config.properties").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(180, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("likeness " + String.join(" ", args) + " did not exit:\n" + out);
        }
        return new Child(p.exitValue(), out);
    }
}
