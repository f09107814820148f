/**
 * The architectures of the InstantCharacter pipeline, one file each, written against the engine's
 * {@link dev.likeness.engine.Backend}, plus their tokenizers and the flow-matching scheduler.
 */
package dev.likeness.models;
