import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

// In `vite dev` the console talks to a cloud on its default port through this proxy, so
// every API call stays same-origin (`/api/...`) exactly as when the cloud serves the build.
const cloud = process.env.MERTAH_CLOUD_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [sveltekit()],
  // Kit's server runtime (used at build time for analysis) needs cookie 0.6, but the
  // workspace root hoists cookie 2 for the cloud; bundle Kit's own copy instead.
  ssr: { noExternal: ['cookie'] },
  server: {
    proxy: {
      '/api': { target: cloud, changeOrigin: false },
    },
  },
});
