package dev.likeness.pipeline.image;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;

import java.util.List;

/**
 * The subject (reference) image prepared for InstantCharacter's two image encoders, as the official pipeline does it
 * ({@code pipeline.py} {@code __call__} and {@code encode_image_emb}, InstantCharacter @ d254c73):
 *
 * <ol>
 *   <li>the image is stretched (not padded) to a square of side {@code S = max(width, height)};</li>
 *   <li>low resolution: the square resized to 384 × 384;</li>
 *   <li>high resolution: the square resized to 768 × 768 and cut into four 384 × 384 tiles, in the order top-left,
 *       top-right, bottom-left, bottom-right;</li>
 *   <li>each 384 × 384 image goes through SigLIP's processor ({@code SiglipImageProcessor} of
 *       google/siglip-so400m-patch14-384: rescale by 1/255, then normalize with mean = std = 0.5) and DINOv2's
 *       ({@code BitImageProcessor} of facebook/dinov2 with the pipeline's override to shortest edge 384 and a 384 crop:
 *       rescale by 1/255, then normalize with the ImageNet mean 0.485, 0.456, 0.406 and std 0.229, 0.224, 0.225).
 *       Their resize and centre crop are identities on 384 × 384 inputs.</li>
 * </ol>
 *
 * <p>All resizes are Pillow's default bicubic, reproduced byte for byte by {@link PillowResize}. The normalization is
 * computed as transformers computes it: {@code p · (1/255)} in double precision rounded to float, then
 * {@code (v − mean) / std} in float, so the tensors equal the processors' float32 outputs exactly. The pipeline casts
 * them to the encoders' dtype (bf16) afterwards; that cast is the encoders' business, not done here.
 *
 * @param siglipLow   SigLIP pixels of the low-resolution image, f32 [1, 3, 384, 384]
 * @param siglipHigh  SigLIP pixels of the four high-resolution tiles, f32 [4, 3, 384, 384]
 * @param dinov2Low   DINOv2 pixels of the low-resolution image, f32 [1, 3, 384, 384]
 * @param dinov2High  DINOv2 pixels of the four tiles, f32 [4, 3, 384, 384]
 */
public record SubjectImages(Tensor siglipLow, Tensor siglipHigh, Tensor dinov2Low, Tensor dinov2High) {

    /** The side of every image the encoders see. */
    public static final int SIZE = 384;

    /** transformers' {@code rescale_factor} (1/255 as the preprocessor configs write it), used in double precision. */
    private static final double RESCALE = 0.00392156862745098;
    private static final float[] SIGLIP_MEAN = {0.5f, 0.5f, 0.5f};
    private static final float[] SIGLIP_STD = {0.5f, 0.5f, 0.5f};
    // numpy rounds the config's double values to float32 (np.array(mean, dtype=float32)): the same casts here
    private static final float[] DINOV2_MEAN = {(float) 0.485, (float) 0.456, (float) 0.406};
    private static final float[] DINOV2_STD = {(float) 0.229, (float) 0.224, (float) 0.225};

    /**
     * The intermediate images: the square, the low-resolution image, the 768 × 768 image and its four tiles.
     */
    public record Views(RgbImage square, RgbImage low, RgbImage high, List<RgbImage> tiles) {
    }

    /** Steps 1–3: the images the processors receive. */
    public static Views views(RgbImage subject) {
        int side = Math.max(subject.width(), subject.height());
        RgbImage square = PillowResize.resize(subject, side, side);
        RgbImage low = PillowResize.resize(square, SIZE, SIZE);
        RgbImage high = PillowResize.resize(square, 2 * SIZE, 2 * SIZE);
        List<RgbImage> tiles = List.of(high.crop(0, 0, SIZE, SIZE), high.crop(SIZE, 0, SIZE, SIZE),
                high.crop(0, SIZE, SIZE, SIZE), high.crop(SIZE, SIZE, SIZE, SIZE));
        return new Views(square, low, high, tiles);
    }

    /** The four pixel tensors of {@code subject}, created on {@code backend}. */
    public static SubjectImages of(RgbImage subject, Backend backend) {
        Views v = views(subject);
        List<RgbImage> low = List.of(v.low());
        return new SubjectImages(
                backend.fromFloats(siglipPixels(low), low.size(), 3, SIZE, SIZE),
                backend.fromFloats(siglipPixels(v.tiles()), v.tiles().size(), 3, SIZE, SIZE),
                backend.fromFloats(dinov2Pixels(low), low.size(), 3, SIZE, SIZE),
                backend.fromFloats(dinov2Pixels(v.tiles()), v.tiles().size(), 3, SIZE, SIZE));
    }

    /** SigLIP's processor after its (identity) resize: [N, 3, H, W] row-major floats of same-sized images. */
    public static float[] siglipPixels(List<RgbImage> images) {
        return normalize(images, SIGLIP_MEAN, SIGLIP_STD);
    }

    /** DINOv2's processor after its (identity) resize and crop: [N, 3, H, W] row-major floats. */
    public static float[] dinov2Pixels(List<RgbImage> images) {
        return normalize(images, DINOV2_MEAN, DINOV2_STD);
    }

    /**
     * transformers' rescale (by 1/255) and normalize of same-sized 8-bit images: {@code (float(p · RESCALE) − mean[c])
     * / std[c]} per pixel, channels first, [N, 3, H, W] row-major; one lookup table per channel. Shared with the safety
     * checker's CLIP preprocessing.
     */
    public static float[] normalize(List<RgbImage> images, float[] mean, float[] std) {
        int w = images.getFirst().width();
        int h = images.getFirst().height();
        float[][] table = new float[3][256];
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < 256; p++) {
                float rescaled = (float) (p * RESCALE);
                table[c][p] = (rescaled - mean[c]) / std[c];
            }
        }
        int plane = w * h;
        float[] out = new float[images.size() * 3 * plane];
        for (int n = 0; n < images.size(); n++) {
            RgbImage img = images.get(n);
            if (img.width() != w || img.height() != h) {
                throw new IllegalArgumentException("image " + n + " is " + img.width() + "×" + img.height()
                        + ", expected " + w + "×" + h + " like image 0");
            }
            byte[] rgb = img.rgb();
            int base = n * 3 * plane;
            for (int i = 0; i < plane; i++) {
                out[base + i] = table[0][rgb[3 * i] & 0xff];
                out[base + plane + i] = table[1][rgb[3 * i + 1] & 0xff];
                out[base + 2 * plane + i] = table[2][rgb[3 * i + 2] & 0xff];
            }
        }
        return out;
    }
}
