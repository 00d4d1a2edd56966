-- Shipments seen by this node, counted by status.
skill('summary', function()
  local by_status, total = {}, 0
  for _, s in ipairs(data.query('shipment', nil, 1000)) do
    local status = s.properties.status or '?'
    by_status[status] = (by_status[status] or 0) + 1
    total = total + 1
  end
  return { by_status = by_status, total = total }
end)

-- Every change to a shipment, local or from a peer, lands here.
on('data.shipment.changed', function(e)
  log.info(('shipment %s changed (from %s)'):format(table.concat(e.ids, ', '), e.from))
end)
