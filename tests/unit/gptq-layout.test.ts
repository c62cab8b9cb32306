import { describe, expect, it } from 'vitest';
import { dequantizeGptq, gptqShapeProblem, packColumns, packGptqLinear, packRows, unpackColumns, unpackRows } from '../../src/engine/export/gptq-layout.ts';
import { QUANT_BITS, type QuantBits, type QuantizedMatrix } from '../../src/engine/quantize/quantized-matrix.ts';
import { f32ToF16Bits } from '../../src/engine/io/dtype-encoding.ts';
import { f16ToF32 } from '../../src/engine/io/safetensors.ts';
import { createRng } from '../../src/engine/random.ts';

describe('GPTQ packing', () => {
  it('4 bits: eight codes a word, low nibble first, down the input dimension', () => {
    // One output column (out = 1), in = 8: codes 0..7 are qweight[0, 0] = 0x76543210.
    expect(Array.from(packColumns([0, 1, 2, 3, 4, 5, 6, 7], 1, 8, 4))).toEqual([0x76543210]);
    // Two output columns: qweight [1, 2], column o holds its own codes.
    expect(Array.from(packColumns([1, 1, 1, 1, 1, 1, 1, 1, 15, 0, 0, 0, 0, 0, 0, 2], 2, 8, 4))).toEqual([0x11111111, 0x2000000f]);
    // qzeros run along the output dimension: 8 zeros of one group, v1 symmetric 4-bit (8 - 1 = 7).
    expect(Array.from(packRows(new Array(8).fill(7), 1, 8, 4))).toEqual([0x77777777]);
  });

  it('8 and 2 bits: 4 and 16 codes a word', () => {
    expect(Array.from(packColumns([0x01, 0x80, 0xff, 0x7f], 1, 4, 8))).toEqual([0x7fff8001]);
    expect(Array.from(packColumns([3, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], 1, 16, 2))).toEqual([0xc0000093]);
  });

  it('3 bits: 32 codes in 3 words, values 10 and 21 straddling word boundaries (AutoGPTQ pack loop)', () => {
    const codes = new Array(32).fill(0);
    codes[10] = 0b101; // bits 30..32: word 0 bits 30-31 = 0b01, word 1 bit 0 = 1
    codes[11] = 0b001; // bits 33..35: word 1 bits 1..3
    codes[21] = 0b110; // bits 63..65: word 1 bit 31 = 0, word 2 bits 0-1 = 0b11
    codes[31] = 0b111; // bits 93..95: word 2 bits 29..31
    const words = packColumns(codes, 1, 32, 3);
    expect(Array.from(words)).toEqual([0x40000000, 0x00000003, 0xe0000003]);
    expect(Array.from(unpackColumns(words, 1, 32, 3))).toEqual(codes);
  });

  it('round trips every width in both orientations', () => {
    const rng = createRng(7);
    const random = () => rng.next();
    for (const bits of QUANT_BITS) {
      const lines = 3;
      const n = 64;
      const values = Array.from({ length: lines * n }, () => Math.floor(random() * 2 ** bits));
      expect(Array.from(unpackColumns(packColumns(values, lines, n, bits), lines, n, bits))).toEqual(values);
      expect(Array.from(unpackRows(packRows(values, lines, n, bits), lines, n, bits))).toEqual(values);
    }
  });

  it('refuses shapes that do not fill whole words or groups', () => {
    expect(gptqShapeProblem(32, 64, 4, 32)).toBeNull();
    expect(gptqShapeProblem(32, 48, 3, 16)).toMatch(/qweight words/);
    expect(gptqShapeProblem(33, 64, 8, 32)).toMatch(/qzeros words/);
    expect(gptqShapeProblem(32, 64, 4, 48)).toMatch(/does not divide/);
    expect(gptqShapeProblem(32, 64, 5, 32)).toMatch(/GPTQ packs 8, 4, 3, 2 bits/);
  });
});

