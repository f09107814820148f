package dev.likeness.cli;

import dev.likeness.server.Database;
import dev.likeness.server.Keys;
import dev.likeness.server.PostgresDatabase;
import dev.likeness.server.Store;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.Callable;

/**
 * {@code likeness keys create | list | revoke ID}: the server's API keys, kept (hashed) in the data directory's
 * database, or with {@code --db} in a scale-out deployment's shared PostgreSQL database. Works while the server runs: a new key takes effect at once (and from then on keys are required unless
 * the server runs with {@code --open}).
 */
@Command(name = "keys", mixinStandardHelpOptions = true,
        description = "Create, list and revoke API keys of 'likeness serve'.",
        subcommands = {KeysCommand.Create.class, KeysCommand.ListKeys.class, KeysCommand.Revoke.class})
final class KeysCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The shared {@code --data-dir} option. */
    abstract static class Base implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--data-dir", paramLabel = "DIR",
                description = "The server's data directory. Default: $LIKENESS_DATA, else ~/.local/share/likeness/server.")
        Path dataDir;

        @Option(names = "--db", paramLabel = "URL",
                description = "The shared database of a scale-out deployment (postgresql://...), as given to "
                        + "'likeness serve --db'. Default: $LIKENESS_DB, else the data directory's database.")
        String db;

        @Override
        public Integer call() {
            Path dir = dataDir != null ? dataDir : ServeCommand.defaultDataDir();
            String url = db != null ? db : System.getenv("LIKENESS_DB");
            if (url != null && url.isBlank()) url = null;
            if (url != null && !url.matches("(?i)(postgres|postgresql|jdbc:postgresql):.*")) {
                throw new Likeness.UsageError("--db must be a postgresql:// URL");
            }
            try (Store db = url != null ? new PostgresDatabase(url, 60_000) : new Database(dir)) {
                return run(new Keys(db, null), spec.commandLine().getOut(), spec.commandLine().getErr());
            }
        }

        abstract int run(Keys keys, PrintWriter out, PrintWriter err);
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Create a key and print it (<id>:<secret>) once; only its hash is stored.")
    static final class Create extends Base {
        @Override
        int run(Keys keys, PrintWriter out, PrintWriter err) {
            String key = keys.create();
            out.println(key);
            err.println("likeness: key created; send it as 'Authorization: Key " + key.substring(0, key.indexOf(':'))
                    + ":...' (FAL_KEY for the fal clients). It is not shown again.");
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List keys: id, created, revoked.")
    static final class ListKeys extends Base {
        @Override
        int run(Keys keys, PrintWriter out, PrintWriter err) {
            for (Database.KeyRow k : keys.list()) {
                out.println(k.id() + "\t" + Instant.ofEpochMilli(k.createdAt()) + "\t"
                        + (k.revokedAt() == null ? "active" : "revoked " + Instant.ofEpochMilli(k.revokedAt())));
            }
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true, description = "Revoke a key by id.")
    static final class Revoke extends Base {
        @Parameters(paramLabel = "ID", description = "The key id (the part before ':').")
        String id;

        @Override
        int run(Keys keys, PrintWriter out, PrintWriter err) {
            String keyId = id.contains(":") ? id.substring(0, id.indexOf(':')) : id;
            if (!keys.revoke(keyId)) throw new Likeness.UsageError("no active key with id " + keyId);
            err.println("likeness: key " + keyId + " revoked");
            return 0;
        }
    }
}
