-- The atomic handoff check (ARCHITECTURE.md "Rules for codes", SECURITY.md C3, C5, C7).
-- One script: assignment, state, time rule, constant-time HMAC compare, attempt
-- count, lock at the limit, mark handed off. Of N concurrent right codes exactly
-- one gets 'ok'; the rest see state 'handed_off'.
--
-- KEYS[1]  the shipment's code hash
-- ARGV     courierId, deviceId, nowMs, atMs, toleranceMs, maxAttempts, attemptId,
--          then pairs of (key id, hex digest of the submitted code under that key)
-- returns  { verdict, attemptsRemaining, generation, detail }
--   verdict: not_found | not_assigned | already | locked | window_closed | key_unavailable
--            | mismatch | locked_now | ok
--   detail:  for window_closed the reason; for already the device, the attempt id and the device time (ms) that handed off
-- A field HMGET found (the embedded mode's Lua returns a missing one as a truthy null).
local function present(v) return type(v) == 'string' or type(v) == 'number' end
local key = KEYS[1]
local f = redis.call('HMGET', key, 'state', 'courier', 'ws', 'we', 'exp', 'attempts', 'hkid', 'hmac', 'gen', 'doneDevice', 'doneAttempt', 'doneAt')
local state = f[1]
if not state then return { 'not_found', 0, 0, '' } end
local courier, ws, we, exp = f[2], tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
local attempts, hkid, stored, gen = tonumber(f[6]) or 0, f[7], f[8], tonumber(f[9]) or 0
local maxAttempts = tonumber(ARGV[6])
local remaining = math.max(maxAttempts - attempts, 0)

if courier ~= ARGV[1] then return { 'not_assigned', remaining, gen, '' } end
if state == 'handed_off' then return { 'already', 0, gen, (f[10] or '') .. ' ' .. (f[11] or '') .. ' ' .. (f[12] or '') } end
-- A withdrawn code (restore.lua: an issue whose outcome was unknown) is no code: locked until re-issued or regenerated.
if state == 'locked' or attempts >= maxAttempts or not present(stored) then return { 'locked', 0, gen, '' } end

-- Time rule (mirrors handoff-time.ts).
local now, at, tol = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if now > exp then return { 'window_closed', remaining, gen, 'expired' } end
if at > now + tol then return { 'window_closed', remaining, gen, 'device_clock_ahead' } end
local function inside(t) return t >= ws and t <= we end
local timeOk
if at >= now - tol then timeOk = inside(at) or inside(now) else timeOk = inside(at) end
if not timeOk then return { 'window_closed', remaining, gen, 'outside_window' } end

local submitted
for i = 8, #ARGV - 1, 2 do
  if ARGV[i] == hkid then submitted = ARGV[i + 1] end
end
if not submitted or not stored then return { 'key_unavailable', remaining, gen, '' } end

-- Constant-time compare of equal-length hex digests: every byte is visited,
-- with no branch on the data. Plain arithmetic rather than the `bit` library,
-- which Redis has but the embedded mode's Lua (fengari) does not.
local diff = 0
if #submitted ~= #stored then diff = 1 end
local n = math.min(#submitted, #stored)
for i = 1, n do
  diff = diff + math.abs(string.byte(submitted, i) - string.byte(stored, i))
end

if diff == 0 then
  redis.call('HSET', key, 'state', 'handed_off', 'doneDevice', ARGV[2], 'doneAt', ARGV[4], 'doneAttempt', ARGV[7])
  -- Single use: the code itself is gone; the tombstone stays until the code's expiry.
  redis.call('HDEL', key, 'sealed', 'hmac', 'hkid')
  return { 'ok', remaining, gen, '' }
end

attempts = redis.call('HINCRBY', key, 'attempts', 1)
if attempts >= maxAttempts then
  redis.call('HSET', key, 'state', 'locked')
  return { 'locked_now', 0, gen, '' }
end
return { 'mismatch', maxAttempts - attempts, gen, '' }
