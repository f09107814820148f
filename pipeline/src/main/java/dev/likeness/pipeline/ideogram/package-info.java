/**
 * {@code fal-ai/ideogram/character} on the InstantCharacter engine: every field a mechanism —
 * {@link dev.likeness.pipeline.ideogram.IdeogramCharacter} (the plan), {@link dev.likeness.pipeline.ideogram.RenderingSpeed}
 * (presets and price), {@link dev.likeness.pipeline.ideogram.Style} and {@link dev.likeness.pipeline.ideogram.StyleLayers},
 * {@link dev.likeness.pipeline.ideogram.StyleCode} (reproducible style swatches),
 * {@link dev.likeness.pipeline.ideogram.ColorPalette}, {@link dev.likeness.pipeline.ideogram.LatentRgb} and
 * {@link dev.likeness.pipeline.ideogram.PaletteGuidance} (colour steering), {@link dev.likeness.pipeline.ideogram.MagicPrompt}
 * and {@link dev.likeness.pipeline.ideogram.ReferenceMask}. See the section "fal-ai/ideogram/character" of
 * pipeline/README.md.
 */
package dev.likeness.pipeline.ideogram;
