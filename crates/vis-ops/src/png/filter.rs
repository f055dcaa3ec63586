//! PNG row filters for 8-bit RGB (3 bytes per pixel) with the PNG specification's adaptive
//! choice: per row, the filter whose residuals have the smallest sum of absolute values (as
//! signed bytes). Loops are branch-free so the compiler vectorises them.

/// Filter types, numbered as in a PNG file.
#[allow(dead_code)] // listed for completeness; the adaptive choice never picks it
const NONE: u8 = 0;
const SUB: u8 = 1;
const UP: u8 = 2;
const AVG: u8 = 3;
const PAETH: u8 = 4;

/// Bytes per pixel of 8-bit RGB.
const BPP: usize = 3;

/// Scratch rows for the five candidate filters, reused from row to row.
pub(super) struct Filterer {
    candidates: [Vec<u8>; 5],
    zeros: Vec<u8>,
    /// The filter chosen last, and how many rows ago.
    chosen: (u8, usize),
}

/// Rows that share one adaptive choice. Choosing on every other row instead of every row made
/// the peer benchmark's PNGs 0.4 to 0.75 % larger and their encoding 20 to 30 % faster; every
/// 8th row cost 6.6 % on a grid of 64 x 64 cells, whose borders recur too often.
const ROWS_PER_CHOICE: usize = 2;

impl Filterer {
    /// Scratch for rows of `row_bytes` bytes.
    pub(super) fn new(row_bytes: usize) -> Self {
        Self {
            candidates: std::array::from_fn(|_| vec![0; row_bytes]),
            zeros: vec![0; row_bytes],
            chosen: (UP, ROWS_PER_CHOICE),
        }
    }

    /// Appends row `cur` filtered against `prev` (the row above, `None` for the first row) to
    /// `out`: the filter type byte, then the residuals. Like libpng and the `png` crate, the
    /// choice is among Up, Sub, Average and Paeth (ties to the later one).
    pub(super) fn filter_row(&mut self, prev: Option<&[u8]>, cur: &[u8], out: &mut Vec<u8>) {
        let n = cur.len();
        if self.zeros.len() < n {
            self.zeros.resize(n, 0);
        }
        let prev = prev.and_then(|p| p.get(..n)).unwrap_or(&self.zeros);
        for c in &mut self.candidates {
            c.resize(n, 0);
        }
        if self.chosen.1 + 1 < ROWS_PER_CHOICE {
            self.chosen.1 += 1;
            let kind = self.chosen.0;
            apply(&mut self.candidates, kind, prev, cur);
            out.push(kind);
            out.extend_from_slice(self.row(kind));
            return;
        }
        for kind in [UP, SUB, AVG, PAETH] {
            apply(&mut self.candidates, kind, prev, cur);
        }
        let [_, sub, up, avg, paeth] = &self.candidates;
        let mut best = (u64::MAX, UP);
        for (kind, row) in [(UP, up), (SUB, sub), (AVG, avg), (PAETH, paeth)] {
            let sum = signed_abs_sum(row);
            if sum <= best.0 {
                best = (sum, kind);
            }
        }
        self.chosen = (best.1, 0);
        out.push(best.1);
        out.extend_from_slice(self.row(best.1));
    }

    /// The candidate row of filter `kind`.
    fn row(&self, kind: u8) -> &[u8] {
        self.candidates
            .get(usize::from(kind))
            .map_or(&[][..], |r| r.as_slice())
    }
}

/// Filters `cur` with filter `kind` into that filter's candidate row.
fn apply(candidates: &mut [Vec<u8>; 5], kind: u8, prev: &[u8], cur: &[u8]) {
    {
        let [_, sub, up, avg, paeth] = candidates;
        match kind {
            UP => difference(up, cur, prev),
            SUB => {
                for (o, &x) in sub.iter_mut().zip(cur).take(BPP) {
                    *o = x;
                }
                if let (Some(o), Some(x)) = (sub.get_mut(BPP..), cur.get(BPP..)) {
                    difference(o, x, cur);
                }
            }
            // floor((a + b) / 2) without widening, so it stays in byte lanes.
            AVG => filter_with(avg, cur, prev, |x, a, b, _| {
                x.wrapping_sub((a & b) + ((a ^ b) >> 1))
            }),
            _ => filter_with(paeth, cur, prev, |x, a, b, c| {
                x.wrapping_sub(paeth_predictor(a, b, c))
            }),
        }
    }
}

