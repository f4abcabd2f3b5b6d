// Where a controller's heap goes, from a V8 heap snapshot (`--heapsnapshot-signal`): retained
// sizes from the dominator tree (Cooper–Harvey–Kennedy), reported for the runtime's own objects —
// each informer's cache (by resource, namespace and selector), work queues, the event recorder,
// the metrics registry — and the largest other retainers. "Retained" is what freeing the object
// would free: a string shared by two caches counts for neither.
//
//   node --max-old-space-size=8000 --import tsx bench/heap-accounting.ts <file.heapsnapshot>
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface CacheAccount {
  owner: string;
  resource: string;
  namespace: string;
  selector: string;
  retainedBytes: number;
}

export interface HeapAccount {
  reachableBytes: number;
  caches: CacheAccount[];
  /** Retained bytes of the runtime's other parts, by class name (summed over instances). */
  runtime: Record<string, number>;
  /** The largest retainers that are none of the above. */
  largest: { what: string; retainedBytes: number }[];
}

const runtimeClasses = [
  "WorkQueue",
  "EventRecorder",
  "Registry",
  "Controller",
  "KubeTransport",
  "PerKeyExponentialBackoff",
  "Manager",
];

export function accountHeap(path: string): HeapAccount {
  const snap = JSON.parse(readFileSync(path, "utf8")) as Snapshot;
  const meta = snap.snapshot.meta;
  const nfl = meta.node_fields.length;
  const efl = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const iType = meta.node_fields.indexOf("type");
  const iName = meta.node_fields.indexOf("name");
  const iSize = meta.node_fields.indexOf("self_size");
  const iEdges = meta.node_fields.indexOf("edge_count");
  const eType = meta.edge_fields.indexOf("type");
  const eName = meta.edge_fields.indexOf("name_or_index");
  const eTo = meta.edge_fields.indexOf("to_node");
  const { nodes, edges, strings } = snap;
  const count = nodes.length / nfl;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += (nodes[i * nfl + iEdges] as number) * efl;
    firstEdge[i + 1] = e;
  }
  const weak = edgeTypes.indexOf("weak");
  const shortcut = edgeTypes.indexOf("shortcut");
  const retaining = (e: number) => edges[e + eType] !== weak && edges[e + eType] !== shortcut;
  const target = (e: number) => (edges[e + eTo] as number) / nfl;
  const nameOf = (v: number) => strings[nodes[v * nfl + iName] as number] ?? "";
  const typeOf = (v: number) => nodeTypes[nodes[v * nfl + iType] as number] ?? "";

  // Depth-first postorder from the root (node 0).
  const order = new Int32Array(count).fill(-1);
  const post = new Uint32Array(count);
  const stack = new Uint32Array(count);
  const cursor = new Uint32Array(count);
  let reached = 0;
  let sp = 0;
  stack[sp++] = 0;
  order[0] = -2;
  cursor[0] = firstEdge[0] as number;
  while (sp > 0) {
    const v = stack[sp - 1] as number;
    if ((cursor[v] as number) < (firstEdge[v + 1] as number)) {
      const e = cursor[v] as number;
      cursor[v] = e + efl;
      if (!retaining(e)) continue;
      const w = target(e);
      if (order[w] === -1) {
        order[w] = -2;
        cursor[w] = firstEdge[w] as number;
        stack[sp++] = w;
      }
    } else {
      sp--;
      order[v] = reached;
      post[reached++] = v;
    }
  }
  // Predecessors of reachable nodes.
  const predStart = new Uint32Array(count + 1);
  const forEachEdge = (fn: (v: number, w: number) => void) => {
    for (let v = 0; v < count; v++) {
      if ((order[v] as number) < 0) continue;
      for (let e = firstEdge[v] as number; e < (firstEdge[v + 1] as number); e += efl) {
        if (!retaining(e)) continue;
        const w = target(e);
        if ((order[w] as number) >= 0) fn(v, w);
      }
    }
  };
  forEachEdge((_v, w) => {
    predStart[w + 1] = (predStart[w + 1] as number) + 1;
  });
  for (let i = 0; i < count; i++)
    predStart[i + 1] = (predStart[i + 1] as number) + (predStart[i] as number);
  const preds = new Uint32Array(predStart[count] as number);
  const fill = predStart.slice(0, count);
  forEachEdge((v, w) => {
    preds[fill[w] as number] = v;
    fill[w] = (fill[w] as number) + 1;
  });
  // Immediate dominators, iterated to a fixed point in reverse postorder.
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while ((order[a] as number) < (order[b] as number)) a = idom[a] as number;
      while ((order[b] as number) < (order[a] as number)) b = idom[b] as number;
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let k = reached - 2; k >= 0; k--) {
      const v = post[k] as number;
      let dom = -1;
      for (let p = predStart[v] as number; p < (predStart[v + 1] as number); p++) {
        const u = preds[p] as number;
        if (idom[u] === -1) continue;
        dom = dom === -1 ? u : intersect(u, dom);
      }
      if (dom !== -1 && idom[v] !== dom) {
        idom[v] = dom;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  for (let k = 0; k < reached; k++) {
    const v = post[k] as number;
    retained[v] = (retained[v] as number) + (nodes[v * nfl + iSize] as number);
    if (v !== 0) {
      const d = idom[v] as number;
      retained[d] = (retained[d] as number) + retained[v];
    }
  }
  const property = (v: number, name: string): number | undefined => {
    for (let e = firstEdge[v] as number; e < (firstEdge[v + 1] as number); e += efl) {
      if (
        edgeTypes[edges[e + eType] as number] === "property" &&
        strings[edges[e + eName] as number] === name
      ) {
        return target(e);
      }
    }
    return undefined;
  };
  const stringProperty = (v: number, name: string): string => {
    const w = property(v, name);
    return w !== undefined && typeOf(w).includes("string") ? nameOf(w) : "";
  };

  const caches: CacheAccount[] = [];
  const runtime: Record<string, number> = {};
  const accounted = new Set<number>();
  for (let v = 0; v < count; v++) {
    if ((order[v] as number) < 0 || typeOf(v) !== "object") continue;
    const name = nameOf(v);
    if (name === "Informer") {
      const type = property(v, "type");
      const store = property(v, "store");
      caches.push({
        owner: heldByManager(v) ? "manager" : "other (not the manager's)",
        resource: type !== undefined ? stringProperty(type, "plural") : "?",
        namespace: stringProperty(v, "namespace") || "*",
        selector: stringProperty(v, "labelSelector"),
        retainedBytes: store !== undefined ? (retained[store] as number) : 0,
      });
      accounted.add(v);
    } else if (runtimeClasses.includes(name)) {
      runtime[name] = (runtime[name] ?? 0) + (retained[v] as number);
      accounted.add(v);
    }
  }
  /** Whether a Manager holds `v` within a few references (its informers map). */
  function heldByManager(v: number): boolean {
    let frontier = [v];
    const seen = new Set(frontier);
    for (let depth = 0; depth < 5; depth++) {
      const next: number[] = [];
      for (const w of frontier) {
        for (let p = predStart[w] as number; p < (predStart[w + 1] as number); p++) {
          const u = preds[p] as number;
          if (typeOf(u) === "object" && nameOf(u) === "Manager") return true;
          if (!seen.has(u)) {
            seen.add(u);
            next.push(u);
          }
        }
      }
      frontier = next;
    }
    return false;
  }
  const largest: HeapAccount["largest"] = [];
  const isInside = (v: number): boolean => {
    for (let d = v; d !== 0; d = idom[d] as number) if (accounted.has(d)) return true;
    return false;
  };
  const candidates: number[] = [];
  for (let v = 1; v < count; v++) {
    if (
      (retained[v] as number) > 512 * 1024 &&
      typeOf(v) !== "synthetic" &&
      typeOf(v) !== "hidden"
    ) {
      candidates.push(v);
    }
  }
  candidates.sort((a, b) => (retained[b] as number) - (retained[a] as number));
  const shown = new Set<number>();
  for (const v of candidates) {
    if (largest.length >= 12) break;
    if (isInside(v)) continue;
    // Skip a node whose dominator is already listed: it is part of that one.
    let covered = false;
    for (let d = idom[v] as number; d !== 0; d = idom[d] as number)
      if (shown.has(d)) covered = true;
    if (covered) continue;
    shown.add(v);
    largest.push({
      what: `${typeOf(v)} ${nameOf(v).slice(0, 80)} (held by ${nameOf(idom[v] as number).slice(0, 40)})`,
      retainedBytes: retained[v] as number,
    });
  }
  return { reachableBytes: retained[0] as number, caches, runtime, largest };
}

if (process.argv[1]?.endsWith("heap-accounting.ts") === true) {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: heap-accounting.ts <file.heapsnapshot>");
  process.stdout.write(`${JSON.stringify(accountHeap(file), null, 2)}\n`);
}
