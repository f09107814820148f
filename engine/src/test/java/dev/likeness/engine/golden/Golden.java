package dev.likeness.engine.golden;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A golden file written by {@code tools/reference/run.sh}: cases of inputs and PyTorch's outputs.
 * Tensors are named {@code <case>/<role>}; the header metadata key {@code cases} maps each case to its JSON parameters, with
 * {@code "precision"} deciding the tolerance (f32: 1e-5, bf16/f16/f8: 1e-2 relative L2 error).
 */
public final class Golden {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final SafetensorsFile file;
    private final CpuBackend backend;

    private Golden(SafetensorsFile file, CpuBackend backend) {
        this.file = file;
        this.backend = backend;
    }

    /** Loads {@code golden/ops/<name>.safetensors} from the test resources. */
    public static Golden load(String name, CpuBackend backend) {
        URL url = Golden.class.getResource("/golden/ops/" + name + ".safetensors");
        if (url == null) {
            fail("golden file golden/ops/" + name + ".safetensors is missing: run tools/reference/run.sh");
        }
        try {
            return new Golden(SafetensorsFile.open(Path.of(url.toURI())), backend);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public List<Case> cases() {
        String json = file.metadata().get("cases");
        if (json == null) {
            fail("golden file " + file.path() + " has no \"cases\" metadata: regenerate it with tools/reference/run.sh");
        }
        List<Case> out = new ArrayList<>();
        try {
            JSON.readTree(json).properties().forEach(e -> out.add(new Case(e.getKey(), e.getValue())));
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        if (out.isEmpty()) {
            fail("golden file " + file.path() + " has no cases");
        }
        return out;
    }

    /** One case: named tensors and parameters. */
    public final class Case {
        private final String name;
        private final JsonNode params;

        Case(String name, JsonNode params) {
            this.name = name;
            this.params = params;
        }

        public String name() {
            return name;
        }

        public JsonNode params() {
            return params;
        }

        public boolean has(String role) {
            return file.contains(name + "/" + role);
        }

        /** The tensor {@code <case>/<role>} in its stored dtype (zero-copy). */
        public Tensor tensor(String role) {
            return file.tensor(name + "/" + role, backend);
        }

        /** The tensor or null when the case has none by that role (optional inputs such as a bias). */
        public Tensor optional(String role) {
            return has(role) ? tensor(role) : null;
        }

        public int i(String key) {
            return params.get(key).asInt();
        }

        public double d(String key) {
            return params.get(key).asDouble();
        }

        public boolean b(String key) {
            return params.get(key).asBoolean();
        }

        public int[] ints(String key) {
            JsonNode a = params.get(key);
            int[] r = new int[a.size()];
            for (int k = 0; k < r.length; k++) {
                r[k] = a.get(k).asInt();
            }
            return r;
        }

        /** The tolerance the precision of this case allows. */
        public double tolerance() {
            String p = params.path("precision").asText("f32");
            return p.equals("f32") ? 1e-5 : 1e-2;
        }

        /** Asserts that {@code actual} matches {@code <case>/<role>} in shape and within the tolerance. */
        public double check(Tensor actual, String role) {
            Tensor ref = tensor(role);
            String label = file.path().getFileName() + " case " + name + " (" + params + ") " + role;
            assertArrayEquals(ref.shape(), actual.shape(), label + ": shape");
            return Check.relErr(label, actual.toFloatArray(), ref.toFloatArray(), tolerance());
        }

        @Override
        public String toString() {
            return name + " " + params;
        }
    }

    /** The relative L2 error check; NaN or infinity anywhere in the output fails. */
    public static final class Check {
        private Check() {
        }

        public static double relErr(String label, float[] out, float[] ref, double tol) {
            if (out.length != ref.length) {
                fail(label + ": " + out.length + " values, expected " + ref.length);
            }
            double num = 0;
            double den = 0;
            for (int i = 0; i < out.length; i++) {
                if (!Float.isFinite(out[i]) && !(Float.isNaN(ref[i]) && Float.isNaN(out[i]))
                        && !(Float.isInfinite(ref[i]) && ref[i] == out[i])) {
                    fail(label + ": non-finite value " + out[i] + " at index " + i + " (reference " + ref[i] + ")");
                }
                if (!Float.isFinite(ref[i])) {
                    continue;
                }
                double d = (double) out[i] - ref[i];
                num += d * d;
                den += (double) ref[i] * ref[i];
            }
            double rel = den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
            if (!(rel <= tol)) {
                int worst = 0;
                for (int i = 1; i < out.length; i++) {
                    if (Math.abs(out[i] - ref[i]) > Math.abs(out[worst] - ref[worst])) {
                        worst = i;
                    }
                }
                fail(label + ": relative error " + rel + " > " + tol + "; worst at " + worst + ": " + out[worst]
                        + " vs " + ref[worst] + "; first values " + head(out) + " vs " + head(ref));
            }
            return rel;
        }

        private static String head(float[] a) {
            return Arrays.toString(Arrays.copyOf(a, Math.min(4, a.length)));
        }
    }
}
