//! A private schema on the test PostgreSQL (`AGENTICORE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), created for one test and dropped after it.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::{Client, NoTls, Row};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn base_url() -> String {
    std::env::var("AGENTICORE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A schema of its own, and a URL whose `search_path` is that schema. Dropped (with its
/// tables) when this is.
pub struct Schema {
    pub name: String,
    /// The base URL plus `options=-c search_path=<name>`.
    pub url: String,
    rt: tokio::runtime::Runtime,
    admin: Client,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Schema {
    pub fn new(tag: &str) -> Schema {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let base = base_url();
        let admin = rt.block_on(connect(&base)).unwrap_or_else(|e| {
            panic!(
                "these tests need a PostgreSQL at {base} (set AGENTICORE_TEST_POSTGRES_URL to \
                 another postgres:// URL with the right to create schemas): {e}"
            )
        });
        let name = format!(
            "agenticore_test_{tag}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        rt.block_on(admin.batch_execute(&format!("CREATE SCHEMA {name}")))
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Schema {
            name,
            url,
            rt,
            admin,
        }
    }

    /// Rows of `sql` (tables unqualified: the schema is on the search path).
    pub fn rows(&self, sql: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.rt.block_on(async {
            self.admin
                .batch_execute(&format!("SET search_path TO {}", self.name))
                .await?;
            self.admin.query(sql, &[]).await
        })
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self.rt.block_on(
            self.admin
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)),
        );
    }
}

pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}
