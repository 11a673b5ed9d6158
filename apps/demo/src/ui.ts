// The demo's output: coloured and live (a spinner line for anything that waits) on a terminal,
// plain lines otherwise, so a log file or a CI transcript reads as well as the screen.
import { styleText } from 'node:util';

export type Tone = 'ok' | 'fail' | 'warn' | 'info' | 'accent' | 'dim' | 'bold';

type StyleFormat = Parameters<typeof styleText>[0];

const TONES: Readonly<Record<Tone, StyleFormat>> = {
  ok: 'green',
  fail: 'red',
  warn: 'yellow',
  info: 'cyan',
  accent: 'magenta',
  dim: 'gray',
  bold: 'bold',
};

const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SPINNER_INTERVAL_MS = 80;

export interface UiOptions {
  readonly output: NodeJS.WritableStream;
  /** ANSI colours. Default: the output is a terminal and NO_COLOR is not set. */
  readonly color?: boolean;
  /** Spinners that redraw one line. Default: the output is a terminal. */
  readonly live?: boolean;
}

/** A progress line: `update` changes its text while the work runs. */
export type Progress = (text: string) => void;

function isTerminal(output: NodeJS.WritableStream): boolean {
  return 'isTTY' in output && output.isTTY === true;
}

export class Ui {
  readonly color: boolean;
  readonly live: boolean;
  readonly #output: NodeJS.WritableStream;

  constructor(options: UiOptions) {
    this.#output = options.output;
    const terminal = isTerminal(options.output);
    this.color = options.color ?? (terminal && process.env.NO_COLOR === undefined);
    this.live = options.live ?? terminal;
  }

  paint(tone: Tone, text: string): string {
    return this.color ? styleText(TONES[tone], text) : text;
  }

  line(text = ''): void {
    this.#output.write(`${text}\n`);
  }

  heading(text: string): void {
    this.line();
    this.line(this.paint('bold', `━━ ${text} ━━`));
  }

  /** One step of a scenario: what is about to happen or just happened. */
  step(text: string): void {
    this.line(`${this.paint('info', '›')} ${text}`);
  }

  note(text: string): void {
    this.line(`  ${this.paint('dim', text)}`);
  }

  /** A checked outcome: green tick or red cross. */
  outcome(input: { ok: boolean; text: string }): void {
    const mark = input.ok ? this.paint('ok', '✔') : this.paint('fail', '✘');
    this.line(`${mark} ${input.ok ? input.text : this.paint('fail', input.text)}`);
  }

  /** Columns padded to their widest cell; the header bold, each cell painted by `tone`. */
  table(input: {
    header: readonly string[];
    rows: readonly (readonly string[])[];
    tone?: (row: number, column: number) => Tone | undefined;
  }): void {
    const widths = input.header.map((title, column) =>
      Math.max(title.length, ...input.rows.map((row) => (row[column] ?? '').length)),
    );
    const render = (cells: readonly string[], toneOf: (column: number) => Tone | undefined) =>
      cells
        .map((cell, column) => {
          const padded = cell.padEnd(widths[column] ?? 0);
          const tone = toneOf(column);
          return tone === undefined ? padded : this.paint(tone, padded);
        })
        .join('  ')
        .trimEnd();
    this.line(`  ${render(input.header, () => 'bold')}`);
    input.rows.forEach((row, index) => {
      this.line(`  ${render(row, (column) => input.tone?.(index, column))}`);
    });
  }

  /**
   * Runs `work` behind a progress line. On a terminal a spinner redraws the line with the latest
   * text; otherwise the label is printed once. The line ends with the time taken.
   */
  async wait<T>(label: string, work: (progress: Progress) => Promise<T>): Promise<T> {
    const startedMs = Date.now();
    let text = label;
    let frame = 0;
    let timer: NodeJS.Timeout | undefined;
    const clear = '\r\u001b[2K';
    if (this.live) {
      const draw = (): void => {
        const glyph = this.paint('info', SPINNER_FRAMES[frame % SPINNER_FRAMES.length] ?? '-');
        this.#output.write(`${clear}${glyph} ${text}`);
        frame += 1;
      };
      draw();
      timer = setInterval(draw, SPINNER_INTERVAL_MS);
    } else {
      this.line(`… ${label}`);
    }
    const elapsed = (): string => this.paint('dim', `(${Date.now() - startedMs} ms)`);
    try {
      const value = await work((next) => {
        text = `${label}: ${next}`;
      });
      if (timer !== undefined) clearInterval(timer);
      if (this.live) this.#output.write(clear);
      this.line(`${this.paint('info', '·')} ${label} ${elapsed()}`);
      return value;
    } catch (error) {
      if (timer !== undefined) clearInterval(timer);
      if (this.live) this.#output.write(clear);
      this.line(`${this.paint('fail', '·')} ${label} ${this.paint('fail', 'failed')} ${elapsed()}`);
      throw error;
    }
  }
}
