// The page's static files as /ui serves them: the redirect, index.html never cached, hashed
// assets cached for a year with their content type, nothing outside assets/ reachable, a clear
// 503 when the page was never built; and the event stream's bound on watching pages.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../test-support/processes.js';
import { mountDashboard, type DashboardSource } from './routes.js';

let dir: string;

beforeAll(() => {
  dir = tempDir('ui-static');
  mkdirSync(join(dir, 'built', 'assets'), { recursive: true });
  writeFileSync(join(dir, 'built', 'index.html'), '<!doctype html><title>distsync</title>');
  writeFileSync(join(dir, 'built', 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(dir, 'built', 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(join(dir, 'secret.txt'), 'not for the web');
});

afterAll(() => {
  removeDir(dir);
});

function appServing(uiDirectory: string, watchersMax?: number): Hono {
  const app = new Hono();
  const unused = (): never => {
    throw new Error('static routes do not read the hub');
  };
  const hub: DashboardSource = {
    localView: unused,
    snapshot: unused,
    watch: unused,
    useLocalRequests: () => undefined,
    watchers: 0,
  };
  mountDashboard(app, {
    hub,
    token: 'static-token',
    uiDirectory,
    ...(watchersMax === undefined ? {} : { watchersMax }),
  });
  return app;
}

describe('/ui static files', () => {
  it('redirects /ui to /ui/ and serves index.html uncached, without the token', async () => {
    const app = appServing(join(dir, 'built'));
    const redirect = await app.request('/ui');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/ui/');
    const index = await app.request('/ui/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await index.text()).toContain('<title>distsync</title>');
  });

  it('serves hashed assets with their type, cached immutably', async () => {
    const app = appServing(join(dir, 'built'));
    const script = await app.request('/ui/assets/index-abc123.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const style = await app.request('/ui/assets/index-abc123.css');
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('reaches nothing outside assets/ and answers 404 for a missing asset', async () => {
    const app = appServing(join(dir, 'built'));
    for (const path of [
      '/ui/assets/..%2F..%2Fsecret.txt',
      '/ui/assets/a%2F..%2F..%2Fsecret.txt',
      '/ui/assets/.hidden',
      '/ui/assets/missing.js',
    ]) {
      expect({ path, status: (await app.request(path)).status }).toEqual({ path, status: 404 });
    }
  });

  it('answers 503 with the build command when the page was never built', async () => {
    const app = appServing(join(dir, 'nowhere'));
    const answer = await app.request('/ui/');
    expect(answer.status).toBe(503);
    expect(await answer.text()).toContain('pnpm --filter @distsync/node build');
  });
});

describe('/ui/events limits', () => {
  it('refuses a page past watchersMax with 503 UNAVAILABLE (after the token check)', async () => {
    const app = appServing(join(dir, 'built'), 0);
    expect((await app.request('/ui/events')).status).toBe(401);
    const answer = await app.request('/ui/events', {
      headers: { authorization: 'Bearer static-token' },
    });
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
  });
});
