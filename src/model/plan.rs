//! `FfnPlan`: which encoder layers keep their intermediate (feed-forward) block.

use std::fmt;

use crate::error::ConfigError;

/// A per-layer plan of intermediate blocks: `keep[i]` says whether layer `i` keeps its block.
///
/// Written on the command line as `all`, `none` or a comma-separated list of 0-based layers
/// (`0,2,5`; ranges such as `0-3` are accepted too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FfnPlan {
    keep: Vec<bool>,
}

impl FfnPlan {
    /// Every layer keeps its intermediate block: the unmodified model.
    pub fn all(num_layers: usize) -> Self {
        Self { keep: vec![true; num_layers] }
    }

    /// No layer keeps its intermediate block.
    pub fn none(num_layers: usize) -> Self {
        Self { keep: vec![false; num_layers] }
    }

    /// Only the given layers keep their block.
    pub fn from_layers(num_layers: usize, layers: impl IntoIterator<Item = usize>) -> Result<Self, ConfigError> {
        let mut keep = vec![false; num_layers];
        for layer in layers {
            let slot = keep.get_mut(layer).ok_or_else(|| ConfigError::Plan {
                spec: layer.to_string(),
                expected: format!("layer indices 0..{} (the model has {num_layers} layers)", num_layers.saturating_sub(1)),
            })?;
            *slot = true;
        }
        Ok(Self { keep })
    }

    /// Parses `all`, `none`, `0,2,5` or `0-3,5` for a model with `num_layers` layers.
    pub fn parse(spec: &str, num_layers: usize) -> Result<Self, ConfigError> {
        let spec = spec.trim();
        match spec.to_ascii_lowercase().as_str() {
            "all" | "full" => return Ok(Self::all(num_layers)),
            "none" | "" => return Ok(Self::none(num_layers)),
            _ => {}
        }
        let bad = |part: &str| ConfigError::Plan {
            spec: spec.to_string(),
            expected: format!(
                "`all`, `none` or comma-separated 0-based layers such as `0,2,5` (could not read `{part}`)"
            ),
        };
        let mut layers = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((a, b)) = part.split_once('-') {
                let a: usize = a.trim().parse().map_err(|_| bad(part))?;
                let b: usize = b.trim().parse().map_err(|_| bad(part))?;
                if a > b {
                    return Err(bad(part));
                }
                layers.extend(a..=b);
            } else {
                layers.push(part.parse().map_err(|_| bad(part))?);
            }
        }
        Self::from_layers(num_layers, layers).map_err(|e| match e {
            ConfigError::Plan { expected, .. } => ConfigError::Plan { spec: spec.to_string(), expected },
            other => other,
        })
    }

    /// Parses several plans: `all;0,5;none` (`;` between plans), or, without `;`, a comma list in
    /// which `all` and `none` stand alone and the layers between them form one plan, so that
    /// `all,none,0,5` is all, none and layers {0, 5} (two single-layer plans: `0;5`).
    pub fn parse_list(spec: &str, num_layers: usize) -> Result<Vec<Self>, ConfigError> {
        let empty = || ConfigError::Plan { spec: spec.to_string(), expected: "plans such as `all;0,5;none` (found an empty one)".into() };
        if spec.contains(';') {
            return spec.split(';').map(|part| if part.trim().is_empty() { Err(empty()) } else { Self::parse(part, num_layers) }).collect();
        }
        let mut plans = Vec::new();
        let mut layers: Vec<&str> = Vec::new();
        for token in spec.split(',').map(str::trim) {
            if matches!(token.to_ascii_lowercase().as_str(), "all" | "full" | "none") {
                if !layers.is_empty() {
                    plans.push(Self::parse(&layers.join(","), num_layers)?);
                    layers.clear();
                }
                plans.push(Self::parse(token, num_layers)?);
            } else if token.is_empty() {
                return Err(empty());
            } else {
                layers.push(token);
            }
        }
        if !layers.is_empty() {
            plans.push(Self::parse(&layers.join(","), num_layers)?);
        }
        Ok(plans)
    }

    /// The plan as part of a file name: `all`, `none` or `0_5` (commas would need quoting).
    pub fn file_stem(&self) -> String {
        self.to_string().replace(',', "_")
    }

    pub fn num_layers(&self) -> usize {
        self.keep.len()
    }

    /// Whether layer `layer` keeps its intermediate block.
    pub fn keeps(&self, layer: usize) -> bool {
        self.keep.get(layer).copied().unwrap_or(false)
    }

    /// The layers that keep their block, in order.
    pub fn kept(&self) -> impl Iterator<Item = usize> + '_ {
        self.keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i)
    }

    /// This plan with the blocks of `layers` removed as well (the steps of an importance sweep).
    pub fn without(&self, layers: &[usize]) -> Self {
        let mut keep = self.keep.clone();
        for &l in layers {
            if let Some(k) = keep.get_mut(l) {
                *k = false;
            }
        }
        Self { keep }
    }

    pub fn num_kept(&self) -> usize {
        self.keep.iter().filter(|k| **k).count()
    }

    pub fn is_full(&self) -> bool {
        self.keep.iter().all(|k| *k)
    }

    /// Whether every block this plan keeps is also kept by `other`
    /// (so a checkpoint with plan `other` can be loaded into this plan).
    pub fn is_subset_of(&self, other: &FfnPlan) -> bool {
        self.num_layers() == other.num_layers() && self.kept().all(|l| other.keeps(l))
    }
}

