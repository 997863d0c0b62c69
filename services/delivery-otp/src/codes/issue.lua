-- Stores a freshly issued code in place of whatever code the shipment had.
-- A re-issue is no way out of a lock: the handoff's spent attempts and lock,
-- and the shipment's regeneration count, carry over to the new code (only the
-- customer's regenerate or a support unlock reset them). When the store holds
-- no code (after a cancel, an expiry or the loss of Redis) the caller's fields
-- bring them from the shipment's row instead; when it holds one, the attempts
-- are the larger of its count and the row's, and locked if either is (the
-- caller holds the shipment's lock, so the row is what committed: an unlock
-- that lifted the lock in the store only, and did not commit, is not carried
-- to the new code; a committed unlock or regenerate reset the row too). A handed-off
-- shipment is final: its tombstone is never replaced.
-- KEYS[1] the shipment's code hash
-- ARGV    expiresAtMs, then field/value pairs
-- returns { 'already' } or { 'ok', state, the replaced hash's field/value pairs... } (for restore.lua)
local key = KEYS[1]
local replaced = redis.call('HGETALL', key)
local old = {}
for i = 1, #replaced, 2 do old[replaced[i]] = replaced[i + 1] end
if old['state'] == 'handed_off' then return { 'already' } end
redis.call('DEL', key)
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
if old['state'] then
  local given = {}
  for i = 2, #ARGV - 1, 2 do given[ARGV[i]] = ARGV[i + 1] end
  local state = old['state']
  if given['state'] == 'locked' then state = 'locked' end
  local attempts = math.max(tonumber(old['attempts']) or 0, tonumber(given['attempts']) or 0)
  redis.call('HSET', key, 'state', state, 'attempts', attempts,
    'regens', old['regens'] or 0, 'lastRegen', old['lastRegen'] or 0)
end
redis.call('PEXPIREAT', key, ARGV[1])
-- One table constructor: the embedded mode's Lua (fengari in ioredis-mock) returns
-- a table grown after its construction as nil.
return { 'ok', redis.call('HGET', key, 'state'), unpack(replaced) }
