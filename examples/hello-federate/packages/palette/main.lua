-- palette: discovers colour providers among the federated peers and blends colours.

local BASE = { red = "#FF0000", blue = "#0000FF", yellow = "#FFFF00" }
local BLENDS = {
  ["blue+red"] = { color = "purple", rgb = "#800080" },
  ["red+yellow"] = { color = "orange", rgb = "#FFA500" },
  ["blue+yellow"] = { color = "green", rgb = "#008000" },
}

-- Asks every peer exporting identify_self, all at once; remembers colour -> node.
local function discover()
  local names = {}
  for i, p in ipairs(fed.peers({ skill = "color_tools/identify_self" })) do
    names[i] = p.name
  end
  local providers, colors = {}, {}
  if #names > 0 then
    for _, r in ipairs(fed.call_all(names, "color_tools/identify_self", {})) do
      if r.ok then
        providers[r.result.color] = r.peer
        colors[#colors + 1] = { color = r.result.color, node = r.peer }
      else
        log.warn("could not ask " .. r.peer .. ": " .. r.error.message)
      end
    end
  end
  table.sort(colors, function(a, b) return a.color < b.color end)
  state.set("providers", providers)
  return colors
end

local function provider_of(c)
  local providers = state.get("providers") or {}
  if providers[c] == nil then
    discover()
    providers = state.get("providers") or {}
  end
  return providers[c]
end

skill("list_all_colors", function()
  return { colors = discover() }
end)

skill("reset_available_colors", function()
  return { providers = #discover() }
end)

-- A blend takes one unit of each colour or none. Each unit taken comes with a receipt; when
-- the second unit cannot be taken, the first goes back with its receipt. A give-back that
-- fails (its node did not answer, or refused) is kept as owed.<receipt> and tried again
-- before the next blend; the colour node honours a receipt once, so trying twice is safe.
local function give_back(node, receipt)
  local ok, err = pcall(function()
    return fed.call(node, "color_tools/return_color", { receipt = receipt })
  end)
  if ok or (type(err) == "table" and err.code == "unknown_receipt") then return true end
  local why = type(err) == "table" and (tostring(err.code) .. ": " .. tostring(err.message)) or tostring(err)
  state.set("owed." .. receipt, node)
  log.warn("could not give back receipt " .. receipt .. " to " .. node .. " (" .. why .. "); will retry")
  return false, why
end

-- Gives back what earlier blends still owe.
local function settle()
  for _, key in ipairs(state.keys("owed.")) do
    local node = state.get(key)
    if node ~= nil then
      state.delete(key)  -- before the call: a blend running meanwhile must not send it twice
      give_back(node, key:sub(#"owed." + 1))
    end
  end
end

skill("color_blend", function(args)
  local c1, c2 = args.color1, args.color2
  if type(c1) ~= "string" or type(c2) ~= "string" then
    error({ code = "bad_request", message = "give color1 and color2, e.g. {\"color1\":\"red\",\"color2\":\"yellow\"}" })
  end
  local nodes = {}
  for i, c in ipairs({ c1, c2 }) do
    nodes[i] = provider_of(c)
    if nodes[i] == nil then
      error({ code = "unknown_color", message = c .. " is not offered by any federated node" })
    end
  end
  -- Known before anything is taken.
  local result
  if c1 == c2 then
    result = { color = c1, rgb = BASE[c1] or "", from = { c1, c2 } }
  else
    local key = c1 < c2 and (c1 .. "+" .. c2) or (c2 .. "+" .. c1)
    local blend = BLENDS[key]
    if blend == nil then
      error({ code = "unknown_color", message = "no blend is known for " .. key })
    end
    result = { color = blend.color, rgb = blend.rgb, from = { c1, c2 } }
  end
  settle()
  -- The first unit: nothing to give back if it fails.
  local first = fed.call(nodes[1], "color_tools/share_color", {})
  if not first.in_stock then
    error({ code = "out_of_stock", message = c1 .. " is unavailable (node " .. nodes[1] .. ")" })
  end
  -- The second: if it fails for any reason, the first goes back.
  local ok, second = pcall(function()
    return fed.call(nodes[2], "color_tools/share_color", {})
  end)
  if ok and second.in_stock then return result end
  local failure = second
  if ok then
    failure = { code = "out_of_stock", message = c2 .. " is unavailable (node " .. nodes[2] .. ")" }
  elseif type(failure) ~= "table" then
    failure = { code = "skill_failed", message = tostring(failure) }
  end
  local back, why = false, "node " .. nodes[1] .. " gave no receipt"
  if first.receipt ~= nil then back, why = give_back(nodes[1], first.receipt) end
  if not back then
    failure.message = failure.message .. "; the unit of " .. c1 .. " taken from node " .. nodes[1] ..
      " could not be given back yet (" .. why .. "), it will be before the next blend"
  end
  error(failure)
end)

on("startup", function() discover() end)
