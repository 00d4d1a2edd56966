-- color_tools: one colour per node (env COLOR) and a small inventory in package state.

local function color()
  local c = env("COLOR")
  if c == nil or c == "" then
    error({ code = "misconfigured", message = "COLOR is not set on this node" })
  end
  return c
end

local function reset()
  state.set("qty", config.default_qty)
  state.set("low_limit", config.low_limit)
  return { color = color(), qty = config.default_qty }
end

skill("identify_self", function()
  return { color = color() }
end)

skill("share_color", function()
  local low = state.get("low_limit") or config.low_limit
  local taken, qty = state.decr_if("qty", 1, low)
  return { color = color(), in_stock = taken, qty = qty }
end)

skill("reset_inventory", reset)

-- A fresh install starts full; an update keeps the inventory it had.
on("init", function()
  if state.get("qty") == nil then reset() end
end)
on("startup", reset)
on("system.reset", reset)
