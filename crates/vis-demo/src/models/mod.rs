//! Reference models in candle-nn for `vis demo`: a class-conditional DCGAN ([`dcgan`]), a
//! pix2pix U-Net with a PatchGAN discriminator ([`pix2pix`]) and a small DDPM ([`ddpm`]).
//! Weights are initialised from a seed ([`init`]) and saved as one safetensors file per model.

pub mod activation;
mod adversarial;
pub mod batch_norm;
pub mod conv;
pub mod dcgan;
pub mod ddpm;
pub mod init;
pub mod norm;
pub mod pix2pix;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use vis_candle::{Batch, Error, Result};

use crate::datasets::ShapeLabel;

/// The one-hot labels of `batch` (key `label`, `[n, ShapeLabel::LEN]`) on `device`, for the
/// class-conditional `model` (named in the errors).
pub(crate) fn batch_labels(
    batch: &Batch,
    n: usize,
    model: &str,
    device: &Device,
) -> Result<Tensor> {
    let len = ShapeLabel::LEN;
    let labels = batch
        .get("label")
        .ok_or_else(|| {
            Error::Model(format!(
                "the {model} is class-conditional and trains on batches with a 'label' key \
                 (the one-hot kind and colour, as the shapes dataset gives them)"
            ))
        })?
        .to_device(device)?;
    if labels.dims() != [n, len] {
        return Err(Error::Model(format!(
            "the {model}'s labels must be [{n}, {len}] (one-hot kind and colour), got {:?}",
            labels.dims()
        )));
    }
    Ok(labels)
}

/// The error for a weight map whose lock a panicking thread left poisoned.
fn poisoned<T>(_: T) -> Error {
    Error::Model("a weight map's lock was poisoned (a thread panicked while holding it)".into())
}

/// Saves the variables of `maps` (each under its prefix) to `path`, atomically.
pub(crate) fn save_maps(path: &Path, maps: &[(&str, &VarMap)]) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (prefix, map) in maps {
        let data = map.data().lock().map_err(poisoned)?;
        for (name, var) in data.iter() {
            tensors.push((format!("{prefix}.{name}"), var.as_tensor().clone()));
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
        .map_err(|e| Error::File {
            path: path.to_owned(),
            message: format!("cannot serialise the weights: {e}"),
        })?;
    vis_ops::fs::write_bytes_atomic(path, &bytes).map_err(|e| Error::File {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Loads weights saved by [`save_maps`] into `maps`; every variable must be in the file with
/// its shape.
pub(crate) fn load_maps(path: &Path, maps: &[(&str, &VarMap)], device: &Device) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::File {
        path: path.to_owned(),
        message: format!("cannot read the weights: {e}"),
    })?;
    let loaded: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| Error::File {
            path: path.to_owned(),
            message: format!("not a safetensors file of weights: {e}"),
        })?;
    for (prefix, map) in maps {
        let data = map.data().lock().map_err(poisoned)?;
        for (name, var) in data.iter() {
            let key = format!("{prefix}.{name}");
            let value = loaded.get(&key).ok_or_else(|| Error::File {
                path: path.to_owned(),
                message: format!("has no weight '{key}'; it was saved by another model"),
            })?;
            var.set(value).map_err(|e| Error::File {
                path: path.to_owned(),
                message: format!("weight '{key}' does not fit: {e}"),
            })?;
        }
    }
    Ok(())
}

/// The moving average's decay after `steps_taken` training steps: `decay`, held down by the
/// warm-up `(1 + s) / (10 + s)` of diffusers' `EMAModel`, so that the first pictures follow the
/// trained weights instead of averaging in the wildly moving ones of the first steps.
pub(crate) fn warmed_up_decay(decay: f64, steps_taken: u64) -> f64 {
    let s = steps_taken as f64;
    decay.min((1.0 + s) / (10.0 + s))
}

/// Sets every variable of `average` to `keep * average + (1 - keep) * current` (the variable of
/// the same name); `keep = 0` copies.
pub(crate) fn blend(average: &VarMap, current: &VarMap, keep: f64) -> Result<()> {
    let current = current.data().lock().map_err(poisoned)?;
    let average = average.data().lock().map_err(poisoned)?;
    for (name, var) in current.iter() {
        let Some(avg) = average.get(name) else {
            return Err(Error::Model(format!(
                "the moving average has no weight '{name}'"
            )));
        };
        let value = if keep == 0.0 {
            var.as_tensor().detach()
        } else {
            ((avg.as_tensor() * keep)? + (var.as_tensor() * (1.0 - keep))?)?.detach()
        };
        avg.set(&value)?;
    }
    Ok(())
}

/// A new map with a copy of every variable of `vars` under its name: a moving average's start,
/// from which the averaged network is then built (its layers find their variables there).
pub(crate) fn copy_of(vars: &VarMap) -> Result<VarMap> {
    let copy = VarMap::new();
    {
        let source = vars.data().lock().map_err(poisoned)?;
        let mut target = copy.data().lock().map_err(poisoned)?;
        for (name, var) in source.iter() {
            // A detached tensor is no variable, so `from_tensor` copies its values.
            target.insert(name.clone(), Var::from_tensor(&var.as_tensor().detach())?);
        }
    }
    Ok(copy)
}

/// A `VarBuilder` over the tensors of `vars` detached from them: they share the variables'
/// storage, so they read every in-place update ([`blend`], loading), but the ops of a network
/// built from them record nothing for a backward pass. For sampling from a moving average,
/// where the recorded graph had kept every activation of a forward pass alive until its end
/// (`vis demo ddpm --iters 0`, which only samples: peak memory 125 MB -> 90 MB). Only for
/// layers that read the tensors as given: one that makes its own `Var` of a tensor that is not
/// a variable (`BatchNormAct`'s running statistics) copies it, and would not see the updates.
pub(crate) fn untracked_view(vars: &VarMap, device: &Device) -> Result<VarBuilder<'static>> {
    let data = vars.data().lock().map_err(poisoned)?;
    let tensors: HashMap<String, Tensor> = data
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
}

