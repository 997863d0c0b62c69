-- Changes a live code's window, courier or lock without touching the code.
-- KEYS[1] the shipment's code hash
-- ARGV    op (reschedule | unlock), the change's token, then for reschedule: ws, we, exp, courier ('' keeps it),
--         and the account and generation the shipment's row names ('' for either: not compared)
-- returns { verdict, state, (ok) the code's generation and HMAC, then the fields changed as they were }
--   verdict: not_found | already | stale | ok
--   ok: the token is kept in the hash ('chg'), so revert.lua can put the fields back if the
--       caller's transaction does not commit, while the hash still holds this very change
--       (the same token, generation and HMAC: never over a later change, code or handoff)
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
if not present(f[2]) then
  -- A withdrawn code (restore.lua): nothing to unlock or keep.
  if op == 'unlock' then return { 'not_found', state } end
  return { 'stale', state }
elseif op == 'unlock' then
  redis.call('HSET', key, 'attempts', 0, 'state', 'awaiting_handoff', 'chg', token)
  return { 'ok', 'awaiting_handoff', str(f[4]), str(f[2]), 'state', state, 'attempts', str(f[9]) }
elseif op == 'reschedule' then
  if (ARGV[7] and ARGV[7] ~= '' and tostring(f[3]) ~= ARGV[7]) or (ARGV[8] and ARGV[8] ~= '' and tonumber(f[4]) ~= tonumber(ARGV[8])) then
    return { 'stale', state }
  end
  redis.call('HSET', key, 'ws', ARGV[3], 'we', ARGV[4], 'exp', ARGV[5], 'chg', token)
  if ARGV[6] ~= '' then redis.call('HSET', key, 'courier', ARGV[6]) end
  redis.call('PEXPIREAT', key, ARGV[5])
  return { 'ok', state, str(f[4]), str(f[2]), 'ws', str(f[5]), 'we', str(f[6]), 'exp', str(f[7]), 'courier', str(f[8]) }
end
return redis.error_reply('unknown op')
