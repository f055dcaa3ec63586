//! The printed table: vis's rows with their ratios to a baseline of the same run (the grid to a
//! memcpy of its input, the hook's blocking time to the grid alone, a gallery append after
//! 10,000 entries to one after 10) and to the peer.

use std::fmt::Write;

use crate::Row;

/// The peer stage a vis stage is compared with.
fn peer_stage(stage: &str) -> Option<&'static str> {
    match stage {
        "grid" => Some("peer_grid"),
        "grid+png" | "grid+gif" => Some("peer_total"),
        _ => None,
    }
}

/// The table, one line per vis row, with the peer's figure at the same thread count (or, if
/// the peer was not run at that count, at its own, marked with `@threads`).
pub(crate) fn render(rows: &[Row], source: &str) -> String {
    let find = |w: &str, stage: &str, threads: usize| {
        let same = rows
            .iter()
            .find(|r| r.workload == w && r.stage == stage && r.threads == threads);
        same.or_else(|| rows.iter().find(|r| r.workload == w && r.stage == stage))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vis-bench ({source}); median ms, ratios taken in this run"
    );
    let _ = writeln!(
        out,
        "{:<24} {:>3} {:<13} {:>9} {:>11} {:>10} {:>9} {:>10} {:>9} {:>12}",
        "workload",
        "thr",
        "stage",
        "vis ms",
        "/baseline",
        "peer ms",
        "peer/vis",
        "bytes",
        "/peer",
        "mae vis|peer"
    );
    for r in rows.iter().filter(|r| !r.stage.starts_with("peer")) {
        // The grid against a copy of its input; the hook's blocking time against the grid.
        let base = match r.stage.as_str() {
            "grid" => find(&r.workload, "memcpy", r.threads).map(|m| (m, " copy")),
            "hook_blocking" => find(&r.workload, "grid", r.threads).map(|g| (g, " grid")),
            // An append to a long data file against one to a short file.
            "append@10000" | "rewrite@10000" => {
                find(&r.workload, "append@10", r.threads).map(|a| (a, " @10"))
            }
            _ => None,
        };
        let memcpy = base
            .filter(|(b, _)| b.threads == r.threads)
            .map(|(b, what)| format!("{:.2}x{what}", r.median_ms / b.median_ms))
            .unwrap_or_default();
        let peer = peer_stage(&r.stage).and_then(|s| find(&r.workload, s, r.threads));
        let peer_ms = peer
            .map(|p| {
                let mark = if p.threads == r.threads {
                    String::new()
                } else {
                    format!("@{}", p.threads)
                };
                format!("{:.2}{mark}", p.median_ms)
            })
            .unwrap_or_default();
        let speedup = peer
            .map(|p| format!("{:.1}x", p.median_ms / r.median_ms))
            .unwrap_or_default();
        let size = peer
            .filter(|p| r.stage != "grid" && p.bytes > 0)
            .map(|p| format!("{:.3}x", r.bytes as f64 / p.bytes as f64))
            .unwrap_or_default();
        let mae = match (r.mae, peer.and_then(|p| p.mae)) {
            (Some(v), Some(p)) => format!("{v:.2}|{p:.2}"),
            (Some(v), None) => format!("{v:.2}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<24} {:>3} {:<13} {:>9} {:>11} {:>10} {:>9} {:>10} {:>9} {:>12}",
            r.workload,
            r.threads,
            r.stage,
            // Microsecond stages (a gallery append) keep their digits.
            if r.median_ms < 0.1 {
                format!("{:.5}", r.median_ms)
            } else {
                format!("{:.3}", r.median_ms)
            },
            memcpy,
            peer_ms,
            speedup,
            r.bytes,
            size,
            mae
        );
    }
    out
}
