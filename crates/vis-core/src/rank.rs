//! Which process draws: only rank 0, as mmengine's `master_only` (`RANK`, else `LOCAL_RANK`,
//! as torchrun sets them; a single process otherwise).

use crate::error::{Error, Result};

/// Whether this process is the one that draws.
pub fn is_main_process() -> Result<bool> {
    main_process_from(|v| std::env::var(v).ok())
}

/// [`is_main_process`] over any source of environment variables (for tests).
pub(crate) fn main_process_from(env: impl Fn(&str) -> Option<String>) -> Result<bool> {
    for variable in ["RANK", "LOCAL_RANK"] {
        if let Some(value) = env(variable) {
            let rank: u64 = value.trim().parse().map_err(|_| Error::Rank {
                variable,
                value: value.clone(),
            })?;
            return Ok(rank == 0);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_comes_from_rank_then_local_rank() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |v: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == v)
                    .map(|(_, x)| x.to_string())
            }
        };
        assert!(main_process_from(env(&[])).unwrap());
        assert!(main_process_from(env(&[("RANK", "0"), ("LOCAL_RANK", "1")])).unwrap());
        assert!(!main_process_from(env(&[("RANK", "1"), ("LOCAL_RANK", "0")])).unwrap());
        assert!(!main_process_from(env(&[("LOCAL_RANK", "3")])).unwrap());
        let err = main_process_from(env(&[("RANK", "first")])).unwrap_err();
        assert!(err.to_string().contains("RANK='first'"));
    }
}
