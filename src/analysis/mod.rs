//! Why removal works: representation similarity between models ([`cka`]) over per-layer
//! sentence representations ([`representations`]).

pub mod cka;
pub mod representations;

pub use cka::{CkaKind, Representation, cka, cka_matrix};
pub use representations::{Pooling, layer_representations};
