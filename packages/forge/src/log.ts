/**
 * Failure logs are long and mostly noise. This keeps what diagnosis needs: the regions around error lines
 * and the tail, without ANSI colours, timestamps, section markers and progress output.
 */
// eslint-disable-next-line no-control-regex -- terminal escape sequences are control characters
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?/;
const GITLAB_SECTION = /section_(?:start|end):\d+:[^\r\n]*?\r?(?=\S|$)/g;
const PROGRESS = [
  /^\s*\d{1,3}(?:\.\d+)?\s*%/,
  /^(?:remote: )?(?:Counting|Compressing|Enumerating|Receiving|Resolving|Unpacking) (?:objects|deltas)/,
  /^Progress: resolved \d+/,
  /^\s*(?:Downloading|Downloaded|Fetching|Extracting|Pulling fs layer|Waiting|Verifying Checksum|Download complete|Pull complete)\b/,
  /[⠁-⣿]\s/,
  /^\s*[#=>-]{10,}\s*\d*%?\s*$/,
];
const ERROR_LINE =
  /\b(?:error|errors|failed|failure|fatal|exception|traceback|panic|assert(?:ion)?|cannot|not found|undefined)\b|##\[error\]|✖|✗|×|FAIL\b|ERR!/i;

const BEFORE = 5;
const AFTER = 15;

export function cleanLog(text: string): string[] {
  return text
    .replace(GITLAB_SECTION, '')
    .split('\n')
    .map((line) => {
      // A carriage return redraws the line: only what was drawn last is what a person saw.
      const drawn = line.endsWith('\r') ? line.slice(0, -1) : line;
      const last = drawn.slice(drawn.lastIndexOf('\r') + 1);
      return last.replace(ANSI, '').replace(TIMESTAMP, '').trimEnd();
    })
    .filter((line) => !PROGRESS.some((noise) => noise.test(line)));
}

/** The log cut down to at most `maxBytes`: error regions first to last, then as much tail as fits. */
export function condenseLog(text: string, maxBytes: number): string {
  const lines = cleanLog(text);
  const whole = lines.join('\n');
  if (Buffer.byteLength(whole) <= maxBytes) return whole;

  const keep = new Array<boolean>(lines.length).fill(false);
  let budget = maxBytes;
  const take = (index: number) => {
    if (keep[index]) return true;
    const cost = Buffer.byteLength(lines[index]!) + 1;
    if (cost > budget) return false;
    keep[index] = true;
    budget -= cost;
    return true;
  };
  // The tail holds the final error and the exit status; it gets the first half of the budget.
  const tailBudget = Math.floor(maxBytes / 2);
  for (let i = lines.length - 1; i >= 0 && maxBytes - budget < tailBudget; i--) if (!take(i)) break;
  outer: for (let i = 0; i < lines.length; i++) {
    if (!ERROR_LINE.test(lines[i]!)) continue;
    for (let j = Math.max(0, i - BEFORE); j <= Math.min(lines.length - 1, i + AFTER); j++) {
      if (!take(j)) break outer;
    }
  }

  const out: string[] = [];
  let skipped = 0;
  lines.forEach((line, index) => {
    if (!keep[index]) return void skipped++;
    if (skipped > 0) out.push(`… ${skipped} line${skipped === 1 ? '' : 's'} omitted …`);
    skipped = 0;
    out.push(line);
  });
  if (skipped > 0) out.push(`… ${skipped} lines omitted …`);
  return out.join('\n');
}
