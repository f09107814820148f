package dev.likeness.pipeline;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test backend that is not a {@code CpuBackend}: every op goes to {@code inner}, {@link Backend#transfer} calls are
 * counted, and {@link Backend#computeDType()} reports {@code reported} (the ops still compute in {@code inner}'s
 * dtype). A model that runs on it uses nothing but the {@link Backend} interface, and its weights come through
 * {@code transfer} as they would to a GPU.
 */
final class DelegatingBackend {
    final Backend backend;
    final AtomicInteger transfers = new AtomicInteger();

    DelegatingBackend(Backend inner, DType reported) {
        backend = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, m, args) -> switch (m.getName()) {
                    case "name" -> "delegating";
                    case "computeDType" -> reported;
                    case "hashCode" -> System.identityHashCode(proxy);
                    case "equals" -> proxy == args[0];
                    case "toString" -> "delegating backend";
                    case "close" -> null;
                    default -> {
                        if (m.getName().equals("transfer")) {
                            transfers.incrementAndGet();
                        }
                        try {
                            yield m.invoke(inner, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    }
                });
    }

    static float[] values(Tensor t) {
        return t.backend().toFloatArray(t);
    }
}
