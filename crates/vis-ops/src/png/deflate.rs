//! A fast deflate encoder for filtered PNG rows.
//!
//! Filtered rows of generated images are mostly small residuals with runs of zeros, so, like
//! `fdeflate`, this encoder emits only literals and runs of zeros (matches at distance 1). Unlike
//! `fdeflate`, whose code table is fixed, every block gets a Huffman table built from its own
//! histogram, which on GAN-like grids makes files about 15 % smaller at nearly the same speed.
//! Blocks where coding would not pay are stored. Strips of rows compress independently and join
//! with sync flushes, so they can run in parallel.

/// Filtered bytes per deflate block (each block gets its own code table).
const BLOCK_BYTES: usize = 1 << 17;
/// Longest code in the literal/length and distance alphabets.
const MAX_CODE_BITS: u8 = 15;
/// Longest code in the code-length alphabet.
const MAX_CODE_LENGTH_BITS: u8 = 7;
/// Literal/length symbols: 256 literals, end of block, 29 length codes.
const LIT_LEN_SYMBOLS: usize = 286;
/// End-of-block symbol.
const END_OF_BLOCK: usize = 256;
/// Zeros after the first of a run from which a match is emitted instead of literals.
const MIN_MATCH: usize = 5;
/// Longest deflate match.
const MAX_MATCH: usize = 258;

/// Length code base lengths (symbols 257..=285).
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
/// Extra bits of each length code.
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Order in which code-length code lengths are sent.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// For every match length 0..=258: (length code index 0..29, extra bits, extra value).
// Evaluated at compile time, where an index out of range fails the build.
#[allow(clippy::indexing_slicing)]
const LENGTH_CODES: [(u8, u8, u16); MAX_MATCH + 1] = {
    let mut table = [(0u8, 0u8, 0u16); MAX_MATCH + 1];
    let mut len = 3;
    while len <= MAX_MATCH {
        let mut code = 28;
        while LENGTH_BASE[code] as usize > len {
            code -= 1;
        }
        table[len] = (
            code as u8,
            LENGTH_EXTRA[code],
            (len - LENGTH_BASE[code] as usize) as u16,
        );
        len += 1;
    }
    table
};

/// Writes bits least significant first, as deflate wants, into a buffer sized ahead (see
/// [`BitWriter::room`]), so the hot loop makes no call that could move it.
#[derive(Default)]
struct BitWriter {
    /// Written bytes are `out[..pos]`; the rest is room.
    out: Vec<u8>,
    pos: usize,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    /// Makes sure `bytes` more bytes fit.
    fn room(&mut self, bytes: usize) {
        let need = self.pos.saturating_add(bytes).saturating_add(8);
        if self.out.len() < need {
            self.out.resize(need, 0);
        }
    }

    /// Appends the low `count` (at most 64) bits of `value`, which has no bits above them.
    #[inline(always)]
    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.bits;
        let total = self.bits + count;
        if total >= 64 {
            if let Some(dst) = self.out.get_mut(self.pos..self.pos + 8) {
                dst.copy_from_slice(&self.acc.to_le_bytes());
            }
            self.pos += 8;
            // The bits of `value` that did not fit.
            self.acc = value.checked_shr(64 - self.bits).unwrap_or(0);
            self.bits = total - 64;
        } else {
            self.bits = total;
        }
    }

    /// Pads with zero bits to a byte boundary and flushes.
    fn align(&mut self) {
        self.room(8);
        while self.bits > 0 {
            if let Some(b) = self.out.get_mut(self.pos) {
                *b = self.acc as u8;
            }
            self.pos += 1;
            self.acc >>= 8;
            self.bits = self.bits.saturating_sub(8);
        }
        self.acc = 0;
    }

    /// Appends whole bytes (the writer must be byte-aligned).
    fn bytes(&mut self, bytes: &[u8]) {
        self.room(bytes.len());
        if let Some(dst) = self.out.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }

    /// The written bytes.
    fn finish(mut self) -> Vec<u8> {
        self.out.truncate(self.pos);
        self.out
    }
}

