// The README's Java example, run by ci/test-kotlin against the published artifact.
package example;

import dev.lightningdb.Bound;
import dev.lightningdb.Config;
import dev.lightningdb.Cursor;
import dev.lightningdb.Entry;
import dev.lightningdb.InvalidArgumentException;
import dev.lightningdb.LightningDB;
import dev.lightningdb.LightningDBException;
import dev.lightningdb.SyncMode;
import dev.lightningdb.WriteBatch;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

public class Main {
    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("lightning-db-java-consumer");
        Config config = Config.builder().cacheSize(16L << 20).syncMode(SyncMode.FULL).build();
        try (LightningDB db = LightningDB.open(dir.resolve("app.ldb").toString(), config)) {
            db.put("hello", "world");
            db.write(new WriteBatch().put("user:1", "Ada").put("user:2", "Grace").delete("nobody"));
            String greeting = db.transaction(tx -> {
                tx.put("greeting", tx.get("hello"));
                return tx.getString("greeting");
            });
            check("world".equals(greeting), greeting);

            try (Cursor cursor = db.scanPrefix("user:")) {
                for (Entry entry : cursor) {
                    System.out.println(entry.getKeyString() + " = " + entry.getValueString());
                }
            }
            List<String> keys;
            try (var stream = db.scan(Bound.excluded("hello"), Bound.unbounded(), false).stream()) {
                keys = stream.map(Entry::getKeyString).collect(Collectors.toList());
            }
            check(keys.equals(List.of("user:1", "user:2")), keys.toString());

            try {
                db.put(new byte[0], "v".getBytes(StandardCharsets.UTF_8));
                check(false, "an empty key should be refused");
            } catch (InvalidArgumentException e) {
                System.out.println("refused (code " + e.getCode() + "): " + e.getMessage());
            }
            System.out.println("java consumer: " + db.size() + " keys, version " + LightningDB.version());
        }
        // Closed: every call is an exception, never a crash.
        LightningDB db = LightningDB.open(dir.resolve("other.ldb").toString());
        db.close();
        try {
            db.get("hello");
            check(false, "a closed database should refuse calls");
        } catch (LightningDBException e) {
            check(e.getCode() == -5, "code " + e.getCode());
        }
        deleteTree(dir);
    }

    private static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    private static void deleteTree(Path dir) throws Exception {
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
