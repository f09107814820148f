/**
 * The generation logic behind the two endpoints: reference-image I/O and preprocessing, the InstantCharacter FLUX
 * pipeline (text and subject encoding, the denoising loop, VAE decode) and the output images.
 */
package dev.likeness.pipeline;