/// `out[i] = x[i] - y[i]` (wrapping), in fixed 32-byte chunks the compiler vectorises. Not
/// inlined: as a function of its own its slices are known not to overlap, which vectorising
/// needs.
#[inline(never)]
fn difference(out: &mut [u8], x: &[u8], y: &[u8]) {
    const CHUNK: usize = 32;
    let (out32, out_rest) = out.as_chunks_mut::<CHUNK>();
    let (x32, _) = x.as_chunks::<CHUNK>();
    let (y32, _) = y.as_chunks::<CHUNK>();
    for ((o, x), y) in out32.iter_mut().zip(x32).zip(y32) {
        // See `filter_with` on indexing fixed-size arrays.
        #[allow(clippy::indexing_slicing)]
        for i in 0..CHUNK {
            o[i] = x[i].wrapping_sub(y[i]);
        }
    }
    let done = out32.len() * CHUNK;
    let tails = out_rest
        .iter_mut()
        .zip(x.get(done..).unwrap_or_default())
        .zip(y.get(done..).unwrap_or_default());
    for ((o, &x), &y) in tails {
        *o = x.wrapping_sub(y);
    }
}

/// `out[i] = f(cur[i], a, b, c)` with `a = cur[i - 3]`, `b = prev[i]`, `c = prev[i - 3]`
/// (`a = c = 0` for the first pixel), in fixed 32-byte chunks the compiler vectorises. Not
/// inlined, for the reason given at [`difference`].
#[inline(never)]
fn filter_with(out: &mut [u8], cur: &[u8], prev: &[u8], f: impl Fn(u8, u8, u8, u8) -> u8) {
    for ((o, &x), &b) in out.iter_mut().zip(cur).zip(prev).take(BPP) {
        *o = f(x, 0, b, 0);
    }
    let (Some(out), Some(x), Some(b)) = (out.get_mut(BPP..), cur.get(BPP..), prev.get(BPP..))
    else {
        return;
    };
    const CHUNK: usize = 32;
    let (out32, out_rest) = out.as_chunks_mut::<CHUNK>();
    let (x32, x_rest) = x.as_chunks::<CHUNK>();
    let (a32, _) = cur.as_chunks::<CHUNK>();
    let (b32, b_rest) = b.as_chunks::<CHUNK>();
    let (c32, _) = prev.as_chunks::<CHUNK>();
    for ((((o, x), a), b), c) in out32.iter_mut().zip(x32).zip(a32).zip(b32).zip(c32) {
        // Indexing fixed-size arrays by 0..CHUNK cannot go out of bounds, and unlike a zip of
        // five iterators it is what the compiler vectorises.
        #[allow(clippy::indexing_slicing)]
        for i in 0..CHUNK {
            o[i] = f(x[i], a[i], b[i], c[i]);
        }
    }
    // The chunks of `cur` and `prev` (as `a` and `c`) run ahead of those of `x` and `b` by
    // three bytes, so the tails line up from where the full chunks ended.
    let done = out32.len() * CHUNK;
    let a_tail = cur.get(done..).unwrap_or_default();
    let c_tail = prev.get(done..).unwrap_or_default();
    let tails = out_rest
        .iter_mut()
        .zip(x_rest)
        .zip(a_tail)
        .zip(b_rest)
        .zip(c_tail);
    for ((((o, &x), &a), &b), &c) in tails {
        *o = f(x, a, b, c);
    }
}

/// The Paeth predictor of the PNG specification in unsigned bytes only, which vectorises well
/// (Luca Versari's formulation for FPNGE, as the `png` crate uses): `pa = |b - c|`,
/// `pb = |a - c|`, and `pc = |pa - pb|` when `c` lies between `a` and `b` (else `pc` exceeds
/// both and never wins).
#[inline(always)]
fn paeth_predictor(a: u8, b: u8, c: u8) -> u8 {
    let pa = b.max(c) - c.min(b);
    let pb = a.max(c) - c.min(a);
    let pc = if (a < c) == (c < b) {
        pa.max(pb) - pa.min(pb)
    } else {
        255
    };
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Sum of the residuals' absolute values as signed bytes.
fn signed_abs_sum(row: &[u8]) -> u64 {
    // u16 lanes cannot overflow within 256 bytes (at most 128 each).
    row.chunks(256)
        .map(|c| {
            let s: u16 = c.iter().map(|&v| u16::from((v as i8).unsigned_abs())).sum();
            u64::from(s)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The predictor as the specification writes it.
    fn paeth_reference(a: u8, b: u8, c: u8) -> u8 {
        let p = i16::from(a) + i16::from(b) - i16::from(c);
        let pa = (p - i16::from(a)).abs();
        let pb = (p - i16::from(b)).abs();
        let pc = (p - i16::from(c)).abs();
        if pa <= pb && pa <= pc {
            a
        } else if pb <= pc {
            b
        } else {
            c
        }
    }

    #[test]
    fn paeth_matches_the_specification() {
        for a in (0..=255u8).step_by(3) {
            for b in (0..=255u8).step_by(5) {
                for c in 0..=255u8 {
                    assert_eq!(paeth_predictor(a, b, c), paeth_reference(a, b, c));
                }
            }
        }
    }
}
