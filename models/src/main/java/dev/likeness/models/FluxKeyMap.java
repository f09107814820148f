package dev.likeness.models;

import dev.likeness.engine.Tensor;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The FLUX transformer's diffusers tensors read from a Black Forest Labs single-file checkpoint
 * ({@code flux1-dev.safetensors}), the inverse view of diffusers'
 * {@code convert_flux_transformer_checkpoint_to_diffusers}. Renamed tensors are read as they are; the fused ones are
 * row ranges (views, no copies) of their BFL tensor:
 * <ul>
 *   <li>{@code double_blocks.N.img_attn.qkv} = [to_q; to_k; to_v], {@code txt_attn.qkv} = [add_q; add_k; add_v]
 *       _proj;</li>
 *   <li>{@code single_blocks.N.linear1} = [to_q; to_k; to_v; proj_mlp], {@code linear2} = proj_out;</li>
 *   <li>{@code final_layer.adaLN_modulation.1} = [shift; scale], the halves of diffusers' {@code norm_out.linear}
 *       (scale; shift) swapped.</li>
 * </ul>
 * Keys may carry the prefix {@code model.diffusion_model.}.
 */
final class FluxKeyMap implements FluxTransformer.Parameters {
    private static final String PREFIX = "model.diffusion_model";
    private static final Pattern DOUBLE = Pattern.compile("transformer_blocks\\.(\\d+)\\.(.+)\\.(weight|bias)");
    private static final Pattern SINGLE = Pattern.compile("single_transformer_blocks\\.(\\d+)\\.(.+)\\.(weight|bias)");
    private static final Pattern TOP = Pattern.compile("(.+)\\.(weight|bias)");

    /** Where a diffusers tensor lives: rows [start, start + rows of the requested shape) of {@code key}. */
    private record Location(String key, int start, int totalRows) {
        static Location whole(String key) {
            return new Location(key, 0, -1);
        }
    }

    private final Weights weights;
    private final int inner;
    private final int mlp;

    FluxKeyMap(Weights weights, FluxTransformer.Config config) {
        this.weights = weights.has(PREFIX + ".img_in.weight") ? weights.child(PREFIX) : weights;
        this.inner = config.innerDim();
        this.mlp = config.mlpDim();
    }

    @Override
    public Tensor get(String key, int... shape) {
        Location at = locate(key);
        if (at.totalRows() < 0) {
            return weights.get(at.key(), shape);
        }
        int[] full = shape.clone();
        full[0] = at.totalRows();
        return weights.get(at.key(), full).narrow(0, at.start(), shape[0]);
    }

    /** The halves of diffusers' {@code norm_out.linear} (scale; shift) are BFL's final_layer halves (shift; scale). */
    @Override
    public Tensor rows(String key, int start, int count, int... shape) {
        Matcher m = TOP.matcher(key);
        if (!m.matches() || !m.group(1).equals("norm_out.linear")) {
            return FluxTransformer.Parameters.super.rows(key, start, count, shape);
        }
        int half = shape[0] / 2;
        if (start < half && start + count > half) {
            throw new IllegalArgumentException(weights.checkpoint().path() + ": rows [" + start + ", "
                    + (start + count) + ") of norm_out.linear cross its (scale, shift) halves");
        }
        int swapped = start < half ? start + half : start - half;
        return weights.get("final_layer.adaLN_modulation.1." + m.group(2), shape).narrow(0, swapped, count);
    }

