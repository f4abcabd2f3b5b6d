-- Argo CD health of an llmops.dev ModelDeployment, read from its kstatus conditions as Flux reads
-- them, and from the rollout's phase as Argo Rollouts reports a Rollout: a revision that missed
-- spec.progressDeadlineSeconds (phase Degraded) or a rollout aborted by its analysis (phase Aborted)
-- is Degraded; a rollout that waits for a person (spec.paused, a pause step without a duration, an
-- inconclusive analysis: phase Paused) is Suspended; a timed pause or an analysis in progress is
-- Progressing. Otherwise Stalled=True is Degraded (a model that cannot be resolved), Ready=True is
-- Healthy (one revision serves all traffic).
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

-- True when the rollout holds until someone acts (llmops promote, a retry, clearing spec.paused).
local function waitsForPerson(obj, reason)
  if obj.spec.paused == true or reason == "Inconclusive" then
    return true
  end
  local canary = obj.spec.strategy and obj.spec.strategy.canary
  local steps = canary and canary.steps or {}
  -- status.currentStep counts from 0; Lua arrays from 1.
  local step = steps[(obj.status.currentStep or 0) + 1]
  return step ~= nil and step.pause ~= nil and step.pause.duration == nil
end

local health = kstatus(obj)
if health.reason ~= nil and health.status == "Progressing" then
  local phase = obj.status.phase
  if phase == "Degraded" or phase == "Aborted" then
    health.status = "Degraded"
  elseif phase == "Paused" and waitsForPerson(obj, health.reason) then
    health.status = "Suspended"
  end
end
return { status = health.status, message = health.message }
