import type { GpuMemoryReport } from '../api/engine.ts';
import type { GpuCapabilities } from '../api/gpu-capabilities.ts';
import { useLab } from '../state/store.ts';
import { formatBytes } from './format.ts';

const LIMIT_ROWS: { key: keyof GpuCapabilities['limits']; label: string; bytes: boolean }[] = [
  { key: 'maxStorageBufferBindingSize', label: 'Largest storage binding', bytes: true },
  { key: 'maxBufferSize', label: 'Largest buffer', bytes: true },
  { key: 'maxComputeWorkgroupStorageSize', label: 'Workgroup memory', bytes: true },
  { key: 'maxComputeInvocationsPerWorkgroup', label: 'Invocations per workgroup', bytes: false },
  { key: 'maxComputeWorkgroupsPerDimension', label: 'Workgroups per dimension', bytes: false },
  { key: 'maxStorageBuffersPerShaderStage', label: 'Storage buffers per stage', bytes: false },
];

/** The adapter the engine computes on: its name, optional features and the limits that bound model size. */
export function GpuPanel() {
  const gpu = useLab((s) => s.gpu);
  const memory = useLab((s) => s.gpuMemory);
  return (
    <section className="card" aria-labelledby="gpu-title">
      <h2 id="gpu-title">GPU</h2>
      {gpu.status === 'probing' && <p>Looking for a WebGPU adapter…</p>}
      {gpu.status === 'unavailable' && <p role="alert">{gpu.reason}</p>}
      {gpu.status === 'ready' && <Capabilities caps={gpu.caps} summary={gpu.summary} />}
      {gpu.status === 'ready' && memory && (
        <table className="facts" aria-label="GPU memory in use">
          <tbody>
            <tr>
              <th scope="row">Memory in use</th>
              <td data-testid="gpu-resident">
                {formatBytes(memory.resident)} in {memory.buffers.toLocaleString('en-US')} buffers
              </td>
            </tr>
            <tr>
              <th scope="row" title="The most held at once since the GPU was opened: weights, masks, activations, statistics and scratch">
                Peak
              </th>
              <td data-testid="gpu-peak">{formatBytes(memory.peak)}</td>
            </tr>
            <tr>
              <th scope="row" title="Models whose weights exceed it stream their layers (docs/ui.md, Streaming mode); ?gpumem=SIZE in the URL sets it">
                Budget
              </th>
              <td data-testid="gpu-budget">{memory.budget === null ? 'none but the adapter’s limits' : formatBytes(memory.budget)}</td>
            </tr>
            {memory.layers && (
              <tr>
                <th scope="row">Model layers</th>
                <td data-testid="gpu-layers">{layersText(memory.layers)}</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** 'streamed, 1 of 24 layers resident (at most 1 at once)' or 'all 24 layers resident'. */
function layersText(layers: NonNullable<GpuMemoryReport['layers']>): string {
  if (!layers.streamed) return `all ${layers.total} layers resident`;
  return `streamed, ${layers.resident} of ${layers.total} layers resident (at most ${layers.peak} at once)`;
}

function Capabilities({ caps, summary }: { caps: GpuCapabilities; summary: string }) {
  const name = [caps.vendor, caps.architecture, caps.description].filter(Boolean).join(' ') || 'unknown adapter';
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  return (
    <>
      <p data-testid="adapter" className="adapter" title={summary}>
        <strong>{name}</strong>
      </p>
      {caps.isSoftware && <p className="badge">A software renderer: correct but slow, so keep models tiny.</p>}
      <table className="facts" aria-label="Adapter features and limits">
        <tbody>
          <tr>
            <th scope="row">shader-f16</th>
            <td>{yes(caps.features.shaderF16)} (not required)</td>
          </tr>
          <tr>
            <th scope="row">subgroups</th>
            <td>{yes(caps.features.subgroups)}</td>
          </tr>
          <tr>
            <th scope="row">timestamp-query</th>
            <td>{yes(caps.features.timestampQuery)}</td>
          </tr>
          {LIMIT_ROWS.map(({ key, label, bytes }) => (
            <tr key={key}>
              <th scope="row" title={key}>
                {label}
              </th>
              <td>{bytes ? formatBytes(caps.limits[key]) : caps.limits[key].toLocaleString('en-US')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
