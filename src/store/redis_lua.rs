//! The Lua scripts of the Redis store. Every state change is one script, so it is atomic: a
//! racing cancel and exit (or two claimers) see each other's writes whole or not at all.
//!
//! `ARGV[1]` is always the key prefix; keys are computed from it (a standalone Redis, or one
//! Redis Cluster shard: the keys carry no hash tags).

/// Shared helpers, prepended to every script.
pub const PRELUDE: &str = r#"
local P = ARGV[1]
local Q = P .. ':queue'
local G = 'agenticore'
local function jkey(id) return P .. ':job:' .. id end
local function bump() redis.call('INCR', P .. ':version') end
local function restatus(id, from, to)
  if from then redis.call('ZREM', P .. ':jobs:' .. from, id) end
  redis.call('ZADD', P .. ':jobs:' .. to, 0, id)
end
local function drop_entry(jk)
  local e = redis.call('HGET', jk, 'entry')
  if e then
    redis.pcall('XACK', Q, G, e)
    redis.call('XDEL', Q, e)
    redis.call('HDEL', jk, 'entry')
  end
end
local function set_or_del(jk, field, value)
  if value == nil or value == '' then
    redis.call('HDEL', jk, field)
  else
    redis.call('HSET', jk, field, value)
  end
end
-- Make a queued or running job terminal: indexes, expiry, stream entry, version.
local function terminate(id, to, ended, ended_ms, exit_code, err, timeout)
  local jk = jkey(id)
  local from = redis.call('HGET', jk, 'status')
  local node = redis.call('HGET', jk, 'node')
  if node then redis.call('SREM', P .. ':node:' .. node .. ':running', id) end
  restatus(id, from, to)
  local ttl = tonumber(redis.call('HGET', jk, 'ttl_seconds') or '0') or 0
  if ttl > 3153600000 then ttl = 3153600000 end
  if ttl < 0 then ttl = 0 end
  local exp = string.format('%d', tonumber(ended_ms) + ttl * 1000)
  redis.call('HSET', jk, 'status', to, 'ended_at', ended, 'expires_at_ms', exp)
  redis.call('HDEL', jk, 'node', 'pid', 'cancel_requested', 'lease_until_ms')
  set_or_del(jk, 'exit_code', exit_code)
  set_or_del(jk, 'error', err)
  set_or_del(jk, 'timeout', timeout)
  redis.call('ZADD', P .. ':expiry', exp, id)
  -- Redis deletes the hash a minute after `expire` would (a backstop when no node runs it,
  -- and room for clock skew between the nodes and Redis).
  redis.call('PEXPIREAT', jk, string.format('%d', tonumber(exp) + 60000))
  drop_entry(jk)
  bump()
end
"#;

/// ARGV: prefix, id, status, node, expires_at_ms, field, value, ...
/// Returns 1, or 0 when the id exists.
pub const INSERT: &str = r#"
local id, status, node, exp = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = jkey(id)
if redis.call('EXISTS', jk) == 1 then return 0 end
local f = {}
for i = 6, #ARGV do f[#f + 1] = ARGV[i] end
redis.call('HSET', jk, unpack(f))
redis.call('ZADD', P .. ':jobs', 0, id)
redis.call('ZADD', P .. ':jobs:' .. status, 0, id)
if status == 'queued' then
  redis.pcall('XGROUP', 'CREATE', Q, G, '0', 'MKSTREAM')
  local e = redis.call('XADD', Q, '*', 'job', id)
  redis.call('HSET', jk, 'entry', e)
elseif status == 'running' then
  redis.call('SADD', P .. ':node:' .. node .. ':running', id)
elseif exp ~= '' then
  redis.call('ZADD', P .. ':expiry', exp, id)
  redis.call('PEXPIREAT', jk, string.format('%d', tonumber(exp) + 60000))
end
bump()
return 1
"#;

