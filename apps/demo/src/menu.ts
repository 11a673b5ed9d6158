// The interactive menu (@inquirer/prompts select): pick a scenario, watch it, come back; Exit or
// Ctrl-C leaves.
import { Writable } from 'node:stream';
import { select } from '@inquirer/prompts';
import { runScenario, type RunnerOptions } from './runner.js';
import type { Scenario } from './scenario.js';

export const EXIT_CHOICE = 'exit';

export interface PromptStreams {
  readonly input?: NodeJS.ReadableStream;
  readonly output?: NodeJS.WritableStream;
}

function isPromptExit(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')
  );
}

/**
 * A prompt ends the output stream it was given when it closes (harmless for process.stdout).
 * A stream passed in (tests, embedding) is shared with the demo's own output and must stay
 * open, so each prompt writes through a proxy whose end is its own.
 */
function promptStreams(streams: PromptStreams | undefined): PromptStreams {
  const output = streams?.output;
  if (output === undefined) return streams ?? {};
  const proxy = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      output.write(chunk);
      callback();
    },
  });
  return { ...streams, output: proxy };
}

/** Shows the menu until the user picks Exit, presses Ctrl-C, or `runner.signal` aborts. */
export async function runMenu(input: {
  scenarios: readonly Scenario[];
  runner: RunnerOptions;
  streams?: PromptStreams;
}): Promise<void> {
  const { scenarios, runner } = input;
  const choices = [
    ...scenarios.map((scenario, index) => ({
      name: `${index + 1}. ${scenario.title}`,
      value: scenario.name,
      description: scenario.summary,
    })),
    { name: `${scenarios.length + 1}. Exit`, value: EXIT_CHOICE, description: 'stop the demo' },
  ];
  let last: string | undefined;
  for (;;) {
    let choice: string;
    try {
      choice = await select(
        {
          message: 'What would you like to see?',
          choices,
          pageSize: choices.length,
          loop: false,
          ...(last === undefined ? {} : { default: last }),
        },
        { ...promptStreams(input.streams), signal: runner.signal },
      );
    } catch (error) {
      if (isPromptExit(error)) return;
      throw error;
    }
    const scenario = scenarios.find((candidate) => candidate.name === choice);
    if (scenario === undefined) return;
    last = choice;
    await runScenario(scenario, runner);
    runner.ui.line();
  }
}
