//! `agenticore status`: the daemon's health (version, node, store, load), or without one the
//! local store's counts and "no daemon running".

use agenticore::client::Backend;

use super::args::JsonArg;
use super::output::print_json;
use super::{CliResult, exit};

pub async fn run(backend: &Backend, a: JsonArg) -> CliResult {
    let h = backend.health().await?;
    let (mode, url) = match backend {
        Backend::Local(_) => ("local", None),
        Backend::Remote(c) => ("remote", Some(c.base_url())),
    };
    if a.json {
        let mut v = serde_json::to_value(&h).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("backend".into(), mode.into());
            o.insert("url".into(), url.clone().into());
            o.insert("daemon".into(), (!backend.is_local()).into());
        }
        print_json(&v);
        return Ok(code(&h.status));
    }
    match &url {
        Some(u) => println!("daemon        {u} ({}, {})", h.service, h.status),
        None => println!("daemon        no daemon running (jobs run by the local engine)"),
    }
    let kv = |k: &str, v: &str| {
        if !v.is_empty() {
            println!("{k:<14}{v}");
        }
    };
    kv("version", &h.version);
    kv("node", &h.node);
    kv("store", &h.store);
    if let Some(w) = &h.store_warning {
        kv("warning", w);
    }
    if h.unsaved_results > 0 {
        kv(
            "unsaved",
            &format!("{} job result(s) wait for the store", h.unsaved_results),
        );
    }
    kv("running", &h.running.to_string());
    kv("queued", &h.queued.to_string());
    kv("max parallel", &h.max_parallel_jobs.to_string());
    if !h.nodes.is_empty() {
        println!("nodes");
        for n in &h.nodes {
            println!("  {}", node_line(n));
        }
    }
    Ok(code(&h.status))
}

/// A daemon whose store does not answer reports `degraded`: exit 5, as for an unreachable store.
fn code(status: &str) -> u8 {
    if status == "ok" {
        exit::OK
    } else {
        exit::UNREACHABLE
    }
}

/// `pod-1:42  2/2 running  (this node)`.
fn node_line(n: &agenticore::api::NodeView) -> String {
    let load = match n.max_parallel_jobs {
        Some(cap) => format!("{}/{cap} running", n.running),
        None => format!("{} running", n.running),
    };
    let this = if n.this { "  (this node)" } else { "" };
    format!("{:<28}{load}{this}", n.node)
}
