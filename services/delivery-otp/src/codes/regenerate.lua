-- A new code for the same shipment: the old one stops at once, attempts and
-- lock reset, bounded by a cooldown and a maximum count (against SMS pumping).
-- KEYS[1] the shipment's code hash
-- ARGV    nowMs, cooldownMs, maxRegenerations, sealed, hkid, hmac
-- returns { verdict, generation, retryAfterMs }
--   verdict: not_found | already | cooldown | limit | ok
local key = KEYS[1]
local f = redis.call('HMGET', key, 'state', 'regens', 'lastRegen', 'gen')
if not f[1] then return { 'not_found', 0, 0 } end
if f[1] == 'handed_off' then return { 'already', 0, 0 } end
local now, cooldown, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local regens, last = tonumber(f[2]) or 0, tonumber(f[3]) or 0
if regens >= max then return { 'limit', tonumber(f[4]) or 0, redis.call('PTTL', key) } end
if now - last < cooldown then return { 'cooldown', tonumber(f[4]) or 0, cooldown - (now - last) } end
local gen = redis.call('HINCRBY', key, 'gen', 1)
redis.call('HSET', key, 'sealed', ARGV[4], 'hkid', ARGV[5], 'hmac', ARGV[6], 'attempts', 0, 'state', 'awaiting_handoff',
  'regens', regens + 1, 'lastRegen', ARGV[1])
return { 'ok', gen, 0 }