/// What [`walk`] finds in the data.
trait Tokens {
    /// One literal byte.
    fn literal(&mut self, byte: u8);
    /// Eight literal bytes in a row.
    fn literals8(&mut self, bytes: &[u8; 8]) {
        for &b in bytes {
            self.literal(b);
        }
    }
    /// A match of `len` (3..=258) bytes at distance 1.
    fn matched(&mut self, len: usize);

    /// A run of `len` zero bytes: a literal zero, then matches where they pay.
    #[inline(always)]
    fn zeros(&mut self, len: usize) {
        self.literal(0);
        let mut rest = len.saturating_sub(1);
        if rest >= MIN_MATCH {
            while rest >= 3 {
                let mut take = rest.min(MAX_MATCH);
                // Never leave 1 or 2 zeros, which no match can cover.
                if rest > MAX_MATCH && rest - MAX_MATCH < 3 {
                    take = rest - 3;
                }
                self.matched(take);
                rest -= take;
            }
        }
        for _ in 0..rest {
            self.literal(0);
        }
    }
}

/// Walks `data` as literals and runs of zero bytes, eight bytes at a time. A run starts at a
/// whole zero word and takes in the zeros that begin the word after it; every other word goes
/// out as eight literals (zeros inside words are cheap literals), which keeps the common path
/// free of per-byte branches.
#[inline(always)]
fn walk(data: &[u8], tokens: &mut impl Tokens) {
    let (chunks, tail) = data.as_chunks::<8>();
    let mut run = 0usize;
    for chunk in chunks {
        let word = u64::from_le_bytes(*chunk);
        if word == 0 {
            run += 8;
        } else if run == 0 {
            tokens.literals8(chunk);
        } else {
            let leading = (word.trailing_zeros() / 8) as usize;
            tokens.zeros(run + leading);
            run = 0;
            for &b in chunk.iter().skip(leading) {
                tokens.literal(b);
            }
        }
    }
    for &b in tail {
        if b == 0 && run > 0 {
            run += 1;
        } else {
            if run > 0 {
                tokens.zeros(run);
                run = 0;
            }
            tokens.literal(b);
        }
    }
    if run > 0 {
        tokens.zeros(run);
    }
}

/// Huffman code lengths for `freqs`, none longer than `max_bits`. At least two symbols get a
/// code, so every code is complete (some decoders refuse incomplete ones).
fn code_lengths(freqs: &[u32], max_bits: u8) -> Vec<u8> {
    let mut f: Vec<u64> = freqs.iter().map(|&x| u64::from(x)).collect();
    let used = f.iter().filter(|&&x| x > 0).count();
    for x in f
        .iter_mut()
        .filter(|x| **x == 0)
        .take(2usize.saturating_sub(used))
    {
        *x = 1;
    }
    let lengths = huffman_lengths(&f);
    let deepest = lengths.iter().copied().max().unwrap_or(0);
    if deepest <= max_bits {
        return lengths;
    }
    // Codes per length, then moved up to `max_bits` keeping the code complete (JPEG, Annex
    // K.3): two siblings at the deepest level leave it, one takes their parent's place, and a
    // shallower leaf becomes the parent of the other and itself.
    let mut per_length = vec![0u32; usize::from(deepest) + 1];
    for &l in &lengths {
        if let Some(c) = per_length.get_mut(usize::from(l)) {
            *c += 1;
        }
    }
    let count = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
    let add = |v: &mut [u32], i: usize, d: i64| {
        if let Some(c) = v.get_mut(i) {
            *c = (i64::from(*c) + d).max(0) as u32;
        }
    };
    for i in (usize::from(max_bits) + 1..=usize::from(deepest)).rev() {
        while count(&per_length, i) > 0 {
            let mut j = i.saturating_sub(2);
            while j > 0 && count(&per_length, j) == 0 {
                j -= 1;
            }
            add(&mut per_length, i, -2);
            add(&mut per_length, i - 1, 1);
            add(&mut per_length, j + 1, 2);
            add(&mut per_length, j, -1);
        }
    }
    // The most frequent symbols get the shortest codes.
    let mut symbols: Vec<usize> = (0..f.len())
        .filter(|&s| f.get(s).is_some_and(|&x| x > 0))
        .collect();
    symbols.sort_by_key(|&s| std::cmp::Reverse(f.get(s).copied().unwrap_or(0)));
    let mut out = vec![0u8; f.len()];
    let mut next = symbols.into_iter();
    for (len, &n) in per_length.iter().enumerate().skip(1) {
        for s in next.by_ref().take(n as usize) {
            if let Some(o) = out.get_mut(s) {
                *o = len as u8;
            }
        }
    }
    out
}

