"""Every Lua script run inside Redis. Each call touches the keys of one hash tag only, so it is
atomic and runs unchanged on a Redis Cluster."""

from __future__ import annotations

# KEYS: alias, consent, events, profile of the id written to.
# ARGV: member, ts, type, category, channel, hour, price, brand, history_len, ttl, read,
# then the profile fields to read back.
# Returns {"noconsent"}, {"alias", person} (the id is linked: write to the person instead)
# or {"ok", [recent members], [values of the profile fields asked for]}.
RECORD = """
if redis.call('GET', KEYS[2]) == '0' then return {'noconsent'} end
local person = redis.call('GET', KEYS[1])
if person then return {'alias', person} end
local ts, n, ttl = tonumber(ARGV[2]), tonumber(ARGV[9]), tonumber(ARGV[10])
if redis.call('ZADD', KEYS[3], ts, ARGV[1]) == 1 then
  local p = KEYS[4]
  redis.call('HINCRBY', p, 'n', 1)
  local first = redis.call('HGET', p, 'first_ts')
  if not first or ts < tonumber(first) then redis.call('HSET', p, 'first_ts', ARGV[2]) end
  local last = redis.call('HGET', p, 'last_ts')
  if not last or ts > tonumber(last) then redis.call('HSET', p, 'last_ts', ARGV[2]) end
  redis.call('HINCRBY', p, 'type:' .. ARGV[3], 1)
  redis.call('HINCRBY', p, 'ch:' .. ARGV[5], 1)
  redis.call('HINCRBY', p, 'hour:' .. ARGV[6], 1)
  if ARGV[4] ~= '' then redis.call('HINCRBY', p, 'cat:' .. ARGV[4], 1) end
  if ARGV[8] ~= '' then redis.call('HINCRBY', p, 'brand:' .. ARGV[8], 1) end
  if ARGV[7] ~= '' then
    redis.call('HINCRBYFLOAT', p, 'price_sum', ARGV[7])
    redis.call('HINCRBY', p, 'price_n', 1)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -n - 1)
end
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
if ARGV[11] == '1' then
  return {'ok', redis.call('ZRANGE', KEYS[3], -n, -1),
          redis.call('HMGET', KEYS[4], unpack(ARGV, 12))}
end
return {'ok'}
"""

# KEYS: alias, events, profile, moving, aliases of the anonymous id. ARGV: person, ttl.
# Links the id once, and never an id that others are linked to (no chains): {"person"}.
# Its events go to its moving key, in the same step as the link, until they are written to
# the person; a link whose move was cut short answers {"linked", person, members still
# moving...} when asked again, so that it can be finished. Else {"moved", members...}.
TAKE = """
if redis.call('EXISTS', KEYS[5]) == 1 then return {'person'} end
local current = redis.call('GET', KEYS[1])
if current then return {'linked', current, unpack(redis.call('ZRANGE', KEYS[4], 0, -1))} end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[4])
  redis.call('EXPIRE', KEYS[4], ttl)
end
redis.call('DEL', KEYS[3])
return {'moved', unpack(redis.call('ZRANGE', KEYS[4], 0, -1))}
"""


# KEYS: the keys written. ARGV: maxlen, then triples (what, key index, value): "e" or "d"
# appends the value to a stream under that field name, "s" adds it to a set.
# Returns each write's stream entry id, or 0 for a set.
WRITE_LOGS = """
local maxlen, written = ARGV[1], {}
for i = 2, #ARGV, 3 do
  local what, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if what == 's' then
    redis.call('SADD', key, ARGV[i + 2])
    written[#written + 1] = 0
  else
    written[#written + 1] = redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', what, ARGV[i + 2])
  end
end
return written
"""


# KEYS: version, changes. ARGV: maxlen, msgpack list of the changed ids.
NOTIFY = """
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'v', v, 'ids', ARGV[2])
return v
"""


# KEYS: one rate counter. ARGV: requests to add, ttl. Returns the total so far. One script, so
# that a counter never outlives its second for want of the EXPIRE after its INCRBY.
COUNT = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return total
"""
