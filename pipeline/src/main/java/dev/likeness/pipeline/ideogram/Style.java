package dev.likeness.pipeline.ideogram;

/**
 * {@code style}: AUTO, REALISTIC or FICTION — the three style modes Ideogram offers with a character reference
 * ("Fiction – Interprets the character creatively, blending stylized elements while keeping key traits
 * recognizable").
 *
 * <p>Each mode is two things on our engine:
 * <ul>
 *   <li>a <b>style cue</b> appended to the prompt (after the user's words, which are never changed), read by both
 *       text encoders;</li>
 *   <li>a <b>subject-scale profile</b> over the transformer's attention layers: the character's attention runs at
 *       {@link #identityScale()} in the layers that carry identity and composition and at {@link #styleLayerScale()}
 *       in the layers that carry style ({@link StyleLayers}). FICTION lowers the character's weight in the style
 *       layers, so its rendering (texture, colour, line) follows the prompt's stylization while the identity layers
 *       keep the traits; REALISTIC keeps it at full weight everywhere so the reference's photographic rendering is
 *       carried over too.</li>
 * </ul>
 * AUTO adds no cue and uses the plain InstantCharacter profile (scale 1 everywhere).
 */
public enum Style {
    AUTO("", 1.0, 1.0),
    REALISTIC("photorealistic photograph, natural skin texture, true-to-life proportions, realistic lighting", 1.0,
            1.0),
    FICTION("stylized illustration, expressive artistic rendering, imaginative fictional world", 1.0, 0.6);

    private final String cue;
    private final double identityScale;
    private final double styleLayerScale;

    Style(String cue, double identityScale, double styleLayerScale) {
        this.cue = cue;
        this.identityScale = identityScale;
        this.styleLayerScale = styleLayerScale;
    }

    /** The phrase appended to the prompt ("" for AUTO). */
    public String cue() {
        return cue;
    }

    /** The character attention's scale in the identity layers. */
    public double identityScale() {
        return identityScale;
    }

    /** The character attention's scale in the style layers. */
    public double styleLayerScale() {
        return styleLayerScale;
    }
}
