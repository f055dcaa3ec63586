//! Grid geometry (torchvision `make_grid` with MMagic's stacking of several keys): where every
//! image lands on the canvas, computed with overflow-checked arithmetic before any allocation.

use crate::error::{Error, Result};
use crate::spec::GridSpec;

/// The largest side a picture may have: PNG's limit of 2^31 - 1 pixels.
pub const MAX_SIDE: usize = i32::MAX as usize;

/// The most bytes of RGB a picture (a grid, or all frames of an animation) may take: 1 GiB,
/// about 18900x18900 pixels. vis holds a picture in memory while it is encoded; a larger one is
/// almost surely a mistake (a padding or a shape off by orders of magnitude) and would risk the
/// memory of the training process it runs in.
pub const MAX_PICTURE_BYTES: usize = 1 << 30;

/// The bytes of `frames` RGB pictures of `width` x `height`, or [`Error::TooLarge`] past
/// [`MAX_PICTURE_BYTES`] (checked arithmetic: sizes come from user input).
pub fn picture_bytes(width: usize, height: usize, frames: usize) -> Result<usize> {
    width
        .checked_mul(height)
        .and_then(|p| p.checked_mul(3))
        .and_then(|b| b.checked_mul(frames))
        .filter(|&b| b <= MAX_PICTURE_BYTES)
        .ok_or(Error::TooLarge {
            width,
            height,
            limit: if frames > 1 {
                "an animation's frames together may take at most 1 GiB; use a larger n_skip or fewer images"
            } else {
                "vis draws pictures of at most 1 GiB (about 18900x18900 pixels)"
            },
        })
}

/// Where every image of a grid lands.
///
/// Keys are stacked along the batch: key 0 fills `rows_per_key` whole rows, then key 1, and so
/// on; the last row of a key is completed with empty cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    /// Images per key.
    pub n: usize,
    /// Number of keys stacked.
    pub keys: usize,
    /// Cells per grid row: `min(nrow, n)`.
    pub cols: usize,
    /// Grid rows of one key: `ceil(n / cols)`.
    pub rows_per_key: usize,
    /// Grid rows in all: `keys * rows_per_key`.
    pub rows: usize,
    /// Border pixels (0 for a grid of exactly one cell, which torchvision returns bare).
    pub padding: usize,
    /// Image height.
    pub cell_h: usize,
    /// Image width.
    pub cell_w: usize,
    /// Canvas width in pixels.
    pub width: usize,
    /// Canvas height in pixels.
    pub height: usize,
}

/// What one canvas row shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowKind {
    /// A border row: all pad bytes.
    Border,
    /// Row `y` of the images in grid row `grid_row`.
    Cells { grid_row: usize, y: usize },
}

/// `ceil(sqrt(n))`, MMagic's default images per row.
pub fn default_nrow(n: usize) -> usize {
    let r = n.isqrt();
    if r * r < n { r + 1 } else { r }
}

