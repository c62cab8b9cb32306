/**
 * No runtime import cycles in src/ (docs/style.md): a cycle makes the order modules initialize in depend on which
 * one is imported first, so a constant can be read before it is defined. The graph holds every static import and
 * re-export that survives compilation — `import type` and `export type ... from` are erased and ignored; under
 * verbatimModuleSyntax `import { type A } from` stays as an import of the module and counts. Dynamic `import()`
 * loads later, at call time, and is not an edge. Each strongly connected component of more than one module (or a
 * module importing itself) is a cycle; the failure lists one path around each.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The modules `file` loads when it is evaluated (absolute paths of .ts/.tsx files under src/). */
export function runtimeImports(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const out: string[] = [];
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    if (ts.isImportDeclaration(statement)) {
      if (statement.importClause?.isTypeOnly) continue;
      specifier = statement.moduleSpecifier;
    } else if (ts.isExportDeclaration(statement)) {
      if (statement.isTypeOnly || !statement.moduleSpecifier) continue;
      specifier = statement.moduleSpecifier;
    }
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    if (!/\.tsx?$/.test(specifier.text)) continue; // .wgsl text, JSON: leaves
    out.push(resolve(dirname(file), specifier.text));
  }
  return out;
}

/** Strongly connected components (Tarjan) of size > 1, or with a self-edge: each holds a cycle. */
function cyclicComponents(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)!.includes(v)) components.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return components;
}

/** One path around a component: a -> b -> ... -> a, by breadth-first search inside it. */
function cycleThrough(graph: Map<string, string[]>, component: string[]): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0];
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(previous.get(path[0])!);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}

describe('import graph of src/', () => {
  const files = sourceFiles(join(root, 'src'));
  const graph = new Map(files.map((file) => [file, runtimeImports(file, readFileSync(file, 'utf8'))]));

  it('reads the imports the way the compiler keeps them', () => {
    const text = [
      "import type { A } from './a.ts';",
      "import { type B } from './b.ts';",
      "import { c } from './c.ts';",
      "export type { D } from './d.ts';",
      "export { e } from './e.ts';",
      "import shader from './f.wgsl';",
      "const g = () => import('./g.ts');",
    ].join('\n');
    const names = runtimeImports('/x/m.ts', text).map((p) => relative('/x', p));
    expect(names).toEqual(['b.ts', 'c.ts', 'e.ts']);
  });

  it('has every module it names', () => {
    const missing = [...graph].flatMap(([file, imports]) => imports.filter((i) => !graph.has(i)).map((i) => `${relative(root, file)} -> ${relative(root, i)}`));
    expect(missing, 'imports of files that do not exist').toEqual([]);
  });

  it('has no cycles of runtime imports', () => {
    const cycles = cyclicComponents(graph).map((component) =>
      cycleThrough(graph, component)
        .map((file) => relative(root, file))
        .join(' -> '),
    );
    expect(cycles, `runtime import cycles:\n${cycles.join('\n')}`).toEqual([]);
  });
});
