#!/usr/bin/env python3
"""Import cycles between the files of one Rust crate (exit 1 when there is one).

Usage: python3 .ci/import-cycles.py CRATE/src [-v]

For each file under SRC (lib.rs is the crate root; bin/ is left out), every path that
names another module of the crate counts as an edge: `use crate::..`/`use super::..`
lines (brace groups expanded), inline `crate::a::b`/`super::x` paths, and paths through
a child module the file declares (`mod tcp;` ... `tcp::accept_loop`). A path ends at the
longest prefix that is a module file; `super::Item` (an item of the parent, or one the
parent re-exports) is an edge to the parent file. Comments, strings and
`#[cfg(test)] mod tests { .. }` blocks are ignored. Prints every pair A<->B and every
larger cycle (strongly connected component).
"""
import os, re, sys

src = sys.argv[1].rstrip('/')
files = {}
for root, dirs, names in os.walk(src):
    if os.path.relpath(root, src).split(os.sep)[0] == 'bin':
        continue
    for n in names:
        if n.endswith('.rs'):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, src)[:-3].split(os.sep)
            if rel == ['lib']:
                mod = ()
            elif rel[-1] == 'mod':
                mod = tuple(rel[:-1])
            else:
                mod = tuple(rel)
            files[mod] = os.path.relpath(p, src)

def strip(text):
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith('//', i):
            j = text.find('\n', i); i = n if j < 0 else j
        elif text.startswith('/*', i):
            j = text.find('*/', i); i = n if j < 0 else j + 2
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            out.append('""'); i = j + 1
        elif text[i] == "'" and i + 2 < n and (text[i+2] == "'" or text[i+1] == '\\'):
            j = text.find("'", i + 2 if text[i+1] != '\\' else i + 3); i = j + 1
        else:
            out.append(text[i]); i += 1
    return ''.join(out)

def drop_tests(code):
    m = re.search(r'#\[cfg\(test\)\]\s*mod\s+tests\s*\{', code)
    if not m:
        return code
    depth, i = 1, m.end()
    while i < len(code) and depth:
        depth += {'{': 1, '}': -1}.get(code[i], 0); i += 1
    return code[:m.start()] + code[i:]

def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']"""
    tree = tree.replace(' ', '').replace('\n', '')
    def parts(s):
        out, depth, cur = [], 0, ''
        for ch in s:
            if ch == ',' and depth == 0:
                out.append(cur); cur = ''
                continue
            depth += ch == '{'; depth -= ch == '}'; cur += ch
        if cur: out.append(cur)
        return out
    def go(prefix, s):
        i = s.find('{')
        if i < 0:
            return [prefix + s]
        head, body = s[:i], s[i+1:s.rfind('}')]
        return [r for p in parts(body) for r in go(prefix + head, p)]
    return go('', tree)

def resolve(mod, path):
    segs = [s for s in path.split('::') if s]
    if not segs: return None
    if segs[0] == 'crate':
        base, segs = [], segs[1:]
    elif segs[0] in ('super', 'self'):
        base = list(mod)
        while segs and segs[0] in ('super', 'self'):
            if segs[0] == 'super': base = base[:-1]
            segs = segs[1:]
    else:
        base = list(mod)  # a child module of this file
    target = tuple(base)
    for s in segs:
        if tuple(list(target) + [s]) in files:
            target = tuple(list(target) + [s])
        else:
            break
    return target if target in files else None

def segments(mod, code):
    """(module path, code) for the file and each inline `mod x { .. }` in it."""
    out, rest, pos = [], [], 0
    for m in re.finditer(r'\bmod\s+(\w+)\s*\{', code):
        if m.start() < pos:
            continue
        depth, i = 1, m.end()
        while i < len(code) and depth:
            depth += {'{': 1, '}': -1}.get(code[i], 0); i += 1
        rest.append(code[pos:m.start()])
        out += segments(mod + (m.group(1),), code[m.end():i - 1])
        pos = i
    rest.append(code[pos:])
    return [(mod, ''.join(rest))] + out

edges = {m: set() for m in files}
for file_mod, rel in files.items():
  for mod, code in segments(file_mod, drop_tests(strip(open(os.path.join(src, rel)).read()))):
      children = set(re.findall(r'\bmod\s+(\w+)\s*;', code))
      paths = []
      for m in re.finditer(r'\buse\s+([^;]+);', code):
          paths += expand(m.group(1))
      paths += re.findall(r'\b(?:crate|super|self)(?:::\w+)+', code)
      for c in children:
          paths += [c + '::' + x for x in re.findall(r'\b' + c + r'::(\w+)', code)]
      for p in paths:
          head = p.split('::')[0]
          if head not in ('crate', 'super', 'self') and head not in children:
              continue
          t = resolve(mod, p)
          if t is not None and t != file_mod:
              edges[file_mod].add(t)

name = lambda m: files[m]
pairs = sorted({tuple(sorted((name(a), name(b)))) for a in edges for b in edges[a] if a in edges[b]})
for a, b in pairs:
    print(f'pair: {a} <-> {b}')
# Tarjan SCC for longer cycles
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(name(c) for c in comp))
sys.setrecursionlimit(10000)
for v in files:
    if v not in index: visit(v)
for c in sccs:
    print('cycle:', ' -> '.join(c))
print(f'{len(files)} files, {sum(len(e) for e in edges.values())} edges, {len(pairs)} pairs, {len(sccs)} cycles')
if '-v' in sys.argv:
    for m in sorted(files, key=name):
        print(f'  {name(m)} -> {", ".join(sorted(name(t) for t in edges[m]))}')
sys.exit(1 if pairs or sccs else 0)
