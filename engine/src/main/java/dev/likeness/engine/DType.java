package dev.likeness.engine;

import java.util.Locale;

/**
 * Element types a tensor can be stored in.
 *
 * <p>Floating-point storage types (F32, F16, BF16, F8_E4M3, F8_E5M2) and I8 with scales are weight storage
 * types: kernels read them in blocks and convert to f32 on the fly, so a bf16 checkpoint is never expanded to a
 * full f32 copy. Integer types (I32, I64, ...) hold indices such as token ids. The names match the dtype strings
 * of the safetensors format.
 */
public enum DType {
    F64("F64", 8, true),
    F32("F32", 4, true),
    F16("F16", 2, true),
    BF16("BF16", 2, true),
    F8_E4M3("F8_E4M3", 1, true),
    F8_E5M2("F8_E5M2", 1, true),
    I64("I64", 8, false),
    I32("I32", 4, false),
    I16("I16", 2, false),
    I8("I8", 1, false),
    U8("U8", 1, false),
    BOOL("BOOL", 1, false);

    private final String safetensorsName;
    private final int byteSize;
    private final boolean floatingPoint;

    DType(String safetensorsName, int byteSize, boolean floatingPoint) {
        this.safetensorsName = safetensorsName;
        this.byteSize = byteSize;
        this.floatingPoint = floatingPoint;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /** The dtype string used in safetensors headers ("F32", "BF16", "F8_E4M3", ...). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** Parses a safetensors dtype string; throws with the list of known names for anything else. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown dtype '" + name + "' (known: F64, F32, F16, BF16, F8_E4M3, "
                + "F8_E5M2, I64, I32, I16, I8, U8, BOOL)");
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
