-- Argo CD health of an llmops.dev Experiment, read from its kstatus conditions as Flux reads them:
-- Stalled=True is Degraded (an invalid spec or dataset, or a run that failed for good),
-- Reconciling=True is Progressing (waiting for its Prompts, evaluating, analysing, an online test
-- collecting outcomes), Ready=True is Healthy (Completed).
-- Self-contained, as Argo CD runs each resource customization alone, without the string library.
local function find(conditions, type)
  for _, c in ipairs(conditions or {}) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function kstatus(obj)
  local generation = obj.metadata.generation or 0
  if obj.metadata.deletionTimestamp ~= nil then
    return { status = "Progressing", message = "being deleted" }
  end
  local conditions = obj.status and obj.status.conditions
  local ready = find(conditions, "Ready")
  -- Conditions carry the generation they describe: older ones say nothing about this spec.
  if ready == nil or (ready.observedGeneration or 0) < generation then
    return { status = "Progressing", message = "waiting for the llmops controller to observe generation " .. generation }
  end
  local stalled = find(conditions, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    return { status = "Degraded", message = stalled.message, reason = stalled.reason }
  end
  local reconciling = find(conditions, "Reconciling")
  if reconciling ~= nil and reconciling.status == "True" then
    return { status = "Progressing", message = reconciling.message, reason = reconciling.reason }
  end
  if ready.status == "True" and (obj.status.observedGeneration or 0) >= generation then
    return { status = "Healthy", message = ready.message }
  end
  return { status = "Progressing", message = ready.message, reason = ready.reason }
end

local health = kstatus(obj)
return { status = health.status, message = health.message }
