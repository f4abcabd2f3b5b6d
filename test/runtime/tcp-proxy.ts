// A TCP forwarder between a client and the real apiserver, to break connections the way networks
// do: reset them (cut) or let them go silent without closing (freeze: a half-open connection).
// It never looks into or alters the traffic (TLS passes through end to end).
import { type Server, type Socket, createConnection, createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

interface Pair {
  client: Socket;
  upstream: Socket;
}

export class TcpProxy {
  readonly port: number;
  private readonly server: Server;
  private readonly pairs: Set<Pair>;
  private readonly frozen: Pair[] = [];

  private constructor(server: Server, pairs: Set<Pair>) {
    this.server = server;
    this.pairs = pairs;
    this.port = (server.address() as AddressInfo).port;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const pairs = new Set<Pair>();
    const server = createServer((client) => {
      const upstream = createConnection(target);
      const pair = { client, upstream };
      pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const end = (): void => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new TcpProxy(server, pairs);
  }

  /** Open connections right now. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Resets every open connection (as a network failure or an apiserver crash would). */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /**
   * Stops moving bytes on every open connection but keeps it open: the client sees a connection
   * that is alive yet silent forever. New connections are forwarded normally.
   */
  freeze(): void {
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
      this.frozen.push({ client, upstream });
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    for (const { client, upstream } of this.frozen.splice(0)) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  /** A copy of `kubeConfig` whose current cluster is reached through this proxy. */
  kubeConfigThrough(kubeConfig: KubeConfig): KubeConfig {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error("kubeconfig has no current cluster");
    const url = new URL(cluster.server);
    url.port = String(this.port);
    const copy = new KubeConfig();
    copy.loadFromOptions({
      clusters: kubeConfig.clusters.map((c) =>
        c.name === cluster.name ? { ...c, server: url.origin } : c,
      ),
      users: kubeConfig.users,
      contexts: kubeConfig.contexts,
      currentContext: kubeConfig.currentContext,
    });
    return copy;
  }
}

/** host/port of the current cluster's server. */
export function serverAddress(kubeConfig: KubeConfig): { host: string; port: number } {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new Error("kubeconfig has no current cluster");
  const url = new URL(server);
  return { host: url.hostname, port: Number(url.port || 443) };
}
