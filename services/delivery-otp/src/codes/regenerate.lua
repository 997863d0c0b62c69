-- A new code for the same shipment: the old one stops at once, attempts and
-- lock reset, bounded by a growing cooldown and a maximum count (against SMS
-- pumping). 'lastRegen' is the time of the last send (the issue's or a regenerate's).
-- The account, courier, window and generation come from the shipment's row
-- (the caller holds its lock), so a store left holding another account's or
-- an uncommitted code is repaired rather than carried on.
-- KEYS[1] the shipment's code hash
-- ARGV    nowMs, cooldownMs (the first, doubled with each regeneration), maxRegenerations, sealed, hkid, hmac,
--         then the row's account, courier, window start, window end, expiry, generation
-- returns { verdict, generation, retryAfterMs, regenerations, (ok) the replaced hash's field/value pairs... }
--   verdict: not_found | already | cooldown | limit | ok
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key = KEYS[1]
local f = redis.call('HMGET', key, 'state', 'regens', 'lastRegen', 'gen')
if not present(f[1]) then return { 'not_found', 0, 0, 0 } end
if f[1] == 'handed_off' then return { 'already', 0, 0, 0 } end
local now, cooldown, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local regens, last = tonumber(f[2]) or 0, tonumber(f[3]) or 0
if regens >= max then return { 'limit', tonumber(f[4]) or 0, redis.call('PTTL', key), regens } end
-- SECURITY C9 (mirrors regenerate-cooldown.ts): the cooldown doubles with each send, the issue
-- being the first (base, 2x base, 4x base...), from the last send; the answer is the time left.
local wait = cooldown * (2 ^ regens)
if now - last < wait then return { 'cooldown', tonumber(f[4]) or 0, wait - (now - last), regens } end
local replaced = redis.call('HGETALL', key)
local gen = tonumber(ARGV[12]) + 1
redis.call('HSET', key, 'sealed', ARGV[4], 'hkid', ARGV[5], 'hmac', ARGV[6], 'attempts', 0, 'state', 'awaiting_handoff',
  'regens', regens + 1, 'lastRegen', ARGV[1],
  'acct', ARGV[7], 'courier', ARGV[8], 'ws', ARGV[9], 'we', ARGV[10], 'exp', ARGV[11], 'gen', gen)
redis.call('PEXPIREAT', key, ARGV[11])
return { 'ok', gen, 0, regens + 1, unpack(replaced) }
