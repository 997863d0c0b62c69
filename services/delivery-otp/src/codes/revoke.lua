-- Revokes a shipment's code (a cancel): the hash goes at once, and a marker
-- names this revoke (its token) until revert.lua puts the hash back (the
-- cancel's transaction did not commit) or another revoke runs.
-- KEYS[1] the shipment's code hash, KEYS[2] the shipment's revoke marker
-- ARGV    the revoke's token
-- returns { verdict, (ok) the revoked code's state, attempts, regens, lastRegen, then the whole hash's field/value pairs }
--   verdict: not_found | already | ok
--   ok: what the shipment's next code inherits (kept on its row by the caller; SECURITY C5, C9),
--       and the hash for revert.lua
--   not_found: also clears the marker: this revoke (whose cancel may commit) saw no code, so a
--       revert of an earlier revoke must not bring one back under it
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key, marker = KEYS[1], KEYS[2]
local c = redis.call('HMGET', key, 'state', 'attempts', 'regens', 'lastRegen', 'exp')
local state = c[1]
if not present(state) then
  redis.call('DEL', marker)
  return { 'not_found' }
end
if state == 'handed_off' then return { 'already' } end
local revoked = redis.call('HGETALL', key)
redis.call('DEL', key)
redis.call('SET', marker, ARGV[1])
-- The marker is of no use once the code would have expired anyway.
local exp = tonumber(c[5])
if exp then redis.call('PEXPIREAT', marker, exp) else redis.call('PEXPIRE', marker, 60000) end
local function num(v) if present(v) then return tostring(v) end return '0' end
return { 'ok', state, num(c[2]), num(c[3]), num(c[4]), unpack(revoked) }
