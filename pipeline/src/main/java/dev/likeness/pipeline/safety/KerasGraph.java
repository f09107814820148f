package dev.likeness.pipeline.safety;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Keras functional model (the {@code model_config} of a {@link TfjsLayersModel}) run on the engine, for the layer
 * kinds nsfwjs's MobileNetV2 uses. Keras computes channels-last (NHWC); the engine's convolution is channels-first,
 * so activations here are NCHW and kernels are transposed once at load time. Each layer does what tfjs-layers 4.22
 * does in inference:
 *
 * <ul>
 *   <li>{@code ZeroPadding2D [[top, bottom], [left, right]]}: zero rows and columns concatenated on;</li>
 *   <li>{@code Conv2D} (kernel [kh, kw, in, out]) and {@code DepthwiseConv2D} (depthwise_kernel [kh, kw, in, 1]):
 *       {@code conv2d} with groups 1 or in; {@code valid}, or {@code same} = TF's padding (total
 *       {@code max((ceil(n / s) − 1)·s + k − n, 0)}, the smaller half before), dilation 1, optional bias,
 *       activation linear;</li>
 *   <li>{@code BatchNormalization} (axis −1): {@code (x − moving_mean) · gamma / sqrt(moving_variance + eps) + beta}
 *       per channel;</li>
 *   <li>{@code ReLU(max_value, threshold 0, negative_slope 0)}: {@code min(max(x, 0), max_value)};</li>
 *   <li>{@code Add}; {@code AveragePooling2D} whose window covers the whole (valid) feature map: the spatial mean;
 *       {@code Flatten} in NHWC order; {@code Dropout}: identity;</li>
 *   <li>{@code Dense} (kernel [in, out], bias) with activation linear, relu or softmax.</li>
 * </ul>
 *
 * Any other layer kind or option is refused when the graph is built, naming the layer.
 */
final class KerasGraph {

    private interface Op {
        Tensor apply(List<Tensor> inputs);
    }

    private record Node(String name, List<String> inputs, Op op) {
    }

    private final Backend backend;
    private final String source;
    private final String inputName;
    private final String outputName;
    private final List<Node> nodes = new ArrayList<>();

    KerasGraph(TfjsLayersModel model, Backend backend) {
        this.backend = backend;
        this.source = model.source();
        JsonNode config = model.topology().path("model_config").path("config");
        JsonNode layers = config.path("layers");
        if (!layers.isArray() || layers.isEmpty()) {
            throw new SafetyCheckerException(source + ": model_config has no layers");
        }
        this.inputName = config.path("input_layers").path(0).path(0).asText();
        this.outputName = config.path("output_layers").path(0).path(0).asText();
        for (JsonNode layer : layers) {
            String name = layer.path("name").asText();
            List<String> inputs = new ArrayList<>();
            for (JsonNode in : layer.path("inbound_nodes").path(0)) {
                inputs.add(in.path(0).asText());
            }
            nodes.add(new Node(name, inputs, op(layer.path("class_name").asText(), name, layer.path("config"),
                    model)));
        }
    }

    /**
     * Runs the graph on {@code pixels} [N, 3, H, W] (channels first) and returns the output layer's value under its
     * name, plus the value of every layer named in {@code endpoints}.
     */
    Map<String, Tensor> forward(Tensor pixels, Set<String> endpoints) {
        Map<String, Tensor> values = new HashMap<>();
        Map<String, Tensor> out = new HashMap<>();
        for (Node node : nodes) {
            Tensor value;
            if (node.name.equals(inputName)) {
                value = pixels;
            } else {
                List<Tensor> ins = new ArrayList<>(node.inputs.size());
                for (String in : node.inputs) {
                    Tensor t = values.get(in);
                    if (t == null) {
                        throw new SafetyCheckerException(source + ": layer '" + node.name + "' reads '" + in
                                + "' before it is computed");
                    }
                    ins.add(t);
                }
                value = node.op.apply(ins);
            }
            values.put(node.name, value);
            if (endpoints.contains(node.name)) {
                out.put(node.name, value);
            }
        }
        out.put(outputName, values.get(outputName));
        return out;
    }

