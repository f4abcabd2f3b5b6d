// Children an object owns (ConfigMaps today; Jobs, Deployments, Services and HTTPRoutes next):
// each carries `app.kubernetes.io/managed-by: llmops`, the owner's selector labels and a
// controller owner reference (so garbage collection removes it with its owner and a watch finds
// the owner again), and is written by server-side apply with the client's field manager. What is
// no longer desired is deleted — only when it is ours: never an object another owner controls.
import { managedByLabel, managedByValue } from "../api/well-known.js";
import type { KubeClient } from "../kube/client.js";
import { withControllerReference } from "../kube/owner-references.js";
import type { KubeObject, ResourceType, StoredObject } from "../kube/resources.js";
import { childUpToDate } from "./cache-views.js";
import type { CacheReader } from "./registry.js";

/** A child as a kind describes it: no owner reference, no managed-by label (added here). */
export type ChildObject = KubeObject & { metadata: { name: string } };

export interface OwnedChildrenOptions {
  client: KubeClient;
  owner: StoredObject;
  /** Labels every child of this owner carries, e.g. `{ "llmops.dev/prompt": name }`. */
  labels: Readonly<Record<string, string>>;
  /**
   * The caches, when the owner watches its children as child views (OwnedType.contentDigest):
   * `apply` then skips a child the cache shows as already desired, and records what it wrote.
   */
  cache?: CacheReader;
}

/** `child` as it is written: in the owner's namespace, labelled, controlled by the owner. Pure. */
export function ownedChild<T extends ChildObject>(
  options: Pick<OwnedChildrenOptions, "owner" | "labels">,
  type: ResourceType,
  child: T,
): T {
  const { owner, labels } = options;
  return withControllerReference(
    {
      ...child,
      apiVersion: type.apiVersion,
      kind: type.kind,
      metadata: {
        ...child.metadata,
        namespace: owner.metadata.namespace ?? "",
        labels: { ...child.metadata.labels, [managedByLabel]: managedByValue, ...labels },
      },
    },
    owner,
  );
}

/** The children of one owner. */
export class OwnedChildren {
  readonly #client: KubeClient;
  readonly #owner: StoredObject;
  readonly #labels: Readonly<Record<string, string>>;
  readonly #cache: CacheReader | undefined;

  constructor(options: OwnedChildrenOptions) {
    this.#client = options.client;
    this.#owner = options.owner;
    this.#labels = options.labels;
    this.#cache = options.cache;
  }

  /** The label selector that finds this owner's children (`a=b,c=d`). */
  get selector(): string {
    return Object.entries(this.#labels)
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
  }

  /** `child` as it is written (see ownedChild). */
  desired<T extends ChildObject>(type: ResourceType, child: T): T {
    return ownedChild({ owner: this.#owner, labels: this.#labels }, type, child);
  }

  /**
   * Writes each child by server-side apply (forced: the controller owns these fields), in the
   * order given: a child that preserves what the next one overwrites comes first. With a cache of
   * child views, a child already as desired is not written again (a restart, a drift check and a
   * repeated reconcile write nothing), and what is written is recorded in the cache.
   */
  async apply(type: ResourceType, children: readonly ChildObject[]): Promise<void> {
    const namespace = this.#owner.metadata.namespace ?? "";
    for (const child of children) {
      const desired = this.desired(type, child);
      const cached = this.#cache?.getChild?.(type, { namespace, name: child.metadata.name });
      if (childUpToDate(desired, cached)) continue;
      if (cached !== undefined) {
        const written = await this.#client.apply(type, desired, { force: true });
        this.#cache?.recordWrite?.(type, written, cached.metadata.resourceVersion);
        continue;
      }
      const created = this.#cache?.beginCreate?.(type, desired);
      let written: StoredObject | undefined;
      try {
        written = await this.#client.apply(type, desired, { force: true });
      } finally {
        created?.(written);
      }
    }
  }

  /** Creates a child that is written once and never changed (fails if it exists). */
  async create(type: ResourceType, child: ChildObject): Promise<void> {
    await this.#client.create(type, this.desired(type, child));
  }

  /** Deletes the named children (those already gone are fine). */
  async delete(type: ResourceType, names: readonly string[]): Promise<void> {
    const namespace = this.#owner.metadata.namespace ?? "";
    await Promise.all(names.map((name) => this.#client.delete(type, { namespace, name })));
  }

  /**
   * Deletes every child matching `labels` (beside the owner's), in one request: for sets of
   * children that go together, such as one run's call journal.
   */
  async deleteAll(
    type: ResourceType,
    labels: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    const selector = Object.entries({ ...this.#labels, ...labels })
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
    await this.#client.deleteCollection(type, {
      namespace: this.#owner.metadata.namespace ?? "",
      labelSelector: selector,
    });
  }

  /**
   * This owner's children of `type` (listed from the API by the owner's labels, keeping only those
   * it controls): what `prune` compares against.
   */
  async list<T extends KubeObject>(type: ResourceType): Promise<StoredObject<T>[]> {
    const list = await this.#client.list<T>(type, {
      namespace: this.#owner.metadata.namespace ?? "",
      labelSelector: this.selector,
    });
    const uid = this.#owner.metadata.uid;
    return list.items.filter((child) =>
      child.metadata.ownerReferences?.some((ref) => ref.controller === true && ref.uid === uid),
    );
  }

  /**
   * Applies `desired` and deletes the owned children of `type` that are not in it, given the
   * children that exist (from `list`, or a cache).
   */
  async reconcile(
    type: ResourceType,
    desired: readonly ChildObject[],
    existing: readonly KubeObject[],
  ): Promise<void> {
    const wanted = new Set(desired.map((child) => child.metadata.name));
    await this.apply(type, desired);
    await this.delete(
      type,
      existing
        .map((child) => child.metadata?.name ?? "")
        .filter((name) => name !== "" && !wanted.has(name)),
    );
  }
}
