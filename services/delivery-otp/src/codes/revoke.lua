-- Revokes a shipment's code (a cancel): the hash goes at once, and a marker
-- names this revoke (its token) until revert.lua puts the hash back (the
-- cancel's transaction did not commit) or another revoke runs.
-- The code's spent attempts and lock are the larger of the hash's and those the
-- shipment's row holds (the caller holds its lock, so the row is what
-- committed), and its window and courier the row's: an unlock or reschedule
-- that changed the store but did not commit (its revert, refused once the hash
-- is gone, cannot put it back) is neither carried to the next code nor brought
-- back by this revoke's revert; a committed unlock or regenerate reset the row too.
-- KEYS[1] the shipment's code hash, KEYS[2] the shipment's revoke marker
-- ARGV    the revoke's token, then the row's spent attempts and lock ('1' locked),
--         window start, window end, expiry and courier (absent: the hash's alone)
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
local attempts = math.max(tonumber(c[2]) or 0, tonumber(ARGV[2]) or 0)
if ARGV[3] == '1' then state = 'locked' end
-- In place (every code's hash has both fields): the embedded mode's Lua returns a grown table as nil.
local fromRow = { ws = ARGV[4], we = ARGV[5], exp = ARGV[6], courier = ARGV[7] }
for i = 1, #revoked, 2 do
  local name = revoked[i]
  if name == 'state' then revoked[i + 1] = state end
  if name == 'attempts' then revoked[i + 1] = tostring(attempts) end
  if fromRow[name] and fromRow[name] ~= '' then revoked[i + 1] = fromRow[name] end
end
redis.call('DEL', key)
redis.call('SET', marker, ARGV[1])
-- The marker is of no use once the code would have expired anyway, nor once the revoke's
-- revert (which runs as soon as its transaction failed, or within the undo's 5 s look at
-- the row) can no longer be coming: 5 minutes at most. A marker a crash left (between the
-- revoke and the commit) would otherwise make a handoff, and the customer's app, wait for a
-- code that never comes back until the window's end; once it is gone the code counts as
-- lost (a handoff answers 423, the app issues a new code).
local exp = tonumber(c[5])
if exp then redis.call('PEXPIREAT', marker, exp) else redis.call('PEXPIRE', marker, 60000) end
if redis.call('PTTL', marker) > 300000 then redis.call('PEXPIRE', marker, 300000) end
local function num(v) if present(v) then return tostring(v) end return '0' end
return { 'ok', state, tostring(attempts), num(c[3]), num(c[4]), unpack(revoked) }