/// Unlimited Huffman code lengths (0 for unused symbols): leaves sorted by weight, then the
/// two-queue construction (leaves and merged nodes each come out in weight order).
fn huffman_lengths(freqs: &[u64]) -> Vec<u8> {
    let mut leaves: Vec<(u64, usize)> = freqs
        .iter()
        .enumerate()
        .filter(|(_, f)| **f > 0)
        .map(|(i, &f)| (f, i))
        .collect();
    leaves.sort_unstable();
    let n = freqs.len();
    let mut lengths = vec![0u8; n];
    if leaves.len() == 1 {
        if let Some(l) = leaves.first().and_then(|&(_, s)| lengths.get_mut(s)) {
            *l = 1;
        }
        return lengths;
    }
    // Nodes: leaves first (by their index in `leaves`), then merged nodes in creation order.
    let mut parent = vec![usize::MAX; 2 * leaves.len()];
    let mut merged: Vec<u64> = Vec::with_capacity(leaves.len());
    let (mut next_leaf, mut next_merged) = (0usize, 0usize);
    let leaf_count = leaves.len();
    // Takes the lighter of the next leaf and the next merged node.
    let take = |next_leaf: &mut usize, next_merged: &mut usize, merged: &[u64]| {
        let leaf = leaves.get(*next_leaf).map(|&(w, _)| w);
        let node = merged.get(*next_merged).copied();
        match (leaf, node) {
            (Some(l), Some(m)) if m < l => {
                *next_merged += 1;
                Some((m, leaf_count + *next_merged - 1))
            }
            (Some(l), _) => {
                *next_leaf += 1;
                Some((l, *next_leaf - 1))
            }
            (None, Some(m)) => {
                *next_merged += 1;
                Some((m, leaf_count + *next_merged - 1))
            }
            (None, None) => None,
        }
    };
    for _ in 1..leaf_count {
        let (Some((wa, a)), Some((wb, b))) = (
            take(&mut next_leaf, &mut next_merged, &merged),
            take(&mut next_leaf, &mut next_merged, &merged),
        ) else {
            break;
        };
        let id = leaf_count + merged.len();
        merged.push(wa + wb);
        for node in [a, b] {
            if let Some(p) = parent.get_mut(node) {
                *p = id;
            }
        }
    }
    // Depths: a merged node's depth is its parent's plus one; parents come later.
    let mut depth = vec![0u8; 2 * leaf_count];
    for node in (0..2 * leaf_count).rev() {
        let d = parent
            .get(node)
            .and_then(|&p| depth.get(p))
            .map_or(0, |&d| d.saturating_add(1));
        if let Some(slot) = depth.get_mut(node) {
            *slot = d;
        }
    }
    for (i, &(_, symbol)) in leaves.iter().enumerate() {
        if let (Some(l), Some(&d)) = (lengths.get_mut(symbol), depth.get(i)) {
            *l = d;
        }
    }
    lengths
}

