#!/usr/bin/env node
// The `distsync` executable. Usage errors exit 2, failures 1.
import { CommanderError } from 'commander';
import { createProgram } from './cli/program.js';
import { describeError, EXIT_FAILURE, EXIT_USAGE } from './cli/node-command.js';

let exitCode: number | undefined;
const program = createProgram((code) => {
  exitCode = code;
});
// `pnpm run dev -- status` passes the `--` through: drop it so both spellings work.
const argv =
  process.argv[2] === '--' ? [...process.argv.slice(0, 2), ...process.argv.slice(3)] : process.argv;
try {
  await program.parseAsync(argv);
  if (exitCode !== undefined) process.exit(exitCode);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
  }
  process.stderr.write(`distsync: ${describeError(error)}\n`);
  process.exit(EXIT_FAILURE);
}
