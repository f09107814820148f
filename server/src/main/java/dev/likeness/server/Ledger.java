package dev.likeness.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The usage ledger: each successfully completed request's {@link Charge} (its endpoint's pricing), one line per
 * request in the database ({@code usage}), kept after the request itself is deleted by retention. Read per key with
 * {@code GET /usage}. A completion whose line was not yet written when the server died is found again at start.
 */
public final class Ledger {
    private static final Logger LOG = Logger.getLogger(Ledger.class.getName());
    private final Store db;
    private final Map<String, Endpoint> endpoints;

    public Ledger(Store db, Map<String, Endpoint> endpoints) {
        this.db = db;
        this.endpoints = Map.copyOf(endpoints);
    }

    /** Records the cost of a completed request (successful ones only). */
    public void completed(Database.RequestRow r) {
        if (!r.completed() || r.resultStatus() == null || r.resultStatus() != 200) return;
        Endpoint ep = endpoints.get(r.endpoint());
        if (ep == null) return;
        Charge c;
        try {
            c = ep.charge(ep.validate(Json.parse(r.input())), Json.parse(r.resultBody()));
        } catch (Exception e) {
            LOG.log(Level.WARNING, "cannot price request " + r.id(), e);
            return;
        }
        if (c == null) return;
        db.insertUsage(new Database.UsageRow(r.id(), r.keyId(), r.endpoint(), c.unit(), c.quantity(),
                c.unitPriceMicros(), c.costMicros(), r.completedAt() == null ? System.currentTimeMillis() : r.completedAt()));
    }

    /** Prices completions that have no line yet. */
    public void recover() {
        for (Database.RequestRow r : db.completedWithoutUsage()) completed(r);
    }

    /**
     * The {@code GET /usage} answer for one key over {@code [from, to)}: totals, totals per endpoint and unit, and
     * one line per request. Money in USD (exact decimals of the stored millionths).
     */
    public ObjectNode report(String keyId, long from, long to) {
        List<Database.UsageRow> rows = db.usage(keyId, from, to);
        ObjectNode o = Json.object();
        if (keyId == null) o.putNull("key_id");
        else o.put("key_id", keyId);
        o.put("currency", "USD");
        o.put("from", from == Long.MIN_VALUE ? null : Instant.ofEpochMilli(from).toString());
        o.put("to", to == Long.MAX_VALUE ? null : Instant.ofEpochMilli(to).toString());
        long total = 0;
        Map<String, long[]> count = new LinkedHashMap<>();
        Map<String, double[]> quantity = new LinkedHashMap<>();
        Map<String, long[]> cost = new LinkedHashMap<>();
        ArrayNode lines = Json.array();
        for (Database.UsageRow u : rows) {
            total += u.costMicros();
            String k = u.endpoint() + "\n" + u.unit();
            count.computeIfAbsent(k, x -> new long[1])[0]++;
            quantity.computeIfAbsent(k, x -> new double[1])[0] += u.quantity();
            cost.computeIfAbsent(k, x -> new long[1])[0] += u.costMicros();
            lines.addObject().put("request_id", u.requestId()).put("endpoint", u.endpoint()).put("unit", u.unit())
                    .put("quantity", u.quantity()).put("unit_price", usd(u.unitPriceMicros())).put("cost", usd(u.costMicros()))
                    .put("completed_at", Instant.ofEpochMilli(u.completedAt()).toString());
        }
        ObjectNode totals = o.putObject("total");
        totals.put("requests", rows.size());
        totals.put("cost", usd(total));
        ArrayNode by = o.putArray("by_endpoint");
        for (String k : count.keySet()) {
            String[] parts = k.split("\n", 2);
            by.addObject().put("endpoint", parts[0]).put("unit", parts[1]).put("requests", count.get(k)[0])
                    .put("quantity", quantity.get(k)[0]).put("cost", usd(cost.get(k)[0]));
        }
        o.set("requests", lines);
        return o;
    }

    /** Millionths of a dollar as an exact decimal number of dollars, never in exponent form. */
    static BigDecimal usd(long micros) {
        BigDecimal b = BigDecimal.valueOf(micros, 6).stripTrailingZeros();
        return b.scale() < 0 ? b.setScale(0) : b;
    }
}