/// ARGV: prefix, node, max_running, now (RFC 3339), lease_until_ms, min_idle_ms, only ('' = any).
/// Returns the claimed job's fields (HGETALL), or nil.
pub const CLAIM: &str = r#"
local node, max, now, lease, min_idle, only = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local nk = P .. ':node:' .. node .. ':running'
if redis.call('SCARD', nk) >= max then return false end
local function status_of(id) return redis.call('HGET', jkey(id), 'status') end
local function take(id, entry)
  local jk = jkey(id)
  redis.call('HSET', jk, 'status', 'running', 'started_at', now, 'node', node,
    'cancel_requested', '0', 'lease_until_ms', lease)
  redis.call('HDEL', jk, 'pid')
  if entry then redis.call('HSET', jk, 'entry', entry) end
  restatus(id, 'queued', 'running')
  redis.call('SADD', nk, id)
  bump()
  return redis.call('HGETALL', jk)
end
local function forget(eid)
  redis.pcall('XACK', Q, G, eid)
  redis.call('XDEL', Q, eid)
end
if only ~= '' then
  if status_of(only) ~= 'queued' then return false end
  return take(only, false)
end
redis.pcall('XGROUP', 'CREATE', Q, G, '0', 'MKSTREAM')
-- Entries a dead node read but never confirmed (idle past the lease) come first.
local start = '0-0'
for _ = 1, 50 do
  local r = redis.call('XAUTOCLAIM', Q, G, node, min_idle, start, 'COUNT', 1)
  start = r[1]
  local ent = r[2][1]
  if ent then
    local eid, fields = ent[1], ent[2]
    local id = fields and fields[2]
    local st = id and status_of(id)
    if st == 'queued' then return take(id, eid) end
    -- A running job's entry stays pending (its owner's heartbeat or a reap settles it).
    if st ~= 'running' then forget(eid) end
  end
  if start == '0-0' then break end
end
-- Jobs a stopping node handed back come first (their place in the queue was at its head).
for _ = 1, 50 do
  local id = redis.call('LPOP', P .. ':released')
  if not id then break end
  if status_of(id) == 'queued' then
    local e = redis.call('HGET', jkey(id), 'entry')
    if e then redis.pcall('XCLAIM', Q, G, node, 0, e, 'JUSTID') end
    return take(id, e or false)
  end
end
for _ = 1, 200 do
  local r = redis.call('XREADGROUP', 'GROUP', G, node, 'COUNT', 1, 'STREAMS', Q, '>')
  if not r then return false end
  local ent = r[1][2][1]
  if not ent then return false end
  local eid, fields = ent[1], ent[2]
  local id = fields and fields[2]
  if id and status_of(id) == 'queued' then return take(id, eid) end
  -- Cancelled, claimed directly (`only`), or gone: the entry has nothing left to do.
  forget(eid)
end
return false
"#;

/// ARGV: prefix, id, pid. Only while running.
pub const SET_PID: &str = r#"
local jk = jkey(ARGV[2])
if redis.call('HGET', jk, 'status') ~= 'running' then return 0 end
redis.call('HSET', jk, 'pid', ARGV[3])
bump()
return 1
"#;

/// ARGV: prefix, id, progress JSON. Any status; a missing job is left missing.
pub const PROGRESS: &str = r#"
local jk = jkey(ARGV[2])
if redis.call('EXISTS', jk) == 0 then return 0 end
redis.call('HSET', jk, 'progress', ARGV[3])
bump()
return 1
"#;

