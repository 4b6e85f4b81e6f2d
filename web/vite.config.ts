/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// The edge serves dist/ at / (with index.html for client-side routes); `npm run dev` proxies the API.
export default defineConfig({
  plugins: [preact()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 900 },
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:8181",
      "/health": "http://127.0.0.1:8181",
      "/ws": { target: "ws://127.0.0.1:8181", ws: true },
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