/// Canonical codes for `lengths`, bit-reversed for least-significant-first output.
fn canonical_codes(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u16; 16];
    for &l in lengths {
        if let Some(c) = count.get_mut(usize::from(l)) {
            *c += 1;
        }
    }
    count[0] = 0;
    // next[bits] = first code of that length (RFC 1951, 3.2.2).
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for (slot, &below) in next.iter_mut().skip(1).zip(&count) {
        code = (code + below) << 1;
        *slot = code;
    }
    lengths
        .iter()
        .map(|&l| {
            let Some(slot) = next.get_mut(usize::from(l)).filter(|_| l > 0) else {
                return 0;
            };
            let c = *slot;
            *slot = slot.wrapping_add(1);
            c.reverse_bits() >> (16 - u32::from(l))
        })
        .collect()
}

/// A block's statistics: literal/length symbol counts and the extra bits its matches need.
struct Histogram {
    /// Four interleaved tables, so that runs of one byte value do not wait on one counter.
    lanes: [[u32; LIT_LEN_SYMBOLS]; 4],
    matches: u64,
    extra_bits: u64,
}

impl Tokens for Histogram {
    #[inline(always)]
    fn literal(&mut self, byte: u8) {
        if let Some(c) = self.lanes[0].get_mut(usize::from(byte)) {
            *c += 1;
        }
    }

    #[inline(always)]
    fn literals8(&mut self, bytes: &[u8; 8]) {
        for (lane, pair) in self.lanes.iter_mut().zip(bytes.as_chunks::<2>().0) {
            for &b in pair {
                if let Some(c) = lane.get_mut(usize::from(b)) {
                    *c += 1;
                }
            }
        }
    }

    #[inline(always)]
    fn matched(&mut self, len: usize) {
        let (code, extra, _) = LENGTH_CODES.get(len).copied().unwrap_or_default();
        if let Some(c) = self.lanes[0].get_mut(257 + usize::from(code)) {
            *c += 1;
        }
        self.matches += 1;
        self.extra_bits += u64::from(extra);
    }
}

/// Sampled windows: `SAMPLE_BYTES` out of every `SAMPLE_STRIDE` bytes of a block are counted.
const SAMPLE_BYTES: usize = 4096;
const SAMPLE_STRIDE: usize = 4 * SAMPLE_BYTES;

/// Estimated symbol counts of `data` (with one end of block), matches and their extra bits,
/// from a quarter of it in evenly spread windows, scaled up. Every symbol counts at least once,
/// so each has a code whether or not the sample saw it.
fn histogram(data: &[u8]) -> ([u32; LIT_LEN_SYMBOLS], u64, u64) {
    let mut h = Histogram {
        lanes: [[0; LIT_LEN_SYMBOLS]; 4],
        matches: 0,
        extra_bits: 0,
    };
    let mut sampled = 0usize;
    for window in data.chunks(SAMPLE_STRIDE) {
        let window = window.get(..SAMPLE_BYTES).unwrap_or(window);
        sampled += window.len();
        walk(window, &mut h);
    }
    let scale = |x: u64| x * data.len() as u64 / sampled.max(1) as u64;
    let (matches, extra_bits) = (scale(h.matches), scale(h.extra_bits));
    let [a, b, c, d] = h.lanes;
    let mut counts = a;
    for (((x, b), c), d) in counts.iter_mut().zip(b).zip(c).zip(d) {
        let total = u64::from(*x + b + c + d);
        *x = u32::try_from(scale(total)).unwrap_or(u32::MAX).max(1);
    }
    (counts, matches, extra_bits)
}

/// Emits tokens with a block's code table. It owns the bit writer while it runs, so the
/// accumulator stays in registers.
struct Emitter {
    w: BitWriter,
    /// Code (bit-reversed, low 16 bits) and length (high 16 bits) of every literal/length
    /// symbol.
    table: [u32; LIT_LEN_SYMBOLS],
}

