package dev.likeness.server;

/**
 * What one successful request costs by its endpoint's published pricing: {@code quantity} billing units of
 * {@code unit} at {@code unitPriceUsd} each (e.g. 2 {@code megapixels} at $0.10). Recorded in the usage ledger when
 * the request completes; failed and cancelled requests cost nothing (fal: "you pay only for successful outputs").
 */
public record Charge(String unit, double quantity, double unitPriceUsd) {
    public Charge {
        if (unit == null || unit.isBlank()) throw new IllegalArgumentException("unit is required");
        if (!(quantity >= 0) || !(unitPriceUsd >= 0)) {
            throw new IllegalArgumentException("quantity and price must be non-negative, got " + quantity + " and " + unitPriceUsd);
        }
    }

    /** The unit price in millionths of a dollar. */
    public long unitPriceMicros() {
        return Math.round(unitPriceUsd * 1e6);
    }

    /** The cost in millionths of a dollar. */
    public long costMicros() {
        return Math.round(quantity * unitPriceUsd * 1e6);
    }
}
