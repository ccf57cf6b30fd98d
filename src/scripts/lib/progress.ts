import { SingleBar } from 'cli-progress';

/** The scripts' progress bar on stderr (redrawn every 5 s when stderr is not a terminal); `format` names its fields. */
export function progressBar(format: string): SingleBar {
  return new SingleBar({
    format,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 5000,
    stream: process.stderr,
  });
}