impl Emitter {
    #[inline(always)]
    fn symbol(&self, s: usize) -> (u64, u32) {
        let entry = self.table.get(s).copied().unwrap_or(0);
        (u64::from(entry & 0xffff), entry >> 16)
    }
}

impl Tokens for Emitter {
    #[inline(always)]
    fn literal(&mut self, byte: u8) {
        let (c, l) = self.symbol(usize::from(byte));
        self.w.put(c, l);
    }

    #[inline(always)]
    fn literals8(&mut self, bytes: &[u8; 8]) {
        // Four codes of at most 15 bits per write.
        for [a, b, c, d] in bytes.as_chunks::<4>().0 {
            let (c0, l0) = self.symbol(usize::from(*a));
            let (c1, l1) = self.symbol(usize::from(*b));
            let (c2, l2) = self.symbol(usize::from(*c));
            let (c3, l3) = self.symbol(usize::from(*d));
            let bits = c0 | c1 << l0 | c2 << (l0 + l1) | c3 << (l0 + l1 + l2);
            self.w.put(bits, l0 + l1 + l2 + l3);
        }
    }

    #[inline(always)]
    fn matched(&mut self, len: usize) {
        let (code, extra, value) = LENGTH_CODES.get(len).copied().unwrap_or_default();
        let (c, l) = self.symbol(257 + usize::from(code));
        self.w.put(c, l);
        // The extra bits, then distance code 0 (distance 1) as a single 0 bit.
        self.w.put(u64::from(value), u32::from(extra) + 1);
    }
}

/// The code-length sequence of a dynamic header, run-length coded: (symbol, extra bits, extra
/// value) with symbols 0..=15 literal lengths, 16 repeat previous 3-6, 17 zeros 3-10, 18 zeros
/// 11-138.
fn run_length_code(lengths: &[u8]) -> Vec<(u8, u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&v) = lengths.get(i) {
        let run = lengths
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&x| x == v)
            .count();
        let mut rest = run;
        if v == 0 {
            while rest >= 11 {
                let n = rest.min(138);
                out.push((18, 7, (n - 11) as u8));
                rest -= n;
            }
            if rest >= 3 {
                out.push((17, 3, (rest - 3) as u8));
                rest = 0;
            }
        } else {
            out.push((v, 0, 0));
            rest -= 1;
            while rest >= 3 {
                let n = rest.min(6);
                out.push((16, 2, (n - 3) as u8));
                rest -= n;
            }
        }
        out.extend(std::iter::repeat_n((v, 0, 0), rest));
        i += run;
    }
    out
}

