// A cluster the demo did not start (`--endpoints`): it can watch it, never kill its nodes.
import { fetchStatus, type DemoCluster, type Member } from './cluster.js';

/** `a:1,http://b:2` -> `['http://a:1', 'http://b:2']`. */
export function parseEndpoints(list: string): string[] {
  return list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => (/^[a-z]+:\/\//.test(item) ? item : `http://${item}`))
    .map((item) => item.replace(/^ws(s?):\/\//, 'http$1://').replace(/\/+$/, ''));
}

export class ExternalCluster implements DemoCluster {
  readonly embedded = false;
  readonly logDir = undefined;
  readonly members: readonly Member[];

  private constructor(members: Member[]) {
    this.members = members;
  }

  /** Names each endpoint by the id its /status reports (the endpoint itself when it is down). */
  static async open(endpoints: readonly string[]): Promise<ExternalCluster> {
    const members = await Promise.all(
      endpoints.map(async (url) => ({ id: (await fetchStatus(url, 2000))?.id ?? url, url })),
    );
    return new ExternalCluster(members);
  }

  isRunning(): boolean {
    return true;
  }

  kill(): Promise<void> {
    return Promise.reject(new Error('only the embedded cluster lets the demo kill a node'));
  }

  restart(): Promise<void> {
    return Promise.reject(new Error('only the embedded cluster lets the demo restart a node'));
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
