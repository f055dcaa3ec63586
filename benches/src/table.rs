//! The printed table: vis's rows with their ratios to a baseline of the same run (the grid to a
//! memcpy of its input, the hook's blocking time to the grid alone, a gallery append after
//! 10,000 entries to one after 10) and to the peer.

use std::fmt::Write;

use crate::Row;

/// The peer stage a vis stage is compared with.
fn peer_stage(stage: &str) -> Option<&'static str> {
    match stage {
        "grid" => Some("peer_grid"),
        "grid+png" | "grid+gif" | "grid+apng" => Some("peer_total"),
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
    for r in rows.iter().filter(|r| {
        !["peer", "png:", "gif:"]
            .iter()
            .any(|p| r.stage.starts_with(p))
    }) {
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

/// The libraries vis's `Fast` is weighed against (OpenCV is the reference for sizes).
const LIBRARIES: [&str; 4] = ["png Fast", "png Balanced", "zlib-rs 1", "libdeflate 1"];

/// The PNG encoders' table: per grid and encoder, megapixels per second, bytes against the raw
/// pixels and against OpenCV's file; then, per grid at 1 thread, vis's `Fast` against the
/// fastest library by the README's rule (keep vis's deflate only at 1.2x the speed and no
/// larger files, or 10 % smaller files at no lower speed).
pub(crate) fn render_encoders(rows: &[Row]) -> String {
    let encoders: Vec<&Row> = rows
        .iter()
        .filter(|r| r.stage.starts_with("png:"))
        .collect();
    let gif: Vec<&Row> = rows
        .iter()
        .filter(|r| r.stage.starts_with("gif:"))
        .collect();
    let mut out = String::new();
    if encoders.is_empty() {
        return out;
    }
    let find = |w: &str, name: &str, threads: usize| {
        encoders
            .iter()
            .find(|r| r.workload == w && r.stage == format!("png:{name}") && r.threads == threads)
            .copied()
    };
    let mps = |r: &Row| r.pixels.unwrap_or(0) as f64 / 1e6 / (r.median_ms / 1e3);
    let _ = writeln!(
        out,
        "\nPNG encoders on the same grids; MP/s = megapixels per second"
    );
    let _ = writeln!(
        out,
        "{:<24} {:>3} {:<13} {:>9} {:>8} {:>10} {:>6} {:>8}",
        "grid", "thr", "encoder", "ms", "MP/s", "bytes", "/raw", "/OpenCV"
    );
    let mut workloads: Vec<&str> = Vec::new();
    for r in &encoders {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    for r in &encoders {
        let opencv = find(&r.workload, "OpenCV", 1)
            .map(|o| format!("{:.3}", r.bytes as f64 / o.bytes as f64))
            .unwrap_or_default();
        let raw = r.bytes as f64 / (r.pixels.unwrap_or(1) as f64 * 3.0);
        let _ = writeln!(
            out,
            "{:<24} {:>3} {:<13} {:>9.3} {:>8.1} {:>10} {:>6.3} {:>8}",
            r.workload,
            r.threads,
            r.stage.trim_start_matches("png:"),
            r.median_ms,
            mps(r),
            r.bytes,
            raw,
            opencv
        );
    }
    let _ = writeln!(
        out,
        "\nGIF: quantette's Wu steps, and a palette per frame or global"
    );
    for r in &gif {
        let _ = writeln!(
            out,
            "{:<24} {:>3} {:<16} {:>9.3} ms {:>8.1} MP/s {:>10} {}",
            r.workload,
            r.threads,
            r.stage.trim_start_matches("gif:"),
            r.median_ms,
            mps(r),
            if r.bytes > 0 {
                r.bytes.to_string()
            } else {
                String::new()
            },
            r.mae.map(|m| format!("mae {m:.2}")).unwrap_or_default()
        );
    }
    for w in workloads {
        let Some(vis) = find(w, "vis Fast", 1) else {
            continue;
        };
        let Some(best) = LIBRARIES
            .iter()
            .filter_map(|name| find(w, name, 1))
            .max_by(|a, b| mps(a).total_cmp(&mps(b)))
        else {
            continue;
        };
        let speed = mps(vis) / mps(best);
        let size = vis.bytes as f64 / best.bytes as f64;
        let keep = (speed >= 1.2 && size <= 1.0) || (size <= 0.9 && speed >= 1.0);
        let _ = writeln!(
            out,
            "{w}: vis Fast at 1 thread against the fastest library ({}): {speed:.2}x the speed, {size:.3}x the bytes: {}",
            best.stage.trim_start_matches("png:"),
            if keep {
                "keeps its deflate"
            } else {
                "a library wins"
            }
        );
    }
    out
}