describe('GPTQ Linear tensors', () => {
  const rng = createRng(3);
  const random = () => rng.next();
  const quantized = (bits: QuantBits, rows: number, cols: number, groupSize: number): QuantizedMatrix => ({
    bits,
    groupSize,
    rows,
    cols,
    codes: Uint8Array.from({ length: rows * cols }, () => Math.floor(random() * 2 ** bits)),
    // f16 values, so the file holds them exactly.
    scales: Float32Array.from({ length: (rows * cols) / groupSize }, () => f16ToF32(f32ToF16Bits(0.01 + random() * 0.1))),
  });
  const dequantized = (m: QuantizedMatrix) =>
    Float32Array.from(
      m.codes,
      (q, k) => (q - 2 ** (m.bits - 1)) * m.scales[Math.floor(k / m.cols) * (m.cols / m.groupSize) + Math.floor((k % m.cols) / m.groupSize)],
    );

  it('a tiny 4-bit Linear by hand: qzeros 0x77777777 (v1), scales transposed, g_idx = i / G', () => {
    const m: QuantizedMatrix = { bits: 4, groupSize: 4, rows: 8, cols: 8, codes: new Uint8Array(64).fill(8), scales: new Float32Array(16) };
    m.codes[0] = 9; // W[0, 0] = (9 - 8) * scale[0, 0]
    m.scales[0] = 0.5; // row 0, group 0
    m.scales[3] = 2; // row 1, group 1
    const t = packGptqLinear(m, 'gptq', f32ToF16Bits);
    expect(t.qweight.length).toBe(8); // [8 * 4 / 32, 8]
    expect(t.qweight[0]).toBe(0x88888889);
    expect(t.qweight[1]).toBe(0x88888888);
    expect(Array.from(t.qzeros)).toEqual([0x77777777, 0x77777777]); // [2 groups, 8 * 4 / 32]
    expect(f16ToF32(t.scales[0])).toBe(0.5); // scales[g = 0, o = 0]
    expect(f16ToF32(t.scales[1 * 8 + 1])).toBe(2); // scales[g = 1, o = 1]
    expect(Array.from(t.gIdx)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    const v2 = packGptqLinear(m, 'gptq_v2', f32ToF16Bits);
    expect(v2.qzeros[0]).toBe(0x88888888);
  });

  it('dequantizes to the lab value (q - 2^(bits-1)) * scale exactly, for every width, v1 and v2', () => {
    for (const bits of QUANT_BITS) {
      for (const format of ['gptq', 'gptq_v2'] as const) {
        const m = quantized(bits, 32, 64, 16);
        const t = packGptqLinear(m, format, f32ToF16Bits);
        const w = dequantizeGptq({ ...t, scales: Float32Array.from(t.scales, f16ToF32) }, { bits, out: 32, inFeatures: 64, format });
        expect(w).toEqual(dequantized(m));
      }
    }
  });

  it('reads a permuted g_idx (act-order files)', () => {
    const m = quantized(4, 8, 8, 4);
    const t = packGptqLinear(m, 'gptq', f32ToF16Bits);
    const scales = Float32Array.from(t.scales, f16ToF32);
    // Swap the groups of columns 0 and 7 and swap their scales: every weight but columns 0 and 7 keeps its value.
    const gIdx = Int32Array.from(t.gIdx);
    [gIdx[0], gIdx[7]] = [1, 0];
    const w = dequantizeGptq({ ...t, scales, gIdx }, { bits: 4, out: 8, inFeatures: 8, format: 'gptq' });
    expect(w[1 * 8 + 0]).toBe((m.codes[8] - 8) * m.scales[1 * 2 + 1]);
    expect(w[1 * 8 + 3]).toBe(dequantized(m)[1 * 8 + 3]);
    expect(() => dequantizeGptq({ ...t, scales, gIdx: gIdx.fill(2) }, { bits: 4, out: 8, inFeatures: 8, format: 'gptq' })).toThrow(/outside the 2 groups/);
  });

  it('refuses codes wider than the bits and mis-sized scales', () => {
    const m = quantized(2, 16, 16, 8);
    expect(() => packGptqLinear({ ...m, codes: m.codes.map(() => 4) }, 'gptq', f32ToF16Bits)).toThrow(/does not fit 2 bits/);
    expect(() => packGptqLinear({ ...m, scales: m.scales.subarray(1) }, 'gptq', f32ToF16Bits)).toThrow(/needs 256 codes and 32 scales/);
  });
});
