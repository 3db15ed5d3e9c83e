// Browser bundles (esbuild): dist/browser/resnext.js, the library without Node (src/browser.ts),
// and the pages of `resnext serve`: dist/web/page.js (inference), train.js (training) and bench.js
// (GPU benchmark). The native addon's loader is replaced by its browser stub; anything else that
// reaches for node: fails the build.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const stub = fileURLToPath(new URL('../src/backend/native/addon.browser.ts', import.meta.url));

/** esbuild plugin: the native addon loader → its browser stub. */
export const browserStubs = {
  name: 'resnext-browser-stubs',
  setup(b) {
    b.onResolve({ filter: /\/addon\.js$/ }, (args) =>
      /[\\/]backend[\\/]native[\\/]index\.ts$/.test(args.importer) ? { path: stub } : undefined,
    );
  },
};

export const browserOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [browserStubs],
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await Promise.all([
    build({ ...browserOptions, entryPoints: ['src/browser.ts'], outfile: 'dist/browser/resnext.js' }),
    build({ ...browserOptions, entryPoints: ['src/web/train-page.ts'], outfile: 'dist/web/train.js' }),
    build({
      ...browserOptions,
      entryPoints: ['src/web/bench-page.ts'],
      external: ['onnxruntime-web'],
      outfile: 'dist/web/bench.js',
    }),
    build({
      ...browserOptions,
      entryPoints: ['src/web/page.ts'],
      external: ['onnxruntime-web'],
      outfile: 'dist/web/page.js',
    }),
  ]);
}
