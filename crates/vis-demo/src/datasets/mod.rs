//! Built-in procedural datasets, deterministic from a seed, nothing downloaded: coloured
//! shapes for the GAN and the DDPM ([`Shapes`]), outline-to-shape pairs for translation
//! ([`PairedShapes`]). Any index can be read in any order: each example is drawn from a
//! generator seeded with the dataset's seed and the index.

use candle_core::{Device, Tensor};

use vis_candle::Result;
use vis_candle::SeededRng;
use vis_candle::{Dataset, Example};

/// The kinds of shape drawn, numbered as [`ShapeLabel::kind`] counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Circle,
    Square,
    Triangle,
}

/// Shape kinds drawn (circle, square, triangle).
pub const KINDS: usize = 3;

/// Colour classes of the fills: the six sectors of the hue circle (red, yellow, green, cyan,
/// blue, magenta), each drawn equally often.
pub const COLOURS: usize = 6;

/// What an image of [`Shapes`] shows: the kind of its shape (0 circle, 1 square, 2 triangle)
/// and the hue sector of its fill (0 to 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeLabel {
    /// The shape kind, below [`KINDS`].
    pub kind: usize,
    /// The fill's hue sector, below [`COLOURS`].
    pub colour: usize,
}

impl ShapeLabel {
    /// Length of [`ShapeLabel::one_hot`]: the kinds, then the colours.
    pub const LEN: usize = KINDS + COLOURS;

    /// The one-hot kind, then the one-hot colour.
    pub fn one_hot(&self) -> [f32; Self::LEN] {
        let mut values = [0f32; Self::LEN];
        for i in [self.kind, KINDS + self.colour] {
            if let Some(slot) = values.get_mut(i) {
                *slot = 1.0;
            }
        }
        values
    }
}

/// `num` labels `[num, ShapeLabel::LEN]` drawn uniformly from `rng`: a kind, then a colour,
/// per row.
pub fn random_labels(num: usize, rng: &mut SeededRng, device: &Device) -> Result<Tensor> {
    let mut labels = Vec::with_capacity(num * ShapeLabel::LEN);
    for _ in 0..num {
        let kind = rng.below(KINDS);
        let colour = rng.below(COLOURS);
        labels.extend(ShapeLabel { kind, colour }.one_hot());
    }
    Ok(Tensor::from_vec(labels, (num, ShapeLabel::LEN), device)?)
}

/// One shape: kind, centre, radius (pixels) and colours, in an image of `size` pixels.
#[derive(Clone, Copy, Debug)]
struct Scene {
    kind: Kind,
    cx: f32,
    cy: f32,
    r: f32,
    fill: [f32; 3],
    background: [f32; 3],
    /// The fill's hue sector (0..6).
    colour: usize,
}

impl Scene {
    /// A random scene for an image of `size` pixels.
    fn random(rng: &mut SeededRng, size: usize) -> Self {
        let s = size as f32;
        let kind = match rng.below(3) {
            0 => Kind::Circle,
            1 => Kind::Square,
            _ => Kind::Triangle,
        };
        let r = s * (0.18 + 0.14 * rng.unit());
        let cx = r + (s - 2.0 * r) * rng.unit();
        let cy = r + (s - 2.0 * r) * rng.unit();
        // A saturated fill on a dark, muted background.
        let hue = rng.unit() * 6.0;
        let fill = hsv(hue, 0.75 + 0.25 * rng.unit(), 0.8 + 0.2 * rng.unit());
        let colour = (hue as usize).min(COLOURS - 1);
        let background = hsv(rng.unit() * 6.0, 0.3 * rng.unit(), 0.1 + 0.25 * rng.unit());
        Self {
            kind,
            cx,
            cy,
            r,
            fill,
            background,
            colour,
        }
    }

    fn label(&self) -> ShapeLabel {
        let kind = match self.kind {
            Kind::Circle => 0,
            Kind::Square => 1,
            Kind::Triangle => 2,
        };
        ShapeLabel {
            kind,
            colour: self.colour,
        }
    }

    /// How far inside the shape the pixel centre `(x, y)` is, in pixels (negative outside).
    fn depth(&self, x: f32, y: f32) -> f32 {
        let (dx, dy) = (x - self.cx, y - self.cy);
        match self.kind {
            Kind::Circle => self.r - (dx * dx + dy * dy).sqrt(),
            Kind::Square => self.r * 0.85 - dx.abs().max(dy.abs()),
            Kind::Triangle => {
                // An upward triangle: inside the base and the two slanted sides.
                let base = self.r * 0.7 - dy;
                let side = (self.r * 0.9 + dy * 0.5 - dx.abs() * 0.866) * 0.9;
                base.min(side)
            }
        }
    }
}