    String outputName() {
        return outputName;
    }

    // ------------------------------------------------------------------ layers

    private Op op(String kind, String name, JsonNode c, TfjsLayersModel model) {
        return switch (kind) {
            case "InputLayer", "Dropout" -> ins -> ins.getFirst();
            case "ZeroPadding2D" -> {
                channelsLast(c, name);
                JsonNode p = c.path("padding");
                if (!p.path(0).isArray() || !p.path(1).isArray()) {
                    throw unsupported(name, "padding " + p + " (expected [[top, bottom], [left, right]])");
                }
                int top = p.path(0).path(0).asInt(), bottom = p.path(0).path(1).asInt();
                int left = p.path(1).path(0).asInt(), right = p.path(1).path(1).asInt();
                yield ins -> pad(ins.getFirst(), top, bottom, left, right);
            }
            case "Conv2D", "DepthwiseConv2D" -> conv(kind.equals("DepthwiseConv2D"), name, c, model);
            case "BatchNormalization" -> batchNorm(name, c, model);
            case "ReLU" -> {
                if (c.path("threshold").asDouble(0) != 0 || c.path("negative_slope").asDouble(0) != 0) {
                    throw unsupported(name, "ReLU with a threshold or negative slope");
                }
                float max = c.path("max_value").isNumber() ? (float) c.path("max_value").asDouble()
                        : Float.POSITIVE_INFINITY;
                yield ins -> clamp(ins.getFirst(), 0f, max);
            }
            case "Add" -> ins -> {
                Tensor sum = ins.getFirst();
                for (int i = 1; i < ins.size(); i++) {
                    sum = backend.add(sum, ins.get(i));
                }
                return sum;
            };
            case "AveragePooling2D" -> {
                channelsLast(c, name);
                int[] pool = ints(c.path("pool_size"));
                int[] strides = ints(c.path("strides"));
                if (!c.path("padding").asText().equals("valid") || !Arrays.equals(pool, strides)) {
                    throw unsupported(name, "AveragePooling2D other than valid with strides = pool_size");
                }
                yield ins -> {
                    Tensor x = ins.getFirst();
                    if (x.size(2) != pool[0] || x.size(3) != pool[1]) {
                        throw new SafetyCheckerException(source + ": layer '" + name + "' pools " + pool[0] + "x"
                                + pool[1] + " but the feature map is " + x.size(2) + "x" + x.size(3)
                                + " (only a global pool is supported)");
                    }
                    return backend.mean(backend.mean(x, 3, true), 2, true);
                };
            }
            case "Flatten" -> ins -> {
                Tensor x = ins.getFirst();
                Tensor nhwc = x.dim() == 4 ? x.permute(0, 2, 3, 1) : x;
                return backend.contiguous(nhwc).reshape(x.size(0), -1);
            };
            case "Dense" -> dense(name, c, model);
            default -> throw unsupported(name, "layer kind " + kind);
        };
    }

