-- Undoes an issue or a regenerate whose transaction did not commit (the
-- caller verified that against the shipment's row, under its lock), so the
-- store again matches the row. Left alone unless the hash still holds the
-- very code that was issued (same generation and HMAC): a code since
-- replaced, revoked or handed off stays as it is.
--   restore:  the code it replaced comes back (or none, if there was none).
--             A lock and the spent attempts are never lifted by an undo: the
--             attempts are the larger count, and locked if either code was.
--   withdraw: what it replaced is unknown (or whether it committed is): the
--             issued code is made unusable and unreadable (sealed code and
--             HMAC removed; a handoff answers locked), keeping the attempts,
--             lock and regenerations. A re-issue or a regenerate repairs it.
-- A restored hash keeps the change tokens it held (update.lua): a reschedule
-- or unlock made before the issue whose transaction failed, and whose revert
-- comes after this restore, still finds its change and puts it back (an
-- unlock's lock returns); one that committed never reverts, and a later
-- change of the same kind replaces the token.
-- KEYS[1] the shipment's code hash
-- ARGV    mode (restore | withdraw), the issued generation, the issued HMAC,
--         then (restore) the replaced hash's field/value pairs
-- returns 1 when changed, 0 when left alone
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key = KEYS[1]
local cur = redis.call('HMGET', key, 'state', 'gen', 'attempts', 'hmac')
if not present(cur[1]) or cur[1] == 'handed_off' then return 0 end
if tonumber(cur[2]) ~= tonumber(ARGV[2]) or tostring(cur[4]) ~= ARGV[3] then return 0 end
if ARGV[1] == 'withdraw' then
  redis.call('HDEL', key, 'sealed', 'hmac', 'hkid')
  return 1
end
redis.call('DEL', key)
if #ARGV < 5 then return 1 end
local fields, old = {}, {}
for i = 4, #ARGV - 1, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  old[ARGV[i]] = ARGV[i + 1]
end
redis.call('HSET', key, unpack(fields))
local attempts = math.max(tonumber(old['attempts']) or 0, tonumber(cur[3]) or 0)
redis.call('HSET', key, 'attempts', attempts)
if cur[1] == 'locked' then redis.call('HSET', key, 'state', 'locked') end
if old['exp'] then redis.call('PEXPIREAT', key, old['exp']) end
return 1
