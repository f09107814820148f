package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The KL autoencoder of latent diffusion, as diffusers 0.33.1 {@code AutoencoderKL} with its {@code Encoder} and
 * {@code Decoder} ({@code models/autoencoders/vae.py}); FLUX.1-dev's "vae" folder is one: 16 latent channels, blocks
 * of 128, 256, 512, 512 channels, no quant convs, latents scaled by 0.3611 and shifted by 0.1159.
 *
 * <p>The encoder maps an image [N, 3, H, W] in [-1, 1] through {@code conv_in}, one {@link DownBlock} per entry of
 * {@code block_out_channels} (each halving the size except the last), the {@link MidBlock} (resnet, attention,
 * resnet), group norm, SiLU and {@code conv_out} to 2 × latent channels: the mean and log-variance of a diagonal
 * Gaussian ({@link LatentDistribution}). The decoder mirrors it: {@code conv_in}, mid block, {@link UpBlock}s in
 * reverse channel order (each doubling the size except the last), group norm, SiLU, {@code conv_out}.
 *
 * <p>Every block here is built by diffusers with {@code output_scale_factor = 1} (resnets and the attention's
 * {@code rescale_output_factor}), group norms with eps 1e-6, and the attention with a single head of the full channel
 * width ({@code attention_head_dim = block_out_channels[-1]}), so those factors do not appear below. The config's
 * {@code latents_mean} / {@code latents_std}, {@code force_upcast} and {@code sample_size} (tiling) concern the
 * pipeline around the model and are not read.
 */
public final class AutoencoderKL implements AutoCloseable {
    /** The eps of every group norm in the encoder and decoder (diffusers passes 1e-6 throughout). */
    static final float NORM_EPS = 1e-6f;

    private final Config config;
    private final Weights weights;
    private final Backend backend;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv quantConv;
    private final Conv postQuantConv;

    /** The fields of the diffusers {@code AutoencoderKL} config this implementation reads. */
    public record Config(int inChannels, int outChannels, int latentChannels, int[] blockOutChannels,
                         int layersPerBlock, int normNumGroups, double scalingFactor, double shiftFactor,
                         boolean useQuantConv, boolean usePostQuantConv, boolean midBlockAddAttention) {

        /** Reads {@code config.json}, with the defaults of the diffusers constructor for absent fields. */
        public static Config from(ModelConfig c) {
            int[] blocks = c.integers("block_out_channels");
            int groups = c.integer("norm_num_groups", 32);
            if (blocks.length == 0) {
                throw new IllegalArgumentException(c.file() + ": field 'block_out_channels' must not be empty");
            }
            for (int ch : blocks) {
                if (ch <= 0 || groups <= 0 || ch % groups != 0) {
                    throw new IllegalArgumentException(c.file() + ": field 'block_out_channels' "
                            + Arrays.toString(blocks) + " must be positive multiples of norm_num_groups " + groups);
                }
            }
            requireBlocks(c, "down_block_types", "DownEncoderBlock2D", blocks.length);
            requireBlocks(c, "up_block_types", "UpDecoderBlock2D", blocks.length);
            String act = c.string("act_fn", "silu");
            if (!act.equals("silu")) {
                throw new IllegalArgumentException(c.file() + ": field 'act_fn' is '" + act + "', expected 'silu'");
            }
            int layers = c.integer("layers_per_block", 1);
            if (layers <= 0) {
                throw new IllegalArgumentException(c.file() + ": field 'layers_per_block' must be positive, got "
                        + layers);
            }
            return new Config(c.integer("in_channels", 3), c.integer("out_channels", 3),
                    c.integer("latent_channels", 4), blocks, layers, groups,
                    c.number("scaling_factor", 0.18215), c.number("shift_factor", 0.0),
                    c.bool("use_quant_conv", true), c.bool("use_post_quant_conv", true),
                    c.bool("mid_block_add_attention", true));
        }

        private static void requireBlocks(ModelConfig c, String field, String type, int count) {
            if (!c.has(field)) {
                if (count == 1) {
                    return;
                }
                throw new IllegalArgumentException(c.file() + ": field '" + field + "' is missing, expected " + count
                        + " x " + type + " (one per block_out_channels entry)");
            }
            var types = c.json().get(field);
            boolean ok = types.isArray() && types.size() == count;
            for (int i = 0; ok && i < count; i++) {
                ok = types.get(i).isTextual() && types.get(i).asText().equals(type);
            }
            if (!ok) {
                throw new IllegalArgumentException(c.file() + ": field '" + field + "' is " + types + ", expected "
                        + count + " x " + type + " (one per block_out_channels entry)");
            }
        }

        /** How much smaller than the image the latent is: 2^(number of blocks - 1). */
        public int downscale() {
            return 1 << (blockOutChannels.length - 1);
        }
    }

