# The guide's "Migration from Other Databases / From SQLite" snippet, exactly as
# written there. It expects ./old.db with a table `mytable(key, value)` of text
# columns; bindings/python/tests/test_examples.py creates one and runs this file.
import sqlite3
import lightning_db

# Open both databases
sqlite_conn = sqlite3.connect('old.db')
ldb = lightning_db.create('new.ldb')

# Migrate data
cursor = sqlite_conn.execute('SELECT key, value FROM mytable')
for key, value in cursor:
    ldb.put(key.encode(), value.encode())

# Clean up
sqlite_conn.close()
ldb.close()
