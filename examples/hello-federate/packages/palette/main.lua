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
  -- Verify both colours by taking one unit of each from its provider.
  for i, c in ipairs({ c1, c2 }) do
    local r = fed.call(nodes[i], "color_tools/share_color", {})
    if not r.in_stock then
      error({ code = "out_of_stock", message = c .. " is unavailable (node " .. nodes[i] .. ")" })
    end
  end
  if c1 == c2 then
    return { color = c1, rgb = BASE[c1] or "", from = { c1, c2 } }
  end
  local key = c1 < c2 and (c1 .. "+" .. c2) or (c2 .. "+" .. c1)
  local blend = BLENDS[key]
  if blend == nil then
    error({ code = "unknown_color", message = "no blend is known for " .. key })
  end
  return { color = blend.color, rgb = blend.rgb, from = { c1, c2 } }
end)

on("startup", function() discover() end)
