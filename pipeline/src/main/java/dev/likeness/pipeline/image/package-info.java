/**
 * Image input and output: decoding reference images ({@link dev.likeness.pipeline.image.ImageDecoder}), Pillow's
 * resize reproduced byte for byte ({@link dev.likeness.pipeline.image.PillowResize}), InstantCharacter's subject
 * preprocessing into SigLIP and DINOv2 pixel tensors ({@link dev.likeness.pipeline.image.SubjectImages}), and the
 * generated images' postprocessing and encoding ({@link dev.likeness.pipeline.image.OutputImages}). See the "Images"
 * section of pipeline/README.md.
 */
package dev.likeness.pipeline.image;
