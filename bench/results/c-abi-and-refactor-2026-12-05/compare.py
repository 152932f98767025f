#!/usr/bin/env python3
"""Tables of ../c-abi-and-refactor-2026-12-05.md from the lightning-bench reports in
this directory: C ABI against LMDB and the Rust API (c-abi-N.md), and the engine
after the refactor against 68474c0 (after-N.md, before-N.md)."""
import re, sys, os
# The reports sit beside this script.
OUT = os.path.dirname(os.path.abspath(__file__))

def parse(name):
    p = f'{OUT}/{name}.md'
    if not os.path.exists(p):
        return None
    lines = open(p).read().splitlines()
    head = None; rows = {}; order = []; meta = lines[2] if len(lines) > 2 else ''
    for l in lines:
        if l.startswith('| |'):
            head = [c.strip() for c in l.strip('|').split('|')][1:]
            continue
        if head and l.startswith('| ') and not l.startswith('|---'):
            cells = [c.strip() for c in l.strip().strip('|').split('|')]
            label = cells[0]; vals = cells[1:]
            rows[label] = dict(zip(head, vals)); order.append(label)
        elif head and not l.startswith('|'):
            if order: break
    return dict(head=head, rows=rows, order=order, meta=meta, text='\n'.join(lines))

def num(s):
    if s is None: return None
    s = s.replace('**', '').replace(',', '').strip()
    m = re.match(r'^([0-9.]+)\s*(ms|µs|MiB|B|×)?$', s)
    if not m: return None
    v = float(m.group(1)); u = m.group(2)
    if u == 'µs': v /= 1e3
    return v

def fmt(q):
    return '—' if q is None else f'{q:.2f}'

def ratio(a, b):
    a, b = num(a), num(b)
    if a is None or b is None or b == 0: return None
    return a / b

def table_c(name):
    t = parse(name)
    if not t: return f'({name}: not run)\n'
    L = 'Lightning DB'; C = 'Lightning DB (C ABI)'; M = 'LMDB'
    s = f'| row | {L} | {C} | {M} | C ABI ÷ LMDB | Lightning ÷ LMDB | C ABI ÷ Lightning |\n|---|---:|---:|---:|---:|---:|---:|\n'
    for r in t['order']:
        d = t['rows'][r]
        s += f"| {r} | {d.get(L,'')} | {d.get(C,'')} | {d.get(M,'')} | {fmt(ratio(d.get(C), d.get(M)))} | {fmt(ratio(d.get(L), d.get(M)))} | {fmt(ratio(d.get(C), d.get(L)))} |\n"
    return s

def med(xs):
    xs = sorted(xs); n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

def table_ab(afters, befores, engines=('Lightning DB', 'LMDB'), only=None):
    A = [parse(a) for a in afters]; B = [parse(b) for b in befores]
    A = [a for a in A if a]; B = [b for b in B if b]
    if not A or not B: return '(not run)\n'
    order = A[0]['order']
    s = '| row | ' + ' | '.join(f'after {i+1}' for i in range(len(A))) + ' | ' + ' | '.join(f'before {i+1}' for i in range(len(B))) + ' | after ÷ before (medians) | after ÷ before (bests) | spread after (max÷min) | spread before (max÷min) | verdict |\n'
    s += '|---|' + '---:|' * (len(A) + len(B) + 4) + '---|\n'
    for eng in engines:
        s += f'| **{eng}** |' + ' |' * (len(A) + len(B) + 5) + '\n'
        for r in order:
            if only and not any(r.startswith(o) for o in only): continue
            av = [(a['rows'].get(r, {}).get(eng) or '').replace('**', '') for a in A]
            bv = [(b['rows'].get(r, {}).get(eng) or '').replace('**', '') for b in B]
            an = [num(x) for x in av if num(x) is not None]
            bn = [num(x) for x in bv if num(x) is not None]
            if not an or not bn:
                continue
            qm = med(an) / med(bn) if med(bn) > 0 else None
            qb = min(an) / min(bn) if min(bn) > 0 else None
            sp = lambda xs: (max(xs) / min(xs)) if len(xs) > 1 and min(xs) > 0 else None
            sa, sb = sp(an), sp(bn)
            if min(an) > max(bn):
                verdict = '**slower in every run**'
            elif max(an) < min(bn):
                verdict = 'faster in every run'
            elif max(an) == min(an) == max(bn) == min(bn):
                verdict = 'identical'
            else:
                verdict = 'ranges overlap'
            s += f"| {r} | " + ' | '.join(av) + ' | ' + ' | '.join(bv) + f" | {fmt(qm)} | {fmt(qb)} | {fmt(sa)} | {fmt(sb)} | {verdict} |\n"
    return s

