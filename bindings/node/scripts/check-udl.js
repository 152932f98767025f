'use strict'
// Checks that the Node API cannot silently miss an operation of the interface
// definition (idl/lightning_db.udl): every namespace function and every method of
// Database, Transaction and Cursor must be mapped below to its Node name, which
// must be implemented by index.js and declared in index.d.ts. A new operation in
// the UDL fails this check until the Node API has it (or an entry here says why
// it cannot). Also checks that the addon's native exports are declared in the
// generated binding.d.ts. Run by ci/test-node.

const fs = require('node:fs')
const path = require('node:path')
const ldb = require('..')
const binding = require('../binding.js')

const root = path.join(__dirname, '../../..')
const udl = fs.readFileSync(path.join(root, 'idl/lightning_db.udl'), 'utf8').replace(/\/\/.*$/gm, '')
const dts = fs.readFileSync(path.join(__dirname, '../index.d.ts'), 'utf8')
const bindingDts = fs.readFileSync(path.join(__dirname, '../binding.d.ts'), 'utf8')

// UDL name -> Node name, or { none: why }.
const map = {
  namespace: { create: 'create', open: 'open', version: 'version', max_key_size: 'maxKeySize', max_value_size: 'maxValueSize' },
  Database: {
    create: 'create', // a constructor: the module function
    open: 'open',
    put: 'put',
    get: 'get',
    delete: 'delete',
    contains: 'has',
    write: 'write',
    len: 'len',
    begin_transaction: 'begin',
    scan: 'range',
    scan_prefix: 'prefix',
    checkpoint: 'checkpoint',
    compact: 'compact',
    backup: 'backup',
    verify: 'verify',
    stats: 'stats',
    refresh: 'refresh',
    close: 'close',
    is_closed: 'isClosed',
    path: 'path',
    config: 'config',
    native_handle: { none: 'the addon holds the C handle itself; there is no second API to hand it to' },
  },
  Transaction: {
    get: 'get',
    contains: 'has',
    put: 'put',
    delete: 'delete',
    scan: 'range',
    scan_prefix: 'prefix',
    commit: 'commit',
    rollback: 'rollback',
    is_finished: 'finished',
    snapshot_seq: { none: 'the C ABI has no call for it' },
    native_handle: { none: 'the addon holds the C handle itself' },
  },
  Cursor: { next_page: 'take', next: 'next', close: 'close' },
}
const jsClass = { Database: ldb.Database, Transaction: ldb.Transaction, Cursor: ldb.Scan }
const dtsClass = { Database: 'Database', Transaction: 'Transaction', Cursor: 'Scan' }

function operations(block) {
  const names = []
  for (const m of block.matchAll(/constructor\([^)]*\)|\b(\w+)\s*\([^)]*\)\s*;/g)) {
    if (m[0].startsWith('constructor')) continue
    names.push(m[1])
  }
  const ctors = [...block.matchAll(/\[Name=(\w+)[^\]]*\]\s*constructor/g)].map((m) => m[1])
  return [...ctors, ...names]
}

function body(kind, name) {
  const start = new RegExp(`${kind} ${name}\\b[^{]*\\{`).exec(kind === 'namespace' ? udl : udl)
  if (!start) throw new Error(`${kind} ${name} not found in the UDL`)
  let depth = 1
  let i = start.index + start[0].length
  for (; depth > 0; i++) depth += udl[i] === '{' ? 1 : udl[i] === '}' ? -1 : 0
  return udl.slice(start.index + start[0].length, i - 1)
}

function dtsBody(name) {
  const m = new RegExp(`export declare class ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`).exec(dts)
  return m ? m[1] : ''
}

const problems = []
let checked = 0
const groups = { namespace: body('namespace', 'lightning_db') }
for (const iface of ['Database', 'Transaction', 'Cursor']) groups[iface] = body('interface', iface)
for (const [group, text] of Object.entries(groups)) {
  for (const op of operations(text)) {
    const target = map[group][op]
    if (target === undefined) {
      problems.push(`${group}.${op} (UDL) has no Node counterpart: add it to the API and to the map in scripts/check-udl.js`)
      continue
    }
    checked++
    if (typeof target === 'object') continue
    const isModule = group === 'namespace' || ((op === 'create' || op === 'open') && group === 'Database')
    if (isModule) {
      if (typeof ldb[target] !== 'function') problems.push(`${group}.${op}: index.js exports no function ${target}`)
      if (!new RegExp(`export declare function ${target}\\(`).test(dts)) problems.push(`${group}.${op}: index.d.ts declares no function ${target}`)
      continue
    }
    const proto = jsClass[group].prototype
    if (!(target in proto)) problems.push(`${group}.${op}: ${jsClass[group].name} has no ${target}`)
    if (!new RegExp(`^\\s*(readonly )?${target}\\b`, 'm').test(dtsBody(dtsClass[group]))) {
      problems.push(`${group}.${op}: index.d.ts declares no ${dtsClass[group]}.${target}`)
    }
  }
}

// The addon's exports are all declared in the generated binding.d.ts.
for (const name of Object.keys(binding)) {
  if (name.startsWith('__')) continue
  if (!new RegExp(`export declare (function|class|const) ${name}\\b`).test(bindingDts)) problems.push(`binding.d.ts does not declare the export ${name}`)
  checked++
}
for (const cls of ['NativeDb', 'NativeIter']) {
  for (const method of Object.getOwnPropertyNames(binding[cls].prototype)) {
    if (method === 'constructor') continue
    if (!new RegExp(`\\b${method}\\(`).test(bindingDts)) problems.push(`binding.d.ts does not declare ${cls}.${method}`)
    checked++
  }
}

if (problems.length) {
  console.error(`the Node API misses operations:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log(`every UDL operation is in the Node API and its types, every native export in binding.d.ts (${checked} checks)`)
