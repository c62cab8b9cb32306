/** The page shown when there is no WebGPU: what this needs and how to get it, browser by browser. */
export function NoWebGpu({ reason }: { reason: string }) {
  return (
    <section className="card no-webgpu" aria-labelledby="no-webgpu-title">
      <h2 id="no-webgpu-title">MoE Lab needs WebGPU</h2>
      <p role="alert">{reason}</p>
      <p>Everything here runs on your own GPU through WebGPU, so nothing is uploaded anywhere. To use it, open this page in one of these:</p>
      <ul>
        <li>
          <strong>Chrome or Edge 113 or newer</strong> on Windows, macOS or ChromeOS (on by default); Chrome 121 or newer on Android 12+.
        </li>
        <li>
          <strong>Chrome or Chromium on Linux</strong>: turn on <code>chrome://flags/#enable-unsafe-webgpu</code> and <code>chrome://flags/#enable-vulkan</code>
          , then restart the browser.
        </li>
        <li>
          <strong>Safari 26 or newer</strong> (macOS Tahoe, iOS and iPadOS 26); in older Safari, Develop › Feature Flags › WebGPU.
        </li>
        <li>
          <strong>Firefox 141 or newer on Windows</strong>; elsewhere Firefox Nightly, or <code>dom.webgpu.enabled</code> in <code>about:config</code>.
        </li>
      </ul>
      <p>
        If your browser should have WebGPU but does not: turn on hardware acceleration in its settings, update the GPU driver, and check{' '}
        <code>chrome://gpu</code> (it should say “WebGPU: Hardware accelerated”). A page opened from a file or a plain <code>http://</code> address other than
        localhost has no WebGPU either: it needs https.
      </p>
    </section>
  );
}
