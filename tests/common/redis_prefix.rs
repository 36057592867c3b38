//! A unique key prefix on the test Redis (`AGENTICORE_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), deleted (SCAN + DEL) when dropped, also after a failed assertion.
//! The Redis tests need that Redis: they fail, never skip, without it.

use std::time::Duration;

/// A unique prefix on the test Redis, deleted when dropped.
pub struct Prefix {
    pub url: String,
    pub name: String,
}

impl Prefix {
    pub fn new(test: &str) -> Prefix {
        let url = std::env::var("AGENTICORE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let name = format!(
            "agenticore-test:{}:{test}:{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Prefix { url, name }
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(3)))
            .expect("the test Redis (AGENTICORE_TEST_REDIS_URL, default redis://127.0.0.1:6379)")
    }

    pub fn hget(&self, id: &str, field: &str) -> Option<String> {
        redis::cmd("HGET")
            .arg(format!("{}:job:{id}", self.name))
            .arg(field)
            .query(&mut self.conn())
            .expect("HGET")
    }
}

impl Prefix {
    /// SCAN + DEL of every key under the prefix.
    fn delete_all(&self) -> redis::RedisResult<()> {
        let mut conn = redis::Client::open(self.url.as_str())?
            .get_connection_with_timeout(Duration::from_secs(3))?;
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.name))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)?;
            if !keys.is_empty() {
                redis::cmd("DEL").arg(&keys).query::<i64>(&mut conn)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl Drop for Prefix {
    /// Runs after a failed assertion too: it reports, never panics (a panic while unwinding
    /// would abort the test binary).
    fn drop(&mut self) {
        if let Err(e) = self.delete_all() {
            eprintln!("could not clean up Redis prefix {}: {e}", self.name);
        }
    }
}
