package dev.likeness.pipeline.safety;

import dev.likeness.engine.Backend;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which safety checker a server or CLI uses, chosen once at startup:
 *
 * <ol>
 *   <li>{@code <models>/stable-diffusion-safety-checker/} with a {@code config.json} (the published
 *       CompVis/stable-diffusion-safety-checker folder) → {@link ClipSafetyChecker};</li>
 *   <li>otherwise → {@link NsfwjsSafetyChecker} from the weights built into the jar (always present: a fresh machine
 *       with no weights configured gets a real checker).</li>
 * </ol>
 *
 * Any problem with the chosen checker's files — missing, truncated, corrupt, wrong shapes — is a
 * {@link SafetyCheckerException} naming the file, at startup rather than at the first request.
 */
public final class SafetyCheckers {
    /** The folder under the models root that holds the Stable Diffusion safety checker. */
    public static final String SD_CHECKER_DIR = "stable-diffusion-safety-checker";

    private SafetyCheckers() {
    }

    /** The checker for models root {@code models} (may be null: no weights configured). */
    public static SafetyChecker load(Path models, Backend backend) {
        if (models != null) {
            Path dir = models.resolve(SD_CHECKER_DIR);
            if (Files.isDirectory(dir)) {
                if (!Files.isRegularFile(dir.resolve("config.json"))) {
                    throw new SafetyCheckerException(dir.resolve("config.json") + ": missing (the folder "
                            + SD_CHECKER_DIR + "/ must hold CompVis/stable-diffusion-safety-checker's config.json"
                            + " and model.safetensors)");
                }
                return ClipSafetyChecker.load(dir, backend);
            }
        }
        return NsfwjsSafetyChecker.load(backend);
    }
}