    private Op conv(boolean depthwise, String name, JsonNode c, TfjsLayersModel model) {
        channelsLast(c, name);
        int[] k = ints(c.path("kernel_size"));
        int[] s = ints(c.path("strides"));
        int[] d = ints(c.path("dilation_rate"));
        if (d.length > 0 && (d[0] != 1 || d[1] != 1)) {
            throw unsupported(name, "dilation " + Arrays.toString(d));
        }
        linearActivation(c, name);
        String padding = c.path("padding").asText();
        if (!padding.equals("same") && !padding.equals("valid")) {
            throw unsupported(name, "padding '" + padding + "'");
        }
        Tensor weight;
        int groups;
        int outChannels;
        if (depthwise) {
            if (c.path("depth_multiplier").asInt(1) != 1) {
                throw unsupported(name, "depth_multiplier " + c.path("depth_multiplier"));
            }
            TfjsLayersModel.Weight w = model.weights().get(name + "/depthwise_kernel");
            int channels = w == null ? -1 : w.shape()[2];
            w = model.weight(name + "/depthwise_kernel", k[0], k[1], channels, 1);
            // [kh, kw, C, 1] → [C, 1, kh, kw]
            weight = backend.fromFloats(transposeKernel(w.values(), k[0], k[1], channels, 1), channels, 1, k[0], k[1]);
            groups = channels;
            outChannels = channels;
        } else {
            TfjsLayersModel.Weight w = model.weights().get(name + "/kernel");
            int in = w == null ? -1 : w.shape()[2];
            int out = c.path("filters").asInt();
            w = model.weight(name + "/kernel", k[0], k[1], in, out);
            // [kh, kw, I, O] → [O, I, kh, kw]
            weight = backend.fromFloats(transposeKernel(w.values(), k[0], k[1], in, out), out, in, k[0], k[1]);
            groups = 1;
            outChannels = out;
        }
        Tensor bias = c.path("use_bias").asBoolean(true)
                ? backend.fromFloats(model.weight(name + "/bias", outChannels).values(), outChannels) : null;
        boolean same = padding.equals("same");
        return ins -> {
            Tensor x = ins.getFirst();
            int ph = 0, pw = 0;
            if (same) {
                int[] h = samePadding(x.size(2), k[0], s[0]);
                int[] w = samePadding(x.size(3), k[1], s[1]);
                if (h[0] == h[1] && w[0] == w[1]) {
                    ph = h[0];
                    pw = w[0];
                } else {
                    x = pad(x, h[0], h[1], w[0], w[1]);
                }
            }
            return backend.conv2d(x, weight, bias, s[0], s[1], ph, pw, groups);
        };
    }

    /** TF's SAME padding for one axis: {before, after}, the smaller half before. */
    private static int[] samePadding(int size, int kernel, int stride) {
        int outSize = (size + stride - 1) / stride;
        int total = Math.max((outSize - 1) * stride + kernel - size, 0);
        return new int[] {total / 2, total - total / 2};
    }

    /** A Keras kernel [kh, kw, I, O] as the engine's [O, I, kh, kw]. */
    private static float[] transposeKernel(float[] hwio, int kh, int kw, int in, int out) {
        float[] oihw = new float[hwio.length];
        for (int y = 0; y < kh; y++) {
            for (int x = 0; x < kw; x++) {
                for (int i = 0; i < in; i++) {
                    for (int o = 0; o < out; o++) {
                        oihw[((o * in + i) * kh + y) * kw + x] = hwio[((y * kw + x) * in + i) * out + o];
                    }
                }
            }
        }
        return oihw;
    }

    private Op batchNorm(String name, JsonNode c, TfjsLayersModel model) {
        int axis = c.path("axis").isArray() ? c.path("axis").path(0).asInt() : c.path("axis").asInt(-1);
        if (axis != -1 && axis != 3) {
            throw unsupported(name, "BatchNormalization on axis " + axis);
        }
        TfjsLayersModel.Weight meanW = model.weights().get(name + "/moving_mean");
        int n = meanW == null ? -1 : meanW.shape()[0];
        float[] mean = model.weight(name + "/moving_mean", n).values();
        float[] variance = model.weight(name + "/moving_variance", n).values();
        float[] gamma = c.path("scale").asBoolean(true) ? model.weight(name + "/gamma", n).values() : null;
        float[] beta = c.path("center").asBoolean(true) ? model.weight(name + "/beta", n).values() : null;
        float eps = (float) c.path("epsilon").asDouble(1e-3);
        float[] mul = new float[n];
        float[] add = new float[n];
        for (int i = 0; i < n; i++) {
            float inv = (float) (1.0 / Math.sqrt(variance[i] + eps));
            mul[i] = gamma == null ? inv : inv * gamma[i];
            add[i] = (beta == null ? 0f : beta[i]) - mean[i] * mul[i];
        }
        Tensor scale = backend.fromFloats(mul, 1, n, 1, 1);
        Tensor shift = backend.fromFloats(add, 1, n, 1, 1);
        return ins -> {
            Tensor x = ins.getFirst();
            Tensor s = x.dim() == 2 ? scale.reshape(1, n) : scale;
            Tensor t = x.dim() == 2 ? shift.reshape(1, n) : shift;
            return backend.add(backend.mul(x, s), t);
        };
    }

