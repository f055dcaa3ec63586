//! The Python peer's figures (`bench_peer.py --json`), as rows of the same table.

use std::path::Path;

use serde_json::Value;

use crate::Row;

/// The peer's rows from its JSON: `peer_grid` (make_grid + astype), `peer_total` (+ cv2 PNG, or
/// the imageio GIF with its `mae`) and `peer_save_image` (torchvision's own path).
pub(crate) fn rows(path: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let threads = json["threads"].as_u64().unwrap_or(0) as usize;
    let rows = json["rows"]
        .as_array()
        .ok_or_else(|| format!("{}: no rows", path.display()))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let p = r["path"].as_str()?;
            let stage = if p.starts_with("mmagic grid + ") || p.starts_with("per-step") {
                "peer_total"
            } else if p.starts_with("mmagic grid") {
                "peer_grid"
            } else if p.starts_with("torchvision save_image") {
                "peer_save_image"
            } else {
                return None;
            };
            Some(Row {
                workload: r["workload"].as_str()?.to_owned(),
                stage: stage.to_owned(),
                threads,
                median_ms: r["ms"].as_f64()?,
                bytes: r["png_bytes"]
                    .as_u64()
                    .or_else(|| r["gif_bytes"].as_u64())
                    .unwrap_or(0),
                mae: r["mae"].as_f64(),
                pixels: None,
            })
        })
        .collect())
}
