import { StringDecoder } from 'node:string_decoder';

/**
 * Collects one output stream within a byte budget. When output exceeds it, the head and the tail are
 * kept and the middle is dropped: a build log's cause is usually near its start or end.
 */
export class OutputBuffer {
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;
  private readonly decoder = new StringDecoder('utf8');

  constructor(maxBytes: number) {
    this.headLimit = Math.floor(maxBytes / 2);
    this.tailLimit = maxBytes - this.headLimit;
  }

  /** Appends a chunk and returns its text, decoded without splitting a multi-byte character. */
  push(chunk: Buffer): string {
    let rest = chunk;
    if (this.headBytes < this.headLimit) {
      const taken = rest.subarray(0, this.headLimit - this.headBytes);
      this.head.push(taken);
      this.headBytes += taken.length;
      rest = rest.subarray(taken.length);
    }
    if (rest.length > 0) {
      this.tail.push(rest);
      this.tailBytes += rest.length;
      while (this.tailBytes > this.tailLimit) {
        const first = this.tail[0]!;
        const excess = this.tailBytes - this.tailLimit;
        if (first.length <= excess) {
          this.tail.shift();
          this.tailBytes -= first.length;
          this.dropped += first.length;
        } else {
          this.tail[0] = first.subarray(excess);
          this.tailBytes -= excess;
          this.dropped += excess;
        }
      }
    }
    return this.decoder.write(chunk);
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  text(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    const tail = Buffer.concat(this.tail).toString('utf8');
    return this.truncated ? `${head}\n[... ${this.dropped} bytes omitted ...]\n${tail}` : head + tail;
  }
}