def table_c_summary(names):
    T = [parse(n) for n in names]; T = [t for t in T if t]
    L = 'Lightning DB'; C = 'Lightning DB (C ABI)'; M = 'LMDB'
    s = '| row | ' + ' | '.join(f'C ABI ÷ LMDB, run {i+1}' for i in range(len(T))) + ' | ' + ' | '.join(f'C ABI ÷ Lightning, run {i+1}' for i in range(len(T))) + ' |\n'
    s += '|---|' + '---:|' * (2 * len(T)) + '\n'
    for r in T[0]['order']:
        if not any(k in r for k in ['ms', 'reads', 'writes', 'load', 'len', 'removals', 'compaction', 'open']) or 'heap' in r: continue
        q1 = [fmt(ratio(t['rows'][r].get(C), t['rows'][r].get(M))) for t in T]
        q2 = [fmt(ratio(t['rows'][r].get(C), t['rows'][r].get(L))) for t in T]
        s += f'| {r} | ' + ' | '.join(q1) + ' | ' + ' | '.join(q2) + ' |\n'
    return s

if __name__ == '__main__':
    for n in ['c-abi-1', 'c-abi-2']:
        print(f'### {n}\n'); print(table_c(n))
    print('### after vs before\n')
    print(table_ab(['after-1', 'after-2'], ['before-1', 'before-2']))
    print(table_ab([f'after-{i}' for i in range(1, 6)], [f'before-{i}' for i in range(1, 6)]))
    print(table_c_summary([f'c-abi-{i}' for i in range(1, 5)]))

def table_c_medians(names):
    T = [parse(n) for n in names]; T = [t for t in T if t]
    L = 'Lightning DB'; C = 'Lightning DB (C ABI)'; M = 'LMDB'
    s = f'| row | {L} (median) | {C} (median) | {M} (median) | C ABI ÷ LMDB | C ABI ÷ LMDB, range over runs | C ABI ÷ Lightning | Lightning ÷ LMDB |\n|---|---:|---:|---:|---:|---:|---:|---:|\n'
    def fv(v, like):
        like = like.replace('**', '')
        if v is None: return like
        if like.endswith('µs') or (like.endswith('ms') and v < 0.1): return f'{v*1e3:.1f} µs'
        if like.endswith('ms'): return f'{v:,.0f} ms' if v >= 100 else f'{v:.1f} ms'
        if like.endswith('MiB'): return f'{v:.1f} MiB'
        if like.endswith('×'): return f'{v:.2f}×'
        if like.endswith('B'): return f'{v:.0f} B'
        return str(v)
    for r in T[0]['order']:
        vals = {}
        for e in (L, C, M):
            xs = [num(t['rows'][r].get(e)) for t in T]
            xs = [x for x in xs if x is not None]
            vals[e] = med(xs) if xs else None
        per = [ratio(t['rows'][r].get(C), t['rows'][r].get(M)) for t in T]
        per = [p for p in per if p is not None]
        rng = f'{min(per):.2f}–{max(per):.2f}' if per else '—'
        q = lambda a, b: fmt(vals[a] / vals[b]) if vals[a] is not None and vals[b] else '—'
        like = {e: T[0]['rows'][r].get(e, '') for e in (L, C, M)}
        s += f'| {r} | {fv(vals[L], like[L])} | {fv(vals[C], like[C])} | {fv(vals[M], like[M])} | {q(C, M)} | {rng} | {q(C, L)} | {q(L, M)} |\n'
    return s

if __name__ == '__main__':
    print(table_c_medians([f'c-abi-{i}' for i in range(1, 5)]))
