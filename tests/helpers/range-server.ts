/**
 * A local HTTP file server on 127.0.0.1 for byte-source tests: serves in-memory files, honours single
 * `Range: bytes=a-b` requests with 206 (or ignores Range and sends the whole file with 200, when asked), and counts
 * the bytes it actually sent so tests can check that a read did not download the whole file.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RangeServer {
  baseUrl: string;
  /** Body bytes written to clients so far (a dropped connection stops the count where it stopped). */
  bytesSent(): number;
  requests: { method: string; path: string; range: string | null }[];
  close(): Promise<void>;
}

export async function startRangeServer(files: Record<string, Uint8Array>, options: { ignoreRange?: boolean } = {}): Promise<RangeServer> {
  let sent = 0;
  const requests: RangeServer['requests'] = [];
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname.slice(1));
    const range = request.headers.range ?? null;
    requests.push({ method: request.method ?? 'GET', path, range });
    const file = files[path];
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
    let body = file;
    if (match && !options.ignoreRange) {
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), file.byteLength - 1);
      if (start >= file.byteLength) {
        response.writeHead(416, { 'content-range': `bytes */${file.byteLength}` }).end();
        return;
      }
      body = file.subarray(start, end + 1);
      response.writeHead(206, { 'content-range': `bytes ${start}-${end}/${file.byteLength}`, 'content-length': body.byteLength });
    } else {
      response.writeHead(200, { 'content-length': file.byteLength, 'content-type': 'application/octet-stream' });
    }
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    // Write in 64 KiB pieces so a client that stops reading early really stops the transfer.
    let at = 0;
    const pump = () => {
      while (at < body.byteLength) {
        const piece = body.subarray(at, at + 65536);
        at += piece.byteLength;
        sent += piece.byteLength;
        if (!response.write(piece)) {
          response.once('drain', pump);
          return;
        }
      }
      response.end();
    };
    response.on('close', () => {
      at = body.byteLength;
    });
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/`,
    bytesSent: () => sent,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
