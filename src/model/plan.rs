//! `FfnPlan`: which encoder layers keep their intermediate (feed-forward) block.

use std::fmt;

use crate::error::ConfigError;

/// A per-layer plan of intermediate blocks: `keep[i]` says whether layer `i` keeps its block.
///
/// Written on the command line as `all`, `none` or a comma-separated list of 0-based layers
/// (`0,2,5`; ranges such as `0-3` are accepted too), optionally followed by `+norm`.
///
/// **`+norm`: the removed blocks keep their LayerNorm.** A layer's intermediate block ends in
/// `output.LayerNorm`, whose scale and shift are what the next layer was trained to read. By
/// default a removed block takes it along (the layer outputs the attention block's own
/// normalised output); with `+norm` (`0,5+norm`) a removed layer outputs
/// `output.LayerNorm(attention output)`: the two dense layers go, their 2 × hidden LayerNorm
/// weights stay. On all-MiniLM-L6-v2 with `0,5` this brings the cut model's hidden states much
/// closer to the full model's before any training (docs/benchmarks.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FfnPlan {
    keep: Vec<bool>,
    /// Whether removed layers keep `output.LayerNorm` (`+norm`); always false when nothing is removed.
    keep_norm: bool,
}

impl FfnPlan {
    /// Every layer keeps its intermediate block: the unmodified model.
    pub fn all(num_layers: usize) -> Self {
        Self { keep: vec![true; num_layers], keep_norm: false }
    }

    /// No layer keeps its intermediate block.
    pub fn none(num_layers: usize) -> Self {
        Self { keep: vec![false; num_layers], keep_norm: false }
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
        Ok(Self { keep, keep_norm: false })
    }

    /// The same plan with the removed layers keeping (`true`) or losing their `output.LayerNorm`.
    /// A plan that removes nothing has no norm to keep, so `all+norm` is `all`.
    pub fn with_norm(mut self, keep_norm: bool) -> Self {
        self.keep_norm = keep_norm && !self.is_full();
        self
    }

    /// Whether removed layers keep their `output.LayerNorm` (`+norm`).
    pub fn keeps_norm(&self) -> bool {
        self.keep_norm
    }

    /// Whether layer `layer` has an `output.LayerNorm`: it keeps its block, or the plan is `+norm`.
    pub fn has_output_norm(&self, layer: usize) -> bool {
        layer < self.num_layers() && (self.keeps(layer) || self.keep_norm)
    }

