import type { ServerResponse } from 'node:http';
import { sleep } from './scenario.js';

/**
 * Writes a streamed body chunk by chunk with the pacing and faults a scenario asks for: a delay
 * between chunks, and the connection cut after a number of them. Every streaming wire format
 * (server-sent events, JSON lines, AWS event streams) writes through one of these.
 */
export class ChunkWriter {
  private written = 0;

  constructor(
    protected readonly response: ServerResponse,
    private readonly chunkDelayMs: number,
    private readonly cutAfter: number | undefined,
    headers: Record<string, string>,
  ) {
    response.writeHead(200, headers);
  }

  /** Returns false once the connection was cut (the scenario asked for it, or the client left). */
  async write(chunk: string | Buffer): Promise<boolean> {
    if (this.response.destroyed) return false;
    if (this.cutAfter !== undefined && this.written >= this.cutAfter) {
      // Let what was written reach the client first, then drop the connection mid-stream.
      await new Promise<void>((resolve) => this.response.write('', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 10));
      this.response.socket?.destroy();
      return false;
    }
    if (this.written > 0) await sleep(this.chunkDelayMs);
    this.response.write(chunk);
    this.written++;
    return true;
  }

  end(): void {
    if (!this.response.destroyed) this.response.end();
  }
}

/** Server-sent events; `lineEnd` is `\r\n` for Google's framing. */
export class EventWriter extends ChunkWriter {
  constructor(
    response: ServerResponse,
    chunkDelayMs: number,
    cutAfter: number | undefined,
    private readonly lineEnd = '\n',
  ) {
    super(response, chunkDelayMs, cutAfter, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
  }

  send(data: unknown, event?: string): Promise<boolean> {
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    const end = this.lineEnd;
    return this.write(
      event ? `event: ${event}${end}data: ${payload}${end}${end}` : `data: ${payload}${end}${end}`,
    );
  }
}

/** Newline-delimited JSON (Ollama, Cohere v1 streams). */
export class JsonLinesWriter extends ChunkWriter {
  constructor(
    response: ServerResponse,
    chunkDelayMs: number,
    cutAfter: number | undefined,
    contentType: string,
  ) {
    super(response, chunkDelayMs, cutAfter, { 'content-type': contentType, 'cache-control': 'no-cache' });
  }

  send(value: unknown): Promise<boolean> {
    return this.write(`${JSON.stringify(value)}\n`);
  }
}
