-- color_tools: one colour per node (env COLOR) and a small inventory in package state.

local function color()
  local c = env("COLOR")
  if c == nil or c == "" then
    error({ code = "misconfigured", message = "COLOR is not set on this node" })
  end
  return c
end

-- Every unit taken comes with a receipt; whoever holds it may give that one unit back once
-- (return_color: the other half of a blend failed). Receipts outstanding are units taken and
-- not given back since the last reset, so there are never more than default_qty of them.
local function new_receipt()
  return string.format("%d-%08x%08x", state.incr("receipt_seq"), math.random(0, 0xffffffff),
    math.random(0, 0xffffffff))
end

local function reset()
  for _, k in ipairs(state.keys("receipt.")) do state.delete(k) end  -- the refill voids them
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
  local out = { color = color(), in_stock = taken, qty = qty }
  if taken then
    out.receipt = new_receipt()
    state.set("receipt." .. out.receipt, true)
  end
  return out
end)

skill("return_color", function(args)
  local receipt = args.receipt
  if type(receipt) ~= "string" or #receipt == 0 or #receipt > 64 then
    error({ code = "bad_request", message = "give the receipt share_color answered, e.g. {\"receipt\":\"7-...\"}" })
  end
  local key = "receipt." .. receipt
  if state.get(key) == nil then
    error({ code = "unknown_receipt",
            message = "no unit of " .. color() .. " is out on receipt " .. receipt ..
              " (given back already, or the inventory was reset since)" })
  end
  state.delete(key)
  return { color = color(), qty = state.incr("qty", 1) }
end)

skill("reset_inventory", reset)

-- A fresh install starts full; an update keeps the inventory it had.
on("init", function()
  if state.get("qty") == nil then reset() end
end)
on("startup", reset)
on("system.reset", reset)