/// Writes one block of `data`: dynamic Huffman, or stored when that is smaller.
fn write_block(w: &mut BitWriter, data: &[u8], last: bool) {
    let (counts, matches, extra_bits) = histogram(data);
    let lit_lengths = code_lengths(&counts, MAX_CODE_BITS);
    // One distance is ever used (1); a second unused code keeps the distance code complete.
    let dist_lengths = [1u8, 1];
    let lit_count = lit_lengths
        .iter()
        .rposition(|&l| l > 0)
        .map_or(257, |p| (p + 1).max(257));
    let mut sequence: Vec<u8> = lit_lengths.get(..lit_count).unwrap_or_default().to_vec();
    sequence.extend_from_slice(&dist_lengths);
    let rle = run_length_code(&sequence);
    let mut cl_freqs = [0u32; 19];
    for &(s, _, _) in &rle {
        if let Some(c) = cl_freqs.get_mut(usize::from(s)) {
            *c += 1;
        }
    }
    let cl_lengths = code_lengths(&cl_freqs, MAX_CODE_LENGTH_BITS);
    let cl_codes = canonical_codes(&cl_lengths);
    let cl_count = CODE_LENGTH_ORDER
        .iter()
        .rposition(|&s| cl_lengths.get(s).is_some_and(|&l| l > 0))
        .map_or(4, |p| (p + 1).max(4));

    // Exact size in bits of both choices.
    let header_bits = 3
        + 5
        + 5
        + 4
        + 3 * cl_count as u64
        + rle
            .iter()
            .map(|&(s, extra, _)| {
                u64::from(cl_lengths.get(usize::from(s)).copied().unwrap_or(0)) + u64::from(extra)
            })
            .sum::<u64>();
    let body_bits: u64 = counts
        .iter()
        .zip(&lit_lengths)
        .map(|(&f, &l)| u64::from(f) * u64::from(l))
        .sum::<u64>()
        + extra_bits
        + matches; // one bit per distance code
    let stored_bits = (data.len() as u64 + 5 * (data.len() as u64 / 65535 + 1)) * 8 + 7;
    if header_bits + body_bits >= stored_bits {
        write_stored(w, data, last);
        return;
    }

    w.room(512);
    w.put(u64::from(last), 1);
    w.put(2, 2);
    w.put((lit_count - 257) as u64, 5);
    w.put((dist_lengths.len() - 1) as u64, 5);
    w.put((cl_count - 4) as u64, 4);
    for &s in CODE_LENGTH_ORDER.iter().take(cl_count) {
        w.put(u64::from(cl_lengths.get(s).copied().unwrap_or(0)), 3);
    }
    for &(s, extra, value) in &rle {
        let s = usize::from(s);
        let len = cl_lengths.get(s).copied().unwrap_or(0);
        w.put(
            u64::from(cl_codes.get(s).copied().unwrap_or(0)),
            u32::from(len),
        );
        w.put(u64::from(value), u32::from(extra));
    }

    let codes = canonical_codes(&lit_lengths);
    let mut table = [0u32; LIT_LEN_SYMBOLS];
    for ((slot, &c), &l) in table.iter_mut().zip(&codes).zip(&lit_lengths) {
        *slot = u32::from(c) | u32::from(l) << 16;
    }
    // At most 15 bits per byte, 15 + 5 + 1 per match, plus the end of block.
    w.room(data.len() * 2 + 16);
    let mut emitter = Emitter {
        w: std::mem::take(w),
        table,
    };
    walk(data, &mut emitter);
    let (c, l) = emitter.symbol(END_OF_BLOCK);
    emitter.w.put(c, l);
    *w = emitter.w;
}

/// Writes `data` as stored blocks (at most 65535 bytes each).
fn write_stored(w: &mut BitWriter, data: &[u8], last: bool) {
    let mut chunks = data.chunks(65535).peekable();
    w.room(16);
    if chunks.peek().is_none() {
        w.put(u64::from(last), 1);
        w.put(0, 2);
        w.align();
        w.bytes(&[0, 0, 0xff, 0xff]);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let final_block = last && chunks.peek().is_none();
        w.room(16);
        w.put(u64::from(final_block), 1);
        w.put(0, 2);
        w.align();
        let len = chunk.len() as u16;
        w.bytes(&len.to_le_bytes());
        w.bytes(&(!len).to_le_bytes());
        w.bytes(chunk);
    }
}

/// Compresses one strip of filtered rows as raw deflate blocks. A strip that is not `last`
/// ends with a sync flush (an empty stored block), so strips concatenate byte by byte.
pub(super) fn deflate_strip(data: &[u8], last: bool) -> Vec<u8> {
    let mut w = BitWriter::default();
    let mut blocks = data.chunks(BLOCK_BYTES).peekable();
    if blocks.peek().is_none() {
        write_stored(&mut w, &[], last);
    }
    while let Some(block) = blocks.next() {
        write_block(&mut w, block, last && blocks.peek().is_none());
    }
    if !last {
        write_stored(&mut w, &[], false);
    }
    w.align();
    w.finish()
}

