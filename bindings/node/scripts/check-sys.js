'use strict'
// Compares the hand-written C declarations of the addon (src/sys.rs) with the
// header (ffi-c/include/lightning_db_ffi.h): every function declared in sys.rs
// must exist in the header with the same return and parameter types, and every
// #[repr(C)] struct must have the header's fields in the header's order. Run by
// ci/test-node; prints what differs and exits 1.

const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '../../..')
const header = fs.readFileSync(path.join(root, 'ffi-c/include/lightning_db_ffi.h'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '')
const sys = fs.readFileSync(path.join(__dirname, '../src/sys.rs'), 'utf8')

const norm = (t) => t.replace(/\s+/g, ' ').replace(/\s*\*\s*/g, '*').replace(/\b(enum|struct) /g, '').trim()

// C: "<ret> name(<type> <param>, ...);"
const cFns = new Map()
for (const m of header.matchAll(/^([A-Za-z_][\w \*]*?)\s*\b(lightning_db_\w+)\(([^)]*)\);/gm)) {
  const params = m[3].trim() === 'void' ? [] : m[3].split(',').map((p) => norm(p.trim().replace(/\w+$/, '')))
  cFns.set(m[2], { ret: norm(m[1]), params })
}

const rustToC = (t) => {
  t = t.trim()
  const ptr = /^\*(mut|const) (.*)$/.exec(t)
  if (ptr) return (ptr[1] === 'const' ? 'const ' : '') + rustToC(ptr[2]) + '*'
  const map = { f64: 'double', usize: 'size_t', u64: 'uint64_t', u32: 'uint32_t', u8: 'uint8_t', c_int: 'int', c_char: 'char', bool: 'bool' }
  return map[t] ?? t
}

const problems = []
let checked = 0
for (const m of sys.matchAll(/pub fn (lightning_db_\w+)\(([^)]*)\)(?:\s*->\s*([^;]+))?;/g)) {
  const [, name, paramText, ret] = m
  const c = cFns.get(name)
  if (!c) {
    problems.push(`${name}: not in the header`)
    continue
  }
  const params = paramText.split(',').filter((p) => p.trim()).map((p) => norm(rustToC(p.split(':')[1])))
  const r = ret ? norm(rustToC(ret)) : 'void'
  const fix = (t) => t.replace(/\*\*/g, '**')
  if (r !== c.ret) problems.push(`${name}: returns ${r}, header ${c.ret}`)
  if (params.map(fix).join(', ') !== c.params.map(fix).join(', ')) {
    problems.push(`${name}: parameters (${params.join(', ')}), header (${c.params.join(', ')})`)
  }
  checked++
}

const cStructs = new Map()
for (const m of header.matchAll(/typedef struct (\w+) \{([\s\S]*?)\} \1;/g)) {
  cStructs.set(m[1], [...m[2].matchAll(/([\w \*]+?)\s*\b(\w+);/g)].map((f) => `${norm(f[1])} ${f[2]}`))
}
for (const m of sys.matchAll(/pub struct (\w+) \{([\s\S]*?)\n\}/g)) {
  const fields = [...m[2].matchAll(/pub (\w+): ([^,]+),/g)].map((f) => `${norm(rustToC(f[2]))} ${f[1]}`)
  if (fields.length === 0) continue // opaque handle types
  const c = cStructs.get(m[1])
  if (!c) problems.push(`struct ${m[1]}: not in the header`)
  else if (c.join('; ') !== fields.join('; ')) problems.push(`struct ${m[1]}: {${fields.join('; ')}}, header {${c.join('; ')}}`)
  checked++
}

// Numeric constants: `pub const LIGHTNING_DB_X: T = N;` against `#define LIGHTNING_DB_X N`.
for (const m of sys.matchAll(/pub const (LIGHTNING_DB_\w+): \w+ = (\d+);/g)) {
  const d = new RegExp(`#define ${m[1]} (\\d+)`).exec(header)
  if (!d) problems.push(`${m[1]}: not defined in the header`)
  else if (d[1] !== m[2]) problems.push(`${m[1]}: ${m[2]}, header ${d[1]}`)
  checked++
}

if (problems.length) {
  console.error(`src/sys.rs differs from the header:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log(`src/sys.rs matches the header (${checked} declarations)`)
