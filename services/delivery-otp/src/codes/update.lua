-- Changes a live code's window, courier or lock without touching the code.
-- KEYS[1] the shipment's code hash
-- ARGV    op (reschedule | unlock | revoke), then for reschedule: ws, we, exp, courier ('' keeps it),
--         and the account and generation the shipment's row names ('' for either: not compared)
-- returns { verdict, state }   verdict: not_found | already | stale | ok
--   revoke ok: { 'ok', the revoked code's state, attempts, regens, lastRegen }: what the
--   shipment's next code inherits (kept on its row by the caller; SECURITY C5, C9)
--   stale: reschedule refused, the hash holds no usable code or not the row's
--          (another account or generation: an undo or issue that went wrong);
--          the caller issues a fresh code instead of keeping it
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key = KEYS[1]
local f = redis.call('HMGET', key, 'state', 'hmac', 'acct', 'gen')
local state = f[1]
if not present(state) then return { 'not_found', '' } end
if state == 'handed_off' then return { 'already', state } end
local op = ARGV[1]
if op == 'revoke' then
  local c = redis.call('HMGET', key, 'attempts', 'regens', 'lastRegen')
  redis.call('DEL', key)
  local function num(v) if present(v) then return tostring(v) end return '0' end
  return { 'ok', state, num(c[1]), num(c[2]), num(c[3]) }
elseif not present(f[2]) then
  -- A withdrawn code (restore.lua): nothing to unlock or keep.
  if op == 'unlock' then return { 'not_found', state } end
  return { 'stale', state }
elseif op == 'unlock' then
  redis.call('HSET', key, 'attempts', 0, 'state', 'awaiting_handoff')
  return { 'ok', 'awaiting_handoff' }
elseif op == 'reschedule' then
  if (ARGV[6] and ARGV[6] ~= '' and tostring(f[3]) ~= ARGV[6]) or (ARGV[7] and ARGV[7] ~= '' and tonumber(f[4]) ~= tonumber(ARGV[7])) then
    return { 'stale', state }
  end
  redis.call('HSET', key, 'ws', ARGV[2], 'we', ARGV[3], 'exp', ARGV[4])
  if ARGV[5] ~= '' then redis.call('HSET', key, 'courier', ARGV[5]) end
  redis.call('PEXPIREAT', key, ARGV[4])
  return { 'ok', state }
end
return redis.error_reply('unknown op')
