// `pnpm --filter @distsync/bench run render-charts <results.json...>`: renders the SVG charts of
// results already written (their `charts` field) again, next to each file: after a change to
// the chart code, without measuring again. `<dir>/<stem>.json` gives `<dir>/<stem>-<chart>.svg`.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { renderCharts, type Chart } from './harness/charts.js';

async function main(paths: readonly string[]): Promise<number> {
  if (paths.length === 0) {
    process.stderr.write('usage: render-charts <results.json...>\n');
    return 2;
  }
  // pnpm runs scripts in the package folder; paths are meant from where pnpm was called.
  const base = process.env.INIT_CWD ?? process.cwd();
  for (const path of paths.map((given) => resolve(base, given))) {
    const results = JSON.parse(readFileSync(path, 'utf8')) as { charts?: Chart[] };
    const stem = basename(path, '.json');
    for (const { chart, svg } of await renderCharts(results.charts ?? [])) {
      const target = join(dirname(path), `${stem}-${chart.id}.svg`);
      writeFileSync(target, svg);
      process.stdout.write(`${target}\n`);
    }
  }
  return 0;
}

main(process.argv.slice(2).filter((arg) => arg !== '--')).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`render-charts failed: ${String(error)}\n`);
    process.exit(1);
  },
);
