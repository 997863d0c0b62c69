-- Changes a live code's window, courier or lock without touching the code.
-- KEYS[1] the shipment's code hash
-- ARGV    op (reschedule | unlock | revoke), then for reschedule: ws, we, exp, courier ('' keeps it)
-- returns { verdict, state }   verdict: not_found | already | ok
local key = KEYS[1]
local state = redis.call('HGET', key, 'state')
if not state then return { 'not_found', '' } end
if state == 'handed_off' then return { 'already', state } end
local op = ARGV[1]
if op == 'revoke' then
  redis.call('DEL', key)
  return { 'ok', 'cancelled' }
elseif op == 'unlock' then
  redis.call('HSET', key, 'attempts', 0, 'state', 'awaiting_handoff')
  return { 'ok', 'awaiting_handoff' }
elseif op == 'reschedule' then
  redis.call('HSET', key, 'ws', ARGV[2], 'we', ARGV[3], 'exp', ARGV[4])
  if ARGV[5] ~= '' then redis.call('HSET', key, 'courier', ARGV[5]) end
  redis.call('PEXPIREAT', key, ARGV[4])
  return { 'ok', state }
end
return redis.error_reply('unknown op')