/// RGB in [0, 1] from hue (0..6), saturation and value.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// A `[3, size, size]` image in [-1, 1]: `colour(depth)` at every pixel of `scene`.
fn render(scene: &Scene, size: usize, colour: impl Fn(f32) -> [f32; 3]) -> Result<Tensor> {
    let plane = size * size;
    let mut data = vec![0f32; 3 * plane];
    for y in 0..size {
        for x in 0..size {
            let rgb = colour(scene.depth(x as f32 + 0.5, y as f32 + 0.5));
            for (c, value) in rgb.iter().enumerate() {
                if let Some(slot) = data.get_mut(c * plane + y * size + x) {
                    *slot = value * 2.0 - 1.0;
                }
            }
        }
    }
    Ok(Tensor::from_vec(data, (3, size, size), &Device::Cpu)?)
}

/// The generator of example `index` of a dataset seeded with `seed`.
fn example_rng(seed: u64, index: usize) -> SeededRng {
    SeededRng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_add(1))
}

/// 32x32 coloured circles, squares and triangles on muted backgrounds: key `img`,
/// `[3, 32, 32]` in [-1, 1], and what it shows under `label`, `[9]`: the one-hot kind (circle,
/// square, triangle), then the one-hot fill colour ([`COLOURS`] hue sectors).
#[derive(Clone, Debug)]
pub struct Shapes {
    len: usize,
    seed: u64,
    size: usize,
}

impl Shapes {
    /// Side of the images.
    pub const SIZE: usize = 32;

    /// `len` examples drawn from `seed`.
    pub fn new(len: usize, seed: u64) -> Self {
        Self {
            len,
            seed,
            size: Self::SIZE,
        }
    }

    /// What example `index` shows.
    pub fn label(&self, index: usize) -> ShapeLabel {
        Scene::random(&mut example_rng(self.seed, index), self.size).label()
    }
}

impl Dataset for Shapes {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<Example> {
        let scene = Scene::random(&mut example_rng(self.seed, index), self.size);
        let img = render(&scene, self.size, |d| {
            if d >= 0.0 {
                scene.fill
            } else {
                scene.background
            }
        })?;
        Ok(Example::from([
            ("img".to_owned(), img),
            (
                "label".to_owned(),
                Tensor::new(&scene.label().one_hot(), &Device::Cpu)?,
            ),
        ]))
    }
}

/// 64x64 pairs for translation: `img_outline` (the shape's white outline on black) and
/// `img_shape` (the shape filled with its colour on its background), both `[3, 64, 64]` in
/// [-1, 1]. The colour is not in the outline: the model learns a plausible one per shape kind.
#[derive(Clone, Debug)]
pub struct PairedShapes {
    len: usize,
    seed: u64,
}

impl PairedShapes {
    /// Side of the images.
    pub const SIZE: usize = 64;

    /// `len` pairs drawn from `seed`.
    pub fn new(len: usize, seed: u64) -> Self {
        Self { len, seed }
    }
}

impl Dataset for PairedShapes {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<Example> {
        let size = Self::SIZE;
        let mut scene = Scene::random(&mut example_rng(self.seed, index), size);
        // The fill colour follows the shape kind (circles reddish, squares greenish,
        // triangles bluish) so that an outline determines its picture.
        let hue = match scene.kind {
            Kind::Circle => 0.1,
            Kind::Square => 2.1,
            Kind::Triangle => 4.1,
        };
        scene.fill = hsv(hue, 0.85, 0.95);
        scene.background = [0.15, 0.15, 0.2];
        let outline = render(&scene, size, |d| {
            if (0.0..1.5).contains(&d) {
                [1.0; 3]
            } else {
                [0.0; 3]
            }
        })?;
        let filled = render(&scene, size, |d| {
            if d >= 0.0 {
                scene.fill
            } else {
                scene.background
            }
        })?;
        Ok(Example::from([
            ("img_outline".to_owned(), outline),
            ("img_shape".to_owned(), filled),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn examples_are_deterministic_in_range_and_differ_by_seed() {
        let a = Shapes::new(10, 1);
        let b = Shapes::new(10, 2);
        let x = values(&a.get(3).unwrap()["img"]);
        assert_eq!(x.len(), 3 * 32 * 32);
        assert_eq!(x, values(&a.get(3).unwrap()["img"]));
        assert_ne!(x, values(&b.get(3).unwrap()["img"]));
        assert_ne!(x, values(&a.get(4).unwrap()["img"]));
        assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
        let label = a.label(3);
        let mut expected = vec![0f32; ShapeLabel::LEN];
        expected[label.kind] = 1.0;
        expected[KINDS + label.colour] = 1.0;
        assert_eq!(label.one_hot().to_vec(), expected);
        assert_eq!(values(&a.get(3).unwrap()["label"]), expected);
        let p = PairedShapes::new(4, 1).get(0).unwrap();
        assert_eq!(p["img_outline"].dims(), &[3, 64, 64]);
        assert_eq!(p["img_shape"].dims(), &[3, 64, 64]);
        let outline = values(&p["img_outline"]);
        assert!(outline.contains(&1.0) && outline.contains(&-1.0));
    }
}
