-- Undoes an issue whose transaction failed: the code it replaced comes back
-- (or none, if there was none), so the store again matches the shipment's
-- row. Left alone if the issued code has since been replaced (another
-- generation), revoked or handed off. Attempts spent on it meanwhile, and a
-- lock, stay.
-- KEYS[1] the shipment's code hash
-- ARGV    the generation the issue wrote, then the replaced hash's field/value pairs
-- returns 1 when restored, 0 when left alone
local key = KEYS[1]
local cur = redis.call('HMGET', key, 'state', 'gen', 'attempts')
if not cur[1] or cur[1] == 'handed_off' or cur[2] ~= ARGV[1] then return 0 end
redis.call('DEL', key)
if #ARGV < 3 then return 1 end
local fields, exp = {}, nil
for i = 2, #ARGV - 1, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  if ARGV[i] == 'exp' then exp = ARGV[i + 1] end
end
redis.call('HSET', key, unpack(fields))
redis.call('HSET', key, 'attempts', cur[3] or 0)
if cur[1] == 'locked' then redis.call('HSET', key, 'state', 'locked') end
if exp then redis.call('PEXPIREAT', key, exp) end
return 1
