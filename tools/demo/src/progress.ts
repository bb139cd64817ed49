// Progress output of the demo: every step that waits shows a step counter and, on a terminal, a spinner with the
// seconds spent; without a terminal (CI, a pipe) one line when the step starts and one when it ends.

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface Progress {
  /** Runs one step: `[n/total] title`, then ✓ with its seconds, or ✗ and the error. */
  step<T>(title: string, run: () => Promise<T>): Promise<T>;
  /** Prints text between steps (tables, explanations). */
  print(text: string): void;
}

export interface ProgressOptions {
  readonly total: number;
  readonly out?: NodeJS.WriteStream | { write(text: string): boolean; isTTY?: boolean };
}

export function createProgress(options: ProgressOptions): Progress {
  const out = options.out ?? process.stdout;
  const tty = out.isTTY === true;
  let current = 0;
  return {
    async step<T>(title: string, run: () => Promise<T>): Promise<T> {
      current += 1;
      const counter = `[${String(current)}/${String(options.total)}]`;
      const started = Date.now();
      const seconds = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
      let frame = 0;
      let timer: NodeJS.Timeout | undefined;
      if (tty) {
        const draw = (): void => {
          out.write(`\r\x1b[2K${frames[frame % frames.length] ?? ""} ${counter} ${title} (${seconds()})`);
          frame += 1;
        };
        draw();
        timer = setInterval(draw, 100);
      } else {
        out.write(`${counter} ${title} ...\n`);
      }
      try {
        const result = await run();
        out.write(`${tty ? "\r\x1b[2K" : ""}✓ ${counter} ${title} (${seconds()})\n`);
        return result;
      } catch (error) {
        out.write(`${tty ? "\r\x1b[2K" : ""}✗ ${counter} ${title} (${seconds()})\n`);
        throw error;
      } finally {
        clearInterval(timer);
      }
    },
    print(text: string): void {
      out.write(text.endsWith("\n") ? text : `${text}\n`);
    },
  };
}
