import { useEffect, useState } from 'react';
import { createBrowserGpuContext } from '../gpu/browser.ts';
import { summarizeCapabilities, type GpuCapabilities } from '../gpu/capabilities.ts';

type GpuState = { status: 'probing' } | { status: 'ready'; caps: GpuCapabilities } | { status: 'unavailable'; message: string };

/** The lab's shell: header, the WebGPU adapter found (or what to do without one). */
export function App() {
  const [gpu, setGpu] = useState<GpuState>({ status: 'probing' });
  useEffect(() => {
    let cancelled = false;
    createBrowserGpuContext({ label: 'capabilities probe' })
      .then((ctx) => {
        if (!cancelled) setGpu({ status: 'ready', caps: ctx.caps });
        ctx.destroy();
      })
      .catch((error: Error) => !cancelled && setGpu({ status: 'unavailable', message: error.message }));
    return () => {
      cancelled = true;
    };
  }, []);
  return (
    <main>
      <header>
        <h1>MoE Lab</h1>
        <p>Watch a Mixture-of-Experts model route tokens, prune it, and measure what pruning costs — on your own GPU.</p>
      </header>
      <section aria-label="GPU">
        <h2>GPU</h2>
        {gpu.status === 'probing' && <p>Looking for a WebGPU adapter…</p>}
        {gpu.status === 'ready' && <p data-testid="adapter">{summarizeCapabilities(gpu.caps)}</p>}
        {gpu.status === 'unavailable' && <p role="alert">{gpu.message}</p>}
      </section>
    </main>
  );
}
