/**
 * The GPU memory meter (src/gpu/memory.ts) counts every buffer a device creates and every destroy, keeps the peak,
 * and refuses an allocation past its budget before it is made; `--gpu-memory` sizes parse as documented.
 */
import { describe, expect, it } from 'vitest';
import { parseByteSize } from '../../src/engine/format-bytes.ts';
import { GpuError } from '../../src/gpu/errors.ts';
import { GpuMemory } from '../../src/gpu/memory.ts';
import { main } from '../../src/cli/main.ts';

/** A device whose createBuffer hands out buffers that only record being destroyed (no GPU in the unit tier). */
function recordingDevice(): { device: GPUDevice; created: number[] } {
  const created: number[] = [];
  const device = {
    createBuffer(descriptor: GPUBufferDescriptor) {
      created.push(descriptor.size);
      return { size: descriptor.size, destroy() {} } as unknown as GPUBuffer;
    },
  } as unknown as GPUDevice;
  return { device, created };
}

describe('GPU memory meter', () => {
  it('counts creates and destroys (a second destroy counts once), and keeps the peak', () => {
    const { device } = recordingDevice();
    const memory = new GpuMemory(null);
    memory.track(device);
    const a = device.createBuffer({ size: 1000, usage: 0 });
    const b = device.createBuffer({ size: 500, usage: 0 });
    expect([memory.resident, memory.peak, memory.buffers]).toEqual([1500, 1500, 2]);
    a.destroy();
    a.destroy();
    expect([memory.resident, memory.peak, memory.buffers]).toEqual([500, 1500, 1]);
    device.createBuffer({ size: 200, usage: 0 });
    b.destroy();
    expect([memory.resident, memory.peak]).toEqual([200, 1500]);
  });

  it('refuses an allocation past the budget before the device sees it, naming the buffer and the budget', () => {
    const { device, created } = recordingDevice();
    const memory = new GpuMemory(1024);
    memory.track(device);
    device.createBuffer({ size: 1000, usage: 0, label: 'weights' });
    let error: unknown;
    try {
      device.createBuffer({ size: 100, usage: 0, label: 'layers.3.experts' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GpuError);
    expect((error as GpuError).kind).toBe('limits');
    expect((error as Error).message).toMatch(/layers\.3\.experts needs 100 B more.*budget is 1\.0 KiB and 1000 B are in use/);
    expect(created).toEqual([1000]);
    expect(memory.resident).toBe(1000);
  });

  it('parses --gpu-memory sizes', () => {
    expect(parseByteSize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseByteSize('8GiB')).toBe(8 * 2 ** 30);
    expect(parseByteSize('1.5GB')).toBe(1.5e9);
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('2 kib')).toBe(2048);
    for (const bad of ['', '0', '-1', '1x', 'GiB', '1e9']) expect(parseByteSize(bad), bad).toBeNull();
  });

  it('the CLI refuses a malformed --gpu-memory with a usage error, and adds peakGpuBytes to --json', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
    expect(await main(['info', '--model', 'tests/fixtures/hf-tiny/mixtral', '--gpu-memory', 'lots'], io)).toBe(2);
    expect(err[0]).toMatch(/--gpu-memory must be a size such as 512MiB/);
    expect(await main(['info', '--model', 'tests/fixtures/hf-tiny/mixtral', '--gpu-memory=1GiB', '--json'], io)).toBe(0);
    // info reads headers only: nothing on the GPU.
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ architecture: expect.any(String), peakGpuBytes: 0 });
  });
});
