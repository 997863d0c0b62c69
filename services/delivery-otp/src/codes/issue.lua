-- Stores a freshly issued code in place of whatever code the shipment had.
-- A re-issue is no way out of a lock: the handoff's spent attempts and lock,
-- and the shipment's regeneration count, carry over to the new code (only the
-- customer's regenerate or a support unlock reset them). When the store holds
-- no code (after a cancel, an expiry or the loss of Redis) the caller's fields
-- bring them from the shipment's row instead. A handed-off
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
  redis.call('HSET', key, 'state', old['state'], 'attempts', old['attempts'] or 0,
    'regens', old['regens'] or 0, 'lastRegen', old['lastRegen'] or 0)
end
redis.call('PEXPIREAT', key, ARGV[1])
-- One table constructor: the embedded mode's Lua (fengari in ioredis-mock) returns
-- a table grown after its construction as nil.
return { 'ok', redis.call('HGET', key, 'state'), unpack(replaced) }
