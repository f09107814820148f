/**
 * The text tokenizers of FLUX's two text encoders, in pure Java and id-for-id with the reference:
 * {@link dev.likeness.models.tokenizers.ClipTokenizer} (CLIP-L, byte-level BPE, transformers' slow
 * {@code CLIPTokenizer}) and {@link dev.likeness.models.tokenizers.T5Tokenizer} (T5-XXL, SentencePiece Unigram,
 * {@code T5TokenizerFast}). Both read the files of a diffusers checkpoint ({@code vocab.json}/{@code merges.txt},
 * {@code tokenizer.json}, {@code spiece.model}; gzipped copies too) and return padded ids with an attention mask.
 */
package dev.likeness.models.tokenizers;
