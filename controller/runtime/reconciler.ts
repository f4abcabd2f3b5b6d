// The contract between the runtime and a reconciler.
//
// A reconcile either resolves (done; optionally `requeueAfter` for a periodic drift check), throws
// TerminalError (Stalled: not retried until the object changes and an event enqueues it again),
// or throws anything else (retried with per-key exponential backoff).
import type { Logger } from "pino";
import type { ObjectKey } from "../kube/resources.js";

export type ReconcileRequest = ObjectKey;

export interface ReconcileResult {
  /** Reconcile again after this many ms (jittered by the runtime). */
  requeueAfter?: number;
}

export interface ReconcileContext {
  /** Bound to kind, namespace and name (and a reconcile id). */
  log: Logger;
  /** Aborted only when the process must stop now; graceful shutdown lets a reconcile finish. */
  signal: AbortSignal;
  /**
   * Aborted when a graceful shutdown begins: long work (a batch of model calls) should start
   * nothing new, finish what is in flight, and save it.
   */
  stopping?: AbortSignal;
}

export type ReconcileFunction = (
  request: ReconcileRequest,
  context: ReconcileContext,
) => Promise<ReconcileResult | undefined>;