    private AutoencoderKL(Config config, Weights weights) {
        this.config = config;
        this.weights = weights;
        this.backend = weights.backend();
        this.encoder = new Encoder(config, weights.child("encoder"));
        this.decoder = new Decoder(config, weights.child("decoder"));
        int z = config.latentChannels;
        this.quantConv = config.useQuantConv ? new Conv(weights.child("quant_conv"), 2 * z, 2 * z, 1) : null;
        this.postQuantConv = config.usePostQuantConv ? new Conv(weights.child("post_quant_conv"), z, z, 1) : null;
    }

    /**
     * Loads a diffusers folder ({@code config.json} and {@code diffusion_pytorch_model.safetensors}, or its sharded
     * index); the weights stay memory-mapped until {@link #close}.
     */
    public static AutoencoderKL load(Path folder, Backend backend) {
        Config config = Config.from(ModelConfig.read(folder.resolve("config.json")));
        Weights weights = Weights.open(folder, backend);
        try {
            return new AutoencoderKL(config, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public Config config() {
        return config;
    }

    public Encoder encoder() {
        return encoder;
    }

    public Decoder decoder() {
        return decoder;
    }

    /** diffusers {@code AutoencoderKL.encode(image).latent_dist}: image [N, in, H, W] → the posterior. */
    public LatentDistribution encode(Tensor image) {
        Tensor moments = encoder.forward(image);
        if (quantConv != null) {
            moments = quantConv.forward(moments, 1, 0);
        }
        return LatentDistribution.of(backend, moments);
    }

    /** diffusers {@code AutoencoderKL.decode(z).sample}: latents [N, latent, h, w] → image [N, out, h·s, w·s]. */
    public Tensor decode(Tensor z) {
        requireShape("decode: latents", z, config.latentChannels);
        if (postQuantConv != null) {
            z = postQuantConv.forward(z, 1, 0);
        }
        return decoder.forward(z);
    }

    /**
     * What FluxPipeline does before {@link #decode}: {@code latents / scaling_factor + shift_factor}, with the
     * reference's order of operations (a division, then an addition).
     */
    public Tensor unscaleLatents(Tensor latents) {
        Tensor divided = backend.div(latents, backend.fromFloats(new float[] {(float) config.scalingFactor}, 1));
        return backend.affine(divided, 1f, (float) config.shiftFactor);
    }

    /**
     * The inverse, how an encoded image enters the denoiser's space: {@code (latents - shift_factor) *
     * scaling_factor}.
     */
    public Tensor scaleLatents(Tensor latents) {
        Tensor shifted = backend.affine(latents, 1f, (float) -config.shiftFactor);
        return backend.affine(shifted, (float) config.scalingFactor, 0f);
    }

    /** Unmaps the weights. */
    @Override
    public void close() {
        weights.close();
    }

    private static void requireShape(String what, Tensor x, int channels) {
        if (x.dim() != 4 || x.size(1) != channels) {
            throw new IllegalArgumentException(what + " must be [N, " + channels + ", H, W], got "
                    + Arrays.toString(x.shape()));
        }
    }

    /**
     * diffusers {@code DiagonalGaussianDistribution}: the encoder's moments split along channels into the mean and
     * the log-variance, clamped to [-30, 20]. The clamp and {@code exp} have no {@link Backend} op; they run in plain
     * Java over the latent-sized log-variance (f32, as torch computes them).
     */
    public record LatentDistribution(Tensor mean, Tensor logvar) {

        static LatentDistribution of(Backend backend, Tensor moments) {
            int z = moments.size(1) / 2;
            Tensor mean = backend.contiguous(moments.narrow(1, 0, z));
            Tensor raw = moments.narrow(1, z, z);
            float[] logvar = backend.toFloatArray(raw);
            for (int i = 0; i < logvar.length; i++) {
                logvar[i] = Math.min(Math.max(logvar[i], -30f), 20f);
            }
            return new LatentDistribution(mean, backend.fromFloats(logvar, raw.shape()));
        }

        /** The most likely latent: the mean ({@code mode()}). */
        public Tensor mode() {
            return mean;
        }

        /** {@code exp(0.5 * logvar)}. */
        public Tensor std() {
            Backend backend = mean.backend();
            float[] values = backend.toFloatArray(logvar);
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) StrictMath.exp(0.5f * values[i]);
            }
            return backend.fromFloats(values, logvar.shape());
        }

        /** {@code sample()} with the standard normal draw given: {@code mean + std * noise}. */
        public Tensor sample(Tensor noise) {
            if (!Arrays.equals(noise.shape(), mean.shape())) {
                throw new IllegalArgumentException("sample: noise has shape " + Arrays.toString(noise.shape())
                        + ", expected the latent shape " + Arrays.toString(mean.shape()));
            }
            Backend backend = mean.backend();
            return backend.add(mean, backend.mul(std(), noise));
        }
    }

    /** {@code diffusers Encoder} with {@code double_z=True}: image → moments [N, 2·latent, H/s, W/s]. */
    public static final class Encoder {
        private final Backend backend;
        private final int inChannels;
        private final Conv convIn;
        private final List<DownBlock> downBlocks = new ArrayList<>();
        private final MidBlock midBlock;
        private final Norm convNormOut;
        private final Conv convOut;

        Encoder(Config c, Weights w) {
            this.backend = w.backend();
            this.inChannels = c.inChannels;
            int groups = c.normNumGroups;
            int[] blocks = c.blockOutChannels;
            int top = blocks[blocks.length - 1];
            this.convIn = new Conv(w.child("conv_in"), c.inChannels, blocks[0], 3);
            int channels = blocks[0];
            for (int i = 0; i < blocks.length; i++) {
                boolean last = i == blocks.length - 1;
                downBlocks.add(new DownBlock(w.child("down_blocks." + i), channels, blocks[i], c.layersPerBlock,
                        groups, !last));
                channels = blocks[i];
            }
            this.midBlock = new MidBlock(w.child("mid_block"), top, groups, c.midBlockAddAttention);
            this.convNormOut = new Norm(w.child("conv_norm_out"), top, groups);
            this.convOut = new Conv(w.child("conv_out"), top, 2 * c.latentChannels, 3);
        }

        /** conv_in, the down blocks and the mid block: the features the output head reads. */
        public Tensor toMidBlock(Tensor image) {
            requireShape("encode: image", image, inChannels);
            Tensor h = convIn.forward(image, 1, 1);
            for (DownBlock block : downBlocks) {
                h = block.forward(h);
            }
            return midBlock.forward(h);
        }

        /** Group norm, SiLU and conv_out after the mid block: the moments. */
        public Tensor fromMidBlock(Tensor h) {
            return convOut.forward(backend.silu(convNormOut.forward(h)), 1, 1);
        }

        public Tensor forward(Tensor image) {
            return fromMidBlock(toMidBlock(image));
        }
    }

    /** {@code diffusers Decoder} (group norms, no spatial norm): latents → image. */
    public static final class Decoder {
        private final Backend backend;
        private final Conv convIn;
        private final MidBlock midBlock;
        private final List<UpBlock> upBlocks = new ArrayList<>();
        private final Norm convNormOut;
        private final Conv convOut;

        Decoder(Config c, Weights w) {
            this.backend = w.backend();
            int groups = c.normNumGroups;
            int[] blocks = c.blockOutChannels;
            int top = blocks[blocks.length - 1];
            this.convIn = new Conv(w.child("conv_in"), c.latentChannels, top, 3);
            this.midBlock = new MidBlock(w.child("mid_block"), top, groups, c.midBlockAddAttention);
            int channels = top;
            for (int i = 0; i < blocks.length; i++) {
                int out = blocks[blocks.length - 1 - i];
                boolean last = i == blocks.length - 1;
                upBlocks.add(new UpBlock(w.child("up_blocks." + i), channels, out, c.layersPerBlock + 1, groups,
                        !last));
                channels = out;
            }
            this.convNormOut = new Norm(w.child("conv_norm_out"), blocks[0], groups);
            this.convOut = new Conv(w.child("conv_out"), blocks[0], c.outChannels, 3);
        }

        /** conv_in and the mid block. */
        public Tensor toMidBlock(Tensor z) {
            return midBlock.forward(convIn.forward(z, 1, 1));
        }

        /** The up blocks, group norm, SiLU and conv_out after the mid block: the image. */
        public Tensor fromMidBlock(Tensor h) {
            for (UpBlock block : upBlocks) {
                h = block.forward(h);
            }
            return convOut.forward(backend.silu(convNormOut.forward(h)), 1, 1);
        }

        public Tensor forward(Tensor z) {
            return fromMidBlock(toMidBlock(z));
        }
    }

    /** {@code DownEncoderBlock2D}: resnets, then (except in the last block) a {@link Downsample}. */
    static final class DownBlock {
        private final List<ResnetBlock> resnets = new ArrayList<>();
        private final Downsample downsample;

        DownBlock(Weights w, int in, int out, int layers, int groups, boolean downsample) {
            for (int j = 0; j < layers; j++) {
                resnets.add(new ResnetBlock(w.child("resnets." + j), j == 0 ? in : out, out, groups));
            }
            this.downsample = downsample ? new Downsample(w.child("downsamplers.0"), out) : null;
        }

        Tensor forward(Tensor h) {
            for (ResnetBlock r : resnets) {
                h = r.forward(h);
            }
            return downsample == null ? h : downsample.forward(h);
        }
    }

    /** {@code UpDecoderBlock2D}: resnets, then (except in the last block) an {@link Upsample}. */
    static final class UpBlock {
        private final List<ResnetBlock> resnets = new ArrayList<>();
        private final Upsample upsample;

        UpBlock(Weights w, int in, int out, int layers, int groups, boolean upsample) {
            for (int j = 0; j < layers; j++) {
                resnets.add(new ResnetBlock(w.child("resnets." + j), j == 0 ? in : out, out, groups));
            }
            this.upsample = upsample ? new Upsample(w.child("upsamplers.0"), out) : null;
        }

        Tensor forward(Tensor h) {
            for (ResnetBlock r : resnets) {
                h = r.forward(h);
            }
            return upsample == null ? h : upsample.forward(h);
        }
    }

    /** {@code UNetMidBlock2D} without a time embedding: resnet, (attention, resnet). */
    static final class MidBlock {
        private final ResnetBlock first;
        private final AttentionBlock attention;
        private final ResnetBlock second;

        MidBlock(Weights w, int channels, int groups, boolean addAttention) {
            this.first = new ResnetBlock(w.child("resnets.0"), channels, channels, groups);
            this.attention = addAttention ? new AttentionBlock(w.child("attentions.0"), channels, groups) : null;
            this.second = new ResnetBlock(w.child("resnets.1"), channels, channels, groups);
        }

        Tensor forward(Tensor h) {
            h = first.forward(h);
            if (attention != null) {
                h = attention.forward(h);
            }
            return second.forward(h);
        }
    }

    /**
     * {@code ResnetBlock2D} without a time embedding: {@code conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x)},
     * the shortcut a 1×1 conv when the channel count changes.
     */
    static final class ResnetBlock {
        private final Backend backend;
        private final Norm norm1;
        private final Conv conv1;
        private final Norm norm2;
        private final Conv conv2;
        private final Conv shortcut;

        ResnetBlock(Weights w, int in, int out, int groups) {
            this.backend = w.backend();
            this.norm1 = new Norm(w.child("norm1"), in, groups);
            this.conv1 = new Conv(w.child("conv1"), in, out, 3);
            this.norm2 = new Norm(w.child("norm2"), out, groups);
            this.conv2 = new Conv(w.child("conv2"), out, out, 3);
            this.shortcut = in != out ? new Conv(w.child("conv_shortcut"), in, out, 1) : null;
        }

        Tensor forward(Tensor x) {
            Tensor h = conv1.forward(backend.silu(norm1.forward(x)), 1, 1);
            h = conv2.forward(backend.silu(norm2.forward(h)), 1, 1);
            Tensor residual = shortcut == null ? x : shortcut.forward(x, 1, 0);
            return backend.add(residual, h);
        }
    }

    /**
     * The mid block's {@code Attention} (diffusers' converted "attention block"): group norm, then one head of full
     * width over the H·W positions, {@code to_out}, plus the input.
     */
    static final class AttentionBlock {
        private final Backend backend;
        private final Norm groupNorm;
        private final Tensor qw, qb, kw, kb, vw, vb, ow, ob;

        AttentionBlock(Weights w, int channels, int groups) {
            this.backend = w.backend();
            this.groupNorm = new Norm(w.child("group_norm"), channels, groups);
            this.qw = w.get("to_q.weight", channels, channels);
            this.qb = w.get("to_q.bias", channels);
            this.kw = w.get("to_k.weight", channels, channels);
            this.kb = w.get("to_k.bias", channels);
            this.vw = w.get("to_v.weight", channels, channels);
            this.vb = w.get("to_v.bias", channels);
            this.ow = w.get("to_out.0.weight", channels, channels);
            this.ob = w.get("to_out.0.bias", channels);
        }

        Tensor forward(Tensor x) {
            int n = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
            // [N, C, H, W] → tokens [N, H·W, C]
            Tensor tokens = groupNorm.forward(x).reshape(n, c, height * width).transpose(1, 2);
            Tensor q = backend.linear(tokens, qw, qb).unsqueeze(1);
            Tensor k = backend.linear(tokens, kw, kb).unsqueeze(1);
            Tensor v = backend.linear(tokens, vw, vb).unsqueeze(1);
            Tensor attended = backend.attention(q, k, v, null, 0f).squeeze(1);
            Tensor out = backend.linear(attended, ow, ob).transpose(1, 2).reshape(n, c, height, width);
            return backend.add(out, x);
        }
    }

    /**
     * {@code Downsample2D(use_conv=True, padding=0)}: zero padding of one row and one column at the end, then a 3×3
     * stride-2 conv.
     */
    static final class Downsample {
        private final Backend backend;
        private final Conv conv;

        Downsample(Weights w, int channels) {
            this.backend = w.backend();
            this.conv = new Conv(w.child("conv"), channels, channels, 3);
        }

        Tensor forward(Tensor x) {
            int n = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
            // F.pad(x, (0, 1, 0, 1)): one zero column on the right, one zero row at the bottom
            Tensor padded = backend.cat(3, List.of(x, backend.zeros(backend.computeDType(), n, c, height, 1)));
            padded = backend.cat(2, List.of(padded, backend.zeros(backend.computeDType(), n, c, 1, width + 1)));
            return conv.forward(padded, 2, 0);
        }
    }

    /** {@code Upsample2D(use_conv=True)}: nearest-neighbour 2× upsampling, then a 3×3 conv. */
    static final class Upsample {
        private final Backend backend;
        private final Conv conv;

        Upsample(Weights w, int channels) {
            this.backend = w.backend();
            this.conv = new Conv(w.child("conv"), channels, channels, 3);
        }

        Tensor forward(Tensor x) {
            Tensor up = backend.upsampleNearest(x, 2 * x.size(2), 2 * x.size(3));
            return conv.forward(up, 1, 1);
        }
    }

    /** {@code nn.Conv2d(in, out, kernel)} with bias. */
    static final class Conv {
        private final Backend backend;
        private final Tensor weight;
        private final Tensor bias;

        Conv(Weights w, int in, int out, int kernel) {
            this.backend = w.backend();
            this.weight = w.get("weight", out, in, kernel, kernel);
            this.bias = w.get("bias", out);
        }

        Tensor forward(Tensor x, int stride, int padding) {
            return backend.conv2d(x, weight, bias, stride, stride, padding, padding, 1);
        }
    }

    /** {@code nn.GroupNorm(groups, channels, eps=1e-6)} with affine weight and bias. */
    static final class Norm {
        private final Backend backend;
        private final int groups;
        private final Tensor weight;
        private final Tensor bias;

        Norm(Weights w, int channels, int groups) {
            this.backend = w.backend();
            this.groups = groups;
            this.weight = w.get("weight", channels);
            this.bias = w.get("bias", channels);
        }

        Tensor forward(Tensor x) {
            return backend.groupNorm(x, groups, weight, bias, NORM_EPS);
        }
    }
}