    /// Parses `all`, `none`, `0,2,5` or `0-3,5`, each optionally followed by `+norm`, for a
    /// model with `num_layers` layers.
    pub fn parse(spec: &str, num_layers: usize) -> Result<Self, ConfigError> {
        let spec = spec.trim();
        if let Some((layers, suffix)) = spec.rsplit_once('+') {
            if !suffix.trim().eq_ignore_ascii_case("norm") || layers.contains('+') {
                return Err(ConfigError::Plan {
                    spec: spec.to_string(),
                    expected: format!("a plan such as `0,5` or `0,5+norm` (`+{}` is not a known suffix)", suffix.trim()),
                });
            }
            if layers.trim().is_empty() {
                return Err(ConfigError::Plan { spec: spec.to_string(), expected: "layers before `+norm`, such as `0,5+norm` or `none+norm`".into() });
            }
            return Ok(Self::parse(layers, num_layers)?.with_norm(true));
        }
        match spec.to_ascii_lowercase().as_str() {
            "all" | "full" => return Ok(Self::all(num_layers)),
            "none" | "" => return Ok(Self::none(num_layers)),
            _ => {}
        }
        let bad = |part: &str| ConfigError::Plan {
            spec: spec.to_string(),
            expected: format!("`all`, `none` or comma-separated 0-based layers such as `0,2,5` (could not read `{part}`)"),
        };
        let mut layers = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((a, b)) = part.split_once('-') {
                let a: usize = a.trim().parse().map_err(|_| bad(part))?;
                let b: usize = b.trim().parse().map_err(|_| bad(part))?;
                if a > b {
                    return Err(bad(part));
                }
                // A range is checked against the model before it is expanded: `0-1000000000000`
                // is an error, not a trillion-element list.
                if b >= num_layers {
                    return Err(ConfigError::Plan {
                        spec: spec.to_string(),
                        expected: format!("layers 0 to {} (the model has {num_layers}); `{part}` goes past them", num_layers.saturating_sub(1)),
                    });
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
            let bare = token.to_ascii_lowercase();
            let bare = bare.strip_suffix("+norm").unwrap_or(&bare);
            if matches!(bare, "all" | "full" | "none") {
                if !layers.is_empty() {
                    plans.push(Self::parse(&layers.join(","), num_layers)?);
                    layers.clear();
                }
                plans.push(Self::parse(token, num_layers)?);
            } else if token.is_empty() {
                return Err(empty());
            } else {
                layers.push(token);
                // `+norm` ends the plan it belongs to: `all,0,5+norm,none`.
                if token.contains('+') {
                    plans.push(Self::parse(&layers.join(","), num_layers)?);
                    layers.clear();
                }
            }
        }
        if !layers.is_empty() {
            plans.push(Self::parse(&layers.join(","), num_layers)?);
        }
        Ok(plans)
    }

    /// The plan as part of a file name: `all`, `none`, `0_5` or `0_5-norm` (commas and `+`
    /// would need quoting).
    pub fn file_stem(&self) -> String {
        self.to_string().replace(',', "_").replace('+', "-")
    }

    pub fn num_layers(&self) -> usize {
        self.keep.len()
    }

    /// What layer `layer` keeps of its intermediate block.
    pub fn layer(&self, layer: usize) -> super::LayerBlock {
        if self.keeps(layer) { super::LayerBlock::Kept } else { super::LayerBlock::Removed { keep_norm: self.keeps_norm() } }
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
        Self { keep, keep_norm: false }.with_norm(self.keep_norm)
    }

    pub fn num_kept(&self) -> usize {
        self.keep.iter().filter(|k| **k).count()
    }

    pub fn is_full(&self) -> bool {
        self.keep.iter().all(|k| *k)
    }

    /// Whether every block (and `output.LayerNorm`) this plan keeps is also kept by `other`
    /// (so a checkpoint with plan `other` can be loaded into this plan).
    pub fn is_subset_of(&self, other: &FfnPlan) -> bool {
        self.num_layers() == other.num_layers()
            && self.kept().all(|l| other.keeps(l))
            && (0..self.num_layers()).all(|l| !self.has_output_norm(l) || other.has_output_norm(l))
    }
}

impl fmt::Display for FfnPlan {
    /// `all`, `none`, or the kept layers such as `0,5`, then `+norm` if removed layers keep
    /// their LayerNorm: the same syntax `parse` reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_full() {
            return f.write_str("all");
        }
        if self.num_kept() == 0 {
            f.write_str("none")?;
        } else {
            let layers: Vec<String> = self.kept().map(|l| l.to_string()).collect();
            f.write_str(&layers.join(","))?;
        }
        if self.keep_norm { f.write_str("+norm") } else { Ok(()) }
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
        assert_eq!(list("all,0,5+norm,0,5,none+norm"), ["all", "0,5+norm", "0,5", "none+norm"]);
        assert_eq!(list("all;0,5+NORM"), ["all", "0,5+norm"]);
    }

    #[test]
    fn norm_suffix_keeps_the_removed_layer_norms() {
        let p = FfnPlan::parse("0,5+norm", 6).unwrap();
        assert!(p.keeps_norm());
        assert_eq!(p.kept().collect::<Vec<_>>(), vec![0, 5]);
        assert_eq!(p.to_string(), "0,5+norm");
        assert_eq!(p.file_stem(), "0_5-norm");
        assert!((0..6).all(|l| p.has_output_norm(l)));
        let plain = FfnPlan::parse("0,5", 6).unwrap();
        assert!(!plain.has_output_norm(1) && plain.has_output_norm(5));
        assert_ne!(p, plain);
        // A checkpoint without the norms cannot provide them; one with them can drop them.
        assert!(!p.is_subset_of(&plain));
        assert!(plain.is_subset_of(&p));
        assert!(p.is_subset_of(&FfnPlan::all(6)));
        assert_eq!(FfnPlan::parse("none+norm", 6).unwrap().to_string(), "none+norm");
        assert_eq!(FfnPlan::parse("all+norm", 6).unwrap(), FfnPlan::all(6));
        assert_eq!(p.without(&[0]).to_string(), "5+norm");
        for bad in ["0,5+ln", "+norm", "0+norm+norm"] {
            let e = FfnPlan::parse(bad, 6).unwrap_err().to_string();
            assert!(e.contains("norm"), "{bad}: {e}");
        }
    }

    #[test]
    fn subset() {
        let full = FfnPlan::all(4);
        let some = FfnPlan::parse("0,3", 4).unwrap();
        assert!(some.is_subset_of(&full));
        assert!(!full.is_subset_of(&some));
    }
}
