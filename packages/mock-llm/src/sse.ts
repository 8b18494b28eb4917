import type { ServerResponse } from 'node:http';
import { sleep } from './scenario.js';

/** Writes server-sent events with the pacing and faults a scenario asks for. */
export class EventWriter {
  private written = 0;

  constructor(
    private readonly response: ServerResponse,
    private readonly chunkDelayMs: number,
    private readonly cutAfter: number | undefined,
  ) {
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
  }

  /** Returns false once the connection was cut (the scenario asked for it, or the client left). */
  async send(data: unknown, event?: string): Promise<boolean> {
    if (this.response.destroyed) return false;
    if (this.cutAfter !== undefined && this.written >= this.cutAfter) {
      // Let what was written reach the client first, then drop the connection mid-stream.
      await new Promise<void>((resolve) => this.response.write('', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 10));
      this.response.socket?.destroy();
      return false;
    }
    if (this.written > 0) await sleep(this.chunkDelayMs);
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    this.response.write(event ? `event: ${event}\ndata: ${payload}\n\n` : `data: ${payload}\n\n`);
    this.written++;
    return true;
  }

  end(): void {
    if (!this.response.destroyed) this.response.end();
  }
}
