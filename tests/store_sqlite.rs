//! What only the SQLite store does (unreadable rows, schema versions, its path). The contract
//! every store keeps is tested on every backend in `store_contract.rs`.

use std::path::PathBuf;

use agenticore::store::sqlite::SqliteStore;
use agenticore::store::{JobStore, ListFilter, StoreError};
use common::jobs::{claim, insert_n};

mod common;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/jobs.db");
    let store = SqliteStore::open(&path).expect("open");
    Fixture {
        _dir: dir,
        path,
        store,
    }
}

#[tokio::test]
async fn corrupt_row_is_skipped_by_list_and_reported_by_get() {
    let f = fixture();
    let jobs = insert_n(&f.store, 3).await;
    let bad = jobs[1].id;
    let conn = rusqlite::Connection::open(&f.path).expect("raw open");
    conn.execute(
        "UPDATE jobs SET data = '{not json' WHERE id = ?1",
        [bad.to_string()],
    )
    .expect("corrupt");
    drop(conn);

    match f.store.get(bad).await {
        Err(StoreError::Corrupt { id, .. }) => assert_eq!(id, bad.to_string()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let page = f
        .store
        .list(&ListFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        page.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![jobs[2].id, jobs[0].id]
    );
    // A corrupt row at the end of a page still moves the cursor past it.
    let p1 = f
        .store
        .list(&ListFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(p1.jobs.len(), 1);
    assert_eq!(p1.next_cursor, Some(bad));
    // The queue skips it too.
    let c1 = f.store.claim_next(&claim("n", 10)).await.expect("claim");
    assert_eq!(c1.map(|j| j.id), Some(jobs[0].id));
    let c2 = f.store.claim_next(&claim("n", 10)).await.expect("claim");
    assert_eq!(c2.map(|j| j.id), Some(jobs[2].id));
    assert!(
        f.store
            .claim_next(&claim("n", 10))
            .await
            .expect("claim")
            .is_none()
    );
}

#[tokio::test]
async fn newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    drop(SqliteStore::open(&path).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    let err = SqliteStore::open(&path).expect_err("newer schema accepted");
    let msg = err.to_string();
    assert!(msg.contains("schema version 99"), "{msg}");
    assert!(msg.contains("upgrade agenticore"), "{msg}");
    // Refused, not modified.
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(v, 99);
}

#[tokio::test]
async fn location_is_the_file_path() {
    let f = fixture();
    assert_eq!(f.store.location(), f.path.display().to_string());
    assert_eq!(f.store.path(), f.path);
}
