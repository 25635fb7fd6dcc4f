//! Why removal works: representation similarity between models ([`cka`]) and what each layer
//! makes linearly readable ([`probe`]), over per-layer sentence representations
//! ([`representations`]).

pub mod cka;
pub mod probe;
pub mod representations;

pub use crate::error::AnalysisError;
pub use cka::{CkaKind, Representation, cka, cka_matrix};
pub use probe::{ProbeConfig, class_labels, probe_accuracy, probe_layers};
pub use representations::{Pooling, cosine, layer_representations, pool};
