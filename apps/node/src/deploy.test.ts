// The Dockerfile and docker-compose.yml parse and use only flags, environment variables and
// ports the CLI really has (no Docker engine here: the files are checked, not built).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_KEYS, createProgram, envNameOf, loadConfig } from '@distsync/node';
import { APP_DIR } from './test-support/processes.js';

const program = createProgram(() => undefined);
const nodeCommand = program.commands.find((command) => command.name() === 'node')!;
const nodeFlags = new Set(nodeCommand.options.map((option) => option.long));
const configEnv = new Set(CONFIG_KEYS.map(envNameOf));

/** `--port 7401 --id n1` -> { port: '7401', id: 'n1' }, failing on flags `node` does not have. */
function flagsOf(args: readonly string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let index = 0; index < args.length; index += 2) {
    const flag = args[index]!;
    expect(nodeFlags, `distsync node has no flag ${flag}`).toContain(flag);
    const option = nodeCommand.options.find((candidate) => candidate.long === flag)!;
    flags[option.attributeName()] = args[index + 1]!;
  }
  return flags;
}

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

function dockerfile(): Instruction[] {
  const text = readFileSync(join(APP_DIR, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile', () => {
  const instructions = dockerfile();
  const all = (keyword: string): string[] =>
    instructions.filter((item) => item.keyword === keyword).map((item) => item.args);

  it('is multi-stage, runs as a non-root user and has a health check on the node port', () => {
    expect(all('FROM').length).toBeGreaterThanOrEqual(2);
    expect(all('USER').at(-1)).toBe('node');
    expect(all('EXPOSE')).toEqual(['7401']);
    const healthcheck = all('HEALTHCHECK')[0] ?? '';
    expect(healthcheck).toContain('/health');
    expect(healthcheck).toContain('DISTSYNC_PORT');
  });

  it('starts the built CLI with environment variables the config knows', () => {
    expect(JSON.parse(all('ENTRYPOINT')[0] ?? '[]') as unknown).toEqual(['node', 'dist/cli.js']);
    expect(JSON.parse(all('CMD').at(-1) ?? '[]') as unknown).toEqual(['node']);
    const env: Record<string, string> = {};
    for (const match of all('ENV')
      .join(' ')
      .matchAll(/(\w+)=(\S+)/g)) {
      env[match[1] ?? ''] = match[2] ?? '';
    }
    const distsync = Object.keys(env).filter((name) => name.startsWith('DISTSYNC_'));
    for (const name of distsync) expect(configEnv, `unknown ${name}`).toContain(name);
    const config = loadConfig({ env: { ...env, DISTSYNC_ID: 'n1' } });
    expect(config).toMatchObject({ host: '0.0.0.0', port: 7401, dataDir: '/data' });
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(APP_DIR, 'docker-compose.yml'), 'utf8')) as {
    services: Record<
      string,
      { command?: string; ports?: string[]; environment?: Record<string, string>; image?: string }
    >;
  };

  it('runs three nodes and Redis', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['n1', 'n2', 'n3', 'redis']);
    expect(compose.services.redis?.image).toMatch(/^redis:/);
  });

  it('gives every node flags, variables and ports the CLI has, and peers that point at each other', () => {
    const hostPorts: string[] = [];
    for (const id of ['n1', 'n2', 'n3']) {
      const service = compose.services[id]!;
      const [subcommand, ...args] = (service.command ?? '').split(/\s+/);
      expect(subcommand).toBe('node');
      const flags = flagsOf(args);
      for (const name of Object.keys(service.environment ?? {})) {
        expect(configEnv, `unknown ${name}`).toContain(name);
      }
      const config = loadConfig({
        flags,
        env: { DISTSYNC_SECRET: 'x'.repeat(24), DISTSYNC_HOST: '0.0.0.0' },
      });
      expect(config.id).toBe(id);
      expect(Object.keys(config.peers).sort()).toEqual(
        ['n1', 'n2', 'n3'].filter((other) => other !== id),
      );
      for (const [peer, url] of Object.entries(config.peers))
        expect(url).toBe(`ws://${peer}:${config.port}`);
      const [hostPort, containerPort] = (service.ports?.[0] ?? '').split(':');
      expect(Number(containerPort)).toBe(config.port);
      hostPorts.push(hostPort ?? '');
    }
    expect(hostPorts).toEqual(['7401', '7402', '7403']);
  });
});
