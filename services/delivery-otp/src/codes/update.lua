-- Changes a live code's window, courier or lock without touching the code.
-- KEYS[1] the shipment's code hash
-- ARGV    op (reschedule | unlock), the change's token, then
--         reschedule: ws, we, exp, courier ('' keeps it), the account and generation the shipment's
--                     row names ('' for either: not compared), then the row's ws, we, exp, courier
--                     (what a revert puts back; absent: the hash's)
--         unlock:     the row's spent attempts and lock ('1' locked; absent: the hash's alone)
-- returns { verdict, state, (ok) the code's generation and HMAC, then the fields changed as they were }
--   verdict: not_found | already | stale | ok
--   ok: the token is kept in the hash, one field per kind of change ('chgUnlock' for an unlock,
--       'chgWindow' for a reschedule: they change different fields), so revert.lua can put the
--       fields back if the caller's transaction does not commit, while the hash still holds this
--       very change (the same token, generation and HMAC: never over a later change of the same
--       kind, a code or a handoff); settle (revert.lua) drops it once the transaction committed.
--       "As they were" is what the shipment's row holds (the caller holds its lock, so the row is
--       what committed): an earlier change of the same kind that did not commit, and whose revert
--       this change now voids, is not put back by this one's revert. An unlock's are the larger
--       of the row's and the hash's (a wrong code not yet mirrored, a lock not yet on the row).
--   stale: reschedule refused, the hash holds no usable code or not the row's
--          (another account or generation: an undo or issue that went wrong);
--          the caller issues a fresh code instead of keeping it
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key = KEYS[1]
local f = redis.call('HMGET', key, 'state', 'hmac', 'acct', 'gen', 'ws', 'we', 'exp', 'courier', 'attempts')
local state = f[1]
if not present(state) then return { 'not_found', '' } end
if state == 'handed_off' then return { 'already', state } end
local op, token = ARGV[1], ARGV[2]
local function str(v) if present(v) then return tostring(v) end return '' end
-- The row's value when the caller gave one, else the hash's.
local function row(i, v) if ARGV[i] and ARGV[i] ~= '' then return ARGV[i] end return str(v) end
if not present(f[2]) then
  -- A withdrawn code (restore.lua): nothing to unlock or keep.
  if op == 'unlock' then return { 'not_found', state } end
  return { 'stale', state }
elseif op == 'unlock' then
  local attempts = math.max(tonumber(f[9]) or 0, tonumber(ARGV[3]) or 0)
  local was = state
  if ARGV[4] == '1' then was = 'locked' end
  redis.call('HSET', key, 'attempts', 0, 'state', 'awaiting_handoff', 'chgUnlock', token)
  return { 'ok', 'awaiting_handoff', str(f[4]), str(f[2]), 'state', was, 'attempts', tostring(attempts) }
elseif op == 'reschedule' then
  if (ARGV[7] and ARGV[7] ~= '' and tostring(f[3]) ~= ARGV[7]) or (ARGV[8] and ARGV[8] ~= '' and tonumber(f[4]) ~= tonumber(ARGV[8])) then
    return { 'stale', state }
  end
  redis.call('HSET', key, 'ws', ARGV[3], 'we', ARGV[4], 'exp', ARGV[5], 'chgWindow', token)
  if ARGV[6] ~= '' then redis.call('HSET', key, 'courier', ARGV[6]) end
  redis.call('PEXPIREAT', key, ARGV[5])
  return { 'ok', state, str(f[4]), str(f[2]), 'ws', row(9, f[5]), 'we', row(10, f[6]), 'exp', row(11, f[7]), 'courier', row(12, f[8]) }
end
return redis.error_reply('unknown op')
