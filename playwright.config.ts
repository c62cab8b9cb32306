import { defineConfig } from '@playwright/test';

/**
 * e2e tier: Debian's Chromium (never a downloaded browser) with WebGPU on SwiftShader, against the built app
 * served by `vite preview` on localhost. Flags: WebGPU on Linux needs --enable-unsafe-webgpu; the rest keep
 * Chromium from reaching the network at start (this machine has none).
 */
const chromium = process.env.MOE_LAB_CHROMIUM ?? '/usr/bin/chromium';
const port = Number(process.env.MOE_LAB_E2E_PORT ?? 4317);

export default defineConfig({
  testDir: 'tests/e2e',
  outputDir: 'test-results/e2e',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}/`,
    browserName: 'chromium',
    launchOptions: {
      executablePath: chromium,
      args: [
        '--enable-unsafe-webgpu',
        '--enable-features=Vulkan',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
    viewport: { width: 1400, height: 900 },
    screenshot: 'only-on-failure',
  },
  webServer: {
    command: `npx vite build --logLevel warn && npx vite preview --port ${port} --strictPort`,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 180_000,
  },
});
