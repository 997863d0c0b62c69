-- Drops a stale copy of a shipment's code hash: one the shipment's row does not
-- name any more (Redis went back in time: a failover to a lagging replica, a
-- restart from an older snapshot), so it can neither pass a handoff again nor
-- be shown. The caller holds the shipment's lock and read the row.
-- Only that very copy goes: the hash must still be of `generation` and, when an
-- attempt id is given, the tombstone of that approval (state handed_off).
-- KEYS[1] the shipment's code hash
-- ARGV    generation, attempt id ('' for any copy of that generation)
-- returns 1 when dropped, 0 when left alone
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key = KEYS[1]
local f = redis.call('HMGET', key, 'state', 'gen', 'doneAttempt')
if not present(f[1]) then return 0 end
if (tonumber(f[2]) or 0) ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] ~= '' and (f[1] ~= 'handed_off' or tostring(f[3]) ~= ARGV[2]) then return 0 end
redis.call('DEL', key)
return 1
