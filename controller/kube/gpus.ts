// Scheduling a pod onto GPUs, shared by the training Job and the serving Deployments: the
// extended resource, the node label GPU Feature Discovery sets (`nvidia.com/gpu.product`), and
// the toleration for the taint GPU node pools usually carry.

/** GPU Feature Discovery's product label for each GPU type a spec may name. */
const gpuProducts: Record<string, string> = {
  "nvidia-t4": "Tesla-T4",
  "nvidia-l4": "NVIDIA-L4",
  "nvidia-a10g": "NVIDIA-A10G",
  "nvidia-l40s": "NVIDIA-L40S",
  "nvidia-a100": "NVIDIA-A100-SXM4-80GB",
  "nvidia-a100-40gb": "NVIDIA-A100-SXM4-40GB",
  "nvidia-a100-80gb": "NVIDIA-A100-SXM4-80GB",
  "nvidia-h100": "NVIDIA-H100-80GB-HBM3",
  "nvidia-h100-80gb": "NVIDIA-H100-80GB-HBM3",
  "nvidia-h200": "NVIDIA-H200",
  "nvidia-rtx-pro-6000": "NVIDIA-RTX-PRO-6000",
};

export const gpuProductLabel = "nvidia.com/gpu.product";
export const gpuResource = "nvidia.com/gpu";

/** The node label value for a GPU type (unknown types are used as given); none for auto. */
export function gpuProduct(type: string | undefined): string | undefined {
  if (type === undefined || type === "auto" || type === "cpu") return undefined;
  return gpuProducts[type] ?? type;
}

/** nodeSelector and tolerations for `count` GPUs of `type` (nothing for CPU-only pods). */
export function gpuPlacement(
  type: string | undefined,
  count: number,
): {
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: string; effect: string }[];
} {
  const product = gpuProduct(type);
  return {
    ...(product !== undefined ? { nodeSelector: { [gpuProductLabel]: product } } : {}),
    ...(count > 0
      ? { tolerations: [{ key: gpuResource, operator: "Exists", effect: "NoSchedule" }] }
      : {}),
  };
}