    private Location locate(String key) {
        Matcher m = SINGLE.matcher(key);
        if (m.matches()) {
            return single("single_blocks." + m.group(1) + ".", m.group(2), m.group(3), key);
        }
        m = DOUBLE.matcher(key);
        if (m.matches()) {
            return doubleStream("double_blocks." + m.group(1) + ".", m.group(2), m.group(3), key);
        }
        m = TOP.matcher(key);
        if (!m.matches()) {
            throw unknown(key);
        }
        String suffix = "." + m.group(2);
        return switch (m.group(1)) {
            case "x_embedder" -> Location.whole("img_in" + suffix);
            case "context_embedder" -> Location.whole("txt_in" + suffix);
            case "time_text_embed.timestep_embedder.linear_1" -> Location.whole("time_in.in_layer" + suffix);
            case "time_text_embed.timestep_embedder.linear_2" -> Location.whole("time_in.out_layer" + suffix);
            case "time_text_embed.guidance_embedder.linear_1" -> Location.whole("guidance_in.in_layer" + suffix);
            case "time_text_embed.guidance_embedder.linear_2" -> Location.whole("guidance_in.out_layer" + suffix);
            case "time_text_embed.text_embedder.linear_1" -> Location.whole("vector_in.in_layer" + suffix);
            case "time_text_embed.text_embedder.linear_2" -> Location.whole("vector_in.out_layer" + suffix);
            // stored with its halves swapped: only its halves can be read, through rows()
            case "norm_out.linear" -> throw new IllegalArgumentException(weights.checkpoint().path()
                    + ": norm_out.linear is stored as final_layer.adaLN_modulation.1 with its halves swapped; "
                    + "read it by halves");
            case "proj_out" -> Location.whole("final_layer.linear" + suffix);
            default -> throw unknown(key);
        };
    }

    private Location doubleStream(String block, String name, String suffix, String key) {
        String s = "." + suffix;
        return switch (name) {
            case "norm1.linear" -> Location.whole(block + "img_mod.lin" + s);
            case "norm1_context.linear" -> Location.whole(block + "txt_mod.lin" + s);
            case "attn.to_q" -> new Location(block + "img_attn.qkv" + s, 0, 3 * inner);
            case "attn.to_k" -> new Location(block + "img_attn.qkv" + s, inner, 3 * inner);
            case "attn.to_v" -> new Location(block + "img_attn.qkv" + s, 2 * inner, 3 * inner);
            case "attn.add_q_proj" -> new Location(block + "txt_attn.qkv" + s, 0, 3 * inner);
            case "attn.add_k_proj" -> new Location(block + "txt_attn.qkv" + s, inner, 3 * inner);
            case "attn.add_v_proj" -> new Location(block + "txt_attn.qkv" + s, 2 * inner, 3 * inner);
            case "attn.norm_q" -> Location.whole(block + "img_attn.norm.query_norm.scale");
            case "attn.norm_k" -> Location.whole(block + "img_attn.norm.key_norm.scale");
            case "attn.norm_added_q" -> Location.whole(block + "txt_attn.norm.query_norm.scale");
            case "attn.norm_added_k" -> Location.whole(block + "txt_attn.norm.key_norm.scale");
            case "attn.to_out.0" -> Location.whole(block + "img_attn.proj" + s);
            case "attn.to_add_out" -> Location.whole(block + "txt_attn.proj" + s);
            case "ff.net.0.proj" -> Location.whole(block + "img_mlp.0" + s);
            case "ff.net.2" -> Location.whole(block + "img_mlp.2" + s);
            case "ff_context.net.0.proj" -> Location.whole(block + "txt_mlp.0" + s);
            case "ff_context.net.2" -> Location.whole(block + "txt_mlp.2" + s);
            default -> throw unknown(key);
        };
    }

    private Location single(String block, String name, String suffix, String key) {
        String s = "." + suffix;
        int fused = 3 * inner + mlp;
        return switch (name) {
            case "norm.linear" -> Location.whole(block + "modulation.lin" + s);
            case "attn.to_q" -> new Location(block + "linear1" + s, 0, fused);
            case "attn.to_k" -> new Location(block + "linear1" + s, inner, fused);
            case "attn.to_v" -> new Location(block + "linear1" + s, 2 * inner, fused);
            case "proj_mlp" -> new Location(block + "linear1" + s, 3 * inner, fused);
            case "attn.norm_q" -> Location.whole(block + "norm.query_norm.scale");
            case "attn.norm_k" -> Location.whole(block + "norm.key_norm.scale");
            case "proj_out" -> Location.whole(block + "linear2" + s);
            default -> throw unknown(key);
        };
    }

    private IllegalArgumentException unknown(String key) {
        return new IllegalArgumentException(weights.checkpoint().path() + ": no BFL tensor for the diffusers key '"
                + key + "'");
    }
}
