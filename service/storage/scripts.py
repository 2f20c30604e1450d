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

# KEYS: alias, events, profile of the anonymous id. ARGV: person, ttl.
# Links the id once: returns {"linked", person} when it already was, else takes its events
# away (to be written to the person) and returns {"moved", member, score, member, ...}.
TAKE = """
local current = redis.call('GET', KEYS[1])
if current then return {'linked', current} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
local events = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
redis.call('DEL', KEYS[2], KEYS[3])
return {'moved', unpack(events)}
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