    private Op dense(String name, JsonNode c, TfjsLayersModel model) {
        int units = c.path("units").asInt();
        TfjsLayersModel.Weight kw = model.weights().get(name + "/kernel");
        int in = kw == null ? -1 : kw.shape()[0];
        float[] kernel = model.weight(name + "/kernel", in, units).values();
        float[] weightRows = new float[kernel.length]; // [in, out] → [out, in]
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < units; o++) {
                weightRows[o * in + i] = kernel[i * units + o];
            }
        }
        Tensor weight = backend.fromFloats(weightRows, units, in);
        Tensor bias = c.path("use_bias").asBoolean(true)
                ? backend.fromFloats(model.weight(name + "/bias", units).values(), units) : null;
        String activation = c.path("activation").asText("linear");
        if (!List.of("linear", "relu", "softmax").contains(activation)) {
            throw unsupported(name, "activation '" + activation + "'");
        }
        return ins -> {
            Tensor y = backend.linear(ins.getFirst(), weight, bias);
            return switch (activation) {
                case "relu" -> clamp(y, 0f, Float.POSITIVE_INFINITY);
                case "softmax" -> backend.softmax(y, -1);
                default -> y;
            };
        };
    }

    // ------------------------------------------------------------------ helpers

    /** {@code min(max(x, lo), hi)} elementwise (the Backend has no clamp op; this runs on the host arrays). */
    private Tensor clamp(Tensor x, float lo, float hi) {
        float[] v = backend.toFloatArray(x);
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.min(Math.max(v[i], lo), hi);
        }
        return backend.fromFloats(v, x.shape());
    }

    /** Zero padding of an NCHW tensor's last two dimensions. */
    private Tensor pad(Tensor x, int top, int bottom, int left, int right) {
        int n = x.size(0), c = x.size(1);
        if (top > 0 || bottom > 0) {
            List<Tensor> parts = new ArrayList<>();
            if (top > 0) {
                parts.add(backend.zeros(DType.F32, n, c, top, x.size(3)));
            }
            parts.add(x);
            if (bottom > 0) {
                parts.add(backend.zeros(DType.F32, n, c, bottom, x.size(3)));
            }
            x = backend.cat(2, parts);
        }
        if (left > 0 || right > 0) {
            List<Tensor> parts = new ArrayList<>();
            if (left > 0) {
                parts.add(backend.zeros(DType.F32, n, c, x.size(2), left));
            }
            parts.add(x);
            if (right > 0) {
                parts.add(backend.zeros(DType.F32, n, c, x.size(2), right));
            }
            x = backend.cat(3, parts);
        }
        return x;
    }

    private static int[] ints(JsonNode array) {
        int[] v = new int[array.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = array.get(i).asInt();
        }
        return v;
    }

    private void channelsLast(JsonNode c, String name) {
        String format = c.path("data_format").asText("channels_last");
        if (!format.equals("channels_last")) {
            throw unsupported(name, "data_format " + format);
        }
    }

    private void linearActivation(JsonNode c, String name) {
        String activation = c.path("activation").asText("linear");
        if (!activation.equals("linear")) {
            throw unsupported(name, "activation '" + activation + "'");
        }
    }

    private SafetyCheckerException unsupported(String layer, String what) {
        return new SafetyCheckerException(source + ": layer '" + layer + "': " + what + " is not supported");
    }
}
