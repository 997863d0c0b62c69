-- Puts back what a revoke (revoke.lua) or a reschedule or unlock (update.lua)
-- changed, when the caller's transaction did not commit. Left alone unless the
-- store still shows that very change, so a revert never undoes anything later:
--   revoke: no hash (nothing issued since) and the marker still names the
--           revoke's token (no other revoke, whose cancel may have committed,
--           saw the code gone). `restore` brings the whole hash back;
--           `withdraw` (whether the cancel committed is unknown) brings back
--           its attempts, lock and regenerations but not the code (sealed
--           code and HMAC left out: unusable and unreadable, a handoff
--           answers locked), as restore.lua's withdraw.
--   reschedule, unlock: the hash still carries the change's token (in its
--           kind's field: 'chgWindow' for a reschedule, 'chgUnlock' for an
--           unlock; each kind changes its own fields, so a revert of one kind
--           is neither refused for nor undoes a change of the other kind that
--           came after it) and the same code (generation and HMAC), not handed
--           off. A later change of the same kind took the field: it may have
--           committed, so the revert is refused (that change's own values
--           "as they were" are the row's, see update.lua). A
--           reschedule's window, expiry and courier come back; an unlock's
--           lock comes back, with the attempts spent before it and since
--           (an undo never lifts a lock or forgives a wrong code).
--   settle (mode): the change committed; its token is dropped if the hash
--           (or, for a revoke, the marker) still holds it, so the hash shows no
--           pending change of that kind (confirm-handoff.ts reads 'chgUnlock').
-- KEYS[1] the shipment's code hash, KEYS[2] the shipment's revoke marker
-- ARGV    op (revoke | reschedule | unlock), mode (restore | withdraw | settle), token,
--         the code's generation and HMAC ('' for a revoke), then the field/value pairs as they were
-- returns 1 when changed, 0 when left alone
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key, marker = KEYS[1], KEYS[2]
local op, mode, token = ARGV[1], ARGV[2], ARGV[3]
local old = {}
for i = 6, #ARGV - 1, 2 do old[ARGV[i]] = ARGV[i + 1] end

if op == 'revoke' then
  if mode == 'settle' then
    if tostring(redis.call('GET', marker)) ~= token then return 0 end
    redis.call('DEL', marker)
    return 1
  end
  if redis.call('EXISTS', key) == 1 then return 0 end
  if tostring(redis.call('GET', marker)) ~= token then return 0 end
  local fields = {}
  for i = 6, #ARGV - 1, 2 do
    local name = ARGV[i]
    if mode ~= 'withdraw' or (name ~= 'sealed' and name ~= 'hmac' and name ~= 'hkid') then
      fields[#fields + 1] = name
      fields[#fields + 1] = ARGV[i + 1]
    end
  end
  redis.call('DEL', marker)
  if #fields == 0 then return 0 end
  redis.call('HSET', key, unpack(fields))
  if old['exp'] then redis.call('PEXPIREAT', key, old['exp']) end
  return 1
end

local field
if op == 'reschedule' then field = 'chgWindow' elseif op == 'unlock' then field = 'chgUnlock' else return redis.error_reply('unknown op') end
local cur = redis.call('HMGET', key, 'state', field, 'gen', 'hmac', 'attempts')
if mode == 'settle' then
  if not present(cur[2]) or tostring(cur[2]) ~= token then return 0 end
  redis.call('HDEL', key, field)
  return 1
end
if not present(cur[1]) or cur[1] == 'handed_off' then return 0 end
if tostring(cur[2]) ~= token or tostring(cur[3]) ~= ARGV[4] or tostring(cur[4]) ~= ARGV[5] then return 0 end
if op == 'reschedule' then
  redis.call('HSET', key, 'ws', old['ws'], 'we', old['we'], 'exp', old['exp'], 'courier', old['courier'])
  redis.call('PEXPIREAT', key, old['exp'])
elseif op == 'unlock' then
  local attempts = (tonumber(old['attempts']) or 0) + (tonumber(cur[5]) or 0)
  local state = cur[1]
  if old['state'] == 'locked' then state = 'locked' end
  redis.call('HSET', key, 'attempts', attempts, 'state', state)
end
redis.call('HDEL', key, field)
return 1
