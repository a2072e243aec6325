//! The Redis implementation of `chunnel`'s rendezvous [`Store`]: what real deployments use
//! for multi-endpoint negotiation (the simulator uses `chunnel::rendezvous::MemStore`).
//!
//! Module map: [`server`] starts a private `redis-server` (tests, experiments); this file is
//! the store. [`RedisStore`] keeps each store key `K` as two Redis keys,
//! `<prefix>K` (the value) and `<prefix>K:v` (its version, an integer that every write
//! increments, kept when the value is deleted). A read is one Lua script returning every
//! key's version and value at one instant; a commit is one Lua script that compares the read
//! versions and applies every write or none — Redis runs scripts atomically, so transactions
//! are serializable. The clock is the server's `TIME`, so peers' clocks need not agree.
//! Every reply is checked; a malformed one is a [`StoreError::Protocol`], an unreachable or
//! stopped server a [`StoreError::Unavailable`] after the response timeout.

pub mod server;

use std::time::Duration;

use chunnel::rendezvous::{Snapshot, Store, StoreError};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script, Value};

const READ: &str = r#"
local out = {}
for i = 1, #KEYS do
  local k = ARGV[1] .. KEYS[i]
  local v = redis.call('GET', k .. ':v') or '0'
  local d = redis.call('GET', k)
  if d then
    table.insert(out, v); table.insert(out, '1'); table.insert(out, d)
  else
    table.insert(out, v); table.insert(out, '0'); table.insert(out, '')
  end
end
return out
"#;

const COMMIT: &str = r#"
local prefix = ARGV[1]
local nr = tonumber(ARGV[2])
for i = 1, nr do
  local v = redis.call('GET', prefix .. KEYS[i] .. ':v') or '0'
  if v ~= ARGV[2 + i] then return 0 end
end
local base = 2 + nr
for j = 1, #KEYS - nr do
  local k = prefix .. KEYS[nr + j]
  redis.call('INCR', k .. ':v')
  if ARGV[base + 2 * j - 1] == 's' then
    redis.call('SET', k, ARGV[base + 2 * j])
  else
    redis.call('DEL', k)
  end
end
return 1
"#;

/// A rendezvous store on a Redis server.
#[derive(Clone)]
pub struct RedisStore {
    conn: MultiplexedConnection,
    prefix: String,
    read: Script,
    commit: Script,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn protocol(what: &str) -> StoreError {
    StoreError::Protocol(what.to_string())
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => std::str::from_utf8(bytes(other)?).ok()?.parse().ok(),
    }
}

impl RedisStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379/`); store keys get `prefix`. Requests
    /// that get no answer within `timeout` fail as unavailable.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let cfg = AsyncConnectionConfig::new()
            .set_response_timeout(timeout)
            .set_connection_timeout(timeout);
        let conn = client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(unavailable)?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_string(),
            read: Script::new(READ),
            commit: Script::new(COMMIT),
        })
    }
}

impl Store for RedisStore {
    async fn read(&self, keys: &[String]) -> Result<Snapshot, StoreError> {
        let mut inv = self.read.prepare_invoke();
        for k in keys {
            inv.key(k);
        }
        inv.arg(&self.prefix);
        let mut conn = self.conn.clone();
        let reply: Value = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
        let Value::Array(items) = reply else {
            return Err(protocol("read: expected an array"));
        };
        if items.len() != 3 * keys.len() {
            return Err(protocol("read: expected three fields per key"));
        }
        let mut values = Vec::with_capacity(keys.len());
        let mut versions = Vec::with_capacity(keys.len());
        for f in items.chunks(3) {
            versions.push(int(&f[0]).ok_or_else(|| protocol("read: version is not an integer"))?);
            let present = bytes(&f[1]).ok_or_else(|| protocol("read: presence flag"))?;
            let data = bytes(&f[2]).ok_or_else(|| protocol("read: value is not a string"))?;
            values.push((present == b"1").then(|| data.to_vec()));
        }
        Ok(Snapshot {
            keys: keys.to_vec(),
            values,
            versions,
        })
    }

    async fn commit(
        &self,
        read: &Snapshot,
        writes: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<bool, StoreError> {
        let mut inv = self.commit.prepare_invoke();
        for k in read.keys.iter().chain(writes.iter().map(|(k, _)| k)) {
            inv.key(k);
        }
        inv.arg(&self.prefix).arg(read.keys.len());
        for v in &read.versions {
            inv.arg(v.to_string());
        }
        for (_, v) in &writes {
            match v {
                Some(b) => inv.arg("s").arg(b.as_slice()),
                None => inv.arg("d").arg(""),
            };
        }
        let mut conn = self.conn.clone();
        let reply: Value = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
        match int(&reply) {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(protocol("commit: expected 0 or 1")),
        }
    }

    async fn clock_ms(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("TIME")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let Value::Array(t) = reply else {
            return Err(protocol("TIME: expected an array"));
        };
        let (Some(s), Some(us)) = (t.first().and_then(int), t.get(1).and_then(int)) else {
            return Err(protocol("TIME: expected seconds and microseconds"));
        };
        Ok(s.saturating_mul(1000) + us / 1000)
    }
}