/// A variable of normal values drawn from `rng` (for tests: seeded, so an unlucky draw, a
/// group of nearly equal values whose normalization gradient blows up, fails every run or
/// none).
#[cfg(test)]
pub(crate) fn normal_var(
    rng: &mut vis_candle::SeededRng,
    mean: f32,
    std: f32,
    dims: &[usize],
) -> candle_core::Var {
    let values = rng.normal_with(dims, mean, std, &Device::Cpu).unwrap();
    candle_core::Var::from_tensor(&values).unwrap()
}

/// Asserts that `ours` and `theirs`, one function computed two ways, pass each of `inputs` the
/// same gradient within `tolerance`: both are weighted by one seeded normal tensor and summed,
/// so every output element counts (for tests; `what` names the case in a failure).
#[cfg(test)]
pub(crate) fn assert_same_gradients(
    rng: &mut vis_candle::SeededRng,
    ours: &candle_core::Tensor,
    theirs: &candle_core::Tensor,
    inputs: &[(&str, &candle_core::Tensor)],
    tolerance: f32,
    what: &str,
) {
    let mix = rng
        .normal_with(ours.dims(), 0.0, 1.0, &Device::Cpu)
        .unwrap();
    let gradients =
        |out: &candle_core::Tensor| (out * &mix).unwrap().sum_all().unwrap().backward().unwrap();
    let (ga, gb) = (gradients(ours), gradients(theirs));
    for (name, input) in inputs {
        let (a, b) = (ga.get(input).unwrap(), gb.get(input).unwrap());
        assert_eq!(a.dims(), b.dims(), "{name} {what}");
        assert!(
            max_diff(a, b) < tolerance,
            "{name} {what}: {}",
            max_diff(a, b)
        );
    }
}

/// The largest absolute difference between two tensors of one shape (for tests).
#[cfg(test)]
pub(crate) fn max_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;

    /// The copy holds every variable's values under its name, in storage of its own.
    #[test]
    fn a_copy_of_a_map_has_its_values_and_stays_apart() {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        candle_nn::linear(3, 2, VarBuilder::from_varmap(&vars, DType::F32, &dev)).unwrap();
        let copy = copy_of(&vars).unwrap();
        let (source, copied) = (vars.data().lock().unwrap(), copy.data().lock().unwrap());
        assert_eq!(copied.len(), source.len());
        for (name, var) in source.iter() {
            let before = var.as_tensor().copy().unwrap();
            assert_eq!(max_diff(&copied[name], &before), 0.0, "{name}");
            var.set(&(var.as_tensor() + 1.0).unwrap()).unwrap();
            assert_eq!(
                max_diff(&copied[name], &before),
                0.0,
                "{name} followed its source"
            );
            assert!(copied[name].is_variable());
        }
    }

    /// A layer built from the view reads the variables as `blend` updates them, and its
    /// outputs record no op (a backward pass from them finds no variable).
    #[test]
    fn an_untracked_view_follows_the_variables_and_records_nothing() {
        let dev = Device::Cpu;
        let (average, current) = (VarMap::new(), VarMap::new());
        for map in [&average, &current] {
            candle_nn::linear(3, 2, VarBuilder::from_varmap(map, DType::F32, &dev)).unwrap();
        }
        let view = untracked_view(&average, &dev).unwrap();
        let layer = candle_nn::linear(3, 2, view).unwrap();
        let x = Tensor::ones((1, 3), DType::F32, &dev).unwrap();
        blend(&average, &current, 0.0).unwrap();
        let tracked = candle_nn::linear(3, 2, VarBuilder::from_varmap(&current, DType::F32, &dev))
            .unwrap()
            .forward(&x)
            .unwrap();
        let untracked = layer.forward(&x).unwrap();
        assert_eq!(max_diff(&tracked, &untracked), 0.0);
        // Half-way to weights of 1 and biases of 1: each output 3.5 / 2 more than before.
        let data = current.data().lock().unwrap();
        for var in data.values() {
            var.set(&var.as_tensor().ones_like().unwrap()).unwrap();
        }
        drop(data);
        let before = untracked;
        blend(&average, &current, 0.5).unwrap();
        let after = layer.forward(&x).unwrap();
        let moved = ((after - &before).unwrap() * 2.0).unwrap();
        let want = (before.ones_like().unwrap() * 4.0 - (&before)).unwrap();
        assert!(
            max_diff(&moved, &want) < 1e-6,
            "{}",
            max_diff(&moved, &want)
        );
        let grads = layer
            .forward(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let data = average.data().lock().unwrap();
        assert!(
            data.values()
                .all(|var| grads.get(var.as_tensor()).is_none())
        );
    }

    /// The first steps follow the trained weights; the decay asked for rules once the warm-up
    /// has climbed past it.
    #[test]
    fn the_decay_warms_up_to_the_one_asked_for() {
        assert_eq!(warmed_up_decay(0.995, 1), 2.0 / 11.0);
        assert_eq!(warmed_up_decay(0.99, 890), 0.99);
        assert_eq!(warmed_up_decay(0.99, 889), 890.0 / 899.0);
        assert_eq!(warmed_up_decay(0.0, 5), 0.0);
    }
}
