// The console's build: plain Vite with esbuild's JSX transform for Preact (no plugin). Relative
// asset paths, because the same files are served under `{api_url}/console/` locally and from a
// bucket behind CloudFront in AWS; no inline script or style anywhere (the Content-Security-Policy
// in index.html allows neither).
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Vite's module-preload polyfill would be the only inline-looking helper; modern browsers
    // need none.
    modulePreload: { polyfill: false },
    // Small enough that inlining would never pay; never inline assets as data: URLs of scripts.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2020",
  },
});