/// Adler-32 of `a ++ b` from the checksums of `a` and `b` and the length of `b` (zlib's
/// `adler32_combine`).
pub(super) fn adler32_combine(a: u32, b: u32, len_b: usize) -> u32 {
    const BASE: u64 = 65521;
    let rem = (len_b as u64) % BASE;
    let a1 = u64::from(a & 0xffff);
    let a2 = u64::from(a >> 16);
    let b1 = u64::from(b & 0xffff);
    let b2 = u64::from(b >> 16);
    let sum1 = (a1 + b1 + BASE - 1) % BASE;
    let sum2 = (rem * a1 % BASE + a2 + b2 + BASE - rem) % BASE;
    (sum1 | (sum2 << 16)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(zlib: &[u8]) -> Vec<u8> {
        miniz_oxide::inflate::decompress_to_vec_zlib(zlib).expect("valid zlib stream")
    }

    /// A zlib stream of `strips` (each compressed independently).
    fn zlib(strips: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0x78, 0x01];
        let mut adler = 1u32;
        for (i, s) in strips.iter().enumerate() {
            out.extend(deflate_strip(s, i + 1 == strips.len()));
            adler = adler32_combine(adler, simd_adler32::adler32(s), s.len());
        }
        out.extend_from_slice(&adler.to_be_bytes());
        out
    }

    fn round_trip(data: &[u8], pieces: usize) {
        let size = data.len().div_ceil(pieces.max(1)).max(1);
        let strips: Vec<&[u8]> = if data.is_empty() {
            vec![data]
        } else {
            data.chunks(size).collect()
        };
        assert_eq!(
            inflate(&zlib(&strips)),
            data,
            "{} bytes, {pieces} strips",
            data.len()
        );
    }

    #[test]
    fn round_trips_edge_cases() {
        round_trip(&[], 1);
        round_trip(&[0], 1);
        round_trip(&[7], 1);
        round_trip(&[0; 1000], 1);
        round_trip(&[0; 261], 1);
        round_trip(&[0; 262], 1);
        round_trip(&[0; 300_000], 3);
        round_trip(&[5; 10_000], 2);
        let mut zeros_then_data = vec![0u8; 17];
        zeros_then_data.extend(1..=200u8);
        zeros_then_data.extend([0; 9]);
        round_trip(&zeros_then_data, 1);
    }

    #[test]
    fn round_trips_random_and_skewed_data() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Uniform noise: stored blocks win.
        let noise: Vec<u8> = (0..200_000).map(|_| next() as u8).collect();
        round_trip(&noise, 4);
        // Residual-like data: small values and zero runs of every length.
        let mut residual = Vec::new();
        while residual.len() < 500_000 {
            let r = next();
            if r % 7 == 0 {
                residual.extend(std::iter::repeat_n(0u8, (r >> 8) as usize % 600));
            } else {
                residual.push(((r >> 16) % 9) as u8 ^ if r % 2 == 0 { 0 } else { 0xff });
            }
        }
        round_trip(&residual, 1);
        round_trip(&residual, 5);
    }

    #[test]
    fn skewed_histograms_stay_within_fifteen_bits() {
        let freqs: Vec<u32> = (0..LIT_LEN_SYMBOLS).map(|i| 1u32 << (i % 31)).collect();
        let lengths = code_lengths(&freqs, MAX_CODE_BITS);
        assert!(lengths.iter().all(|&l| (1..=15).contains(&l)));
        // Kraft: a complete code.
        let kraft: f64 = lengths.iter().map(|&l| 0.5f64.powi(i32::from(l))).sum();
        assert!((kraft - 1.0).abs() < 1e-9, "{kraft}");
    }

    #[test]
    fn adler_combine_matches_a_whole_checksum() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for cut in [0, 1, 65520, 65521, 65522, 99_999, 100_000] {
            let (a, b) = data.split_at(cut);
            let combined = adler32_combine(
                simd_adler32::adler32(&a),
                simd_adler32::adler32(&b),
                b.len(),
            );
            assert_eq!(
                combined,
                simd_adler32::adler32(&data.as_slice()),
                "cut {cut}"
            );
        }
    }
}
