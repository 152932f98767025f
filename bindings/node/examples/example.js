'use strict'
// The README's example: create, write, read, scan, a transaction.
const ldb = require('lightning-db')
const path = require('node:path')
const os = require('node:os')
const fs = require('node:fs')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldb-example-'))
const db = ldb.create(path.join(dir, 'app.ldb'))
db.put('hello', 'world')
db.write([
  { type: 'put', key: 'user:1', value: 'ada' },
  { type: 'put', key: 'user:2', value: 'grace' },
])
db.transaction((tx) => tx.put('user:3', tx.getString('hello') ?? ''))
for (const [key, value] of db.prefix('user:')) console.log(`${key} = ${value}`)
try {
  db.put('', 'empty keys are refused')
} catch (e) {
  if (!(e instanceof ldb.InvalidArgumentError)) throw e
  console.log(`${e.code}: ${e.message}`)
}
db.close()
fs.rmSync(dir, { recursive: true })
