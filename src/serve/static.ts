/**
 * The files of the web page, served from the package itself so that the page works offline:
 *   /                 web/index.html
 *   /app/<file>       web/*.css and the page's bundle (dist/web/page.js, built by esbuild)
 *   /ort/<file>       onnxruntime-web's ES modules and WebAssembly binaries (its dist folder)
 * Names are matched against each folder's listing, never joined into a path, so no request can
 * reach another file. Every response carries the headers that make the page cross-origin isolated
 * (COOP same-origin, COEP require-corp): without them browsers give WebAssembly no threads.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../util/package-root.js';

export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

/** A folder's servable files: name → absolute path (regular files with a known type only). */
function listing(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (CONTENT_TYPES[extname(name)] && statSync(path).isFile()) files.set(name, path);
  }
  return files;
}

/** onnxruntime-web's dist folder, found through Node's resolution of the package. */
function ortDist(): string {
  return dirname(fileURLToPath(import.meta.resolve('onnxruntime-web')));
}

export class StaticFiles {
  private readonly routes = new Map<string, Map<string, string>>();

  constructor(root: string = packageRoot()) {
    const app = listing(join(root, 'web'));
    for (const [name, path] of listing(join(root, 'dist', 'web'))) app.set(name, path);
    this.routes.set('/app/', app);
    this.routes.set('/ort/', new Map([...listing(ortDist())].filter(([name]) => /^ort[\w.-]*$/.test(name))));
    const pages = new Map<string, string>();
    const index = app.get('index.html');
    if (index) pages.set('', index);
    for (const page of ['train', 'bench']) {
      const html = app.get(`${page}.html`);
      if (html) pages.set(page, html);
    }
    this.routes.set('/', pages);
  }

  /** Whether the page's script was built (dist/web/page.js). */
  get hasPage(): boolean {
    return this.routes.get('/app/')?.has('page.js') ?? false;
  }

  /** Answers `pathname` with a file and returns true, or returns false when it names none. */
  serve(pathname: string, res: ServerResponse): boolean {
    const slash = pathname.lastIndexOf('/') + 1;
    const path = this.routes.get(pathname.slice(0, slash))?.get(pathname.slice(slash));
    if (!path) return false;
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'content-type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
      'content-length': statSync(path).size,
      'cache-control': pathname.startsWith('/ort/') ? 'public, max-age=86400' : 'no-cache',
    });
    createReadStream(path).pipe(res);
    return true;
  }
}
