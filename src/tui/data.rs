//! The dashboard's reads through the `Backend`: one page of the list (with the search applied
//! page by page, so no read ever covers the whole store), the header, the profiles.

use crate::api::JobView;
use crate::client::Backend;
use crate::job::{JobId, Status};

use super::app::matches;

/// Jobs read per store call while searching.
const SEARCH_BATCH: usize = 250;
/// A search reads at most this many stored jobs per page it shows (then "more" continues).
const SEARCH_SCAN: usize = 5000;

/// A page of the list: the jobs, the cursor of the next page, how many stored jobs were read.
pub type ListPage = (Vec<JobView>, Option<String>, usize);

/// Up to `want` jobs with `status` matching `query` (lower case; empty: all), newest first,
/// after `cursor`.
pub async fn list_page(
    backend: &Backend,
    status: Option<Status>,
    query: &str,
    cursor: Option<String>,
    want: usize,
) -> Result<ListPage, String> {
    let mut cursor = match cursor {
        Some(c) => Some(
            c.parse::<JobId>()
                .map_err(|e| format!("bad list cursor {c}: {e}"))?,
        ),
        None => None,
    };
    if query.is_empty() {
        let page = backend
            .list(status, want, cursor)
            .await
            .map_err(|e| e.to_string())?;
        let n = page.jobs.len();
        return Ok((page.jobs, page.cursor, n));
    }
    let mut found = Vec::new();
    let mut scanned = 0;
    loop {
        let page = backend
            .list(status, SEARCH_BATCH, cursor)
            .await
            .map_err(|e| e.to_string())?;
        scanned += page.jobs.len();
        let mut last = None;
        for job in page.jobs {
            last = Some(job.id.clone());
            if matches(&job, query) {
                found.push(job);
                if found.len() == want {
                    break;
                }
            }
        }
        let next = if found.len() == want {
            // Continue right after the last job looked at.
            last.filter(|_| page.cursor.is_some() || scanned > 0)
        } else {
            page.cursor
        };
        let next_id = match next.as_deref() {
            Some(c) => c.parse::<JobId>().ok(),
            None => None,
        };
        if found.len() >= want || next_id.is_none() || scanned >= SEARCH_SCAN {
            return Ok((found, next_id.map(|c| c.to_string()), scanned));
        }
        cursor = next_id;
    }
}

/// `(name, description)` of the backend's profiles.
pub async fn profiles(backend: &Backend) -> Result<Vec<(String, String)>, String> {
    let report = backend.profiles().await.map_err(|e| e.to_string())?;
    Ok(report
        .list
        .profiles
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_string();
            let desc = p
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_string();
            Some((name, desc))
        })
        .collect())
}
