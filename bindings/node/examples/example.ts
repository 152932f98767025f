// The TypeScript example, checked with `tsc --noEmit --strict` and run after
// compilation in the packed-tarball install test.
import * as ldb from 'lightning-db'
import { LightningLevel } from 'lightning-db/level'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ldb-example-ts-'))
  const db: ldb.Database = ldb.create(join(dir, 'app.ldb'), { syncMode: 'normal' })
  db.put('counter', '0')
  const value: Buffer | undefined = db.get('counter')
  console.log('counter =', value?.toString())
  await db.transactionAsync(async (tx: ldb.Transaction) => {
    const n = Number(tx.getString('counter') ?? '0')
    tx.put('counter', String(n + 1))
  })
  const batch: ldb.Batch = db.batch()
  for (let i = 0; i < 3; i++) batch.put(`item:${i}`, `value ${i}`)
  await batch.writeAsync()
  const entries: ldb.Entry[] = []
  for (const entry of db.range({ gte: 'item:', lt: 'item;', reverse: true })) entries.push(entry)
  console.log(entries.map(([k, v]) => `${k.toString()}=${v.toString()}`).join(', '))
  const stats: ldb.Stats = db.stats()
  console.log('keys:', stats.liveKeys, 'counter =', db.getString('counter'))
  try {
    db.begin().commit()
    db.close()
    db.get('counter')
  } catch (e) {
    if (e instanceof ldb.LightningDBError) {
      const code: ldb.ErrorCode = e.code
      console.log(`${code}: ${e.message}`)
    } else {
      throw e
    }
  }
  // The same store through abstract-level, with a JSON value encoding.
  const level = new LightningLevel<string, { n: number }>(join(dir, 'level'), { valueEncoding: 'json' })
  await level.put('a', { n: 1 })
  const got: { n: number } | undefined = await level.get('a')
  const sub = level.sublevel<string, string>('sub', { valueEncoding: 'utf8' })
  await sub.put('x', 'y')
  console.log('level:', got?.n, await sub.get('x'), (await level.keys().all()).length)
  await level.close()
  rmSync(dir, { recursive: true })
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
