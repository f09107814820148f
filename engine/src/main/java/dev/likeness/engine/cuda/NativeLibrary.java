package dev.likeness.engine.cuda;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/** Binds C functions of one loaded library by name; a missing symbol fails with the library's location. */
final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();
    private final CudaLibraries.Loaded loaded;

    NativeLibrary(CudaLibraries.Loaded loaded) {
        this.loaded = loaded;
    }

    /** Where the library was found. */
    String from() {
        return loaded.from();
    }

    /** The function {@code name}, or an exception naming the symbol and the library file. */
    MethodHandle bind(String name, FunctionDescriptor descriptor) {
        Optional<MemorySegment> symbol = loaded.symbols().find(name);
        if (symbol.isEmpty()) {
            throw new CudaUnavailableException(loaded.library().what() + " at " + loaded.from() + " has no symbol "
                    + name + " (the library is too old for Likeness)");
        }
        return LINKER.downcallHandle(symbol.get(), descriptor);
    }

    /** The function {@code name}, or null when this library version lacks it. */
    MethodHandle bindOptional(String name, FunctionDescriptor descriptor) {
        return loaded.symbols().find(name).map(s -> LINKER.downcallHandle(s, descriptor)).orElse(null);
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