impl GridLayout {
    /// Lays out `keys` tensors of `n` images of `h` x `w` pixels each.
    pub fn new(n: usize, keys: usize, h: usize, w: usize, spec: &GridSpec) -> Result<Self> {
        if keys == 0 {
            return Err(Error::NoKeys);
        }
        let nrow = spec.nrow.unwrap_or_else(|| default_nrow(n));
        if nrow == 0 {
            return Err(Error::ZeroNrow);
        }
        let cols = if spec.pad_to_nrow {
            nrow
        } else {
            nrow.min(n).max(1)
        };
        let rows_per_key = n.div_ceil(cols);
        // torchvision returns a grid of exactly one cell bare.
        let padding = if keys == 1 && n == 1 && cols == 1 {
            0
        } else {
            spec.padding
        };
        let too_large = |limit| Error::TooLarge {
            width: cols.saturating_mul(w.saturating_add(padding)),
            height: keys
                .saturating_mul(rows_per_key)
                .saturating_mul(h.saturating_add(padding)),
            limit,
        };
        let side = |count: usize, cell: usize| -> Option<usize> {
            count
                .checked_mul(cell.checked_add(padding)?)?
                .checked_add(padding)
        };
        let rows = keys
            .checked_mul(rows_per_key)
            .ok_or_else(|| too_large("the row count overflows"))?;
        let width = side(cols, w).ok_or_else(|| too_large("its width overflows"))?;
        let height = side(rows, h).ok_or_else(|| too_large("its height overflows"))?;
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(Error::TooLarge {
                width,
                height,
                limit: "PNG allows at most 2147483647 pixels a side",
            });
        }
        picture_bytes(width, height, 1)?;
        Ok(Self {
            n,
            keys,
            cols,
            rows_per_key,
            rows,
            padding,
            cell_h: h,
            cell_w: w,
            width,
            height,
        })
    }

    /// Bytes in one canvas row (RGB).
    pub fn row_bytes(&self) -> usize {
        self.width * 3
    }

    /// Bytes of the whole canvas (RGB).
    pub fn canvas_bytes(&self) -> usize {
        self.row_bytes() * self.height
    }

    /// What canvas row `y` shows.
    pub(crate) fn row_kind(&self, y: usize) -> RowKind {
        let p = self.padding;
        let Some(inner) = y.checked_sub(p) else {
            return RowKind::Border;
        };
        let pitch = self.cell_h + p;
        let (grid_row, y) = (inner / pitch, inner % pitch);
        if y < self.cell_h && grid_row < self.rows {
            RowKind::Cells { grid_row, y }
        } else {
            RowKind::Border
        }
    }

    /// How many cells of grid row `grid_row` hold an image (the rest, to the right, are empty).
    pub(crate) fn filled_cells(&self, grid_row: usize) -> usize {
        let before = (grid_row % self.rows_per_key.max(1)) * self.cols;
        self.n.saturating_sub(before).min(self.cols)
    }

    /// The (key, image) shown in cell `col` of grid row `grid_row`, or `None` for an empty cell.
    pub(crate) fn cell(&self, grid_row: usize, col: usize) -> Option<(usize, usize)> {
        let key = grid_row / self.rows_per_key;
        let image = (grid_row % self.rows_per_key) * self.cols + col;
        (key < self.keys && image < self.n && col < self.cols).then_some((key, image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nrow: Option<usize>, padding: usize) -> GridSpec {
        GridSpec {
            nrow,
            padding,
            pad_byte: 0,
            pad_to_nrow: false,
        }
    }

    #[test]
    fn default_nrow_is_ceil_sqrt() {
        let got: Vec<usize> = [1, 2, 4, 5, 9, 10, 64, 65]
            .iter()
            .map(|&n| default_nrow(n))
            .collect();
        assert_eq!(got, vec![1, 2, 2, 3, 3, 4, 8, 9]);
    }

    #[test]
    fn sizes_match_make_grid() {
        // 64 images of 32x32, 8 per row: 8 * 34 + 2 = 274 (the demo's grid).
        let l = GridLayout::new(64, 1, 32, 32, &spec(Some(8), 2)).unwrap();
        assert_eq!((l.width, l.height), (274, 274));
        // Two keys of 16 images 256x256, 4 per row: 1034 wide, 8 rows high.
        let l = GridLayout::new(16, 2, 256, 256, &spec(Some(4), 2)).unwrap();
        assert_eq!((l.width, l.height, l.rows), (1034, 2066, 8));
        // One image is returned bare.
        let l = GridLayout::new(1, 1, 7, 9, &spec(Some(8), 2)).unwrap();
        assert_eq!((l.width, l.height, l.padding), (9, 7, 0));
        // ... but two keys of one image keep their border.
        let l = GridLayout::new(1, 2, 7, 9, &spec(Some(8), 2)).unwrap();
        assert_eq!((l.width, l.height), (13, 20));
    }

    #[test]
    fn keys_start_on_new_rows() {
        let l = GridLayout::new(5, 2, 4, 4, &spec(Some(3), 1)).unwrap();
        assert_eq!(l.rows, 4);
        assert_eq!(l.cell(0, 2), Some((0, 2)));
        assert_eq!(l.cell(1, 1), Some((0, 4)));
        assert_eq!(l.cell(1, 2), None);
        assert_eq!(l.cell(2, 0), Some((1, 0)));
        assert_eq!(l.cell(3, 2), None);
        let filled: Vec<usize> = (0..l.rows).map(|r| l.filled_cells(r)).collect();
        assert_eq!(filled, vec![3, 2, 3, 2]);
        for r in 0..l.rows {
            for c in 0..l.cols {
                assert_eq!(l.cell(r, c).is_some(), c < l.filled_cells(r));
            }
        }
    }

    #[test]
    fn row_kinds() {
        let l = GridLayout::new(4, 1, 3, 3, &spec(Some(2), 2)).unwrap();
        assert_eq!(l.height, 12);
        let kinds: Vec<RowKind> = (0..l.height).map(|y| l.row_kind(y)).collect();
        assert_eq!(kinds[0], RowKind::Border);
        assert_eq!(kinds[2], RowKind::Cells { grid_row: 0, y: 0 });
        assert_eq!(kinds[4], RowKind::Cells { grid_row: 0, y: 2 });
        assert_eq!(kinds[5], RowKind::Border);
        assert_eq!(kinds[7], RowKind::Cells { grid_row: 1, y: 0 });
        assert_eq!(kinds[11], RowKind::Border);
    }

    #[test]
    fn refuses_absurd_sizes_before_allocating() {
        assert!(matches!(
            GridLayout::new(4, 1, 3, 3, &spec(Some(0), 2)),
            Err(Error::ZeroNrow)
        ));
        assert!(matches!(
            GridLayout::new(4, 1, 3, 3, &spec(Some(2), usize::MAX)),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            GridLayout::new(1 << 20, 1, 1 << 20, 1, &spec(Some(1), 0)),
            Err(Error::TooLarge { .. })
        ));
    }
}
