// The README's Kotlin example, run by ci/test-kotlin against the published artifact.
import dev.lightningdb.Bound
import dev.lightningdb.Config
import dev.lightningdb.LightningDB
import dev.lightningdb.MiB
import dev.lightningdb.TransactionConflictException
import java.nio.file.Files

fun main() {
    val dir = Files.createTempDirectory("lightning-db-kotlin-consumer")
    try {
        LightningDB.open(dir.resolve("app.ldb").toString(), Config(cacheSize = 16.MiB)) { db ->
            db["hello"] = "world"
            db.write { for (i in 1..5) put("user:$i", "name $i") }
            db.transaction { tx -> tx["greeting"] = tx["hello"] ?: ByteArray(0) }
            check(db.getString("greeting") == "world")
            check("user:3" in db)

            val users = db.scanPrefix("user:").use { cursor -> cursor.asSequence().map { it.valueString }.toList() }
            check(users == (1..5).map { "name $it" }) { users }
            val lastTwo = db.scan(Bound.included("user:4"), Bound.unbounded(), reverse = true) { seq ->
                seq.map { (key, _) -> key.decodeToString() }.toList()
            }
            check(lastTwo == listOf("user:5", "user:4")) { lastTwo }

            val conflict = db.beginTransaction()
            conflict["hello"] = "from the transaction"
            db["hello"] = "changed meanwhile"
            try {
                conflict.commit()
                error("the commit should have conflicted")
            } catch (e: TransactionConflictException) {
                println("conflict, as expected (code ${e.code}): ${e.message}")
            }
            println("kotlin consumer: ${db.size()} keys, version ${LightningDB.version()}")
        }
    } finally {
        dir.toFile().deleteRecursively()
    }
}
