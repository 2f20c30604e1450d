"""Every Lua script run inside Redis. Each call touches the keys of one hash tag only, so it is
atomic and runs unchanged on a Redis Cluster; LINK and WRITE_LOGS, which touch several, run
only on one Redis (a cluster gets each step on its own: service/storage/linking.py,
service/storage/streams.py)."""

from __future__ import annotations

# How many arguments describe one event to ADD_EVENT: member, ts, type, category, channel,
# hour, price, brand (the first of service/storage/events.py's script arguments).
EVENT_FIELDS = 8

# Adding one event to a history and its profile's counters: RECORD and LINK both start with
# it, so that an event moved by a link is counted exactly as one recorded.
# a[i] .. a[i + 7] are the event's EVENT_FIELDS; n is the history's length. Returns whether
# the event is new.
ADD_EVENT = """
local function add_event(events, p, a, i, n)
  local ts = tonumber(a[i + 1])
  if redis.call('ZADD', events, ts, a[i]) == 0 then return false end
  redis.call('HINCRBY', p, 'n', 1)
  local first = redis.call('HGET', p, 'first_ts')
  if not first or ts < tonumber(first) then redis.call('HSET', p, 'first_ts', a[i + 1]) end
  local last = redis.call('HGET', p, 'last_ts')
  if not last or ts > tonumber(last) then redis.call('HSET', p, 'last_ts', a[i + 1]) end
  redis.call('HINCRBY', p, 'type:' .. a[i + 2], 1)
  redis.call('HINCRBY', p, 'ch:' .. a[i + 4], 1)
  redis.call('HINCRBY', p, 'hour:' .. a[i + 5], 1)
  if a[i + 3] ~= '' then redis.call('HINCRBY', p, 'cat:' .. a[i + 3], 1) end
  if a[i + 7] ~= '' then redis.call('HINCRBY', p, 'brand:' .. a[i + 7], 1) end
  if a[i + 6] ~= '' then
    redis.call('HINCRBYFLOAT', p, 'price_sum', a[i + 6])
    redis.call('HINCRBY', p, 'price_n', 1)
  end
  redis.call('ZREMRANGEBYRANK', events, 0, -n - 1)
  return true
end
"""

# KEYS: alias, consent, events, profile of the id written to.
# ARGV: member, ts, type, category, channel, hour, price, brand, history_len, ttl, read,
# then the profile fields to read back.
# Returns {"noconsent"}, {"alias", person} (the id is linked: write to the person instead)
# or {"ok", [recent members], [values of the profile fields asked for]}.
RECORD = (
    ADD_EVENT
    + """
if redis.call('GET', KEYS[2]) == '0' then return {'noconsent'} end
local person = redis.call('GET', KEYS[1])
if person then return {'alias', person} end
local n, ttl = tonumber(ARGV[9]), tonumber(ARGV[10])
add_event(KEYS[3], KEYS[4], ARGV, 1, n)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
if ARGV[11] == '1' then
  return {'ok', redis.call('ZRANGE', KEYS[3], -n, -1),
          redis.call('HMGET', KEYS[4], unpack(ARGV, 12))}
end
return {'ok'}
"""
)

# One Redis only. KEYS: alias, events, profile, moving, aliases of the anonymous id; alias,
# consent, events, profile, aliases and erasure mark of the customer.
# ARGV: visitor, customer, ttl, history_len, count, the id's events as read (count members,
# in order), then each one's EVENT_FIELDS as the customer's.
# Links the id, moves its events into the customer's history as RECORD would write them and
# deletes the id's own, in one step: a timeout leaves all of it done or none. Refuses a chain
# ({"person"}: others are linked to the id; {"chain"}: the customer is linked itself) and
# events changed since they were read ({"stale", the events now...}: try again with those).
# An id linked already answers {"linked", person, members left in its moving key by a
# two-step link...}; else {"moved"}.
# Events dated up to the customer's erasure are not moved (see EventStore._take_back_erased).
LINK = (
    ADD_EVENT
    + """
if redis.call('EXISTS', KEYS[5]) == 1 then return {'person'} end
local current = redis.call('GET', KEYS[1])
if current then return {'linked', current, unpack(redis.call('ZRANGE', KEYS[4], 0, -1))} end
if redis.call('EXISTS', KEYS[6]) == 1 then return {'chain'} end
local count, ttl, n = tonumber(ARGV[5]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = redis.call('ZRANGE', KEYS[2], 0, -1)
if #now ~= count then return {'stale', unpack(now)} end
for i = 1, count do
  if now[i] ~= ARGV[5 + i] then return {'stale', unpack(now)} end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
local erased = redis.call('GET', KEYS[11])
erased = erased and tonumber(erased)
if count > 0 and redis.call('GET', KEYS[7]) ~= '0' then
  for at = 6 + count, 5 + count + count * 8, 8 do
    if not erased or tonumber(ARGV[at + 1]) > erased then
      add_event(KEYS[8], KEYS[9], ARGV, at, n)
    end
  end
  redis.call('EXPIRE', KEYS[8], ttl)
  redis.call('EXPIRE', KEYS[9], ttl)
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[10], ARGV[1])
redis.call('EXPIRE', KEYS[10], ttl)
return {'moved'}
"""
)

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


# One Redis only. KEYS: the keys written. ARGV: maxlen, retention in ms, the index's ttl, the
# key index of the tally registry, then quadruples (what, key index, value, index key index):
# "e" or "d" appends the value to a stream under that field name and adds "<what>|<entry id>"
# to the writer's index, so that erasure finds the entry without reading the stream; "s" adds
# it to a set, an experiment tally, and the set's name to the registry (the index is unused).
# Each stream written also drops its entries older than the retention, by Redis's clock: so
# no entry outlives the index naming it. Returns each write's stream entry id, or 0 for a set.
WRITE_LOGS = """
local maxlen, retention, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local registry, written, trimmed = KEYS[tonumber(ARGV[4])], {}, {}
local clock = redis.call('TIME')
local oldest = string.format('%.0f-0', clock[1] * 1000 + math.floor(clock[2] / 1000) - retention)
for i = 5, #ARGV, 4 do
  local what, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if what == 's' then
    redis.call('SADD', key, ARGV[i + 2])
    redis.call('SADD', registry, key)
    written[#written + 1] = 0
  else
    if not trimmed[key] then
      redis.call('XTRIM', key, 'MINID', oldest)
      trimmed[key] = true
    end
    local id = redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', what, ARGV[i + 2])
    local index = KEYS[tonumber(ARGV[i + 3])]
    redis.call('SADD', index, what .. '|' .. id)
    redis.call('EXPIRE', index, ttl)
    written[#written + 1] = id
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