/// ARGV: prefix, id, status, ended_at, ended_ms, exit_code, error, timeout JSON.
/// Compare-and-set: only a running job. Returns its fields, or nil.
pub const FINISH: &str = r#"
local id = ARGV[2]
if redis.call('HGET', jkey(id), 'status') ~= 'running' then return false end
terminate(id, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return redis.call('HGETALL', jkey(id))
"#;

/// ARGV: prefix, id, ended_at, ended_ms, reason.
/// Returns {kind, field, value, ...} with kind missing | queued | running | finished.
pub const CANCEL: &str = r#"
local id = ARGV[2]
local jk = jkey(id)
local st = redis.call('HGET', jk, 'status')
local kind
if not st then return {'missing'} end
if st == 'queued' then
  terminate(id, 'cancelled', ARGV[3], ARGV[4], '', ARGV[5], '')
  kind = 'queued'
elseif st == 'running' then
  if redis.call('HGET', jk, 'cancel_requested') ~= '1' then
    redis.call('HSET', jk, 'cancel_requested', '1')
    bump()
    redis.call('PUBLISH', P .. ':cancel', id)
  end
  kind = 'running'
else
  kind = 'finished'
end
local out = {kind}
for _, v in ipairs(redis.call('HGETALL', jk)) do out[#out + 1] = v end
return out
"#;

/// ARGV: prefix, node, lease_until_ms, id, ...
/// Renews the leases of `node`'s running jobs (and keeps their stream entries fresh, so no
/// other node takes them over); returns the ids whose cancel was requested.
pub const HEARTBEAT: &str = r#"
local node, lease = ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local jk = jkey(id)
  local f = redis.call('HMGET', jk, 'status', 'node', 'cancel_requested', 'entry')
  if f[1] == 'running' and f[2] == node then
    redis.call('HSET', jk, 'lease_until_ms', lease)
    if f[4] then redis.pcall('XCLAIM', Q, G, node, 0, f[4], 'JUSTID') end
    if f[3] == '1' then out[#out + 1] = id end
  end
end
return out
"#;

/// ARGV: prefix, id, now, now_ms, lease cutoff ms ('' = leases not judged), dead node
/// ('' = none), failed error, cancelled reason.
/// Finishes a running job whose lease ended before the cutoff (or whose owner is the dead node).
pub const REAP: &str = r#"
local id = ARGV[2]
local jk = jkey(id)
local f = redis.call('HMGET', jk, 'status', 'node', 'lease_until_ms', 'cancel_requested')
if f[1] ~= 'running' then return false end
local expired = ARGV[5] ~= '' and ((not f[3]) or (tonumber(f[3]) or 0) < tonumber(ARGV[5]))
local dead = ARGV[6] ~= '' and f[2] == ARGV[6]
if not (expired or dead) then return false end
if f[4] == '1' then
  terminate(id, 'cancelled', ARGV[3], ARGV[4], '', ARGV[8], '')
else
  terminate(id, 'failed', ARGV[3], ARGV[4], '', ARGV[7], '')
end
return redis.call('HGETALL', jk)
"#;

/// ARGV: prefix, id, node. A running job of `node` that never started goes back to the queue:
/// its stream entry stays (pending), and its id goes on `released`, which claims look at
/// first. Returns 1, or 0 when the job is not running on `node` or its cancel was requested.
pub const RELEASE: &str = r#"
local id, node = ARGV[2], ARGV[3]
local jk = jkey(id)
local f = redis.call('HMGET', jk, 'status', 'node', 'cancel_requested')
if f[1] ~= 'running' or f[2] ~= node or f[3] == '1' then return 0 end
redis.call('SREM', P .. ':node:' .. node .. ':running', id)
redis.call('HDEL', jk, 'started_at', 'node', 'pid', 'cancel_requested', 'lease_until_ms')
redis.call('HSET', jk, 'status', 'queued')
restatus(id, 'running', 'queued')
redis.call('RPUSH', P .. ':released', id)
bump()
return 1
"#;

/// ARGV: prefix, node, cap, now_ms, forget_before_ms. A node says it is alive (each
/// heartbeat); nodes silent since `forget_before_ms` are forgotten.
pub const ANNOUNCE: &str = r#"
redis.call('ZADD', P .. ':nodes', ARGV[4], ARGV[2])
redis.call('HSET', P .. ':node_caps', ARGV[2], ARGV[3])
for _, n in ipairs(redis.call('ZRANGEBYSCORE', P .. ':nodes', '-inf', '(' .. ARGV[5])) do
  redis.call('ZREM', P .. ':nodes', n)
  redis.call('HDEL', P .. ':node_caps', n)
end
return 1
"#;

/// ARGV: prefix, node. A node stops for good: forget it; drop its queue consumer when it has
/// no running job left (a consumer's pending entries would go with it).
pub const LEAVE: &str = r#"
local node = ARGV[2]
redis.call('ZREM', P .. ':nodes', node)
redis.call('HDEL', P .. ':node_caps', node)
if redis.call('SCARD', P .. ':node:' .. node .. ':running') == 0 then
  redis.pcall('XGROUP', 'DELCONSUMER', Q, G, node)
end
return 1
"#;

/// ARGV: prefix, seen_since_ms. Returns {node, running, cap, last_seen_ms, ...} for every node
/// that runs a job or announced itself since `seen_since_ms` ('' where unknown).
pub const NODES: &str = r#"
local running = {}
for _, id in ipairs(redis.call('ZRANGE', P .. ':jobs:running', 0, -1)) do
  local n = redis.call('HGET', jkey(id), 'node')
  if n then running[n] = (running[n] or 0) + 1 end
end
local seen = {}
local r = redis.call('ZRANGEBYSCORE', P .. ':nodes', ARGV[2], '+inf', 'WITHSCORES')
for i = 1, #r, 2 do seen[r[i]] = r[i + 1] end
local names = {}
for n, _ in pairs(running) do names[n] = true end
for n, _ in pairs(seen) do names[n] = true end
local out = {}
for n, _ in pairs(names) do
  out[#out + 1] = n
  out[#out + 1] = tostring(running[n] or 0)
  out[#out + 1] = redis.call('HGET', P .. ':node_caps', n) or ''
  out[#out + 1] = seen[n] or ''
end
return out
"#;

/// ARGV: prefix, now_ms, batch. Deletes terminal jobs whose expiry passed.
/// Returns {deleted, looked_at}.
pub const EXPIRE: &str = r#"
local ids = redis.call('ZRANGEBYSCORE', P .. ':expiry', '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  local jk = jkey(id)
  local st = redis.call('HGET', jk, 'status')
  redis.call('ZREM', P .. ':expiry', id)
  if st ~= 'queued' and st ~= 'running' then
    redis.call('DEL', jk)
    redis.call('ZREM', P .. ':jobs', id)
    for _, s in ipairs({'succeeded', 'failed', 'cancelled'}) do
      redis.call('ZREM', P .. ':jobs:' .. s, id)
    end
    n = n + 1
  end
end
if n > 0 then bump() end
return {n, #ids}
"#;

/// ARGV: prefix, id, ... : drop index entries whose job hash is gone (expired by Redis).
pub const FORGET: &str = r#"
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', jkey(id)) == 0 then
    redis.call('ZREM', P .. ':jobs', id)
    redis.call('ZREM', P .. ':expiry', id)
    for _, s in ipairs({'queued', 'running', 'succeeded', 'failed', 'cancelled'}) do
      redis.call('ZREM', P .. ':jobs:' .. s, id)
    end
    n = n + 1
  end
end
return n
"#;

/// ARGV: prefix, min_idle_ms. Deletes the queue's consumers (one per node process) that have
/// nothing pending and did nothing for `min_idle_ms`: nodes that are gone. (A live node that is
/// deleted is recreated by its next read; it had nothing pending to lose.)
pub const PRUNE_CONSUMERS: &str = r#"
local cs = redis.pcall('XINFO', 'CONSUMERS', Q, G)
if type(cs) ~= 'table' or cs.err then return 0 end
local n = 0
for _, c in ipairs(cs) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if tonumber(f['pending']) == 0 and tonumber(f['idle']) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', Q, G, f['name'])
    n = n + 1
  end
end
return n
"#;
