/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// The backend (`kafkaml local up`) serves the built app itself; `npm run dev` proxies the API to it.
const backend = process.env.KAFKAML_BACKEND_URL ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [react()],
  // Only the scales the charts draw with (src/lib/chartScales.ts): the bundle budget of benchmarks/ui.py.
  resolve: {
    alias: [
      { find: /^victory-vendor\/d3-scale$/, replacement: fileURLToPath(new URL('src/lib/chartScales.ts', import.meta.url)) },
    ],
  },
  server: { proxy: { '/api': backend } },
  build: { outDir: 'dist', sourcemap: false, chunkSizeWarningLimit: 400 },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test-setup.ts'],
    // One jsdom for all files (a fresh one per file makes the run three times as long on two
    // cores); what a test stubs is undone after it, so no file sees another's stand-ins.
    isolate: false,
    // The suite shares two cores with the Python tests' trainings: a page test waiting on its polls
    // may take several seconds there, which is no failure of the page.
    testTimeout: 20_000,
    unstubGlobals: true,
  },
})