impl fmt::Display for FfnPlan {
    /// `all`, `none`, or the kept layers such as `0,5`: the same syntax `parse` reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_full() {
            return f.write_str("all");
        }
        if self.num_kept() == 0 {
            return f.write_str("none");
        }
        let layers: Vec<String> = self.kept().map(|l| l.to_string()).collect();
        f.write_str(&layers.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(FfnPlan::parse("all", 6).unwrap(), FfnPlan::all(6));
        assert_eq!(FfnPlan::parse("none", 6).unwrap(), FfnPlan::none(6));
        let p = FfnPlan::parse("0, 2,5", 6).unwrap();
        assert_eq!(p.kept().collect::<Vec<_>>(), vec![0, 2, 5]);
        assert_eq!(p.to_string(), "0,2,5");
        assert_eq!(FfnPlan::parse("1-3", 6).unwrap().to_string(), "1,2,3");
        assert_eq!(p.file_stem(), "0_2_5");
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        let e = FfnPlan::parse("0,6", 6).unwrap_err().to_string();
        assert!(e.contains("0..5"), "{e}");
        let e = FfnPlan::parse("zero", 6).unwrap_err().to_string();
        assert!(e.contains("`zero`"), "{e}");
        assert!(FfnPlan::parse("3-1", 6).is_err());
    }

    #[test]
    fn parses_lists_of_plans() {
        let list = |spec: &str| FfnPlan::parse_list(spec, 6).unwrap().iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(list("all;0,5;none"), ["all", "0,5", "none"]);
        assert_eq!(list("all,none,0,5"), ["all", "none", "0,5"]);
        assert_eq!(list("0,5"), ["0,5"]);
        assert_eq!(list("0,5,all,1-2"), ["0,5", "all", "1,2"]);
        assert_eq!(list("0;5"), ["0", "5"]);
        assert_eq!(list("full"), ["all"]);
        for bad in ["all;", "all,,none", ""] {
            let e = FfnPlan::parse_list(bad, 6).unwrap_err().to_string();
            assert!(e.contains("empty"), "{bad}: {e}");
        }
        assert!(FfnPlan::parse_list("all,7", 6).unwrap_err().to_string().contains("0..5"));
    }

    #[test]
    fn subset() {
        let full = FfnPlan::all(4);
        let some = FfnPlan::parse("0,3", 4).unwrap();
        assert!(some.is_subset_of(&full));
        assert!(!full.is_subset_of(&some));
    }
}
