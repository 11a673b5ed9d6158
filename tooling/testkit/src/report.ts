// The campaign report as text: operations, outcomes, faults with their times, each checker's
// verdict, and on failure the window of the history that shows the violation.
import type { CampaignReport } from './campaign.js';

function fmt(ms: number | null): string {
  return ms === null ? '   -   ' : `${(ms / 1000).toFixed(1)}s`;
}

export function formatReport(report: CampaignReport): string {
  const lines: string[] = [];
  lines.push('');
  lines.push(
    `distsync verify: ${report.workloads.join('+')} under ${report.nemeses.length === 0 ? 'no faults' : report.nemeses.join(', ')}`,
  );
  lines.push(
    `seed ${report.seed}, ${report.nodes} nodes (${report.network === 'netns' ? 'network namespaces' : 'TCP proxies'}), ${(report.durationMs / 1000).toFixed(1)} s, started ${report.startedAt}`,
  );
  lines.push('');
  lines.push('operations');
  for (const [workload, stats] of Object.entries(report.operations)) {
    lines.push(
      `  ${workload}: ${stats.operations} (ok ${stats.ok}, fail ${stats.fail}, unknown ${stats.unknown})`,
    );
    for (const [type, counts] of Object.entries(stats.byType)) {
      lines.push(
        `    ${type.padEnd(10)} ok ${counts.ok}, fail ${counts.fail}, unknown ${counts.unknown}`,
      );
    }
  }
  lines.push('');
  lines.push(
    `faults (${report.faults.length}; ${report.dropped.count} peer ${report.dropped.unit} dropped by cut links)`,
  );
  for (const fault of report.faults) {
    lines.push(
      `  ${fmt(fault.startMs).padStart(7)} - ${fmt(fault.endMs).padStart(7)}  ${fault.kind.padEnd(26)} ${fault.description}`,
    );
  }
  lines.push('');
  lines.push('checkers');
  for (const checker of report.checkers) {
    const verdict = checker.valid === true ? 'PASS' : checker.valid === false ? 'FAIL' : 'UNKNOWN';
    lines.push(`  ${verdict.padEnd(8)} ${checker.workload}/${checker.checker}: ${checker.summary}`);
    if (checker.valid === false) {
      const text = JSON.stringify(checker.details, null, 2).split('\n').slice(0, 80);
      for (const line of text) lines.push(`           ${line}`);
    }
  }
  for (const finding of report.findings) lines.push(`  FINDING  ${finding}`);
  lines.push('');
  lines.push(
    report.valid ? 'VALID: no violation found' : 'INVALID: see the checkers and findings above',
  );
  if (report.resultsDir !== undefined) lines.push(`results: ${report.resultsDir}`);
  return lines.join('\n');
}
