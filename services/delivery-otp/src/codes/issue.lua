-- Stores a freshly issued code, replacing whatever the shipment had.
-- KEYS[1] the shipment's code hash
-- ARGV    expiresAtMs, then field/value pairs
redis.call('DEL', KEYS[1])
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
